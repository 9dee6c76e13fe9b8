//! Sends in the service: the mail path of `mailrules send` (evaluate,
//! render, deliver, journal) on a thread of its own per send, into the
//! tenant's Maildir under the data directory or through the tenant's
//! relay. Everything a send needs is written to its directory before it
//! starts, so a restart — even after `kill -9` — resumes it from its
//! journal with nothing lost and nothing sent twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mailrules::campaign::Campaign;
use mailrules::deliver::{MaildirTransport, SmtpRelay, Transport};
use mailrules::evaluate::Evaluator;
use mailrules::journal::report::JournalReport;
use mailrules::journal::{Entry, Fate, JournalWriter, RecipientEntry};
use mailrules::lifecycle::pacing::{CampaignPacer, Pacer};
use mailrules::limits::resolve_within;
use mailrules::profile::Profile;
use mailrules::profile_reader::{ProfileFormat, ProfileReader};
use mailrules::render::Renderer;
use mailrules::send::{SendSummary, send};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::lifecycle::CONTINUATION;
use super::{Hosting, HostingError, lock};
use crate::store::{NewRun, RunKey, SendRecord, SendState, Store};

/// Progress of a running send.
#[derive(Debug, Default)]
pub struct SendProgress {
    /// Recipients handled so far in this process.
    pub handled: AtomicU64,
}

/// The sends running in this process, by id.
#[derive(Default)]
pub(super) struct Running {
    sends: std::sync::Mutex<HashMap<String, Arc<SendProgress>>>,
}

/// A send as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SendView {
    /// The stored record (state, campaign, rule version, times, summary).
    #[serde(flatten)]
    pub record: SendRecord,
    /// Recipients handled by the run in progress, while it runs.
    pub handled: Option<u64>,
    /// The totals of its journal (`mailrules report`), once it has one.
    pub report: Option<JournalReport>,
}

/// What a send was started with, written next to its profiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SendPlan {
    /// The time rules and the Date header see.
    now: i64,
    /// The canary version and its percentage, if one served.
    canary: Option<(String, u8)>,
    /// `jsonl` or `msgpack`.
    format: String,
    /// The flow that made the send, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
}

/// A send just started: its id and the thread running it (none when the
/// thread could not be started; the send resumes at the next start).
pub(super) type StartedSend = (String, Option<std::thread::JoinHandle<()>>);

const PLAN: &str = "send.json";
const CAMPAIGN: &str = "campaign.toml";
pub(super) const JOURNAL: &str = "journal";

impl Hosting {
    /// Starts sending the tenant's campaign to `profiles` with the versions
    /// serving now, and returns the send's id at once.
    pub fn start_send(
        self: &Arc<Self>,
        tenant: &str,
        campaign_id: &str,
        profiles: Bytes,
        format: ProfileFormat,
    ) -> Result<SendView, HostingError> {
        let (served, campaign) = self.served(tenant, campaign_id, None)?;
        if campaign.message.is_none() {
            return Err(HostingError::Unprocessable {
                code: "invalid-campaign",
                message: format!(
                    "{campaign_id}.toml: the campaign has no [message] table (from, unsubscribe_url, layouts), so it cannot be sent"
                ),
            });
        }
        let running = self
            .store
            .sends(tenant)?
            .iter()
            .filter(|s| s.state == SendState::Running)
            .count();
        if running >= self.config.caps.max_running_sends {
            return Err(HostingError::Busy(format!(
                "tenant `{tenant}` has {running} sends running (at most {}); start this one when one finishes",
                self.config.caps.max_running_sends
            )));
        }
        // Checks the size and count caps before anything is written.
        self.check_profile_caps(&profiles, format)?;
        let campaign_text = self.campaign_text(tenant, campaign_id)?;
        let id = self
            .store
            .create_send(tenant, campaign_id, &served.active)?;
        let plan = SendPlan {
            now: served.evaluator.now(),
            canary: served
                .canary
                .clone()
                .zip(served.evaluator.canary().map(|(_, percent)| percent)),
            format: format_name(format).into(),
            flow: None,
        };
        let dir = self.send_dir(tenant, &id);
        let written = write_send_files(&dir, &plan, &campaign_text, &profiles, format);
        if let Err(error) = written {
            let message = format!("{}: {error}", dir.display());
            let _ = self
                .store
                .finish_send(&id, SendState::Failed, None, Some(&message));
            return Err(HostingError::Internal(message));
        }
        let record = self
            .store
            .send(tenant, &id)?
            .ok_or_else(|| HostingError::Internal("a created send vanished".into()))?;
        self.spawn_send(record.clone());
        Ok(SendView {
            record,
            handled: Some(0),
            report: None,
        })
    }

