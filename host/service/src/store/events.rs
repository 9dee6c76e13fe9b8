//! A per-tenant log of notable events (breaker trips, activations, ...).

use rusqlite::params;
use serde::Serialize;

use super::{Store, now, require_tenant};
use crate::StoreError;

/// One logged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// Increasing with time across all tenants.
    pub id: i64,
    /// The rule version concerned, if any.
    pub version: Option<String>,
    /// What happened, e.g. `"breaker-tripped"` or `"activated"`.
    pub kind: String,
    /// Details, free text or JSON as the kind defines.
    pub detail: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

impl Store {
    /// Appends an event to the tenant's log and returns its id.
    pub fn record_event(
        &self,
        tenant: &str,
        version: Option<&str>,
        kind: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        if kind.is_empty() {
            return Err(StoreError::InvalidValue {
                what: "event kind",
                reason: "must not be empty".to_owned(),
            });
        }
        let conn = self.conn();
        require_tenant(&conn, tenant)?;
        conn.execute(
            "INSERT INTO events (tenant, version, kind, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![tenant, version, kind, detail, now()],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The tenant's `limit` most recent events, newest first.
    pub fn events(&self, tenant: &str, limit: usize) -> Result<Vec<EventRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, version, kind, detail, at FROM events
             WHERE tenant = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let events = stmt
            .query_map(params![tenant, limit], |row| {
                Ok(EventRecord {
                    id: row.get(0)?,
                    version: row.get(1)?,
                    kind: row.get(2)?,
                    detail: row.get(3)?,
                    at: row.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support;

    #[test]
    fn newest_first_and_limited() {
        let (_dir, store) = test_support::store_with_tenants();
        store
            .record_event("acme", Some("v1"), "activated", "")
            .unwrap();
        store
            .record_event("globex", None, "activated", "other tenant")
            .unwrap();
        store
            .record_event("acme", Some("v1"), "breaker-tripped", "{\"traps\":3}")
            .unwrap();
        store.record_event("acme", None, "note", "hello").unwrap();

        let kinds = |events: Vec<EventRecord>| -> Vec<(Option<String>, String, String)> {
            events
                .into_iter()
                .map(|e| (e.version, e.kind, e.detail))
                .collect()
        };
        assert_eq!(
            kinds(store.events("acme", 10).unwrap()),
            [
                (None, "note".to_owned(), "hello".to_owned()),
                (
                    Some("v1".to_owned()),
                    "breaker-tripped".to_owned(),
                    "{\"traps\":3}".to_owned()
                ),
                (Some("v1".to_owned()), "activated".to_owned(), String::new()),
            ]
        );
        assert_eq!(store.events("acme", 1).unwrap().len(), 1);
        assert!(store.events("acme", 0).unwrap().is_empty());
        assert_eq!(store.events("globex", usize::MAX).unwrap().len(), 1);
        assert!(store.events("initech", 10).unwrap().is_empty());
    }

    #[test]
    fn needs_tenant_and_kind() {
        let (_dir, store) = test_support::store_with_tenants();
        assert!(matches!(
            store.record_event("initech", None, "x", ""),
            Err(StoreError::NotFound { what: "tenant", .. })
        ));
        assert!(matches!(
            store.record_event("acme", None, "", ""),
            Err(StoreError::InvalidValue { .. })
        ));
    }
}
