//! [`Hosting::tick`]: everything due at one time, once. Time is a
//! parameter, so `mailrules tick --now T` and tests drive it explicitly;
//! `mailrules serve` calls it with the clock.
//!
//! Per tenant, in order:
//! 0. **Compaction**, once a day (see `compact.rs`).
//! 1. **Reconcile**: runs queued in a finished send take that send's
//!    journal fates (delivered → `sent`, and a delivery recorded for
//!    frequency caps; suppressed; failed; deferred → waiting again).
//! 2. **Triggers**: events that arrived since a flow's cursor and match its
//!    trigger become runs, due at the flow's delay (in the customer's zone
//!    for `local_time`); segment flows evaluate the rule with the flow's
//!    campaign on every customer and make a run for each customer who
//!    entered the segment since the last tick.
//! 3. **Due runs**: each is dropped when it expired, cancelled when an exit
//!    event came after its trigger, and otherwise evaluated on the profile
//!    derived now. Frequency caps (the tenant's and the campaign's), the
//!    campaign's send time in the recipient's zone and quiet hours may
//!    postpone it (it waits, with the time and the reason) or suppress it
//!    (`frequency-cap`). The rest go out in one send per flow, whose
//!    runs are marked queued in the same transaction that creates the
//!    send: a run is in at most one send, and a send resumes after a crash
//!    from its journal, so each (flow, customer, trigger) is sent at most
//!    once. Campaign sends' recipients postponed to their send time are
//!    runs too (flow `send:<id>`), sent with the profiles that send was
//!    given.
//!
//! A tenant's sends run one at a time while the next tenants tick; the tick
//! returns once every send it started has finished and been reconciled.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use mailrules::journal::{Entry, Fate};
use mailrules::lifecycle::flow::{Flow, Trigger};
use mailrules::lifecycle::pacing::{Pacing, pace};
use mailrules::lifecycle::timing::zone_or;
use mailrules::outcome::{Outcome, Status};
use mailrules::policy::NO_CONSENT;
use mailrules::profile::{Profile, Timestamp, format_time};
use mailrules::profile_reader::{Position, ProfileRecord};
use serde::Serialize;

use super::super::{Hosting, HostingError, lock};
use crate::store::{FlowRun, NewRun, RunKey, RunState, RunUpdate, SendState};

/// The flow name of the runs that continue a campaign send: its
/// recipients postponed to their local send time or past a cap.
pub(crate) const CONTINUATION: &str = "send:";

/// Where runs of one flow come from: the flow, and for a campaign send's
/// continuation the profiles that send was given (flows read the store).
type RunSource = (Flow, Option<HashMap<String, Profile>>);

/// Events read per batch when looking for triggers.
const EVENT_BATCH: usize = 10_000;
/// Due runs handled per tenant per tick (the rest wait for the next).
const MAX_DUE_PER_TICK: usize = 50_000;
/// How far back deliveries count for frequency caps.
const HISTORY_DAYS: i64 = 366;

/// What one tick did, over every tenant.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TickReport {
    /// The time it ran for.
    pub now: String,
    /// Runs created by events and segment entries.
    pub triggered: usize,
    /// Runs cancelled by an exit event.
    pub cancelled: usize,
    /// Runs dropped because they were found too late.
    pub expired: usize,
    /// Runs postponed (frequency cap, send time, quiet hours).
    pub postponed: usize,
    /// Runs suppressed: frequency cap, consent, or the rule.
    pub suppressed: usize,
    /// Runs that could not be sent.
    pub failed: usize,
    /// Runs handed to a send.
    pub queued: usize,
    /// Runs whose message was delivered (reconciled this tick).
    pub sent: usize,
    /// The sends started.
    pub sends: Vec<String>,
    /// Problems that stopped part of a tenant's tick.
    pub errors: Vec<String>,
}