    /// A send of the tenant, with its progress and report.
    pub fn send_view(&self, tenant: &str, id: &str) -> Result<SendView, HostingError> {
        let record = self
            .store
            .send(tenant, id)?
            .ok_or_else(|| HostingError::NotFound {
                what: "send",
                id: id.to_string(),
            })?;
        let journal = self.send_dir(tenant, id).join(JOURNAL);
        let report = journal
            .exists()
            .then(|| JournalReport::read(&journal))
            .transpose()
            .map_err(|e| HostingError::Internal(format!("send {id}: {e}")))?;
        let handled = lock(&self.sends.sends)
            .get(id)
            .map(|progress| progress.handled.load(Ordering::Relaxed));
        Ok(SendView {
            record,
            handled,
            report,
        })
    }

    /// Resumes every send a previous process left running.
    pub(super) fn resume_sends(self: &Arc<Self>) -> Result<(), HostingError> {
        for record in self.store.unfinished_sends()? {
            tracing::info!(tenant = record.tenant, send = record.id, "resuming send");
            self.spawn_send(record);
        }
        Ok(())
    }

    /// Starts a flow's send of `profiles` (JSON Lines, derived at `now`)
    /// with the versions in `served`, marking `runs` queued in it in the
    /// same transaction that creates it; returns its id and its thread.
    /// `None` when another process took the runs first.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn flow_send(
        self: &Arc<Self>,
        tenant: &str,
        served: &super::Served,
        campaign_id: &str,
        flow: &str,
        now: i64,
        profiles: Vec<u8>,
        runs: &[crate::store::RunKey],
    ) -> Result<Option<StartedSend>, HostingError> {
        let campaign_text = self.campaign_text(tenant, campaign_id)?;
        let id = Store::new_send_id();
        let plan = SendPlan {
            now,
            canary: served
                .canary
                .clone()
                .zip(served.evaluator.canary().map(|(_, percent)| percent)),
            format: format_name(ProfileFormat::JsonLines).into(),
            flow: Some(flow.to_string()),
        };
        let dir = self.send_dir(tenant, &id);
        write_send_files(
            &dir,
            &plan,
            &campaign_text,
            &profiles,
            ProfileFormat::JsonLines,
        )
        .map_err(|e| HostingError::Internal(format!("{}: {e}", dir.display())))?;
        let send = crate::store::NewFlowSend {
            id: &id,
            campaign: campaign_id,
            rule_version: &served.active,
            flow,
            now,
        };
        match self.store.create_flow_send(tenant, &send, runs) {
            Ok(()) => {}
            Err(crate::StoreError::Conflict(_)) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Ok(None);
            }
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(error.into());
            }
        }
        let record = self
            .store
            .send(tenant, &id)?
            .ok_or_else(|| HostingError::Internal("a created send vanished".into()))?;
        Ok(Some((id, self.spawn_send(record))))
    }

    /// Waits until no send of this process is running (the ones resumed at
    /// start included).
    pub fn wait_for_sends(&self) {
        while !lock(&self.sends.sends).is_empty() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Records the deliveries of a finished send (for frequency caps) and,
    /// for a campaign send, turns its postponed recipients into runs the
    /// scheduler sends when they are due.
    fn after_send(&self, record: &SendRecord, plan: &SendPlan) -> Result<(), HostingError> {
        let tenant = record.tenant.as_str();
        let path = self.send_dir(tenant, &record.id).join(JOURNAL);
        let (entries, _, _) = mailrules::journal::read(&path)
            .map_err(|e| HostingError::Internal(format!("send {}: {e}", record.id)))?;
        let mut last: HashMap<String, RecipientEntry> = HashMap::new();
        for entry in entries {
            if let Entry::Recipient(recipient) = entry {
                last.insert(recipient.profile_id.clone(), recipient);
            }
        }
        let delivered: Vec<(String, i64)> = last
            .values()
            .filter(|r| r.fate == Fate::Delivered)
            .map(|r| (r.profile_id.clone(), plan.now))
            .collect();
        self.store
            .record_deliveries(tenant, &record.id, &delivered)?;
        if plan.flow.is_some() {
            return Ok(());
        }
        let continuation = format!("{CONTINUATION}{}", record.id);
        let mut postponed: Vec<NewRun> = last
            .values()
            .filter(|r| r.fate == Fate::Deferred)
            .filter(|r| {
                r.reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("postponed"))
            })
            .filter_map(|r| {
                Some(NewRun {
                    key: RunKey {
                        flow: continuation.clone(),
                        customer: r.profile_id.clone(),
                        trigger: record.id.clone(),
                    },
                    trigger_at: plan.now,
                    due_at: r.scheduled_at?,
                    reason: r.reason.clone(),
                })
            })
            .collect();
        postponed.sort_by(|a, b| a.key.customer.cmp(&b.key.customer));
        self.store
            .schedule_runs(tenant, &continuation, &postponed, None)?;
        Ok(())
    }

    /// The pacer of a campaign send: the tenant's and the campaign's caps
    /// over the tenant's deliveries, the campaign's send times and quiet
    /// hours (the tenant's when it has none) in each recipient's zone.
    fn campaign_pacer(
        &self,
        tenant: &str,
        campaign: &Campaign,
        now: i64,
    ) -> Result<CampaignPacer, HostingError> {
        let settings = self.tenant_settings(tenant)?;
        let mut schedule = campaign.schedule.clone();
        if schedule.quiet_hours.is_none() {
            schedule.quiet_hours = settings.quiet_hours;
        }
        Ok(CampaignPacer {
            schedule,
            caps: settings.frequency.merged(&campaign.frequency),
            history: self.store.delivery_times(tenant, now - 366 * 86_400)?,
            default_zone: self.default_zone(tenant)?,
            now,
        })
    }

    /// The profiles a send was given (those that parse).
    pub(super) fn send_profiles(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Vec<Profile>, HostingError> {
        let dir = self.send_dir(tenant, id);
        let plan: SendPlan = std::fs::read(dir.join(PLAN))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| HostingError::Internal(format!("send {id}: no readable {PLAN}")))?;
        let format = match plan.format.as_str() {
            "msgpack" => ProfileFormat::MessagePack,
            _ => ProfileFormat::JsonLines,
        };
        let reader = ProfileReader::open(&dir.join(profiles_file(format)), Some(format))
            .map_err(|e| HostingError::Internal(format!("send {id}: {e}")))?;
        Ok(reader.filter_map(|record| record.profile.ok()).collect())
    }

    pub(super) fn send_dir(&self, tenant: &str, id: &str) -> PathBuf {
        self.tenant_dir(tenant).join("sends").join(id)
    }

    fn spawn_send(self: &Arc<Self>, record: SendRecord) -> Option<std::thread::JoinHandle<()>> {
        let progress = Arc::new(SendProgress::default());
        lock(&self.sends.sends).insert(record.id.clone(), progress.clone());
        let hosting = self.clone();
        let send_id = record.id.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("send-{}", record.id))
            .spawn(move || {
                let id = record.id.clone();
                let result = hosting.run_send(&record, &progress);
                let finished = match result {
                    Ok((summary, plan)) => {
                        if let Err(error) = hosting.after_send(&record, &plan) {
                            tracing::error!(send = id, %error, "cannot record deliveries");
                        }
                        hosting.store.finish_send(
                            &id,
                            SendState::Done,
                            Some(&summary_json(&summary)),
                            None,
                        )
                    }
                    Err(error) => {
                        tracing::error!(send = id, %error, "send failed");
                        hosting.store.finish_send(
                            &id,
                            SendState::Failed,
                            None,
                            Some(&error.public_message()),
                        )
                    }
                };
                if let Err(error) = finished {
                    tracing::error!(send = id, %error, "cannot record the end of a send");
                }
                lock(&hosting.sends.sends).remove(&id);
            });
        match spawned {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::error!(send = send_id, %error, "cannot start a send thread");
                None
            }
        }
    }

    fn run_send(
        &self,
        record: &SendRecord,
        progress: &SendProgress,
    ) -> Result<(SendSummary, SendPlan), HostingError> {
        let tenant = record.tenant.as_str();
        let dir = self.send_dir(tenant, &record.id);
        let internal = |what: &str, error: &dyn std::fmt::Display| {
            HostingError::Internal(format!("send {}: {what}: {error}", record.id))
        };
        let plan: SendPlan = std::fs::read(dir.join(PLAN))
            .map_err(|e| internal(PLAN, &e))
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|e| internal(PLAN, &e)))?;
        let campaign_text =
            std::fs::read_to_string(dir.join(CAMPAIGN)).map_err(|e| internal(CAMPAIGN, &e))?;
        let campaign = Arc::new(
            Campaign::parse(
                &campaign_text,
                Path::new(&format!("{}.toml", record.campaign)),
            )
            .map_err(|e| internal(CAMPAIGN, &e))?,
        );
        let mut renderer =
            Renderer::new(&campaign, plan.now, None).map_err(|e| internal("templates", &e))?;
        if plan.flow.is_some() {
            // A flow sends its campaign to a customer again and again:
            // each send's messages get their own ids.
            renderer = renderer.with_message_key(&record.id);
        }
        if let Some(links) = self.links_for(tenant)? {
            renderer = renderer.with_links(links);
        }
        let active = self.loaded(tenant, &record.rule_version)?;
        let ceiling = self.tenant_ceiling(tenant)?;
        let (limits, _) = resolve_within(&campaign.limits, &ceiling);
        let mut evaluator = Evaluator::new(
            &self.engine,
            &active.rule,
            campaign.clone(),
            limits,
            plan.now,
        );
        if let Some((version, percent)) = &plan.canary {
            let canary = self.loaded(tenant, version)?;
            evaluator = evaluator.with_canary(&canary.rule, *percent);
        }
        let canary_name = plan.canary.as_ref().map(|(version, _)| version.as_str());
        evaluator = evaluator
            .with_breakers(self.breakers_for(tenant, &record.rule_version, canary_name))
            .with_suppressions(self.suppression_list(tenant)?);
        let transport: Box<dyn Transport> = match self.tenant_settings(tenant)?.relay {
            Some(url) => Box::new(
                SmtpRelay::new(
                    &url,
                    self.config.delivery.connections as u32,
                    Duration::from_secs(30),
                )
                .map_err(|e| internal("relay", &e))?,
            ),
            None => Box::new(
                MaildirTransport::create(self.tenant_dir(tenant).join("maildir"))
                    .map_err(|e| internal("maildir", &e))?,
            ),
        };
        let header = Entry::Started {
            campaign_id: campaign.id.clone(),
            rule_sha256: active.rule.info.sha256.clone(),
            now: plan.now,
            campaign_sha256: Some(hex::encode(Sha256::digest(campaign_text.as_bytes()))),
        };
        let (journal, history) = JournalWriter::open_with(&dir.join(JOURNAL), header, false)
            .map_err(|e| internal(JOURNAL, &e))?;
        let format = match plan.format.as_str() {
            "msgpack" => ProfileFormat::MessagePack,
            _ => ProfileFormat::JsonLines,
        };
        let profiles = dir.join(profiles_file(format));
        let reader =
            ProfileReader::open(&profiles, Some(format)).map_err(|e| internal("profiles", &e))?;
        let on_recipient = |recipient: &RecipientEntry| {
            progress.handled.fetch_add(1, Ordering::Relaxed);
            self.metrics
                .sends
                .get_or_create(&crate::metrics::FateLabels {
                    tenant: tenant.to_string(),
                    fate: recipient.fate.as_str().to_string(),
                })
                .inc();
        };
        // A flow's messages were paced by the tick that made the send; a
        // campaign send paces each recipient here (caps, send time, quiet
        // hours), and the scheduler sends the postponed ones when due.
        let pacer = match &plan.flow {
            Some(_) => None,
            None => Some(self.campaign_pacer(tenant, &campaign, plan.now)?),
        };
        send(
            &evaluator,
            &renderer,
            transport.as_ref(),
            journal,
            &history,
            reader,
            &self.fair_stage(tenant),
            &self.config.delivery,
            pacer.as_ref().map(|p| p as &dyn Pacer),
            &on_recipient,
        )
        .map(|summary| (summary, plan))
        .map_err(|e| internal("journal", &e))
    }
}

