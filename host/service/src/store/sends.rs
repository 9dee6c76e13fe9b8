//! Sends: one run of a campaign with a rule version, from start to finish.
//!
//! A send is created `running`; when the process restarts, the sends still
//! `running` ([`Store::unfinished_sends`]) are the ones to resume or fail.

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{Store, now, parse_json, require_tenant};
use crate::StoreError;
use crate::ids::validate_send_id;
use crate::tokens::random_hex;

/// Where a send is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SendState {
    /// Started and not finished (or interrupted by a restart).
    Running,
    /// Finished; every recipient was handled.
    Done,
    /// Stopped by an error.
    Failed,
}

impl SendState {
    /// The state's name, as stored and serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            SendState::Running => "running",
            SendState::Done => "done",
            SendState::Failed => "failed",
        }
    }

    fn from_stored(text: &str) -> Result<SendState, StoreError> {
        match text {
            "running" => Ok(SendState::Running),
            "done" => Ok(SendState::Done),
            "failed" => Ok(SendState::Failed),
            other => Err(StoreError::Corrupt(format!("sends.state is {other:?}"))),
        }
    }
}

impl std::fmt::Display for SendState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A send as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendRecord {
    /// The send's id, e.g. `s-20260501120000-0123456789abcdef`.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// The campaign sent.
    pub campaign: String,
    /// The rule version it ran with.
    pub rule_version: String,
    /// Where it is.
    pub state: SendState,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When it finished, if it has.
    pub finished_at: Option<String>,
    /// The summary it finished with (JSON), if any.
    pub summary: Option<serde_json::Value>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

const SEND_COLUMNS: &str =
    "id, tenant, campaign, rule_version, state, created_at, finished_at, summary, error";

impl Store {
    /// Records a new running send of the tenant's campaign with one of its
    /// rule versions, and returns its id (`s-<UTC yyyymmddhhmmss>-<16 hex>`,
    /// a valid id per [`ids`](crate::ids)).
    pub fn create_send(
        &self,
        tenant: &str,
        campaign: &str,
        rule_version: &str,
    ) -> Result<String, StoreError> {
        let id = new_send_id();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_send(&tx, tenant, campaign, rule_version, &id)?;
        tx.commit()?;
        Ok(id)
    }
    /// The tenant's send `id`; `None` if it does not exist or belongs to
    /// another tenant.
    pub fn send(&self, tenant: &str, id: &str) -> Result<Option<SendRecord>, StoreError> {
        let raw = self
            .conn()
            .query_row(
                &format!("SELECT {SEND_COLUMNS} FROM sends WHERE tenant = ?1 AND id = ?2"),
                [tenant, id],
                raw_send,
            )
            .optional()?;
        raw.map(RawSend::parse).transpose()
    }

    /// The tenant's sends, newest first.
    pub fn sends(&self, tenant: &str) -> Result<Vec<SendRecord>, StoreError> {
        self.query_sends(
            &format!(
                "SELECT {SEND_COLUMNS} FROM sends WHERE tenant = ?1
                 ORDER BY created_at DESC, id DESC"
            ),
            &[tenant],
        )
    }

    /// Every tenant's sends that are still `running`, oldest first: after a
    /// restart, the ones that were interrupted.
    pub fn unfinished_sends(&self) -> Result<Vec<SendRecord>, StoreError> {
        self.query_sends(
            &format!(
                "SELECT {SEND_COLUMNS} FROM sends WHERE state = 'running'
                 ORDER BY created_at, id"
            ),
            &[],
        )
    }

