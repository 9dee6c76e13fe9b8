//! A circuit breaker for one rule version of one tenant: when the rule
//! fails for too many recipients in a short time, stop running it for a
//! while, and let a few evaluations through to see whether it recovered.
//!
//! A pure state machine: the caller passes the time, so nothing here sleeps
//! or reads a clock.
//!
//! - **closed**: every evaluation runs ([`Admission::Run`]). Results fall
//!   into [`BUCKETS`] buckets of `window / BUCKETS` each, so results older
//!   than the window age out a bucket at a time. When the window holds at
//!   least `min_evaluations` results and the share of failures reaches
//!   `failure_rate`, the breaker opens.
//! - **open**: nothing runs ([`Admission::Open`]; the recipient gets
//!   [`crate::policy::breaker_open`]) until `open_for` has passed.
//! - **half-open**: up to `probes` evaluations run as [`Admission::Probe`];
//!   the rest are refused until they report. One failed probe opens the
//!   breaker again for `open_for`; `probes` successful ones close it, with
//!   an empty window.
//!
//! Only the rule's own failures count ([`counts_against_rule`]); the
//! caller records nothing for recipients the rule was not run for (no
//! consent, rules off, breaker open). Results that arrive while the breaker
//! is open (evaluations admitted before it opened) are ignored; in
//! half-open every result counts as a probe's.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::evaluate::Failure;

/// Number of buckets the window is divided into.
pub const BUCKETS: usize = 10;

/// When a breaker opens and how it recovers.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// How far back results count. Default 60 s.
    pub window: Duration,
    /// Fewest results in the window before the breaker may open. Default 20.
    pub min_evaluations: u32,
    /// Share of failures in the window (0 to 1) at which it opens. Default
    /// 0.5.
    pub failure_rate: f64,
    /// How long it stays open before probing. Default 30 s.
    pub open_for: Duration,
    /// Evaluations let through when half-open; all must succeed to close
    /// it. Default 5.
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: Duration::from_secs(60),
            min_evaluations: 20,
            failure_rate: 0.5,
            open_for: Duration::from_secs(30),
            probes: 5,
        }
    }
}

/// Where a breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The rule runs.
    Closed,
    /// The rule does not run.
    Open,
    /// A few probe evaluations run.
    HalfOpen,
}

impl State {
    /// The state as shown in metrics and APIs.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }
}

/// Whether an evaluation may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Run the rule (closed).
    Run,
    /// Run the rule as one of the probes (half-open).
    Probe,
    /// Do not run it: use [`crate::policy::breaker_open`].
    Open,
}

/// A change of state, reported by [`Breaker::record`].
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// The share of failures that decided it: in the window when closed,
    /// among the probes when half-open.
    pub failure_rate: f64,
    /// The results that decided it, counted the same way.
    pub evaluations: u32,
}

/// A snapshot for metrics and APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerState {
    /// Where the breaker is.
    pub state: State,
    /// Results in the window (closed) or probe results (half-open), as of
    /// the last call.
    pub evaluations: u32,
    /// Failures among them.
    pub failures: u32,
    /// When it last opened, while open or half-open.
    pub opened_at: Option<Instant>,
}

/// Whether `failure` is the rule's own and counts towards opening its
/// breaker (see [`Failure::counts_against_rule`]).
pub fn counts_against_rule(failure: &Failure) -> bool {
    failure.counts_against_rule()
}

