//! Feedback: each tenant's link-signing key, its suppression list, and
//! the events KPIs are computed from.

use mailrules::feedback::suppressions::SuppressionList;
use mailrules::feedback::token::FeedbackKey;
use mailrules::lifecycle::events::{CustomerEvent, EventData};
use rusqlite::{OptionalExtension, params};

use super::profiles::parse_event;
use super::{Store, require_tenant};
use crate::StoreError;

/// One customer on a tenant's suppression list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Suppression {
    /// The customer id.
    pub customer: String,
    /// When they unsubscribed (seconds since the Unix epoch).
    pub at: i64,
    /// The campaign they unsubscribed from, if known.
    pub campaign: Option<String>,
    /// The message they unsubscribed from, if known.
    pub message_id: Option<String>,
}

/// The condition on a `suppressions` row that suppresses its customer.
const SUPPRESSED: &str = "unsubscribed_at IS NOT NULL AND (resubscribed_at IS NULL OR unsubscribed_at >= resubscribed_at)";

impl Store {
    /// The tenant's key for signing links, made from the operating
    /// system's randomness the first time it is asked for. `None` for a
    /// tenant that does not exist.
    pub fn feedback_key(&self, tenant: &str) -> Result<Option<FeedbackKey>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists = tx
            .query_row("SELECT 1 FROM tenants WHERE id = ?1", [tenant], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Ok(None);
        }
        let stored: Option<Vec<u8>> = tx
            .query_row(
                "SELECT key FROM feedback_keys WHERE tenant = ?1",
                [tenant],
                |row| row.get(0),
            )
            .optional()?;
        let bytes = match stored {
            Some(bytes) => bytes,
            None => {
                let bytes = hex::decode(crate::tokens::random_hex(32)).expect("hex");
                tx.execute(
                    "INSERT INTO feedback_keys (tenant, key) VALUES (?1, ?2)",
                    params![tenant, bytes],
                )?;
                bytes
            }
        };
        tx.commit()?;
        Ok(FeedbackKey::from_slice(&bytes))
    }

    /// The tenant's key for signing links if it has one: a tenant without
    /// one has never had a link signed, so nothing can verify. Reads only
    /// (a request with a forged token writes nothing).
    pub fn existing_feedback_key(&self, tenant: &str) -> Result<Option<FeedbackKey>, StoreError> {
        let conn = self.conn();
        let stored: Option<Vec<u8>> = conn
            .query_row(
                "SELECT key FROM feedback_keys WHERE tenant = ?1",
                [tenant],
                |row| row.get(0),
            )
            .optional()?;
        Ok(stored.and_then(|bytes| FeedbackKey::from_slice(&bytes)))
    }

    /// Records the unsubscribes and resubscriptions among `events`: an
    /// `unsubscribed` event or `consent_changed` with `email_marketing:
    /// false` unsubscribes, `subscribed` or `consent_changed` with
    /// `email_marketing: true` resubscribes. Each customer keeps the latest
    /// of each and is suppressed while the unsubscribe is the later (or at
    /// the same time), so batches applied in any order, or again, give the
    /// same list. Returns how many customers are newly suppressed.
    pub fn apply_unsubscribes(
        &self,
        tenant: &str,
        events: &[CustomerEvent],
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        let mut newly = 0;
        {
            let mut suppressed = tx.prepare(&format!(
                "SELECT 1 FROM suppressions WHERE tenant = ?1 AND customer = ?2 AND {SUPPRESSED}"
            ))?;
            let mut unsubscribe = tx.prepare(
                "INSERT INTO suppressions (tenant, customer, unsubscribed_at, campaign, message_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, customer) DO UPDATE SET
                     unsubscribed_at = excluded.unsubscribed_at,
                     campaign = excluded.campaign, message_id = excluded.message_id
                 WHERE suppressions.unsubscribed_at IS NULL
                    OR excluded.unsubscribed_at > suppressions.unsubscribed_at",
            )?;
            let mut resubscribe = tx.prepare(
                "INSERT INTO suppressions (tenant, customer, resubscribed_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, customer) DO UPDATE SET
                     resubscribed_at = excluded.resubscribed_at
                 WHERE suppressions.resubscribed_at IS NULL
                    OR excluded.resubscribed_at > suppressions.resubscribed_at",
            )?;
            for event in events {
                let before = suppressed.exists(params![tenant, event.customer])?;
                match &event.data {
                    EventData::Unsubscribed(reference) => {
                        unsubscribe.execute(params![
                            tenant,
                            event.customer,
                            event.at,
                            reference.campaign,
                            reference.message_id
                        ])?;
                    }
                    EventData::ConsentChanged {
                        email_marketing: Some(false),
                        ..
                    } => {
                        unsubscribe.execute(params![
                            tenant,
                            event.customer,
                            event.at,
                            None::<String>,
                            None::<String>
                        ])?;
                    }
                    EventData::Subscribed(_)
                    | EventData::ConsentChanged {
                        email_marketing: Some(true),
                        ..
                    } => {
                        resubscribe.execute(params![tenant, event.customer, event.at])?;
                    }
                    _ => continue,
                }
                let after = suppressed.exists(params![tenant, event.customer])?;
                newly += usize::from(after && !before);
            }
        }
        tx.commit()?;
        Ok(newly)
    }

    /// The tenant's suppression list, as the host checks it.
    pub fn suppression_list(&self, tenant: &str) -> Result<SuppressionList, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT customer FROM suppressions WHERE tenant = ?1 AND {SUPPRESSED}"
        ))?;
        let mut list = SuppressionList::new();
        for customer in stmt.query_map([tenant], |row| row.get::<_, String>(0))? {
            list.add_customer(customer?);
        }
        Ok(list)
    }

    /// The tenant's suppressions, newest first, at most `limit`.
    pub fn suppressions(&self, tenant: &str, limit: usize) -> Result<Vec<Suppression>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT customer, unsubscribed_at, campaign, message_id FROM suppressions
             WHERE tenant = ?1 AND {SUPPRESSED} ORDER BY unsubscribed_at DESC, customer LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![tenant, limit as i64], |row| {
            Ok(Suppression {
                customer: row.get(0)?,
                at: row.get(1)?,
                campaign: row.get(2)?,
                message_id: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The events KPIs are made of (opens, clicks, unsubscribes, orders)
    /// at or after `since`, oldest first.
    pub fn feedback_events(
        &self,
        tenant: &str,
        since: i64,
    ) -> Result<Vec<CustomerEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM customer_events WHERE tenant = ?1 AND at >= ?2
             AND type IN ('email_opened', 'email_clicked', 'unsubscribed', 'order_placed')
             ORDER BY at, id",
        )?;
        let rows = stmt.query_map(params![tenant, since], |row| row.get::<_, String>(0))?;
        rows.map(|body| parse_event(&body?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::store_with_tenants;

    fn event(id: &str, customer: &str, at: i64, kind: &str) -> CustomerEvent {
        let at = mailrules::profile::format_time(at);
        CustomerEvent::from_json(
            format!(r#"{{"id":"{id}","customer":"{customer}","at":"{at}","type":"{kind}"}}"#)
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn each_tenant_gets_its_own_lasting_key() {
        let (_dir, store) = store_with_tenants();
        let acme = store.feedback_key("acme").unwrap().unwrap();
        assert_eq!(store.feedback_key("acme").unwrap().unwrap(), acme);
        assert_ne!(store.feedback_key("globex").unwrap().unwrap(), acme);
        assert_eq!(store.feedback_key("nobody").unwrap(), None);
        assert_eq!(store.existing_feedback_key("acme").unwrap(), Some(acme));
        let (_dir, fresh) = store_with_tenants();
        assert_eq!(fresh.existing_feedback_key("acme").unwrap(), None);
        assert_eq!(fresh.existing_feedback_key("acme").unwrap(), None);
    }

    #[test]
    fn unsubscribes_suppress_until_a_later_subscription() {
        let (_dir, store) = store_with_tenants();
        let added = store
            .apply_unsubscribes(
                "acme",
                &[
                    event("u1", "c1", 100, "unsubscribed"),
                    event("u2", "c2", 100, "unsubscribed"),
                    event("s2", "c2", 200, "subscribed"),
                    event("u3", "c3", 300, "unsubscribed"),
                    event("s3", "c3", 250, "subscribed"), // before: stays off
                    event("x1", "c9", 100, "site_visit"),
                ],
            )
            .unwrap();
        assert_eq!(added, 3);
        assert_eq!(
            listed(&store),
            [("c3".to_string(), 300), ("c1".to_string(), 100)]
        );
        // The same unsubscribe again adds nothing; another tenant sees none.
        assert_eq!(
            store
                .apply_unsubscribes("acme", &[event("u1", "c1", 100, "unsubscribed")])
                .unwrap(),
            0
        );
        assert!(store.suppressions("globex", 10).unwrap().is_empty());
        assert_eq!(store.suppression_list("acme").unwrap().len(), 2);
    }

    fn listed(store: &Store) -> Vec<(String, i64)> {
        store
            .suppressions("acme", 10)
            .unwrap()
            .into_iter()
            .map(|s| (s.customer, s.at))
            .collect()
    }

    #[test]
    fn a_retried_or_late_batch_never_undoes_a_later_unsubscribe() {
        let (_dir, store) = store_with_tenants();
        let batch = [
            event("u1", "c1", 100, "unsubscribed"),
            event("s1", "c1", 200, "subscribed"),
        ];
        store.apply_unsubscribes("acme", &batch).unwrap();
        assert!(listed(&store).is_empty());
        // A one-click unsubscribe at 300, then the old batch again, and
        // then in the other order: still unsubscribed since 300.
        store
            .apply_unsubscribes("acme", &[event("u9", "c1", 300, "unsubscribed")])
            .unwrap();
        store.apply_unsubscribes("acme", &batch).unwrap();
        store
            .apply_unsubscribes("acme", &[batch[1].clone(), batch[0].clone()])
            .unwrap();
        assert_eq!(listed(&store), [("c1".to_string(), 300)]);
        // A resubscription at the same second does not lift it; a later one does.
        store
            .apply_unsubscribes("acme", &[event("s8", "c1", 300, "subscribed")])
            .unwrap();
        assert_eq!(listed(&store).len(), 1);
        store
            .apply_unsubscribes("acme", &[event("s9", "c1", 301, "subscribed")])
            .unwrap();
        assert!(listed(&store).is_empty());
    }

    #[test]
    fn consent_changes_unsubscribe_and_resubscribe_too() {
        let (_dir, store) = store_with_tenants();
        let consent = |id: &str, at: i64, on: bool| {
            let at = mailrules::profile::format_time(at);
            CustomerEvent::from_json(
                format!(
                    r#"{{"id":"{id}","customer":"c1","at":"{at}","type":"consent_changed","email_marketing":{on}}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(
            store
                .apply_unsubscribes("acme", &[consent("a", 100, false)])
                .unwrap(),
            1
        );
        assert_eq!(listed(&store), [("c1".to_string(), 100)]);
        store
            .apply_unsubscribes("acme", &[consent("b", 150, true)])
            .unwrap();
        assert!(listed(&store).is_empty());
    }
}