impl Hosting {
    /// Runs everything due at `now` once: reconciles finished flow sends,
    /// turns new events and segment entries into runs, and sends the runs
    /// that are due (one send of a tenant at a time, while the next tenants
    /// tick; the tick returns when all have finished and are reconciled). One tick runs at a
    /// time in a process; a second process ticking the same data directory
    /// cannot send a run twice (see the module docs).
    pub fn tick(self: &Arc<Self>, now: Timestamp) -> Result<TickReport, HostingError> {
        let _one_at_a_time = lock(&self.tick_lock);
        let mut report = TickReport {
            now: format_time(now),
            ..TickReport::default()
        };
        // Sends started by one tenant's tick run while the next tenants
        // tick: a slow relay or a large send delays nobody else.
        let mut sending: Vec<(String, std::thread::JoinHandle<()>)> = Vec::new();
        for tenant in self.store.tenants()? {
            if let Err(error) = self.tick_tenant(&tenant.id, now, &mut report, &mut sending) {
                tracing::error!(tenant = tenant.id, %error, "tick");
                report
                    .errors
                    .push(format!("{}: {}", tenant.id, error.public_message()));
            }
        }
        let mut sent_by: Vec<String> = Vec::new();
        for (tenant, handle) in sending {
            let _ = handle.join();
            if !sent_by.contains(&tenant) {
                sent_by.push(tenant);
            }
        }
        for tenant in sent_by {
            if let Err(error) = self.reconcile(&tenant, &mut report) {
                report
                    .errors
                    .push(format!("{tenant}: {}", error.public_message()));
            }
        }
        self.metrics.ticks.inc();
        Ok(report)
    }

    fn tick_tenant(
        self: &Arc<Self>,
        tenant: &str,
        now: Timestamp,
        report: &mut TickReport,
        sending: &mut Vec<(String, std::thread::JoinHandle<()>)>,
    ) -> Result<(), HostingError> {
        self.reconcile(tenant, report)?;
        self.compact_when_due(tenant, now)?;
        let mut flows = BTreeMap::new();
        for record in self.store.flows(tenant)? {
            match Flow::parse(&record.toml, &record.name) {
                Ok(flow) => {
                    flows.insert(record.name.clone(), (flow, record.cursor));
                }
                Err(error) => report.errors.push(format!("{tenant}: {error}")),
            }
        }
        let rfm_change = self.rfm_change(tenant);
        let profiles = if flows.is_empty() {
            HashMap::new()
        } else {
            self.derived_profiles(tenant, now)?
        };
        let derived = (!flows.is_empty()).then_some(&profiles);
        self.refresh_rfm(tenant, now, derived, rfm_change)?;
        let default_zone = self.default_zone(tenant)?;
        let zone_of = |customer: &str| {
            zone_or(
                profiles.get(customer).and_then(|p| p.timezone.as_deref()),
                default_zone,
            )
        };
        for (name, (flow, cursor)) in &flows {
            match &flow.trigger {
                Trigger::Event { .. } => {
                    report.triggered +=
                        self.event_triggers(tenant, name, flow, *cursor, &zone_of)?;
                }
                Trigger::Segment(segment) => {
                    report.triggered +=
                        self.segment_entries(tenant, flow, segment, &profiles, now, &zone_of)?;
                }
            }
        }
        self.send_due(tenant, &flows, &profiles, now, report, sending)
    }

    /// Runs for the events a flow has not read yet.
    fn event_triggers(
        &self,
        tenant: &str,
        name: &str,
        flow: &Flow,
        mut cursor: i64,
        zone_of: &dyn Fn(&str) -> chrono_tz::Tz,
    ) -> Result<usize, HostingError> {
        let mut created = 0;
        loop {
            let batch = self.store.events_after(tenant, cursor, EVENT_BATCH)?;
            let Some((last, _)) = batch.last() else {
                return Ok(created);
            };
            let last = *last;
            let runs: Vec<NewRun> = batch
                .iter()
                .filter(|(_, event)| flow.triggered_by(event))
                .map(|(_, event)| NewRun {
                    key: RunKey {
                        flow: name.to_string(),
                        customer: event.customer.clone(),
                        trigger: event.id.clone(),
                    },
                    trigger_at: event.at,
                    due_at: flow.due_at(event.at, zone_of(&event.customer)),
                    reason: None,
                })
                .collect();
            created += self.store.schedule_runs(tenant, name, &runs, Some(last))?;
            cursor = last;
        }
    }