fn format_name(format: ProfileFormat) -> &'static str {
    match format {
        ProfileFormat::JsonLines => "jsonl",
        ProfileFormat::MessagePack => "msgpack",
    }
}

fn profiles_file(format: ProfileFormat) -> String {
    format!("profiles.{}", format_name(format))
}

/// Writes everything a send needs, durably, before it starts.
fn write_send_files(
    dir: &Path,
    plan: &SendPlan,
    campaign: &str,
    profiles: &[u8],
    format: ProfileFormat,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let plan = serde_json::to_vec_pretty(plan).map_err(std::io::Error::other)?;
    for (name, bytes) in [
        (profiles_file(format), profiles),
        (CAMPAIGN.to_string(), campaign.as_bytes()),
        // The plan last: its presence means the rest is complete.
        (PLAN.to_string(), plan.as_slice()),
    ] {
        let path = dir.join(name);
        let mut file = std::fs::File::create(&path)?;
        std::io::Write::write_all(&mut file, bytes)?;
        file.sync_all()?;
    }
    std::fs::File::open(dir)?.sync_all()
}

/// A send's totals as stored.
fn summary_json(summary: &SendSummary) -> serde_json::Value {
    let fates: serde_json::Map<String, serde_json::Value> = summary
        .fates
        .iter()
        .map(|(fate, count)| (fate.as_str().to_string(), (*count).into()))
        .collect();
    serde_json::json!({
        "fates": fates,
        "already_done": summary.already_done,
        "duplicates": summary.duplicates,
        "elapsed_ms": summary.elapsed.as_millis() as u64,
        "refused": summary.refused,
        "refused_everyone": summary.refused_everyone,
        "campaign_error": summary.campaign_error,
    })
}
