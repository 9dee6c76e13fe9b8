//! Evaluation over the API: the profiles of a request, each decided by the
//! tenant's active rule version (or its canary), as exactly the lines
//! `mailrules eval` prints.

use std::sync::Arc;

use bytes::Bytes;
use mailrules::campaign::Campaign;
use mailrules::evaluate::Evaluator;
use mailrules::fair_share::{FairScheduler, MapError};
use mailrules::limits::resolve_within;
use mailrules::profile_reader::{ProfileFormat, ProfileReader, ProfileRecord};
use mailrules::run::{EvaluationStage, Processed, Stopped, process_chunk};

use super::{Hosting, HostingError};
use crate::metrics::RunMetrics;

/// Most profiles handed to one evaluation job (jobs start smaller; see
/// [`mailrules::fair_share`]).
const CHUNK: usize = 16;

/// How to evaluate.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalOptions {
    /// Add `reasons`, `fuel` and the rule's `log` to every line (as
    /// `mailrules eval --explain`).
    pub explain: bool,
    /// The time rules see as `now` (seconds since the Unix epoch); default
    /// the campaign's `now`, else the current time.
    pub now: Option<i64>,
}

/// The rule versions serving one evaluation, fixed when it starts: an
/// activation during the request does not change them.
#[derive(Clone)]
pub struct Served {
    /// The evaluator (with the canary, if any).
    pub evaluator: Evaluator,
    /// The active version's name.
    pub active: String,
    /// The canary's name, if one serves part of the recipients.
    pub canary: Option<String>,
}

impl Served {
    /// The name of the version that decided `processed`.
    pub fn version_of(&self, processed: &Processed) -> &str {
        match (&self.canary, processed.canary) {
            (Some(canary), true) => canary,
            _ => &self.active,
        }
    }
}

/// The answer to a request with more than `max` profiles.
fn too_many_profiles(max: usize) -> HostingError {
    HostingError::TooLarge {
        message: format!("more than {max} profiles in one request; split them"),
    }
}

impl Hosting {
    /// Parses a request's profiles, within the caps on size and count.
    pub fn read_profiles(
        &self,
        body: Bytes,
        format: ProfileFormat,
    ) -> Result<Vec<ProfileRecord>, HostingError> {
        let caps = &self.config.caps;
        if body.len() > caps.max_profiles_bytes {
            return Err(HostingError::TooLarge {
                message: format!(
                    "the profiles are {} bytes, over the {}-byte limit of one request",
                    body.len(),
                    caps.max_profiles_bytes
                ),
            });
        }
        let records: Vec<ProfileRecord> = ProfileReader::new(std::io::Cursor::new(body), format)
            .take(caps.max_profiles + 1)
            .collect();
        if records.len() > caps.max_profiles {
            return Err(too_many_profiles(caps.max_profiles));
        }
        Ok(records)
    }

    /// Checks a request's profiles against the caps on size and count
    /// without parsing them (JSON Lines: the non-blank lines are counted;
    /// MessagePack records are read, as their boundaries need it).
    pub fn check_profile_caps(
        &self,
        body: &Bytes,
        format: ProfileFormat,
    ) -> Result<(), HostingError> {
        let caps = &self.config.caps;
        if format == ProfileFormat::MessagePack || body.len() > caps.max_profiles_bytes {
            return self.read_profiles(body.clone(), format).map(drop);
        }
        let records = body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .count();
        if records > caps.max_profiles {
            return Err(too_many_profiles(caps.max_profiles));
        }
        Ok(())
    }

    /// The evaluator of the tenant's campaign with the versions serving it
    /// now.
    pub fn served(
        &self,
        tenant: &str,
        campaign_id: &str,
        now: Option<i64>,
    ) -> Result<(Served, Arc<Campaign>), HostingError> {
        let campaign = self.campaign(tenant, campaign_id)?;
        let routing = self.registry.routing(tenant);
        let active = routing.active.as_ref().ok_or_else(|| HostingError::Conflict {
            code: "no-active-rule",
            message: format!(
                "tenant `{tenant}` has no active rule version: upload one (PUT /v1/tenants/{tenant}/rules/VERSION) and activate it"
            ),
        })?;
        let ceiling = self.tenant_ceiling(tenant)?;
        let (limits, _) = resolve_within(&campaign.limits, &ceiling);
        let now = now
            .or(campaign.now)
            .unwrap_or_else(|| chrono::Utc::now().timestamp());
        let mut evaluator =
            Evaluator::new(&self.engine, &active.rule, campaign.clone(), limits, now);
        if let Some(canary) = &routing.canary {
            evaluator = evaluator.with_canary(&canary.version.rule, canary.percent);
        }
        let canary_name = routing.canary.as_ref().map(|c| c.version.name.as_str());
        evaluator = evaluator.with_breakers(self.breakers_for(tenant, &active.name, canary_name));
        Ok((
            Served {
                evaluator,
                active: active.name.clone(),
                canary: routing.canary.as_ref().map(|c| c.version.name.clone()),
            },
            campaign,
        ))
    }