    /// Runs for the customers who entered a segment flow's segment.
    fn segment_entries(
        &self,
        tenant: &str,
        flow: &Flow,
        segment: &str,
        profiles: &HashMap<String, Profile>,
        now: Timestamp,
        zone_of: &dyn Fn(&str) -> chrono_tz::Tz,
    ) -> Result<usize, HostingError> {
        let (served, _) = self.served(tenant, &flow.campaign, Some(now))?;
        let mut customers: Vec<&String> = profiles.keys().collect();
        customers.sort();
        let records = customers
            .iter()
            .enumerate()
            .map(|(i, customer)| record(i, profiles[*customer].clone()))
            .collect();
        // Only the rule's own decision moves a customer in or out. One it
        // did not decide for (it failed, its breaker is open, it did not
        // run for lack of consent, or the evaluation stopped first) keeps
        // the membership it had: counting it as having left would make it
        // enter again, and be sent again, once the rule decides.
        let mut members = HashSet::new();
        let mut outside = HashSet::new();
        self.evaluate_records(tenant, &served, records, |processed| {
            let outcome = &processed.outcome;
            let decided = match outcome.status {
                Status::Ok => true,
                Status::Suppressed => outcome.reason.as_deref() != Some(NO_CONSENT),
                Status::Fallback | Status::Skipped | Status::Error => false,
            };
            if decided {
                let set = if outcome.segments.iter().any(|s| s == segment) {
                    &mut members
                } else {
                    &mut outside
                };
                set.insert(outcome.profile_id.clone());
            }
            true
        });
        let before = self.store.segment_members(tenant, &flow.name)?;
        let mut entered: Vec<NewRun> = members
            .iter()
            .filter(|customer| !before.contains(*customer))
            .map(|customer| NewRun {
                key: RunKey {
                    flow: flow.name.clone(),
                    customer: customer.clone(),
                    trigger: format!("entered:{segment}@{}", format_time(now)),
                },
                trigger_at: now,
                due_at: flow.due_at(now, zone_of(customer)),
                reason: None,
            })
            .collect();
        entered.sort_by(|a, b| a.key.customer.cmp(&b.key.customer));
        let left: Vec<String> = before.intersection(&outside).cloned().collect();
        Ok(self
            .store
            .update_segment(tenant, &flow.name, &entered, &left)?)
    }

