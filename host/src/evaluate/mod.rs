//! One evaluation: a fresh store, instantiate, call `decide`, and classify
//! whatever goes wrong. Nothing a guest does can escape as a panic or an
//! error of the host: every failure becomes a [`Failure`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use wasmtime::{Store, Trap, UpdateDeadline};

use crate::breaker::{Admission, Breaker, Transition};
use crate::campaign::Campaign;
use crate::contract::v0_2::input::CampaignLayout;
use crate::contract::{ContractVersion, Instance, v0_1};
use crate::decision::{Decision, RuleError};
use crate::engine::RuleEngine;
use crate::feedback::suppressions::SuppressionList;
use crate::limits::Limits;
use crate::outcome::Outcome;
use crate::profile::Profile;
use crate::rule::LoadedRule;
use crate::sandbox::{Deadline, DeadlineCheck, SandboxState};

mod batch;
mod failure;

pub use failure::Failure;

/// What one evaluation produced, with its cost.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The rule's decision, not yet checked against the campaign.
    pub result: Result<Decision, Failure>,
    /// Fuel consumed, guest start-up included; never more than the budget.
    /// For a recipient of a 0.2 batch: from its `host.begin` to the next
    /// (the last one also pays for handing the batch's answer back).
    /// `None` after a timeout: wasmtime keeps the running function's count
    /// in a register and writes it back only at calls and returns, so what
    /// an interrupted rule used is not known exactly, and no figure is
    /// better than a wrong one.
    pub fuel_used: Option<u64>,
    /// Wall time from store creation to the answer (for a recipient of a
    /// 0.2 batch, from its `host.begin` to the next).
    pub elapsed: Duration,
    /// The rule's log (host.log, stdout, stderr), capped.
    pub log: String,
    /// Log bytes dropped past the cap.
    pub log_dropped: usize,
    /// Whether the canary rule (see [`Evaluator::with_canary`]) served this
    /// recipient rather than the main rule.
    pub canary: bool,
}

impl Evaluation {
    /// The evaluation of a rule that was not run because its circuit
    /// breaker is open: [`Failure::BreakerOpen`], no fuel, no time.
    pub fn breaker_open() -> Self {
        Evaluation {
            result: Err(Failure::BreakerOpen),
            fuel_used: Some(0),
            elapsed: Duration::ZERO,
            log: String::new(),
            log_dropped: 0,
            canary: false,
        }
    }
}

/// How long an evaluation waits, by default, for an instance slot when the
/// pool is full before it gives up with [`Failure::HostUnavailable`]. Slots
/// are held for one evaluation (or one batch), each bounded by its deadline,
/// so a full pool empties well within it unless something holds instances
/// for good.
pub const DEFAULT_CAPACITY_WAIT: Duration = Duration::from_secs(60);

/// The longest pause between two attempts to get an instance slot.
const MAX_CAPACITY_BACKOFF: Duration = Duration::from_millis(50);

/// Profiles per `decide-batch` call by default (see
/// [`Evaluator::with_batch`]).
pub const DEFAULT_BATCH: usize = 64;

/// Longest rule error message kept.
pub(super) const MAX_RULE_ERROR_MESSAGE: usize = 256;

/// Evaluates one rule for many profiles of one campaign. Owns what it needs
/// (handles to the engine and the compiled rule), so a server can keep one
/// per prepared campaign; cheap to share between threads.
#[derive(Clone)]
pub struct Evaluator {
    engine: RuleEngine,
    rule: LoadedRule,
    canary: Option<(LoadedRule, u8)>,
    breakers: Option<Breakers>,
    campaign: Arc<Campaign>,
    limits: Limits,
    now: i64,
    deadline_ticks: u64,
    reuse: u64,
    rules_off: bool,
    capacity_wait: Duration,
    suppressions: Option<Arc<SuppressionList>>,
    batch: usize,
    /// The campaign as 0.2 batches carry it, laid out on first use.
    layout: Arc<OnceLock<CampaignLayout>>,
}

type CallResult = wasmtime::Result<Result<Decision, RuleError>>;

/// Called when a breaker changes state: whether it is the canary's, and
/// the change.
pub type OnTransition = Arc<dyn Fn(bool, &Transition) + Send + Sync>;

/// The circuit breakers an evaluator consults (see
/// [`Evaluator::with_breakers`]).
#[derive(Clone)]
pub struct Breakers {
    /// The main rule's breaker.
    pub main: Arc<Breaker>,
    /// The canary's breaker, when there is a canary.
    pub canary: Option<Arc<Breaker>>,
    /// Told of every change of state.
    pub on_transition: Option<OnTransition>,
}

