//! `send`: evaluate, render, deliver and record every recipient, resuming
//! from the journal.
//!
//! Stages run side by side: the evaluation pipeline of [`crate::run`]
//! (reader, rule threads, ordering), `connections` delivery threads that
//! render and hand messages to the transport (retrying transient failures
//! with backoff), and one journal thread that appends every fate. Recipients
//! the journal already marks final are skipped before their rule runs.
//!
//! A [`Pacer`] (the campaign's send time, quiet hours and frequency caps,
//! see [`crate::lifecycle::pacing`]) decides for each message that would
//! go whether it goes now, waits (fate `deferred`) or is held back (fate
//! `suppressed`); every record of a message says when it was scheduled and
//! why.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::deliver::{DeliveryError, Severity, Transport};
use crate::evaluate::{Evaluator, Failure};
use crate::journal::{Entry, Fate, History, JournalError, JournalWriter, RecipientEntry};
use crate::lifecycle::pacing::{Pacer, Pacing};
use crate::outcome::{Outcome, Status};
use crate::profile::Profile;
use crate::profile_reader::ProfileRecord;
use crate::render::{RenderError, Renderer};
use crate::run::{EvaluationStage, Processed, Stopped};
use crate::same_refusals::SameRefusals;
use crate::threads::spawn_named;
use crate::unsynced_window::{CloseOnDrop, UnsyncedWindow};

/// How delivery behaves.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Delivery threads (and so at most this many relay connections in use).
    pub connections: usize,
    /// Extra attempts after a transient failure.
    pub retries: u32,
    /// Wait before the first retry; doubles for each further one.
    pub retry_delay: Duration,
    /// After this many recipients in a row deferred (relay down, every
    /// retry spent), stop trying: the rest are recorded as deferred at once,
    /// for a later run to resume.
    pub give_up_after: usize,
    /// When the first this many recipients of a run are all refused
    /// permanently with the same reply (addresses aside), the relay is
    /// refusing everyone: stop, and record them and the rest as deferred
    /// rather than failed. 0 turns this off.
    pub same_refusals_limit: usize,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            connections: 16,
            retries: 3,
            retry_delay: Duration::from_millis(500),
            give_up_after: 50,
            same_refusals_limit: 20,
        }
    }
}

/// Totals of one `send` run.
#[derive(Debug, Default, Clone)]
pub struct SendSummary {
    /// Recipients per fate, this run.
    pub fates: BTreeMap<Fate, u64>,
    /// Recipients skipped because the journal already had them.
    pub already_done: u64,
    /// Records skipped because their profile id came earlier in the input.
    pub duplicates: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// The relay's reply when it refused the sender (authentication) and
    /// sending stopped.
    pub refused: Option<String>,
    /// The reply the relay refused the first recipients with, all alike,
    /// when that stopped sending (see
    /// [`DeliveryOptions::same_refusals_limit`]).
    pub refused_everyone: Option<String>,
    /// The first template failure (the campaign's, with its file and line);
    /// the recipients it hit are deferred, everyone else was sent.
    pub campaign_error: Option<String>,
    /// Recipients the pacer postponed (fate `deferred`: a later run
    /// reconsiders them).
    pub postponed: u64,
    /// Recipients the pacer held back for good (fate `suppressed`: a
    /// frequency cap, or a schedule no time satisfies).
    pub held_back: u64,
    /// The earliest time a postponed recipient waits for.
    pub next_due: Option<i64>,
}

impl SendSummary {
    /// Recipients handled this run.
    pub fn handled(&self) -> u64 {
        self.fates.values().sum()
    }

    /// Recipients with `fate` this run.
    pub fn count(&self, fate: Fate) -> u64 {
        self.fates.get(&fate).copied().unwrap_or(0)
    }
}

/// `send` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The journal could not be written: stop, since nothing could be
    /// recorded.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

fn entry(
    outcome: &Outcome,
    fate: Fate,
    message_id: Option<String>,
    reply: Option<String>,
) -> Entry {
    Entry::Recipient(RecipientEntry {
        profile_id: outcome.profile_id.clone(),
        fate,
        status: outcome.status.as_str().to_string(),
        segments: outcome.segments.clone(),
        subject: outcome.subject.clone(),
        preheader: outcome.preheader.clone(),
        blocks: outcome
            .blocks
            .as_ref()
            .map(|b| b.0.clone())
            .unwrap_or_default(),
        message_id,
        reply,
        reason: outcome.reason.clone(),
        input: outcome.input.clone(),
        scheduled_at: None,
        schedule: None,
        ab_split: outcome.ab.as_ref().map(|ab| ab.split.clone()),
        tracked: None,
    })
}