    /// Decides every due run and sends those that go now, one send per
    /// flow.
    fn send_due(
        self: &Arc<Self>,
        tenant: &str,
        flows: &BTreeMap<String, (Flow, i64)>,
        profiles: &HashMap<String, Profile>,
        now: Timestamp,
        report: &mut TickReport,
        sending: &mut Vec<(String, std::thread::JoinHandle<()>)>,
    ) -> Result<(), HostingError> {
        let due = self.store.due_runs(tenant, now, MAX_DUE_PER_TICK)?;
        if due.is_empty() {
            return Ok(());
        }
        let settings = self.tenant_settings(tenant)?;
        let default_zone = self.default_zone(tenant)?;
        let mut history = self
            .store
            .delivery_times(tenant, now - HISTORY_DAYS * 86_400)?;
        // Messages of sends still running count too: a cap holds even
        // while the send that may reach it is under way.
        for (customer, at) in self.store.queued_times(tenant)? {
            history.entry(customer).or_default().push(at);
        }
        // Flows, and the campaign sends whose postponed recipients are due
        // (as `send:<id>` runs): each with where its profiles come from.
        let mut sources: BTreeMap<String, RunSource> = flows
            .iter()
            .map(|(name, (flow, _))| (name.clone(), (flow.clone(), None)))
            .collect();
        for run in &due {
            if let Some(send_id) = run.key.flow.strip_prefix(CONTINUATION)
                && !sources.contains_key(&run.key.flow)
                && let Some(continuation) = self.continuation(tenant, send_id)?
            {
                sources.insert(run.key.flow.clone(), continuation);
            }
        }
        let profile_of = |run: &FlowRun| -> Option<&Profile> {
            match sources.get(&run.key.flow) {
                Some((_, Some(own))) => own.get(&run.key.customer),
                _ => profiles.get(&run.key.customer),
            }
        };
        let mut updates = Vec::new();
        let mut by_flow: BTreeMap<&str, Vec<&FlowRun>> = BTreeMap::new();
        for run in &due {
            let update = |state: RunState, reason: String| RunUpdate {
                key: run.key.clone(),
                state,
                due_at: None,
                reason: Some(reason),
            };
            let Some((flow, _)) = sources.get(&run.key.flow) else {
                updates.push(update(
                    RunState::Cancelled,
                    "the flow was deleted or is invalid".into(),
                ));
                report.cancelled += 1;
                continue;
            };
            if now > run.due_at.saturating_add(flow.expire_after) {
                updates.push(update(
                    RunState::Expired,
                    format!(
                        "due {} but found at {}, more than the flow's expire_after later",
                        format_time(run.due_at),
                        format_time(now)
                    ),
                ));
                report.expired += 1;
                continue;
            }
            if let Trigger::Event { .. } = flow.trigger {
                let events = self.store.customer_events(tenant, &run.key.customer)?;
                if let Some(exit) = flow.exit_event(run.trigger_at, &run.key.trigger, &events, now)
                {
                    updates.push(update(
                        RunState::Cancelled,
                        format!(
                            "exit: {} `{}` at {}",
                            exit.kind().as_str(),
                            exit.id,
                            format_time(exit.at)
                        ),
                    ));
                    report.cancelled += 1;
                    continue;
                }
            }
            if profile_of(run).is_none() {
                updates.push(update(
                    RunState::Failed,
                    "no profile with an email address for this customer".into(),
                ));
                report.failed += 1;
                continue;
            }
            by_flow.entry(run.key.flow.as_str()).or_default().push(run);
        }
        self.store.update_runs(tenant, &updates)?;

        for (name, runs) in by_flow {
            let (flow, _) = &sources[name];
            let (served, campaign) = self.served(tenant, &flow.campaign, Some(now))?;
            if campaign.message.is_none() {
                // Replaced by one that cannot be sent since the flow was
                // put: the runs wait (until put right, or expired) rather
                // than fail in a send without a word about why.
                let reason = format!(
                    "waiting: campaign `{}` has no [message] table, so it cannot be sent",
                    flow.campaign
                );
                let updates: Vec<RunUpdate> = runs
                    .iter()
                    .map(|run| RunUpdate {
                        key: run.key.clone(),
                        state: RunState::Waiting,
                        due_at: None,
                        reason: Some(reason.clone()),
                    })
                    .collect();
                self.store.update_runs(tenant, &updates)?;
                report
                    .errors
                    .push(format!("{tenant}: flow {name}: {reason}"));
                continue;
            }
            let records = runs
                .iter()
                .filter_map(|run| profile_of(run).cloned())
                .enumerate()
                .map(|(i, profile)| record(i, profile))
                .collect();
            let mut outcomes: Vec<Outcome> = Vec::with_capacity(runs.len());
            self.evaluate_records(tenant, &served, records, |processed| {
                outcomes.push(processed.outcome);
                true
            });
            let caps = settings.frequency.merged(&campaign.frequency);
            let mut schedule = campaign.schedule.clone();
            if schedule.quiet_hours.is_none() {
                schedule.quiet_hours.clone_from(&settings.quiet_hours);
            }
            let mut updates = Vec::new();
            let mut going = Vec::new();
            let mut going_to: HashSet<&str> = HashSet::new();
            let mut lines = Vec::new();
            for (run, outcome) in runs.iter().zip(&outcomes) {
                let update = |state: RunState, due_at: Option<i64>, reason: String| RunUpdate {
                    key: run.key.clone(),
                    state,
                    due_at,
                    reason: Some(reason),
                };
                if !outcome.status.sends() {
                    let reason = outcome.reason.clone().unwrap_or_default();
                    let state = match outcome.status {
                        mailrules::Status::Suppressed => {
                            report.suppressed += 1;
                            RunState::Suppressed
                        }
                        _ => {
                            report.failed += 1;
                            RunState::Failed
                        }
                    };
                    updates.push(update(
                        state,
                        None,
                        format!("{}: {reason}", outcome.status.as_str()),
                    ));
                    continue;
                }
                let customer = &run.key.customer;
                if going_to.contains(customer.as_str()) {
                    // Another run of this flow goes to the customer now:
                    // this one waits for the next tick (and its caps).
                    continue;
                }
                let profile = profile_of(run).expect("checked above");
                let zone = zone_or(profile.timezone.as_deref(), default_zone);
                let sent = history.get(customer).map(Vec::as_slice).unwrap_or(&[]);
                match pace(&schedule, &caps, sent, &outcome.segments, zone, now) {
                    Pacing::Now => {
                        history.entry(customer.clone()).or_default().push(now);
                        going_to.insert(customer.as_str());
                        going.push(run.key.clone());
                        let json = serde_json::to_string(profile)
                            .map_err(|e| HostingError::Internal(format!("profile: {e}")))?;
                        lines.extend_from_slice(json.as_bytes());
                        lines.push(b'\n');
                    }
                    Pacing::Postpone { until, why } => {
                        report.postponed += 1;
                        updates.push(update(
                            RunState::Waiting,
                            Some(until),
                            format!("postponed to {}: {why}", format_time(until)),
                        ));
                    }
                    Pacing::Suppress { why } => {
                        report.suppressed += 1;
                        updates.push(update(RunState::Suppressed, None, why));
                    }
                }
            }
            self.store.update_runs(tenant, &updates)?;
            if going.is_empty() {
                continue;
            }
            // One send of a tenant at a time (other tenants' run meanwhile).
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(sending)
                .into_iter()
                .partition(|(owner, _)| owner == tenant);
            *sending = others;
            for (_, thread) in mine {
                let _ = thread.join();
            }
            match self.flow_send(tenant, &served, &flow.campaign, name, now, lines, &going)? {
                Some((id, thread)) => {
                    report.queued += going.len();
                    report.sends.push(id);
                    sending.extend(thread.map(|thread| (tenant.to_string(), thread)));
                }
                None => report.errors.push(format!(
                    "{tenant}: flow {name}: its runs were taken by another process"
                )),
            }
        }
        Ok(())
    }