/// A live rule instance kept for the next evaluation (batch mode).
struct Live {
    store: Store<SandboxState>,
    rules: v0_1::Rules,
}

impl Evaluator {
    /// An evaluator running `rule` for `campaign` at time `now` under
    /// `limits`, with a fresh sandbox for every evaluation. Keeps its own
    /// handles to the engine and the rule (both cheap to clone).
    pub fn new(
        engine: &RuleEngine,
        rule: &LoadedRule,
        campaign: Arc<Campaign>,
        limits: Limits,
        now: i64,
    ) -> Self {
        let deadline_ticks = engine.deadline_ticks(limits.timeout);
        Evaluator {
            engine: engine.clone(),
            rule: rule.clone(),
            canary: None,
            breakers: None,
            campaign,
            limits,
            now,
            deadline_ticks,
            reuse: 1,
            rules_off: false,
            capacity_wait: DEFAULT_CAPACITY_WAIT,
            suppressions: None,
            batch: DEFAULT_BATCH,
            layout: Arc::new(OnceLock::new()),
        }
    }

    /// Profiles per `decide-batch` call for rules of contract 0.2 and
    /// later (default [`DEFAULT_BATCH`]; `1` is a fresh sandbox for every
    /// recipient). Each recipient of a batch gets the full fuel budget and
    /// deadline, and a batch that fails is run again one profile at a time
    /// in fresh sandboxes, so for a rule that keeps nothing between
    /// profiles (as the SDK runs them) decisions do not depend on this; a
    /// batch of n never gets more than n + 1 budgets. A 0.2 decision names
    /// variants and blocks by index, so no recipient's data can reach
    /// another's message. 0.1 rules ignore it (see
    /// [`Evaluator::with_reuse`]).
    pub fn with_batch(mut self, profiles: usize) -> Self {
        self.batch = profiles.max(1);
        self
    }

    /// Profiles per `decide-batch` call (0.2 rules).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The rule that serves the canary's recipients (`canary`), or
    /// everyone else's.
    fn rule_for(&self, canary: bool) -> &LoadedRule {
        match (&self.canary, canary) {
            (Some((rule, _)), true) => rule,
            _ => &self.rule,
        }
    }

    fn layout(&self) -> &CampaignLayout {
        self.layout
            .get_or_init(|| CampaignLayout::new(&self.campaign, self.now))
    }

    /// Customers who unsubscribed: each is suppressed (reason
    /// `unsubscribed`) before consent is even looked at, and the rule
    /// never sees them.
    pub fn with_suppressions(mut self, list: Arc<SuppressionList>) -> Self {
        self.suppressions = Some(list);
        self
    }

    /// The outcome of a recipient the host refuses before any rule runs:
    /// on the suppression list, or without marketing consent.
    pub fn refused(&self, profile: &Profile) -> Option<Outcome> {
        self.suppressions
            .as_ref()
            .and_then(|list| list.refused(profile))
            .or_else(|| crate::policy::consent_refused(profile))
    }

    /// How long an evaluation waits for an instance slot while the pool is
    /// full before giving up with [`Failure::HostUnavailable`] (default
    /// [`DEFAULT_CAPACITY_WAIT`]). Waiting makes a host that cannot keep up
    /// slower; it never turns a full pool into a failure of the rule.
    pub fn with_capacity_wait(mut self, wait: Duration) -> Self {
        self.capacity_wait = wait;
        self
    }

    /// Batch mode: one instance serves up to `evaluations` consecutive
    /// recipients (by input position, so batches do not depend on the thread
    /// count). Fuel, deadline and log are reset for every recipient and an
    /// instance that traps is thrown away, but the guest's memory carries
    /// over within a batch: only for rules the operator trusts to keep no
    /// state between recipients. `1` (the default) is a fresh sandbox each.
    pub fn with_reuse(mut self, evaluations: u64) -> Self {
        self.reuse = evaluations.max(1);
        self
    }

    /// Turns the rule off: no evaluation runs and every consenting recipient
    /// gets the campaign's fallback selections (reason `rules-off`),
    /// whatever the campaign's failure policy. For sending a campaign when
    /// its rule cannot be trusted, and for measuring what rules cost.
    pub fn with_rules_off(mut self) -> Self {
        self.rules_off = true;
        self
    }

    /// A canary: `rule` decides for the recipients whose stable (campaign,
    /// recipient) bucket falls in `percent` percent (see
    /// [`crate::registry::in_canary`]), the main rule for everyone else.
    /// Each [`Evaluation`] says which served.
    pub fn with_canary(mut self, rule: &LoadedRule, percent: u8) -> Self {
        self.canary = Some((rule.clone(), percent.min(100)));
        self
    }