/// The record of a message handed to delivery at `due`.
fn due_entry(
    outcome: &Outcome,
    fate: Fate,
    message_id: Option<String>,
    reply: Option<String>,
    due: i64,
) -> Entry {
    let mut record = entry(outcome, fate, message_id, reply);
    if let Entry::Recipient(recipient) = &mut record {
        recipient.scheduled_at = Some(due);
        recipient.schedule = Some("due".to_owned());
    }
    record
}

/// The record of a message the pacer did not let go now.
fn paced_entry(outcome: &Outcome, pacing: Pacing) -> (Fate, Entry) {
    let mut record = match &pacing {
        Pacing::Suppress { .. } => RecipientEntry {
            status: Status::Suppressed.as_str().to_owned(),
            subject: None,
            preheader: None,
            blocks: Vec::new(),
            ..recipient_entry(outcome, Fate::Suppressed)
        },
        _ => recipient_entry(outcome, Fate::Deferred),
    };
    match pacing {
        Pacing::Now => {}
        Pacing::Suppress { why } => {
            // `frequency-cap: 3 per 7d` → `frequency-cap`.
            let kind = why.split(':').next().unwrap_or_default();
            record.reason = Some(kind.to_owned());
            record.schedule = Some(why);
        }
        Pacing::Postpone { until, why } => {
            record.reason = Some(format!("postponed until {}: {why}", rfc3339(until)));
            record.scheduled_at = Some(until);
            record.schedule = Some(why);
        }
    }
    (record.fate, Entry::Recipient(record))
}

fn recipient_entry(outcome: &Outcome, fate: Fate) -> RecipientEntry {
    match entry(outcome, fate, None, None) {
        Entry::Recipient(recipient) => recipient,
        Entry::Started { .. } => unreachable!("entry() builds recipient records"),
    }
}

/// `2026-11-24T15:00:00Z`.
fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

fn deliver_with_retries(
    transport: &dyn Transport,
    message: &crate::render::RenderedMessage,
    options: &DeliveryOptions,
) -> Result<String, DeliveryError> {
    let mut delay = options.retry_delay;
    let mut attempt = 0;
    loop {
        match transport.deliver(message) {
            Err(error) if error.is_transient() && attempt < options.retries => {
                attempt += 1;
                std::thread::sleep(delay);
                delay = delay.saturating_mul(2);
            }
            other => return other,
        }
    }
}

/// Counts recipients deferred in a row; once past the limit, delivery stops
/// being attempted (the relay is down). A relay that refuses the sender
/// itself, or a template error of the campaign's, stops delivery at once.
struct Breaker {
    deferred_in_a_row: AtomicU64,
    limit: u64,
    refused: OnceLock<String>,
    same_refusals: SameRefusals,
    campaign_error: OnceLock<String>,
}

impl Breaker {
    fn open(&self) -> bool {
        self.refused.get().is_some()
            || self.deferred_in_a_row.load(Ordering::Relaxed) >= self.limit
            || self.same_refusals.tripped().is_some()
    }

    /// Why delivery is no longer attempted.
    fn reason(&self) -> String {
        if let Some(reply) = self.refused.get() {
            return format!("not attempted: the relay refused the sender: {reply}");
        }
        if let Some(reply) = self.same_refusals.tripped() {
            return format!(
                "not attempted: the relay refused the first {} recipients alike: {reply}",
                self.same_refusals.limit()
            );
        }
        format!(
            "not attempted: {} recipients in a row were deferred",
            self.limit
        )
    }

    /// Keeps the first template failure, for the run's summary.
    fn note_template_failure(&self, error: &str) {
        let _ = self.campaign_error.set(error.to_owned());
    }

    fn refuse(&self, reply: &str) {
        let _ = self.refused.set(reply.to_owned());
    }

    fn record(&self, fate: Fate) {
        match fate {
            Fate::Deferred => {
                self.deferred_in_a_row.fetch_add(1, Ordering::Relaxed);
            }
            _ => self.deferred_in_a_row.store(0, Ordering::Relaxed),
        }
    }
}

