//! Customer profiles and events: profiles as posted (JSON), events by
//! `(tenant, id)` so a repeated event is stored once, the orders folded
//! away by compaction, and the compaction horizon.

use std::collections::BTreeSet;

use mailrules::lifecycle::derive::OrderSummary;
use mailrules::lifecycle::events::CustomerEvent;
use rusqlite::{OptionalExtension, params};

use super::{Store, now, require_tenant};
use crate::StoreError;

/// What storing a batch of events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoredEvents {
    /// Events stored for the first time.
    pub inserted: usize,
    /// Events whose id was already stored (ignored).
    pub duplicates: usize,
}

impl Store {
    /// Creates or replaces profiles of the tenant: `(customer id, profile
    /// JSON)` pairs, in one transaction.
    pub fn put_profiles(
        &self,
        tenant: &str,
        profiles: &[(String, String)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO profiles (tenant, customer, body, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, customer) DO UPDATE SET
                     body = excluded.body, updated_at = excluded.updated_at",
            )?;
            let at = now();
            for (customer, body) in profiles {
                insert.execute(params![tenant, customer, body, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The posted profile (JSON) of a customer, if any.
    pub fn profile(&self, tenant: &str, customer: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT body FROM profiles WHERE tenant = ?1 AND customer = ?2",
                [tenant, customer],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Every customer of the tenant: with a posted profile or any event.
    pub fn customers(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT customer FROM profiles WHERE tenant = ?1
             UNION SELECT customer FROM customer_events WHERE tenant = ?1
             UNION SELECT customer FROM order_summaries WHERE tenant = ?1
             ORDER BY 1",
        )?;
        let rows = stmt.query_map([tenant], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many profiles the tenant has posted.
    pub fn profile_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let count: i64 = self.conn().query_row(
            "SELECT count(*) FROM profiles WHERE tenant = ?1",
            [tenant],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }

    /// Stores events of the tenant in one transaction; an event whose id is
    /// already stored is ignored.
    pub fn insert_events(
        &self,
        tenant: &str,
        events: &[CustomerEvent],
    ) -> Result<StoredEvents, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        let mut stored = StoredEvents::default();
        {
            let mut insert = tx.prepare(
                "INSERT INTO customer_events (tenant, id, customer, type, at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, id) DO NOTHING",
            )?;
            for event in events {
                let changed = insert.execute(params![
                    tenant,
                    event.id,
                    event.customer,
                    event.kind().as_str(),
                    event.at,
                    event.to_json()
                ])?;
                if changed == 1 {
                    stored.inserted += 1;
                } else {
                    stored.duplicates += 1;
                }
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// Every stored event of one customer, oldest first.
    pub fn customer_events(
        &self,
        tenant: &str,
        customer: &str,
    ) -> Result<Vec<CustomerEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM customer_events WHERE tenant = ?1 AND customer = ?2 ORDER BY at, id",
        )?;
        let rows = stmt.query_map([tenant, customer], |row| row.get::<_, String>(0))?;
        rows.map(|body| parse_event(&body?)).collect()
    }

    /// Events that arrived after `seq` (in arrival order), at most `limit`,
    /// each with its sequence number.
    pub fn events_after(
        &self,
        tenant: &str,
        seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, CustomerEvent)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, body FROM customer_events WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![tenant, seq, limit as i64], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        rows.map(|row| {
            let (seq, body) = row?;
            Ok((seq, parse_event(&body)?))
        })
        .collect()
    }

    /// The sequence number of the tenant's latest event (0 when none).
    pub fn last_event_seq(&self, tenant: &str) -> Result<i64, StoreError> {
        Ok(self.conn().query_row(
            "SELECT coalesce(max(seq), 0) FROM customer_events WHERE tenant = ?1",
            [tenant],
            |row| row.get(0),
        )?)
    }

    /// Orders of a customer folded away by compaction.
    pub fn order_summary(
        &self,
        tenant: &str,
        customer: &str,
    ) -> Result<Option<OrderSummary>, StoreError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM order_summaries WHERE tenant = ?1 AND customer = ?2",
                [tenant, customer],
                |row| row.get(0),
            )
            .optional()?;
        body.map(|body| {
            serde_json::from_str(&body)
                .map_err(|e| StoreError::Corrupt(format!("order_summaries.body: {e}")))
        })
        .transpose()
    }

    /// The horizon of the tenant's last compaction: events before it were
    /// folded or dropped then (later arrivals wait for the next one).
    pub fn compaction_horizon(&self, tenant: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT horizon FROM compaction WHERE tenant = ?1",
                [tenant],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Compacts one customer: stores the new summary and deletes the
    /// folded events and the `superseded` ones, in one transaction, and
    /// moves the tenant's horizon to `horizon` (never back).
    pub fn compact_customer(
        &self,
        tenant: &str,
        customer: &str,
        summary: &OrderSummary,
        deleted: &BTreeSet<String>,
        horizon: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        if summary.count > 0 {
            let body = serde_json::to_string(summary)
                .map_err(|e| StoreError::Corrupt(format!("order summary: {e}")))?;
            tx.execute(
                "INSERT INTO order_summaries (tenant, customer, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, customer) DO UPDATE SET body = excluded.body",
                params![tenant, customer, body],
            )?;
        }
        {
            let mut delete = tx.prepare(
                "DELETE FROM customer_events WHERE tenant = ?1 AND id = ?2 AND customer = ?3",
            )?;
            for id in deleted {
                delete.execute(params![tenant, id, customer])?;
            }
        }
        tx.execute(
            "INSERT INTO compaction (tenant, horizon) VALUES (?1, ?2)
             ON CONFLICT (tenant) DO UPDATE SET horizon = max(horizon, excluded.horizon)",
            params![tenant, horizon],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records a compaction up to `horizon` (never moves back).
    pub fn mark_compacted(&self, tenant: &str, horizon: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO compaction (tenant, horizon) VALUES (?1, ?2)
             ON CONFLICT (tenant) DO UPDATE SET horizon = max(horizon, excluded.horizon)",
            params![tenant, horizon],
        )?;
        Ok(())
    }

    /// How many events the tenant has stored.
    pub fn event_count(&self, tenant: &str) -> Result<u64, StoreError> {
        let count: i64 = self.conn().query_row(
            "SELECT count(*) FROM customer_events WHERE tenant = ?1",
            [tenant],
            |row| row.get(0),
        )?;
        Ok(count as u64)
    }
}

pub(super) fn parse_event(body: &str) -> Result<CustomerEvent, StoreError> {
    CustomerEvent::from_json(body.as_bytes())
        .map_err(|e| StoreError::Corrupt(format!("customer_events.body: {e}")))
}