    /// Circuit breakers: before each evaluation the breaker of the rule
    /// that would serve the recipient is asked; while it is open the rule
    /// is not run and the evaluation is [`Failure::BreakerOpen`]. Every
    /// result is recorded with it; only the rule's own failures (see
    /// [`Failure::counts_against_rule`]) count against it.
    pub fn with_breakers(mut self, breakers: Breakers) -> Self {
        self.breakers = Some(breakers);
        self
    }

    fn breaker(&self, canary: bool) -> Option<&Arc<Breaker>> {
        let breakers = self.breakers.as_ref()?;
        if canary {
            breakers.canary.as_ref()
        } else {
            Some(&breakers.main)
        }
    }

    /// Whether the canary serves `profile_id`.
    pub fn serves_canary(&self, profile_id: &str) -> bool {
        self.canary.as_ref().is_some_and(|(_, percent)| {
            crate::registry::in_canary(&self.campaign.id, profile_id, *percent)
        })
    }

    /// The canary rule and its percentage, if one is set.
    pub fn canary(&self) -> Option<(&LoadedRule, u8)> {
        self.canary.as_ref().map(|(rule, percent)| (rule, *percent))
    }

    /// How many consecutive recipients one instance serves (1: fresh
    /// sandbox each).
    pub fn reuse(&self) -> u64 {
        self.reuse
    }

    /// The limits every evaluation runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The campaign.
    pub fn campaign(&self) -> &Arc<Campaign> {
        &self.campaign
    }

    /// The rule it runs.
    pub fn rule(&self) -> &LoadedRule {
        &self.rule
    }

    /// The time rules see as `now` (seconds since the Unix epoch).
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Runs the rule for one profile in a fresh sandbox.
    pub fn evaluate(&self, profile: Arc<Profile>) -> Evaluation {
        self.session().evaluate(0, profile)
    }