/// Renders and delivers one recipient's message; returns the journal
/// records to write now: usually its own, but a refusal at the start of the
/// run may be held back (none) or release others held before it.
fn deliver_one(
    renderer: &Renderer,
    transport: &dyn Transport,
    options: &DeliveryOptions,
    outcome: &Outcome,
    profile: &Profile,
    breaker: &Breaker,
    due: i64,
) -> Vec<(Fate, Entry)> {
    let message = match renderer.render_message(profile, outcome) {
        Ok(message) => message,
        Err(error) if error.is_the_campaigns() || matches!(error, RenderError::TooLarge { .. }) => {
            // The campaign's template fails (or outgrows its bounds) with
            // this recipient's data: fixable only in the campaign, so the
            // recipient is deferred, never finalised, and everyone else
            // still gets their message. One profile cannot stop the run.
            let error = error.to_string();
            breaker.note_template_failure(&error);
            return vec![(
                Fate::Deferred,
                due_entry(
                    outcome,
                    Fate::Deferred,
                    None,
                    Some(format!(
                        "not sent: a template of the campaign fails: {error}"
                    )),
                    due,
                ),
            )];
        }
        Err(error) => {
            return vec![(
                Fate::Failed,
                due_entry(outcome, Fate::Failed, None, Some(error.to_string()), due),
            )];
        }
    };
    let id = Some(message.message_id.clone());
    if breaker.open() {
        return vec![(
            Fate::Deferred,
            due_entry(outcome, Fate::Deferred, id, Some(breaker.reason()), due),
        )];
    }
    let (fate, reply) = match deliver_with_retries(transport, &message, options) {
        Ok(reply) => (Fate::Delivered, reply),
        Err(error) => match error.severity {
            Severity::Transient | Severity::OutcomeUnknown => (Fate::Deferred, error.message),
            Severity::Permanent => {
                breaker.record(Fate::Failed);
                let record = due_entry(outcome, Fate::Failed, id, Some(error.message.clone()), due);
                return breaker.same_refusals.refused(&error.message, record);
            }
            Severity::Refused => {
                breaker.refuse(&error.message);
                (Fate::Deferred, error.message)
            }
        },
    };
    breaker.record(fate);
    let mut records = if fate == Fate::Delivered {
        breaker.same_refusals.other()
    } else {
        Vec::new()
    };
    let mut record = due_entry(outcome, fate, id, Some(reply), due);
    if let Entry::Recipient(recipient) = &mut record {
        recipient.tracked = Some(message.tracked);
    }
    records.push((fate, record));
    records
}

