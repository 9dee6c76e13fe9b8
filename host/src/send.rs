//! `send`: evaluate, render, deliver and record every recipient, resuming
//! from the journal.
//!
//! Stages run side by side: the evaluation pipeline of [`crate::run`]
//! (reader, rule threads, ordering), `connections` delivery threads that
//! render and hand messages to the transport (retrying transient failures
//! with backoff), and one journal thread that appends every fate. Recipients
//! the journal already marks final are skipped before their rule runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::deliver::{DeliveryError, Severity, Transport};
use crate::evaluate::Evaluator;
use crate::journal::{Entry, Fate, History, JournalError, JournalWriter, RecipientEntry};
use crate::outcome::{Outcome, Status};
use crate::profile::Profile;
use crate::profile_reader::ProfileRecord;
use crate::render::Renderer;
use crate::run::{Processed, run};
use crate::threads::spawn_named;

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
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            connections: 16,
            retries: 3,
            retry_delay: Duration::from_millis(500),
            give_up_after: 50,
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
    /// The template error (the campaign's, with its file and line) that
    /// stopped sending; everyone not yet sent is deferred.
    pub campaign_error: Option<String>,
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
    })
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
    campaign_error: OnceLock<String>,
}

impl Breaker {
    fn open(&self) -> bool {
        self.refused.get().is_some()
            || self.campaign_error.get().is_some()
            || self.deferred_in_a_row.load(Ordering::Relaxed) >= self.limit
    }

    /// Why delivery is no longer attempted.
    fn reason(&self) -> String {
        if let Some(error) = self.campaign_error.get() {
            return format!("not attempted: the campaign's templates fail: {error}");
        }
        match self.refused.get() {
            Some(reply) => format!("not attempted: the relay refused the sender: {reply}"),
            None => format!(
                "not attempted: {} recipients in a row were deferred",
                self.limit
            ),
        }
    }

    fn stop_for_campaign(&self, error: &str) {
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

/// Renders and delivers one recipient's message; returns its journal record.
fn deliver_one(
    renderer: &Renderer,
    transport: &dyn Transport,
    options: &DeliveryOptions,
    outcome: &Outcome,
    profile: &Profile,
    breaker: &Breaker,
) -> (Fate, Entry) {
    let message = match renderer.render_message(profile, outcome) {
        Ok(message) => message,
        Err(error) if error.is_the_campaigns() => {
            // Not this recipient's fault: stop, and keep everyone deferred
            // for a run with the campaign fixed.
            breaker.stop_for_campaign(&error.to_string());
            return (
                Fate::Deferred,
                entry(outcome, Fate::Deferred, None, Some(breaker.reason())),
            );
        }
        Err(error) => {
            return (
                Fate::Failed,
                entry(outcome, Fate::Failed, None, Some(error.to_string())),
            );
        }
    };
    let id = Some(message.message_id.clone());
    if breaker.open() {
        return (
            Fate::Deferred,
            entry(outcome, Fate::Deferred, id, Some(breaker.reason())),
        );
    }
    let (fate, reply) = match deliver_with_retries(transport, &message, options) {
        Ok(reply) => (Fate::Delivered, reply),
        Err(error) => match error.severity {
            Severity::Transient => (Fate::Deferred, error.message),
            Severity::Permanent => (Fate::Failed, error.message),
            Severity::Refused => {
                breaker.refuse(&error.message);
                (Fate::Deferred, error.message)
            }
        },
    };
    breaker.record(fate);
    (fate, entry(outcome, fate, id, Some(reply)))
}

/// Sends the campaign to every record not already final in `history`.
/// `on_recipient` is called on every fate (for progress).
#[allow(clippy::too_many_arguments)]
pub fn send(
    evaluator: &Evaluator<'_>,
    renderer: &Renderer,
    transport: &dyn Transport,
    mut journal: JournalWriter,
    history: &History,
    records: impl Iterator<Item = ProfileRecord> + Send,
    jobs: usize,
    options: &DeliveryOptions,
    on_recipient: &(dyn Fn(Fate) + Sync),
) -> Result<SendSummary, SendError> {
    let started = Instant::now();
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
        campaign_error: OnceLock::new(),
    };
    let summary = std::thread::scope(|scope| -> Result<SendSummary, SendError> {
        let (journal_tx, journal_rx) = mpsc::sync_channel::<(Fate, Entry)>(1024);
        // Many delivery threads take from one queue: a multi-consumer
        // channel, so an idle thread waits in the channel rather than on a
        // lock held by another waiting thread.
        let (work_tx, work_rx) =
            crossbeam_channel::bounded::<(Outcome, Arc<Profile>)>(connections * 2);

        let recorder = spawn_named(
            scope,
            "journal",
            move || -> Result<BTreeMap<Fate, u64>, SendError> {
                let mut fates = BTreeMap::new();
                for (fate, entry) in journal_rx {
                    journal.append(&entry)?;
                    *fates.entry(fate).or_insert(0) += 1;
                    on_recipient(fate);
                }
                journal.sync()?;
                Ok(fates)
            },
        );
        for _ in 0..connections {
            let work_rx = work_rx.clone();
            let journal_tx = journal_tx.clone();
            let breaker = &breaker;
            spawn_named(scope, "deliver", move || {
                for (outcome, profile) in work_rx {
                    let record =
                        deliver_one(renderer, transport, options, &outcome, &profile, breaker);
                    if journal_tx.send(record).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the delivery threads receive: if they all stop, sending fails
        // instead of waiting for room forever.
        drop(work_rx);
        let evaluated = run(evaluator, records, jobs, |processed: Processed| {
            let Processed {
                outcome, profile, ..
            } = processed;
            let fate = match outcome.status {
                Status::Ok | Status::Fallback => {
                    let profile = profile.expect("a sendable outcome has a profile");
                    return work_tx.send((outcome, profile)).map_err(|_| ());
                }
                Status::Suppressed => Fate::Suppressed,
                Status::Skipped => Fate::Skipped,
                Status::Error => Fate::Error,
            };
            let record = entry(&outcome, fate, None, None);
            journal_tx.send((fate, record)).map_err(|_| ())
        });
        drop(work_tx);
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
        campaign_error: breaker.campaign_error.get().cloned(),
        ..summary
    })
}