    /// Evaluates `records` for the tenant's campaign and hands `sink` the
    /// output in order, in pieces of whole lines: each line exactly what
    /// `mailrules eval` prints for the profile. `sink` returning `false`
    /// (the client went away) stops the evaluation.
    pub fn eval(
        &self,
        tenant: &str,
        campaign_id: &str,
        records: Vec<ProfileRecord>,
        options: EvalOptions,
        sink: impl FnMut(Vec<u8>) -> bool,
    ) -> Result<(), HostingError> {
        let (served, _) = self.served(tenant, campaign_id, options.now)?;
        self.eval_served(tenant, &served, records, options.explain, sink);
        Ok(())
    }

    /// Like [`Hosting::eval`] with the serving versions already chosen
    /// (see [`Hosting::served`]).
    pub fn eval_served(
        &self,
        tenant: &str,
        served: &Served,
        records: Vec<ProfileRecord>,
        explain: bool,
        mut sink: impl FnMut(Vec<u8>) -> bool,
    ) {
        let options = EvalOptions { explain, now: None };
        let mut out = Vec::with_capacity(32 << 10);
        let mut stopped = false;
        self.evaluate_records(tenant, served, records, |processed| {
            let mut outcome = processed.outcome;
            if !options.explain {
                outcome.reasons = None;
                outcome.fuel = None;
                outcome.log = None;
            }
            if serde_json::to_writer(&mut out, &outcome).is_err() {
                return false;
            }
            out.push(b'\n');
            if out.len() >= 32 << 10 {
                stopped = !sink(std::mem::take(&mut out));
            }
            !stopped
        });
        if !stopped && !out.is_empty() {
            sink(out);
        }
    }

    /// Runs every record through `served` on the evaluation workers shared
    /// by all tenants (see [`mailrules::fair_share`]: the least-served busy
    /// tenant goes next, and none holds more than its share of workers
    /// while others wait), counting metrics and keeping rule logs per
    /// version, and hands each result to `each` in input order. `each`
    /// returning `false` stops the run.
    pub fn evaluate_records(
        &self,
        tenant: &str,
        served: &Served,
        records: Vec<ProfileRecord>,
        mut each: impl FnMut(Processed) -> bool,
    ) {
        let stage = self.fair_stage(tenant);
        let mut metrics = RunMetrics::new(&self.metrics, tenant);
        let _ = stage.evaluate(
            &served.evaluator,
            Box::new(records.into_iter()),
            &mut |processed| {
                self.observe(tenant, &mut metrics, served, &processed);
                if each(processed) {
                    Ok(())
                } else {
                    Err(Stopped)
                }
            },
        );
    }

    /// The tenant's evaluation stage on the shared workers, for evals and
    /// sends alike.
    pub fn fair_stage<'a>(&'a self, tenant: &'a str) -> FairStage<'a> {
        FairStage {
            scheduler: &self.scheduler,
            tenant,
        }
    }

    /// Metrics and rule logs of one processed record.
    fn observe(
        &self,
        tenant: &str,
        metrics: &mut RunMetrics<'_>,
        served: &Served,
        processed: &Processed,
    ) {
        let version = served.version_of(processed);
        metrics.record_outcome(version, &processed.outcome);
        if let Some((elapsed, fuel)) = processed.cost {
            metrics.record_cost(version, elapsed.as_secs_f64(), fuel);
        }
        if let Some(log) = &processed.outcome.log {
            self.logs
                .record(tenant, version, &processed.outcome.profile_id, log);
        }
    }
}

/// Evaluation of one tenant's records on the workers every tenant shares.
pub struct FairStage<'a> {
    scheduler: &'a FairScheduler,
    tenant: &'a str,
}

impl EvaluationStage for FairStage<'_> {
    fn evaluate(
        &self,
        evaluator: &Evaluator,
        records: Box<dyn Iterator<Item = ProfileRecord> + Send + '_>,
        sink: &mut dyn FnMut(Processed) -> Result<(), Stopped>,
    ) -> Result<(), Stopped> {
        let evaluator = evaluator.clone();
        let work = move |first: u64, chunk: Vec<ProfileRecord>| {
            process_chunk(&mut evaluator.session(), &evaluator, first, chunk)
        };
        match self
            .scheduler
            .map_ordered(self.tenant, records, CHUNK, work, |processed| {
                sink(processed)
            }) {
            Ok(_) => Ok(()),
            Err(MapError::Sink(Stopped)) => Err(Stopped),
            Err(error) => {
                tracing::error!(tenant = self.tenant, ?error, "an evaluation stopped");
                Err(Stopped)
            }
        }
    }
}