    /// Finishes a running send as `done` or `failed`, with its summary and
    /// error. [`StoreError::Conflict`] if it has already finished.
    pub fn finish_send(
        &self,
        id: &str,
        state: SendState,
        summary: Option<&serde_json::Value>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        if state == SendState::Running {
            return Err(StoreError::InvalidValue {
                what: "final send state",
                reason: "a send finishes as `done` or `failed`, not `running`".to_owned(),
            });
        }
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE sends SET state = ?2, finished_at = ?3, summary = ?4, error = ?5
             WHERE id = ?1 AND state = 'running'",
            params![
                id,
                state.as_str(),
                now(),
                summary.map(|s| s.to_string()),
                error
            ],
        )?;
        if changed == 1 {
            return Ok(());
        }
        let current: Option<String> = conn
            .query_row("SELECT state FROM sends WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?;
        match current {
            None => Err(StoreError::NotFound {
                what: "send",
                id: id.to_owned(),
            }),
            Some(current) => Err(StoreError::Conflict(format!(
                "send `{id}` has already finished ({current})"
            ))),
        }
    }

    fn query_sends(&self, sql: &str, params: &[&str]) -> Result<Vec<SendRecord>, StoreError> {
        let raw: Vec<RawSend> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(sql)?;
            stmt.query_map(rusqlite::params_from_iter(params), raw_send)?
                .collect::<Result<_, _>>()?
        };
        raw.into_iter().map(RawSend::parse).collect()
    }
}

impl Store {
    /// A fresh send id: `s-<UTC yyyymmddhhmmss>-<16 hex>`.
    pub fn new_send_id() -> String {
        new_send_id()
    }
}

fn new_send_id() -> String {
    let id = format!(
        "s-{}-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        random_hex(8)
    );
    debug_assert!(validate_send_id(&id).is_ok(), "{id}");
    id
}

/// Inserts a running send, checking the tenant, campaign and version.
pub(crate) fn insert_send(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    campaign: &str,
    rule_version: &str,
    id: &str,
) -> Result<(), StoreError> {
    require_tenant(tx, tenant)?;

    let exists = |sql: &str, key: &str| -> Result<bool, StoreError> {
        Ok(tx
            .query_row(sql, [tenant, key], |_| Ok(()))
            .optional()?
            .is_some())
    };
    if !exists(
        "SELECT 1 FROM campaigns WHERE tenant = ?1 AND id = ?2",
        campaign,
    )? {
        return Err(StoreError::NotFound {
            what: "campaign",
            id: campaign.to_owned(),
        });
    }
    if !exists(
        "SELECT 1 FROM rule_versions WHERE tenant = ?1 AND version = ?2",
        rule_version,
    )? {
        return Err(StoreError::NotFound {
            what: "rule version",
            id: rule_version.to_owned(),
        });
    }
    tx.execute(
        "INSERT INTO sends (id, tenant, campaign, rule_version, state, created_at)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5)",
        params![id, tenant, campaign, rule_version, now()],
    )?;
    Ok(())
}

/// A send row before its state and JSON are parsed.
struct RawSend {
    id: String,
    tenant: String,
    campaign: String,
    rule_version: String,
    state: String,
    created_at: String,
    finished_at: Option<String>,
    summary: Option<String>,
    error: Option<String>,
}

fn raw_send(row: &Row<'_>) -> rusqlite::Result<RawSend> {
    Ok(RawSend {
        id: row.get(0)?,
        tenant: row.get(1)?,
        campaign: row.get(2)?,
        rule_version: row.get(3)?,
        state: row.get(4)?,
        created_at: row.get(5)?,
        finished_at: row.get(6)?,
        summary: row.get(7)?,
        error: row.get(8)?,
    })
}