/// Sends the campaign to every record not already final in `history`.
/// `on_recipient` is called on every record as it is journaled (for
/// progress, and to show unreadable input records).
///
/// A `pacer` decides when each message with a sendable outcome goes: at
/// once (journaled with `scheduled_at` the evaluator's `now` and schedule
/// `due`), later (fate `deferred`, reason `postponed until <time>: <why>`,
/// for a later run to reconsider) or not at all (fate and status
/// `suppressed`, reason `frequency-cap`, the why in `schedule`).
#[allow(clippy::too_many_arguments)]
pub fn send(
    evaluator: &Evaluator,
    renderer: &Renderer,
    transport: &dyn Transport,
    mut journal: JournalWriter,
    history: &History,
    records: impl Iterator<Item = ProfileRecord> + Send,
    stage: &dyn EvaluationStage,
    options: &DeliveryOptions,
    pacer: Option<&dyn Pacer>,
    on_recipient: &(dyn Fn(&RecipientEntry) + Sync),
) -> Result<SendSummary, SendError> {
    let started = Instant::now();
    let due = evaluator.now();
    let postponed = AtomicU64::new(0);
    let held_back = AtomicU64::new(0);
    let mut next_due: Option<i64> = None;
    let already_done = AtomicU64::new(0);
    let duplicates = AtomicU64::new(0);
    let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
    let records = records.filter(|record| {
        let Ok(profile) = &record.profile else {
            return true;
        };
        if history.is_done(&profile.id) {
            already_done.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // A profile id that appears twice in the input gets one message.
        if !seen.insert(profile.id.clone()) {
            duplicates.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    });
    let connections = options.connections.max(1);
    let breaker = Breaker {
        deferred_in_a_row: AtomicU64::new(0),
        limit: options.give_up_after.max(1) as u64,
        refused: OnceLock::new(),
        same_refusals: SameRefusals::new(options.same_refusals_limit),
        campaign_error: OnceLock::new(),
    };
    // A message goes to the relay only with a permit, given back once its
    // record is synced: the crash window holds however slow the disk is.
    let window = UnsyncedWindow::new(crate::journal::SYNC_EVERY + connections);
    let summary = std::thread::scope(|scope| -> Result<SendSummary, SendError> {
        let (journal_tx, journal_rx) = mpsc::sync_channel::<(Fate, Entry, bool)>(1024);
        // Many delivery threads take from one queue: a multi-consumer
        // channel, so an idle thread waits in the channel rather than on a
        // lock held by another waiting thread.
        let (work_tx, work_rx) =
            crossbeam_channel::bounded::<(Outcome, Arc<Profile>)>(connections * 2);

        let recorder = spawn_named(scope, "journal", {
            let window = &window;
            move || -> Result<BTreeMap<Fate, u64>, SendError> {
                let _close = CloseOnDrop(window);
                let mut fates = BTreeMap::new();
                // Permits held by records not yet synced.
                let mut held = 0;
                loop {
                    let (fate, entry, holds_permit) = match journal_rx.try_recv() {
                        Ok(record) => record,
                        Err(mpsc::TryRecvError::Empty) => {
                            // Nothing waiting: sync now rather than keep
                            // delivery threads waiting for their permits.
                            if journal.unsynced() > 0 {
                                journal.sync()?;
                            }
                            window.release(std::mem::take(&mut held));
                            match journal_rx.recv() {
                                Ok(record) => record,
                                Err(mpsc::RecvError) => break,
                            }
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    };
                    journal.append(&entry)?;
                    held += usize::from(holds_permit);
                    if journal.unsynced() == 0 {
                        window.release(std::mem::take(&mut held));
                    }
                    *fates.entry(fate).or_insert(0) += 1;
                    if let Entry::Recipient(recipient) = &entry {
                        on_recipient(recipient);
                    }
                }
                journal.sync()?;
                Ok(fates)
            }
        });
        let mut deliverers = Vec::with_capacity(connections);
        for _ in 0..connections {
            let work_rx = work_rx.clone();
            let journal_tx = journal_tx.clone();
            let breaker = &breaker;
            let window = &window;
            deliverers.push(spawn_named(scope, "deliver", move || {
                for (outcome, profile) in work_rx {
                    if !window.acquire() {
                        break;
                    }
                    let records = deliver_one(
                        renderer, transport, options, &outcome, &profile, breaker, due,
                    );
                    // The first record carries this message's permit; a
                    // refusal held back gives it back at once (nothing was
                    // delivered).
                    if records.is_empty() {
                        window.release(1);
                    }
                    for (i, (fate, entry)) in records.into_iter().enumerate() {
                        if journal_tx.send((fate, entry, i == 0)).is_err() {
                            return;
                        }
                    }
                }
            }));
        }
        // Only the delivery threads receive: if they all stop, sending fails
        // instead of waiting for room forever.
        drop(work_rx);
        let evaluated =
            stage.evaluate(evaluator, Box::new(records), &mut |processed: Processed| {
                let Processed {
                    outcome, profile, ..
                } = processed;
                let fate = match outcome.status {
                    Status::Ok | Status::Fallback => {
                        let profile = profile.expect("a sendable outcome has a profile");
                        let pacing = pacer.map_or(Pacing::Now, |p| p.pace(&outcome, &profile));
                        match &pacing {
                            Pacing::Now => {
                                return work_tx.send((outcome, profile)).map_err(|_| Stopped);
                            }
                            Pacing::Postpone { until, .. } => {
                                postponed.fetch_add(1, Ordering::Relaxed);
                                next_due = Some(next_due.map_or(*until, |n| n.min(*until)));
                            }
                            Pacing::Suppress { .. } => {
                                held_back.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let (fate, record) = paced_entry(&outcome, pacing);
                        return journal_tx.send((fate, record, false)).map_err(|_| Stopped);
                    }
                    Status::Suppressed => Fate::Suppressed,
                    Status::Skipped => Fate::Skipped,
                    // No room to run the rule: the host's problem, so the
                    // recipient is tried again on resume, not finalised.
                    Status::Error if outcome.reason.as_deref().is_some_and(is_host_unavailable) => {
                        Fate::Deferred
                    }
                    Status::Error => Fate::Error,
                };
                let record = entry(&outcome, fate, None, None);
                journal_tx.send((fate, record, false)).map_err(|_| Stopped)
            });
        drop(work_tx);
        for deliverer in deliverers {
            deliverer.join().expect("delivery threads do not panic");
        }
        // Refusals still held: fewer than the limit in the whole run.
        for (fate, entry) in breaker.same_refusals.finish() {
            // A closed journal already returned its error to the recorder.
            let _ = journal_tx.send((fate, entry, false));
        }
        drop(journal_tx);
        let fates = recorder
            .join()
            .expect("the journal thread does not panic")?;
        // The only way the sink fails is a journal thread that stopped early,
        // whose error was returned above.
        let _ = evaluated;
        Ok(SendSummary {
            fates,
            ..SendSummary::default()
        })
    })?;
    Ok(SendSummary {
        already_done: already_done.load(Ordering::Relaxed),
        duplicates: duplicates.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
        refused: breaker.refused.get().cloned(),
        refused_everyone: breaker.same_refusals.tripped(),
        campaign_error: breaker.campaign_error.get().cloned(),
        postponed: postponed.load(Ordering::Relaxed),
        held_back: held_back.load(Ordering::Relaxed),
        next_due,
        ..summary
    })
}

fn is_host_unavailable(reason: &str) -> bool {
    reason.starts_with(Failure::HOST_UNAVAILABLE)
}
