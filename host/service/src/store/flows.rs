//! Flows, their runs (one per flow, customer and trigger: the key that
//! makes a triggered message go at most once), segment membership for
//! segment triggers, and deliveries (the send history frequency caps read).

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::sends::insert_send;
use super::{Store, now, require_tenant};
use crate::StoreError;
use crate::ids::validate_campaign_id;

/// A flow as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// The flow's name.
    pub name: String,
    /// Its TOML.
    pub toml: String,
    /// The last customer event (by arrival) it has read.
    pub cursor: i64,
    /// When it was last put.
    pub updated_at: String,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting for its due time.
    Waiting,
    /// In a send that has not been reconciled yet.
    Queued,
    /// Delivered.
    Sent,
    /// An exit event came first, or the flow was deleted.
    Cancelled,
    /// Not sent: no consent, the rule suppressed it, or a frequency cap.
    Suppressed,
    /// Found too long after its due time.
    Expired,
    /// Could not be sent (no address, refused by the relay, rule failure
    /// with the skip policy).
    Failed,
}

impl RunState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Waiting => "waiting",
            RunState::Queued => "queued",
            RunState::Sent => "sent",
            RunState::Cancelled => "cancelled",
            RunState::Suppressed => "suppressed",
            RunState::Expired => "expired",
            RunState::Failed => "failed",
        }
    }

    fn from_stored(text: &str) -> Result<RunState, StoreError> {
        Ok(match text {
            "waiting" => RunState::Waiting,
            "queued" => RunState::Queued,
            "sent" => RunState::Sent,
            "cancelled" => RunState::Cancelled,
            "suppressed" => RunState::Suppressed,
            "expired" => RunState::Expired,
            "failed" => RunState::Failed,
            other => return Err(StoreError::Corrupt(format!("flow_runs.state is {other:?}"))),
        })
    }
}

/// Which run: a flow, a customer, a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RunKey {
    /// The flow.
    pub flow: String,
    /// The customer.
    pub customer: String,
    /// The event id, or `entered:<segment>@<time>`.
    pub trigger: String,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRun {
    /// Which run.
    #[serde(flatten)]
    pub key: RunKey,
    /// When the trigger happened (seconds since the epoch).
    pub trigger_at: i64,
    /// When it is (or was) due.
    pub due_at: i64,
    /// Where it is.
    pub state: RunState,
    /// The send it went out in.
    pub send_id: Option<String>,
    /// Why it is where it is (postponement, cancellation, suppression).
    pub reason: Option<String>,
    /// When it last changed.
    pub updated_at: String,
}

const RUN_COLUMNS: &str =
    "flow, customer, trigger, trigger_at, due_at, state, send_id, reason, updated_at";

fn raw_run(row: &Row<'_>) -> rusqlite::Result<(FlowRun, String)> {
    Ok((
        FlowRun {
            key: RunKey {
                flow: row.get(0)?,
                customer: row.get(1)?,
                trigger: row.get(2)?,
            },
            trigger_at: row.get(3)?,
            due_at: row.get(4)?,
            state: RunState::Waiting,
            send_id: row.get(6)?,
            reason: row.get(7)?,
            updated_at: row.get(8)?,
        },
        row.get(5)?,
    ))
}

/// A run to create.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// Which run.
    pub key: RunKey,
    /// When the trigger happened.
    pub trigger_at: i64,
    /// When it is due.
    pub due_at: i64,
    /// Why it is due then, if not plainly.
    pub reason: Option<String>,
}

/// A send the scheduler creates for due runs.
#[derive(Debug, Clone, Copy)]
pub struct NewFlowSend<'a> {
    /// Its id ([`Store::new_send_id`]).
    pub id: &'a str,
    /// The campaign it sends.
    pub campaign: &'a str,
    /// The rule version it runs.
    pub rule_version: &'a str,
    /// The flow that made it.
    pub flow: &'a str,
    /// The time it is sent at.
    pub now: i64,
}

/// A change to a run.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    /// Which run.
    pub key: RunKey,
    /// Its new state.
    pub state: RunState,
    /// A new due time (postponed), or the same.
    pub due_at: Option<i64>,
    /// Why.
    pub reason: Option<String>,
}