impl RawSend {
    fn parse(self) -> Result<SendRecord, StoreError> {
        Ok(SendRecord {
            state: SendState::from_stored(&self.state)?,
            summary: self
                .summary
                .as_deref()
                .map(|s| parse_json("sends", "summary", s))
                .transpose()?,
            id: self.id,
            tenant: self.tenant,
            campaign: self.campaign,
            rule_version: self.rule_version,
            created_at: self.created_at,
            finished_at: self.finished_at,
            error: self.error,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::test_support::{self, add_version};

    fn ready() -> (tempfile::TempDir, Store) {
        let (dir, store) = test_support::store_with_tenants();
        add_version(&store, "acme", "v1");
        store.put_campaign("acme", "spring", "x = 1").unwrap();
        (dir, store)
    }

    #[test]
    fn lifecycle() {
        let (_dir, store) = ready();
        let id = store.create_send("acme", "spring", "v1").unwrap();
        validate_send_id(&id).unwrap();
        assert_eq!(id.len(), 2 + 14 + 1 + 16);
        assert!(id.starts_with("s-"));

        let send = store.send("acme", &id).unwrap().unwrap();
        assert_eq!(send.tenant, "acme");
        assert_eq!(send.campaign, "spring");
        assert_eq!(send.rule_version, "v1");
        assert_eq!(send.state, SendState::Running);
        assert_eq!(send.finished_at, None);
        assert_eq!(store.unfinished_sends().unwrap(), [send]);

        let summary = json!({"sent": 10, "skipped": 2});
        store
            .finish_send(&id, SendState::Done, Some(&summary), None)
            .unwrap();
        let send = store.send("acme", &id).unwrap().unwrap();
        assert_eq!(send.state, SendState::Done);
        assert_eq!(send.summary, Some(summary));
        assert_eq!(send.error, None);
        chrono::DateTime::parse_from_rfc3339(send.finished_at.as_deref().unwrap()).unwrap();
        assert!(store.unfinished_sends().unwrap().is_empty());

        // Finishing twice is refused and changes nothing.
        let err = store
            .finish_send(&id, SendState::Failed, None, Some("late"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("send `{id}` has already finished (done)")
        );
        assert_eq!(
            store.send("acme", &id).unwrap().unwrap().state,
            SendState::Done
        );
    }

    #[test]
    fn failure_and_listing() {
        let (_dir, store) = ready();
        let first = store.create_send("acme", "spring", "v1").unwrap();
        let second = store.create_send("acme", "spring", "v1").unwrap();
        assert_ne!(first, second);
        store
            .finish_send(&first, SendState::Failed, None, Some("smtp down"))
            .unwrap();
        let failed = store.send("acme", &first).unwrap().unwrap();
        assert_eq!(failed.state, SendState::Failed);
        assert_eq!(failed.error.as_deref(), Some("smtp down"));
        let ids: Vec<_> = store
            .sends("acme")
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[0], second, "newest first");
        let unfinished: Vec<_> = store
            .unfinished_sends()
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(unfinished, [second]);
    }

    #[test]
    fn needs_campaign_and_version_of_the_same_tenant() {
        let (_dir, store) = ready();
        add_version(&store, "globex", "g1");
        store.put_campaign("globex", "autumn", "").unwrap();
        let cases = [
            ("initech", "spring", "v1", "tenant `initech` not found"),
            ("acme", "autumn", "v1", "campaign `autumn` not found"),
            ("acme", "spring", "g1", "rule version `g1` not found"),
            ("globex", "spring", "g1", "campaign `spring` not found"),
        ];
        for (tenant, campaign, version, message) in cases {
            let err = store.create_send(tenant, campaign, version).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        assert!(store.unfinished_sends().unwrap().is_empty());
    }

    #[test]
    fn finishing_unknown_or_as_running_is_refused() {
        let (_dir, store) = ready();
        assert!(matches!(
            store.finish_send("s-1-2", SendState::Done, None, None),
            Err(StoreError::NotFound { what: "send", .. })
        ));
        let id = store.create_send("acme", "spring", "v1").unwrap();
        assert!(matches!(
            store.finish_send(&id, SendState::Running, None, None),
            Err(StoreError::InvalidValue { .. })
        ));
    }

    #[test]
    fn state_serialises_lowercase() {
        assert_eq!(
            serde_json::to_value(SendState::Failed).unwrap(),
            json!("failed")
        );
        assert_eq!(SendState::Done.to_string(), "done");
    }
}