    /// Gives the runs of finished sends their fates.
    fn reconcile(&self, tenant: &str, report: &mut TickReport) -> Result<(), HostingError> {
        let mut by_send: BTreeMap<String, Vec<FlowRun>> = BTreeMap::new();
        for run in self.store.queued_runs(tenant)? {
            if let Some(send) = run.send_id.clone() {
                by_send.entry(send).or_default().push(run);
            }
        }
        for (send_id, runs) in by_send {
            let Some(record) = self.store.send(tenant, &send_id)? else {
                continue;
            };
            let mut updates = Vec::with_capacity(runs.len());
            let mut delivered = Vec::new();
            let sent_at = self.store.send_now(&send_id)?.unwrap_or_default();
            let fates: HashMap<String, (Fate, Option<String>)> = match record.state {
                SendState::Running => continue,
                SendState::Failed => HashMap::new(),
                SendState::Done => self.journal_fates(tenant, &send_id)?,
            };
            for run in runs {
                let (state, reason) = match fates.get(&run.key.customer) {
                    Some((Fate::Delivered, _)) => {
                        delivered.push((run.key.customer.clone(), sent_at));
                        report.sent += 1;
                        // Keeps why it went when it did.
                        let why = match &run.reason {
                            Some(reason) if reason.starts_with("postponed") => {
                                format!("{reason}; delivered at {}", format_time(sent_at))
                            }
                            _ => format!("delivered at {}", format_time(sent_at)),
                        };
                        (RunState::Sent, Some(why))
                    }
                    Some((Fate::Suppressed, reason)) => {
                        report.suppressed += 1;
                        (RunState::Suppressed, reason.clone())
                    }
                    Some((Fate::Deferred, reason)) => (
                        RunState::Waiting,
                        Some(format!(
                            "deferred, tried again: {}",
                            reason.clone().unwrap_or_default()
                        )),
                    ),
                    Some((fate, reason)) => {
                        report.failed += 1;
                        (
                            RunState::Failed,
                            Some(format!(
                                "{}: {}",
                                fate.as_str(),
                                reason.clone().unwrap_or_default()
                            )),
                        )
                    }
                    None if record.state == SendState::Failed => {
                        report.failed += 1;
                        (
                            RunState::Failed,
                            Some(format!(
                                "send {send_id} failed: {}",
                                record.error.clone().unwrap_or_default()
                            )),
                        )
                    }
                    None => (
                        RunState::Waiting,
                        Some(format!("not reached by send {send_id}")),
                    ),
                };
                updates.push(RunUpdate {
                    key: run.key,
                    state,
                    due_at: None,
                    reason,
                });
            }
            self.store
                .finish_runs(tenant, &send_id, &updates, &delivered)?;
        }
        Ok(())
    }