/// A circuit breaker; share it (`&self` everywhere) between the threads
/// that evaluate one rule version.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: State,
    /// The time bucket 0 starts at: the first time seen.
    origin: Option<Instant>,
    /// The bucket of the latest time seen.
    latest: u64,
    buckets: [Bucket; BUCKETS],
    opened_at: Option<Instant>,
    probes_admitted: u32,
    probe_results: u32,
    probe_failures: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which bucket of time this slot holds.
    index: u64,
    evaluations: u32,
    failures: u32,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Breaker {
            config,
            inner: Mutex::new(Inner {
                state: State::Closed,
                origin: None,
                latest: 0,
                buckets: [Bucket::default(); BUCKETS],
                opened_at: None,
                probes_admitted: 0,
                probe_results: 0,
                probe_failures: 0,
            }),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// Whether an evaluation starting at `now` may run. Moves an open
    /// breaker whose time is up to half-open.
    pub fn admit(&self, now: Instant) -> Admission {
        let mut inner = self.lock();
        self.advance(&mut inner, now);
        if inner.state == State::Open {
            match inner.opened_at {
                Some(opened) if now.saturating_duration_since(opened) >= self.config.open_for => {
                    inner.state = State::HalfOpen;
                    inner.probes_admitted = 0;
                    inner.probe_results = 0;
                    inner.probe_failures = 0;
                }
                _ => return Admission::Open,
            }
        }
        match inner.state {
            State::Closed => Admission::Run,
            State::HalfOpen if inner.probes_admitted < self.config.probes => {
                inner.probes_admitted += 1;
                Admission::Probe
            }
            _ => Admission::Open,
        }
    }

    /// Records the result of an evaluation that ended at `now`; `failed`
    /// when it failed in a way that [`counts_against_rule`]. Returns the
    /// change of state it caused, if any.
    pub fn record(&self, now: Instant, failed: bool) -> Option<Transition> {
        let mut inner = self.lock();
        let current = self.advance(&mut inner, now);
        match inner.state {
            State::Open => None,
            State::Closed => {
                let slot = &mut inner.buckets[current as usize % BUCKETS];
                slot.evaluations += 1;
                slot.failures += u32::from(failed);
                let (evaluations, failures) = window(&inner);
                let failure_rate = f64::from(failures) / f64::from(evaluations);
                if evaluations >= self.config.min_evaluations
                    && failure_rate >= self.config.failure_rate
                {
                    inner.state = State::Open;
                    inner.opened_at = Some(now);
                    return Some(Transition {
                        from: State::Closed,
                        to: State::Open,
                        failure_rate,
                        evaluations,
                    });
                }
                None
            }
            State::HalfOpen => {
                inner.probe_results += 1;
                inner.probe_failures += u32::from(failed);
                let transition = |to| Transition {
                    from: State::HalfOpen,
                    to,
                    failure_rate: f64::from(inner.probe_failures) / f64::from(inner.probe_results),
                    evaluations: inner.probe_results,
                };
                if failed {
                    let transition = transition(State::Open);
                    inner.state = State::Open;
                    inner.opened_at = Some(now);
                    Some(transition)
                } else if inner.probe_results >= self.config.probes {
                    let transition = transition(State::Closed);
                    inner.state = State::Closed;
                    inner.opened_at = None;
                    inner.buckets = [Bucket::default(); BUCKETS];
                    Some(transition)
                } else {
                    None
                }
            }
        }
    }

    /// Where the breaker is, as of the last call to `admit` or `record`.
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        let (evaluations, failures) = match inner.state {
            State::Closed => window(&inner),
            State::HalfOpen => (inner.probe_results, inner.probe_failures),
            State::Open => (0, 0),
        };
        BreakerState {
            state: inner.state,
            evaluations,
            failures,
            opened_at: inner.opened_at,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The state is consistent after every statement that can panic, so
        // a poisoned lock still holds a usable breaker.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves the window to the bucket of `now` (never back), clearing the
    /// slots of buckets that aged out; returns that bucket.
    fn advance(&self, inner: &mut Inner, now: Instant) -> u64 {
        let origin = *inner.origin.get_or_insert(now);
        let width = (self.config.window / BUCKETS as u32).max(Duration::from_nanos(1));
        let bucket = (now.saturating_duration_since(origin).as_nanos() / width.as_nanos()) as u64;
        let current = bucket.max(inner.latest);
        inner.latest = current;
        let slot = &mut inner.buckets[current as usize % BUCKETS];
        if slot.index != current {
            *slot = Bucket {
                index: current,
                ..Bucket::default()
            };
        }
        current
    }
}

/// Results and failures in the buckets of the window that ends with the
/// latest bucket.
fn window(inner: &Inner) -> (u32, u32) {
    let oldest = inner.latest.saturating_sub(BUCKETS as u64 - 1);
    inner
        .buckets
        .iter()
        .filter(|b| b.index >= oldest && b.index <= inner.latest)
        .fold((0, 0), |(e, f), b| (e + b.evaluations, f + b.failures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// A breaker that has seen time `t0`.
    fn fresh() -> (Breaker, Instant) {
        let breaker = Breaker::new(BreakerConfig::default());
        let t0 = Instant::now();
        assert_eq!(breaker.admit(t0), Admission::Run);
        (breaker, t0)
    }

    fn trip(breaker: &Breaker, at: Instant) -> Transition {
        for _ in 0..19 {
            assert_eq!(breaker.admit(at), Admission::Run);
            assert_eq!(breaker.record(at, true), None);
        }
        assert_eq!(breaker.state().state, State::Closed);
        breaker.record(at, true).expect("the 20th failure opens it")
    }

    #[test]
    fn twenty_failures_open_it_and_thirty_seconds_later_it_probes() {
        let (breaker, t0) = fresh();
        assert_eq!(
            trip(&breaker, t0),
            Transition {
                from: State::Closed,
                to: State::Open,
                failure_rate: 1.0,
                evaluations: 20,
            }
        );
        assert_eq!(
            breaker.state(),
            BreakerState {
                state: State::Open,
                evaluations: 0,
                failures: 0,
                opened_at: Some(t0),
            }
        );
        assert_eq!(breaker.admit(t0 + secs(29)), Admission::Open);
        // A late result of an evaluation admitted before it opened.
        assert_eq!(breaker.record(t0 + secs(29), false), None);
        for _ in 0..5 {
            assert_eq!(breaker.admit(t0 + secs(30)), Admission::Probe);
        }
        assert_eq!(breaker.admit(t0 + secs(30)), Admission::Open);
        assert_eq!(breaker.state().state, State::HalfOpen);
        for _ in 0..4 {
            assert_eq!(breaker.record(t0 + secs(31), false), None);
        }
        assert_eq!(
            breaker.record(t0 + secs(31), false),
            Some(Transition {
                from: State::HalfOpen,
                to: State::Closed,
                failure_rate: 0.0,
                evaluations: 5,
            })
        );
        assert_eq!(
            breaker.state(),
            BreakerState {
                state: State::Closed,
                evaluations: 0,
                failures: 0,
                opened_at: None,
            }
        );
        assert_eq!(breaker.admit(t0 + secs(31)), Admission::Run);
    }

    #[test]
    fn a_failed_probe_opens_it_again_for_the_full_time() {
        let (breaker, t0) = fresh();
        trip(&breaker, t0);
        assert_eq!(breaker.admit(t0 + secs(30)), Admission::Probe);
        assert_eq!(breaker.admit(t0 + secs(30)), Admission::Probe);
        assert_eq!(breaker.record(t0 + secs(30), false), None);
        assert_eq!(
            breaker.record(t0 + secs(32), true),
            Some(Transition {
                from: State::HalfOpen,
                to: State::Open,
                failure_rate: 0.5,
                evaluations: 2,
            })
        );
        assert_eq!(breaker.state().opened_at, Some(t0 + secs(32)));
        assert_eq!(breaker.admit(t0 + secs(61)), Admission::Open);
        assert_eq!(breaker.admit(t0 + secs(62)), Admission::Probe);
    }

    #[test]
    fn the_rate_must_reach_the_threshold_with_enough_results() {
        let (breaker, t0) = fresh();
        // 11 successes, then failures: 9 of 20, then 10 of 21, below
        // one half.
        for i in 0..21 {
            assert_eq!(breaker.record(t0, i >= 11), None);
        }
        assert_eq!(
            breaker.state(),
            BreakerState {
                state: State::Closed,
                evaluations: 21,
                failures: 10,
                opened_at: None,
            }
        );
        // The 11th failure of 22: exactly one half.
        let opened = breaker.record(t0, true).unwrap();
        assert_eq!((opened.failure_rate, opened.evaluations), (0.5, 22));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let (breaker, t0) = fresh();
        for _ in 0..19 {
            assert_eq!(breaker.record(t0, true), None);
        }
        // 60 s later the first bucket has aged out: 1 result in the window.
        assert_eq!(breaker.record(t0 + secs(60), true), None);
        assert_eq!(breaker.state().evaluations, 1);
        // At 59 s the first bucket still counts.
        let (breaker, t0) = fresh();
        for _ in 0..19 {
            assert_eq!(breaker.record(t0, true), None);
        }
        assert!(breaker.record(t0 + secs(59), true).is_some());
    }

    #[test]
    fn buckets_age_out_one_at_a_time() {
        let (breaker, t0) = fresh();
        for s in 0..10 {
            for _ in 0..3 {
                breaker.record(t0 + secs(s * 6), false);
            }
        }
        assert_eq!(breaker.state().evaluations, 30);
        breaker.record(t0 + secs(60), false);
        assert_eq!(breaker.state().evaluations, 28);
        breaker.record(t0 + secs(200), false);
        assert_eq!(breaker.state().evaluations, 1);
    }

    #[test]
    fn only_the_rules_own_failures_count() {
        use crate::decision::ErrorCode;
        let counted = [
            Failure::OutOfFuel { fuel: 1 },
            Failure::Timeout { timeout: secs(1) },
            Failure::OutOfMemory { detail: "x".into() },
            Failure::StackOverflow,
            Failure::Trap { detail: "x".into() },
            Failure::RuleError {
                code: ErrorCode::Internal,
                message: "x".into(),
            },
            Failure::InvalidDecision { detail: "x".into() },
        ];
        assert!(counted.iter().all(counts_against_rule));
        let not_counted = [
            Failure::RulesOff,
            Failure::BreakerOpen,
            Failure::HostUnavailable { detail: "x".into() },
        ];
        assert!(!not_counted.iter().any(counts_against_rule));
    }
}
