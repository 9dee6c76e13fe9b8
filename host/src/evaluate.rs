//! One evaluation: a fresh store, instantiate, call `decide`, and classify
//! whatever goes wrong. Nothing a guest does can escape as a panic or an
//! error of the host: every failure becomes a [`Failure`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::Resource;
use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::Rules;
use crate::bindings::types::{Decision, ErrorCode};
use crate::breaker::{Admission, Breaker, Transition};
use crate::campaign::Campaign;
use crate::engine::RuleEngine;
use crate::feedback::suppressions::SuppressionList;
use crate::limits::Limits;
use crate::outcome::Outcome;
use crate::profile::Profile;
use crate::rule::LoadedRule;
use crate::sandbox::{Deadline, DeadlineCheck, SandboxState};

/// Why an evaluation produced no usable decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The instruction budget ran out.
    OutOfFuel {
        /// The budget.
        fuel: u64,
    },
    /// The wall-clock deadline passed.
    Timeout {
        /// The deadline.
        timeout: Duration,
    },
    /// The memory cap was reached.
    OutOfMemory {
        /// Details from the limiter.
        detail: String,
    },
    /// The guest's call stack overflowed.
    StackOverflow,
    /// Any other trap (a panic shows up as `unreachable`).
    Trap {
        /// The trap, first line.
        detail: String,
    },
    /// The rule reported an error through the contract.
    RuleError {
        /// Its code.
        code: ErrorCode,
        /// Its message, capped.
        message: String,
    },
    /// The decision broke a host rule (unknown id, too many segments, …).
    InvalidDecision {
        /// What is wrong.
        detail: String,
    },
    /// The rule was not run: the operator turned rules off and every
    /// recipient gets the campaign's fallback.
    RulesOff,
    /// The rule was not run: it failed too often lately and its circuit
    /// breaker (see [`crate::breaker`]) is open. The recipient gets what a
    /// failure gets under the campaign's policy: the fallback, or a skip.
    BreakerOpen,
    /// The host had no room to run the rule (every instance slot of the
    /// pool in use for longer than the evaluator waits): not the rule's
    /// fault, and not a decision. The recipient should be tried again later.
    HostUnavailable {
        /// What the engine reported.
        detail: String,
    },
}

impl Failure {
    /// The code of [`Failure::HostUnavailable`].
    pub const HOST_UNAVAILABLE: &'static str = "host-unavailable";

    /// The code of [`Failure::BreakerOpen`].
    pub const BREAKER_OPEN: &'static str = "breaker-open";

    /// Whether the failure is the rule's own doing, and so counts towards
    /// tripping its circuit breaker: a trap, a deadline, running out of fuel
    /// or memory, a stack overflow, a decision the host refused, or an error
    /// the rule reported. Not the host's lack of room, not a rule that was
    /// not run (rules off, breaker open).
    pub fn counts_against_rule(&self) -> bool {
        match self {
            Failure::OutOfFuel { .. }
            | Failure::Timeout { .. }
            | Failure::OutOfMemory { .. }
            | Failure::StackOverflow
            | Failure::Trap { .. }
            | Failure::RuleError { .. }
            | Failure::InvalidDecision { .. } => true,
            Failure::RulesOff | Failure::BreakerOpen | Failure::HostUnavailable { .. } => false,
        }
    }