    /// The last fate of every recipient in a send's journal, with the
    /// relay's reply or the reason.
    pub(crate) fn journal_fates(
        &self,
        tenant: &str,
        send_id: &str,
    ) -> Result<HashMap<String, (Fate, Option<String>)>, HostingError> {
        let path = self.send_dir(tenant, send_id).join("journal");
        let (entries, _, _) = mailrules::journal::read(&path)
            .map_err(|e| HostingError::Internal(format!("send {send_id}: {e}")))?;
        Ok(entries
            .into_iter()
            .filter_map(|entry| match entry {
                Entry::Recipient(r) => Some((r.profile_id, (r.fate, r.reason.or(r.reply)))),
                Entry::Started { .. } => None,
            })
            .collect())
    }

    /// The flow of a campaign send's postponed recipients: its campaign,
    /// sent at once when due, with the profiles the send was given.
    fn continuation(&self, tenant: &str, send_id: &str) -> Result<Option<RunSource>, HostingError> {
        let Some(record) = self.store.send(tenant, send_id)? else {
            return Ok(None);
        };
        let flow = Flow {
            name: format!("{CONTINUATION}{send_id}"),
            campaign: record.campaign,
            trigger: Trigger::Segment(String::new()),
            delay: 0,
            local_time: None,
            exit_on: Vec::new(),
            expire_after: mailrules::lifecycle::flow::DEFAULT_EXPIRE_AFTER,
        };
        let profiles = self
            .send_profiles(tenant, send_id)?
            .into_iter()
            .map(|profile| (profile.id.clone(), profile))
            .collect();
        Ok(Some((flow, Some(profiles))))
    }

    /// The tenant's default time zone (UTC when it has none).
    pub(crate) fn default_zone(&self, tenant: &str) -> Result<chrono_tz::Tz, HostingError> {
        Ok(zone_or(
            self.tenant_settings(tenant)?.timezone.as_deref(),
            chrono_tz::Tz::UTC,
        ))
    }
}

fn record(index: usize, profile: Profile) -> ProfileRecord {
    ProfileRecord {
        position: Position::Line(index as u64 + 1),
        profile: Ok(profile),
    }
}