    /// A session for evaluating a sequence of profiles on one thread,
    /// keeping instances alive across recipients in batch mode.
    pub fn session(&self) -> Session<'_> {
        Session {
            evaluator: self,
            live: None,
        }
    }

    fn instantiate(
        &self,
        profile: Arc<Profile>,
        canary: bool,
    ) -> (Store<SandboxState>, wasmtime::Result<Instance>) {
        let rule = self.rule_for(canary);
        let state = SandboxState::new(
            profile,
            self.campaign.clone(),
            self.now,
            self.limits.memory_bytes,
            self.limits.max_log_bytes,
        );
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|state| &mut state.limiter);
        if self.engine.isolation().epochs {
            let tick_micros = self.engine.epoch_tick().as_micros().max(1);
            store.epoch_deadline_callback(move |context| {
                Ok(match context.data().deadline.check() {
                    DeadlineCheck::Expired => UpdateDeadline::Interrupt,
                    DeadlineCheck::Remaining(left) => UpdateDeadline::Continue(
                        (left.as_micros().div_ceil(tick_micros) as u64).max(1),
                    ),
                })
            });
        }
        let rules = self
            .arm(&mut store)
            .and_then(|()| rule.pre.instantiate(&mut store));
        (store, rules)
    }

    /// Like [`Evaluator::instantiate`], waiting with growing pauses while
    /// the instance pool is full, up to the capacity wait.
    pub(super) fn instantiate_waiting(
        &self,
        profile: Arc<Profile>,
        canary: bool,
    ) -> (Store<SandboxState>, wasmtime::Result<Instance>) {
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let (store, rules) = self.instantiate(profile.clone(), canary);
            match rules {
                Err(error) if pool_is_full(&error) && started.elapsed() < self.capacity_wait => {
                    drop(store);
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_CAPACITY_BACKOFF);
                }
                rules => return (store, rules),
            }
        }
    }

    /// Gives a store a full fuel budget and a fresh deadline: the
    /// evaluation may use `limits.timeout` of this thread's CPU time (see
    /// [`crate::sandbox::Deadline`]); the epoch deadline set here is when
    /// that is first checked.
    pub(super) fn arm(&self, store: &mut Store<SandboxState>) -> wasmtime::Result<()> {
        let isolation = self.engine.isolation();
        if isolation.fuel {
            store.set_fuel(self.limits.fuel)?;
        }
        if isolation.epochs {
            store.data_mut().deadline = Deadline::start(self.limits.timeout);
            store.set_epoch_deadline(self.deadline_ticks);
        }
        Ok(())
    }

    /// Creates a sandbox and instantiates the rule in it without calling
    /// it: the part of a fresh evaluation before the first call.
    pub fn instantiate_only(&self, profile: Arc<Profile>) -> Result<(), Failure> {
        let canary = self.serves_canary(&profile.id);
        let (store, rules) = self.instantiate(profile, canary);
        rules
            .map(drop)
            .map_err(|error| self.classify(&store, error))
    }

    fn call(&self, live: &mut Live) -> CallResult {
        v0_1::decide(&live.rules, &mut live.store)
    }

    pub(super) fn finish(
        &self,
        store: &Store<SandboxState>,
        result: CallResult,
        started: Instant,
        canary: bool,
    ) -> Evaluation {
        let fuel_left = store.get_fuel().unwrap_or(self.limits.fuel);
        let (log, log_dropped) = store.data().log.contents();
        let result = result.map_err(|error| self.classify(store, error));
        let interrupted = matches!(
            result,
            Err(Failure::Timeout { .. } | Failure::HostUnavailable { .. })
        );
        Evaluation {
            result: result.and_then(|answer| {
                answer.map_err(|e| Failure::RuleError {
                    code: e.code,
                    message: cap(e.message, MAX_RULE_ERROR_MESSAGE),
                })
            }),
            fuel_used: (!interrupted).then(|| self.limits.fuel.saturating_sub(fuel_left)),
            elapsed: started.elapsed(),
            log,
            log_dropped,
            canary,
        }
    }

    pub(super) fn classify(&self, store: &Store<SandboxState>, error: wasmtime::Error) -> Failure {
        if pool_is_full(&error) {
            return Failure::HostUnavailable {
                detail: error.root_cause().to_string(),
            };
        }
        let trap = error.downcast_ref::<Trap>();
        match trap {
            Some(Trap::OutOfFuel) => {
                return Failure::OutOfFuel {
                    fuel: self.limits.fuel,
                };
            }
            // Ended by the wall-clock backstop with CPU time left: the
            // thread could not run, which says nothing about the rule.
            Some(Trap::Interrupt) if store.data().deadline.stalled() => {
                return Failure::HostUnavailable {
                    detail: format!(
                        "the evaluating thread could not run for {} ms",
                        (self.limits.timeout * crate::sandbox::WALL_CLOCK_BACKSTOP).as_millis()
                    ),
                };
            }
            Some(Trap::Interrupt) => {
                return Failure::Timeout {
                    timeout: self.limits.timeout,
                };
            }
            _ => {}
        }
        if store.data().limiter.was_hit() {
            return Failure::OutOfMemory {
                detail: format!("memory limit of {} bytes reached", self.limits.memory_bytes),
            };
        }
        match trap {
            Some(Trap::StackOverflow) => Failure::StackOverflow,
            Some(trap) => Failure::Trap {
                detail: trap.to_string(),
            },
            None => Failure::Trap {
                detail: error
                    .root_cause()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or("unknown error")
                    .to_string(),
            },
        }
    }
}

/// Evaluations on one thread, in input order.
pub struct Session<'e> {
    evaluator: &'e Evaluator,
    /// The instance kept for the next recipient, and whether it is the
    /// canary's.
    live: Option<(Live, bool)>,
}