    /// A short, stable code for counting and policy.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::OutOfFuel { .. } => "out-of-fuel",
            Failure::Timeout { .. } => "timeout",
            Failure::OutOfMemory { .. } => "out-of-memory",
            Failure::StackOverflow => "stack-overflow",
            Failure::Trap { .. } => "trap",
            Failure::RuleError { .. } => "rule-error",
            Failure::InvalidDecision { .. } => "invalid-decision",
            Failure::RulesOff => "rules-off",
            Failure::BreakerOpen => Failure::BREAKER_OPEN,
            Failure::HostUnavailable { .. } => Failure::HOST_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.code())?;
        match self {
            Failure::OutOfFuel { fuel } => write!(f, "used all {fuel} units of fuel"),
            Failure::Timeout { timeout } => {
                write!(f, "still running after {} ms", timeout.as_millis())
            }
            Failure::OutOfMemory { detail } => f.write_str(detail),
            Failure::StackOverflow => f.write_str("call stack exhausted"),
            Failure::Trap { detail } => f.write_str(detail),
            Failure::RuleError { code, message } => {
                let code = match code {
                    ErrorCode::MissingData => "missing-data",
                    ErrorCode::InvalidAttributes => "invalid-attributes",
                    ErrorCode::UnsupportedCampaign => "unsupported-campaign",
                    ErrorCode::Internal => "internal",
                };
                write!(f, "{code}: {message}")
            }
            Failure::InvalidDecision { detail } => f.write_str(detail),
            Failure::RulesOff => f.write_str("rules turned off: fallback selections"),
            Failure::BreakerOpen => f.write_str("the rule failed too often lately and was not run"),
            Failure::HostUnavailable { detail } => {
                write!(f, "the host had no room to run the rule: {detail}")
            }
        }
    }
}

/// What one evaluation produced, with its cost.
#[derive(Debug)]
pub struct Evaluation {
    /// The rule's decision, not yet checked against the campaign.
    pub result: Result<Decision, Failure>,
    /// Fuel consumed, guest start-up included; never more than the budget.
    /// `None` after a timeout: wasmtime keeps the running function's count
    /// in a register and writes it back only at calls and returns, so what
    /// an interrupted rule used is not known exactly, and no figure is
    /// better than a wrong one.
    pub fuel_used: Option<u64>,
    /// Wall time from store creation to the answer.
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

/// Longest rule error message kept.
const MAX_RULE_ERROR_MESSAGE: usize = 256;

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
}

type CallResult = wasmtime::Result<Result<Decision, crate::bindings::types::RuleError>>;

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
    rules: Rules,
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
        }
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
    ) -> (Store<SandboxState>, wasmtime::Result<Rules>) {
        let rule = match (&self.canary, canary) {
            (Some((rule, _)), true) => rule,
            _ => &self.rule,
        };
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
    fn instantiate_waiting(
        &self,
        profile: Arc<Profile>,
        canary: bool,
    ) -> (Store<SandboxState>, wasmtime::Result<Rules>) {
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
    fn arm(&self, store: &mut Store<SandboxState>) -> wasmtime::Result<()> {
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
        let profile = Resource::new_borrow(0);
        let campaign = Resource::new_borrow(0);
        live.rules
            .mailrules_rules_rule()
            .call_decide(&mut live.store, profile, campaign)
    }

    fn finish(
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

    fn classify(&self, store: &Store<SandboxState>, error: wasmtime::Error) -> Failure {
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
        let evaluator = self.evaluator;
        let canary = evaluator.serves_canary(&profile.id);
        if evaluator.rules_off {
            return Evaluation {
                result: Err(Failure::RulesOff),
                fuel_used: Some(0),
                elapsed: started.elapsed(),
                log: String::new(),
                log_dropped: 0,
                canary: false,
            };
        }
        let breaker = evaluator.breaker(canary);
        if breaker.is_some_and(|b| b.admit(Instant::now()) == Admission::Open) {
            return Evaluation {
                canary,
                ..Evaluation::breaker_open()
            };
        }
        let evaluation = self.run(index, profile, canary, started);
        if let Some(breaker) = breaker {
            // A decision the host will refuse (unknown ids, over the caps)
            // is the rule's failure too, though it is found after the call.
            let failed = match &evaluation.result {
                Err(failure) => failure.counts_against_rule(),
                Ok(decision) => crate::policy::validate_decision(
                    decision,
                    &evaluator.campaign,
                    &evaluator.limits,
                )
                .is_err(),
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
        evaluation
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
                (store, Ok(rules)) => Live { store, rules },
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
fn pool_is_full(error: &wasmtime::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.is::<wasmtime::PoolConcurrencyLimitError>())
}

fn cap(mut text: String, max: usize) -> String {
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
