//! Why an evaluation produced no usable decision.

use std::time::Duration;

use crate::decision::ErrorCode;

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
            Failure::RuleError { code, message } => write!(f, "{}: {message}", code.as_str()),
            Failure::InvalidDecision { detail } => f.write_str(detail),
            Failure::RulesOff => f.write_str("rules turned off: fallback selections"),
            Failure::BreakerOpen => f.write_str("the rule failed too often lately and was not run"),
            Failure::HostUnavailable { detail } => {
                write!(f, "the host had no room to run the rule: {detail}")
            }
        }
    }
}