impl Store {
    /// Creates or replaces the tenant's flow `name`; returns `true` if it
    /// was created. A new flow reads only events that arrive after it.
    pub fn put_flow(&self, tenant: &str, name: &str, toml: &str) -> Result<bool, StoreError> {
        validate_campaign_id(name)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        let existed = tx
            .query_row(
                "SELECT 1 FROM flows WHERE tenant = ?1 AND name = ?2",
                [tenant, name],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        tx.execute(
            "INSERT INTO flows (tenant, name, toml, cursor, updated_at)
             VALUES (?1, ?2, ?3,
                     (SELECT coalesce(max(seq), 0) FROM customer_events WHERE tenant = ?1), ?4)
             ON CONFLICT (tenant, name) DO UPDATE SET
                 toml = excluded.toml, updated_at = excluded.updated_at",
            params![tenant, name, toml, now()],
        )?;
        tx.commit()?;
        Ok(!existed)
    }

    /// The tenant's flows, by name.
    pub fn flows(&self, tenant: &str) -> Result<Vec<FlowRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, toml, cursor, updated_at FROM flows WHERE tenant = ?1 ORDER BY name",
        )?;
        let rows = stmt.query_map([tenant], |row| {
            Ok(FlowRecord {
                name: row.get(0)?,
                toml: row.get(1)?,
                cursor: row.get(2)?,
                updated_at: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes a flow; its waiting runs are cancelled. `false` if there
    /// was none.
    pub fn delete_flow(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let deleted = tx.execute(
            "DELETE FROM flows WHERE tenant = ?1 AND name = ?2",
            [tenant, name],
        )?;
        tx.execute(
            "UPDATE flow_runs SET state = 'cancelled', reason = 'flow deleted', updated_at = ?3
             WHERE tenant = ?1 AND flow = ?2 AND state = 'waiting'",
            params![tenant, name, now()],
        )?;
        tx.execute(
            "DELETE FROM segment_members WHERE tenant = ?1 AND flow = ?2",
            [tenant, name],
        )?;
        tx.commit()?;
        Ok(deleted == 1)
    }

    /// Creates runs (a run that exists already is left alone) and moves the
    /// flow's cursor, in one transaction; returns how many were created.
    pub fn schedule_runs(
        &self,
        tenant: &str,
        flow: &str,
        runs: &[NewRun],
        cursor: Option<i64>,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let created = insert_runs(&tx, tenant, runs)?;
        if let Some(cursor) = cursor {
            tx.execute(
                "UPDATE flows SET cursor = max(cursor, ?3) WHERE tenant = ?1 AND name = ?2",
                params![tenant, flow, cursor],
            )?;
        }
        tx.commit()?;
        Ok(created)
    }

    /// The customers a segment flow last saw in its segment.
    pub fn segment_members(&self, tenant: &str, flow: &str) -> Result<HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT customer FROM segment_members WHERE tenant = ?1 AND flow = ?2")?;
        let rows = stmt.query_map([tenant, flow], |row| row.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records who entered (with their runs) and who left a segment flow's
    /// segment, in one transaction; returns the runs created.
    pub fn update_segment(
        &self,
        tenant: &str,
        flow: &str,
        entered: &[NewRun],
        left: &[String],
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut add = tx.prepare(
                "INSERT OR IGNORE INTO segment_members (tenant, flow, customer, since)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            for run in entered {
                add.execute(params![tenant, flow, run.key.customer, run.trigger_at])?;
            }
            let mut remove = tx.prepare(
                "DELETE FROM segment_members WHERE tenant = ?1 AND flow = ?2 AND customer = ?3",
            )?;
            for customer in left {
                remove.execute(params![tenant, flow, customer])?;
            }
        }
        let created = insert_runs(&tx, tenant, entered)?;
        tx.commit()?;
        Ok(created)
    }

    /// Waiting runs of the tenant due at `now`, oldest due first.
    pub fn due_runs(
        &self,
        tenant: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<FlowRun>, StoreError> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM flow_runs
                 WHERE tenant = ?1 AND state = 'waiting' AND due_at <= ?2
                 ORDER BY due_at, flow, customer, trigger LIMIT ?3"
            ),
            params![tenant, now, limit as i64],
        )
    }

    /// Runs of the tenant in a send not reconciled yet.
    pub fn queued_runs(&self, tenant: &str) -> Result<Vec<FlowRun>, StoreError> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM flow_runs WHERE tenant = ?1 AND state = 'queued'
                 ORDER BY send_id, customer"
            ),
            params![tenant],
        )
    }

    /// Runs of the tenant (of one flow or all, in one state or all),
    /// newest trigger first, at most `limit`.
    pub fn runs(
        &self,
        tenant: &str,
        flow: Option<&str>,
        state: Option<RunState>,
        limit: usize,
    ) -> Result<Vec<FlowRun>, StoreError> {
        self.query_runs(
            &format!(
                "SELECT {RUN_COLUMNS} FROM flow_runs
                 WHERE tenant = ?1 AND (?2 IS NULL OR flow = ?2) AND (?3 IS NULL OR state = ?3)
                 ORDER BY trigger_at DESC, flow, customer, trigger LIMIT ?4"
            ),
            params![tenant, flow, state.map(RunState::as_str), limit as i64],
        )
    }

    /// Applies run changes in one transaction.
    pub fn update_runs(&self, tenant: &str, updates: &[RunUpdate]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        apply_updates(&tx, tenant, updates)?;
        tx.commit()?;
        Ok(())
    }

    /// Creates a running send `id` for the runs `keys` and marks them
    /// queued in it, in one transaction. Fails with
    /// [`StoreError::Conflict`] (and changes nothing) when any of them is
    /// no longer waiting: another process took it.
    pub fn create_flow_send(
        &self,
        tenant: &str,
        send: &NewFlowSend<'_>,
        keys: &[RunKey],
    ) -> Result<(), StoreError> {
        let NewFlowSend {
            id,
            campaign,
            rule_version,
            flow,
            now: send_now,
        } = *send;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_send(&tx, tenant, campaign, rule_version, id)?;
        tx.execute(
            "UPDATE sends SET flow = ?2, now = ?3 WHERE id = ?1",
            params![id, flow, send_now],
        )?;
        {
            let mut queue = tx.prepare(
                "UPDATE flow_runs SET state = 'queued', send_id = ?5, updated_at = ?6
                 WHERE tenant = ?1 AND flow = ?2 AND customer = ?3 AND trigger = ?4
                   AND state = 'waiting'",
            )?;
            let at = now();
            for key in keys {
                let changed =
                    queue.execute(params![tenant, key.flow, key.customer, key.trigger, id, at])?;
                if changed != 1 {
                    return Err(StoreError::Conflict(format!(
                        "run {}/{}/{} is no longer waiting",
                        key.flow, key.customer, key.trigger
                    )));
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the outcome of a send's runs and its deliveries (customer
    /// and time) in one transaction.
    pub fn finish_runs(
        &self,
        tenant: &str,
        send_id: &str,
        updates: &[RunUpdate],
        delivered: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        apply_updates(&tx, tenant, updates)?;
        insert_deliveries(&tx, tenant, send_id, delivered)?;
        tx.commit()?;
        Ok(())
    }

    /// Records deliveries of a send (for frequency caps).
    pub fn record_deliveries(
        &self,
        tenant: &str,
        send_id: &str,
        delivered: &[(String, i64)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_deliveries(&tx, tenant, send_id, delivered)?;
        tx.commit()?;
        Ok(())
    }

    /// When each of the tenant's customers was sent a message at or after
    /// `since`.
    pub fn delivery_times(
        &self,
        tenant: &str,
        since: i64,
    ) -> Result<HashMap<String, Vec<i64>>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT customer, at FROM deliveries WHERE tenant = ?1 AND at >= ?2 ORDER BY customer, at",
        )?;
        let rows = stmt.query_map(params![tenant, since], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        let mut times: HashMap<String, Vec<i64>> = HashMap::new();
        for row in rows {
            let (customer, at) = row?;
            times.entry(customer).or_default().push(at);
        }
        Ok(times)
    }

    /// Customers with a message in a flow send not reconciled yet, and that
    /// send's time: frequency caps count them as sent.
    pub fn queued_times(&self, tenant: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT r.customer, s.now FROM flow_runs r JOIN sends s ON s.id = r.send_id
             WHERE r.tenant = ?1 AND r.state = 'queued' AND s.now IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM deliveries d
                               WHERE d.tenant = r.tenant AND d.customer = r.customer
                                 AND d.send_id = r.send_id)",
        )?;
        let rows = stmt.query_map([tenant], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The time a flow send was made for (its `now`), if it is one.
    pub fn send_now(&self, id: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT now FROM sends WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .optional()?
            .flatten())
    }

    fn query_runs(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<FlowRun>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params, raw_run)?;
        rows.map(|row| {
            let (mut run, state) = row?;
            run.state = RunState::from_stored(&state)?;
            Ok(run)
        })
        .collect()
    }
}

fn insert_runs(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    runs: &[NewRun],
) -> Result<usize, StoreError> {
    require_tenant(tx, tenant)?;
    let mut insert = tx.prepare(
        "INSERT INTO flow_runs (tenant, flow, customer, trigger, trigger_at, due_at, state, reason, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'waiting', ?8, ?7)
         ON CONFLICT (tenant, flow, customer, trigger) DO NOTHING",
    )?;
    let at = now();
    let mut created = 0;
    for run in runs {
        created += insert.execute(params![
            tenant,
            run.key.flow,
            run.key.customer,
            run.key.trigger,
            run.trigger_at,
            run.due_at,
            at,
            run.reason
        ])?;
    }
    Ok(created)
}

fn apply_updates(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    updates: &[RunUpdate],
) -> Result<(), StoreError> {
    let mut update = tx.prepare(
        "UPDATE flow_runs SET state = ?5, due_at = coalesce(?6, due_at), reason = ?7,
             send_id = CASE WHEN ?5 = 'waiting' THEN NULL ELSE send_id END, updated_at = ?8
         WHERE tenant = ?1 AND flow = ?2 AND customer = ?3 AND trigger = ?4",
    )?;
    let at = now();
    for u in updates {
        update.execute(params![
            tenant,
            u.key.flow,
            u.key.customer,
            u.key.trigger,
            u.state.as_str(),
            u.due_at,
            u.reason,
            at
        ])?;
    }
    Ok(())
}

fn insert_deliveries(
    tx: &rusqlite::Transaction<'_>,
    tenant: &str,
    send_id: &str,
    delivered: &[(String, i64)],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare(
        "INSERT OR IGNORE INTO deliveries (tenant, customer, at, send_id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (customer, at) in delivered {
        insert.execute(params![tenant, customer, at, send_id])?;
    }
    Ok(())
}