impl Session<'_> {
    /// Evaluates the profile at input position `index` (0-based).
    pub fn evaluate(&mut self, index: u64, profile: Arc<Profile>) -> Evaluation {
        let started = Instant::now();
        let canary = match self.admit(&profile, started) {
            Ok(canary) => canary,
            Err(evaluation) => return *evaluation,
        };
        let evaluation = if self.evaluator.rule_for(canary).info.contract == ContractVersion::V0_1 {
            self.run(index, profile, canary, started)
        } else {
            let mut evaluations = batch::evaluate(self.evaluator, canary, &[profile]);
            evaluations.pop().unwrap_or_else(Evaluation::breaker_open)
        };
        self.record(canary, &evaluation);
        evaluation
    }

    /// Evaluates consecutive profiles in input order: a 0.2 rule decides
    /// them in batches of [`Evaluator::batch`] profiles, a 0.1 rule one at
    /// a time as [`Session::evaluate`] does. Each profile comes with its
    /// input position. The circuit breaker is asked for every recipient
    /// before its batch runs and told every result after.
    pub fn evaluate_many(&mut self, profiles: &[(u64, Arc<Profile>)]) -> Vec<Evaluation> {
        let evaluator = self.evaluator;
        let batched =
            |canary: bool| evaluator.rule_for(canary).info.contract != ContractVersion::V0_1;
        if !batched(false) && !batched(true) {
            return profiles
                .iter()
                .map(|(index, profile)| self.evaluate(*index, profile.clone()))
                .collect();
        }
        let started = Instant::now();
        let mut done: Vec<Option<Evaluation>> = Vec::with_capacity(profiles.len());
        let mut waiting: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
        for (position, (index, profile)) in profiles.iter().enumerate() {
            match self.admit(profile, started) {
                Err(evaluation) => done.push(Some(*evaluation)),
                Ok(canary) if batched(canary) => {
                    waiting[usize::from(canary)].push(position);
                    done.push(None);
                }
                Ok(canary) => {
                    let evaluation = self.run(*index, profile.clone(), canary, started);
                    self.record(canary, &evaluation);
                    done.push(Some(evaluation));
                }
            }
        }
        for (canary, positions) in [false, true].into_iter().zip(waiting) {
            let batch: Vec<Arc<Profile>> =
                positions.iter().map(|&p| profiles[p].1.clone()).collect();
            let evaluations = batch::evaluate(evaluator, canary, &batch);
            for (position, evaluation) in positions.into_iter().zip(evaluations) {
                self.record(canary, &evaluation);
                done[position] = Some(evaluation);
            }
        }
        done.into_iter()
            .map(|evaluation| evaluation.unwrap_or_else(Evaluation::breaker_open))
            .collect()
    }

    /// Whether the rule may run for `profile`, and which (`Ok(true)`: the
    /// canary); the evaluation to report instead when it may not.
    fn admit(&self, profile: &Profile, started: Instant) -> Result<bool, Box<Evaluation>> {
        let evaluator = self.evaluator;
        if evaluator.rules_off {
            return Err(Box::new(Evaluation {
                result: Err(Failure::RulesOff),
                fuel_used: Some(0),
                elapsed: started.elapsed(),
                log: String::new(),
                log_dropped: 0,
                canary: false,
            }));
        }
        let canary = evaluator.serves_canary(&profile.id);
        let breaker = evaluator.breaker(canary);
        if breaker.is_some_and(|b| b.admit(Instant::now()) == Admission::Open) {
            return Err(Box::new(Evaluation {
                canary,
                ..Evaluation::breaker_open()
            }));
        }
        Ok(canary)
    }

    /// Tells the serving rule's breaker how an evaluation went.
    fn record(&self, canary: bool, evaluation: &Evaluation) {
        let evaluator = self.evaluator;
        let Some(breaker) = evaluator.breaker(canary) else {
            return;
        };
        // A decision the host will refuse (unknown ids, over the caps)
        // is the rule's failure too, though it is found after the call.
        let failed = match &evaluation.result {
            Err(failure) => failure.counts_against_rule(),
            Ok(decision) => {
                crate::policy::validate_decision(decision, &evaluator.campaign, &evaluator.limits)
                    .is_err()
            }
        };
        if let Some(transition) = breaker.record(Instant::now(), failed)
            && let Some(notify) = evaluator
                .breakers
                .as_ref()
                .and_then(|b| b.on_transition.as_ref())
        {
            notify(canary, &transition);
        }
    }

    fn run(
        &mut self,
        index: u64,
        profile: Arc<Profile>,
        canary: bool,
        started: Instant,
    ) -> Evaluation {
        let evaluator = self.evaluator;
        if index.is_multiple_of(evaluator.reuse) {
            self.live = None;
        }
        let kept = self
            .live
            .take()
            .filter(|(_, live_canary)| *live_canary == canary);
        let mut live = match kept {
            Some((mut live, _)) => {
                live.store.data_mut().next_recipient(profile);
                if let Err(error) = evaluator.arm(&mut live.store) {
                    return evaluator.finish(&live.store, Err(error), started, canary);
                }
                live
            }
            None => match evaluator.instantiate_waiting(profile, canary) {
                (store, Ok(Instance::V0_1(rules))) => Live { store, rules },
                (store, Ok(Instance::V0_2(_))) => {
                    let error = wasmtime::format_err!("a 0.2 rule on the 0.1 path");
                    return evaluator.finish(&store, Err(error), started, canary);
                }
                (store, Err(error)) => {
                    return evaluator.finish(&store, Err(error), started, canary);
                }
            },
        };
        let result = evaluator.call(&mut live);
        let trapped = result.is_err();
        let evaluation = evaluator.finish(&live.store, result, started, canary);
        // A store cannot be entered again after a trap.
        if evaluator.reuse > 1 && !trapped {
            self.live = Some((live, canary));
        }
        evaluation
    }
}

/// Whether instantiating failed because every slot of a kind in the
/// instance pool is in use: the host's capacity, not the rule's behaviour.
pub(crate) fn pool_is_full(error: &wasmtime::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>())
}

pub(super) fn cap(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}
