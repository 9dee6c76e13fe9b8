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

/// Events kept per tenant: the oldest go as new ones come.
pub const EVENTS_KEPT: usize = 1_000;

impl Store {
    /// Appends an event to the tenant's log and returns its id; only the
    /// last [`EVENTS_KEPT`] of a tenant are kept.
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
        let id = conn.last_insert_rowid();
        conn.execute(
            "DELETE FROM events WHERE tenant = ?1 AND id < (
                 SELECT id FROM events WHERE tenant = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            params![tenant, EVENTS_KEPT as i64 - 1],
        )?;
        Ok(id)
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

    #[test]
    fn only_the_last_events_of_a_tenant_are_kept() {
        let (_dir, store) = crate::store::test_support::store_with_tenants();
        store.record_event("globex", None, "note", "kept").unwrap();
        for i in 0..EVENTS_KEPT + 5 {
            store
                .record_event("acme", None, "note", &i.to_string())
                .unwrap();
        }
        let events = store.events("acme", usize::MAX).unwrap();
        assert_eq!(events.len(), EVENTS_KEPT);
        assert_eq!(events[0].detail, (EVENTS_KEPT + 4).to_string());
        assert_eq!(events[EVENTS_KEPT - 1].detail, "5");
        // Another tenant's log is untouched.
        assert_eq!(store.events("globex", 10).unwrap().len(), 1);
    }
}
