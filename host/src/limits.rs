//! Limits on every rule evaluation.
//!
//! Three layers: [`Limits::default`] is what a campaign gets when it asks for
//! nothing; the operator sets [`OperatorLimits`], the ceiling for every
//! tenant on this host; a campaign's `[limits]` table may ask for less (or
//! for more, up to the ceiling). [`OperatorLimits::resolve`] combines them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::component_bounds::CompileLimits;

/// The limits one evaluation runs under. Every field is always in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Instruction budget (wasmtime fuel) per evaluation, including the
    /// guest's own start-up. Default 10,000,000.
    pub fuel: u64,
    /// Deadline per evaluation, a backstop behind fuel, in CPU time of the
    /// evaluating thread: time spent waiting for a CPU on a busy machine does
    /// not count, so a rule within its fuel does not time out because the
    /// machine is loaded. A wall-clock backstop of ten times this ends an
    /// evaluation whose thread does not run at all. Default 100 ms.
    pub timeout: Duration,
    /// Linear memory a rule may use, in bytes. Default 32 MiB.
    pub memory_bytes: usize,
    /// Maximum number of segments in one decision. Default 64.
    pub max_segments: usize,
    /// Maximum length in bytes of any id a rule returns (segment, variant,
    /// slot, block, reason code). Default 64.
    pub max_id_bytes: usize,
    /// Maximum number of reason codes in one decision. Default 32.
    pub max_reasons: usize,
    /// Bytes of log kept per evaluation (the `host.log` import and the
    /// guest's stdout and stderr together); the rest is dropped. Default 4 KiB.
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000,
            timeout: Duration::from_millis(100),
            memory_bytes: 32 << 20,
            max_segments: 64,
            max_id_bytes: 64,
            max_reasons: 32,
            max_log_bytes: 4096,
        }
    }
}

/// The operator's ceiling for every tenant on this host, the bounds on rule
/// components and their compilation, and the size of the compilation
/// cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorLimits {
    /// The largest limits any campaign may ask for.
    pub maximum: Limits,
    /// Largest rule component accepted, in bytes. Default 16 MiB.
    pub max_component_bytes: usize,
    /// What compiling one rule component may cost.
    pub compile: CompileLimits,
    /// Bytes the compilation cache may take on disk; the least recently
    /// used entries are removed past it. Default 512 MiB.
    pub max_cache_bytes: u64,
}

impl Default for OperatorLimits {
    fn default() -> Self {
        OperatorLimits {
            maximum: Limits {
                fuel: 1_000_000_000,
                timeout: Duration::from_secs(1),
                memory_bytes: 256 << 20,
                max_segments: 256,
                max_id_bytes: 256,
                max_reasons: 128,
                max_log_bytes: 64 << 10,
            },
            max_component_bytes: 16 << 20,
            compile: CompileLimits::default(),
            max_cache_bytes: 512 << 20,
        }
    }
}

/// What a campaign asks for in its `[limits]` table. Every field is optional;
/// an absent one takes the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    /// Instruction budget per evaluation.
    pub fuel: Option<u64>,
    /// Deadline per evaluation, in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Memory cap in MiB.
    pub memory_mib: Option<usize>,
    /// Maximum segments per decision.
    pub max_segments: Option<usize>,
    /// Maximum id length in bytes.
    pub max_id_bytes: Option<usize>,
    /// Maximum reason codes per decision.
    pub max_reasons: Option<usize>,
    /// Log bytes kept per evaluation.
    pub max_log_bytes: Option<usize>,
}

/// A requested limit that exceeded the operator's ceiling and was lowered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clamped {
    /// The limit's name as written in the campaign.
    pub name: &'static str,
    /// What the campaign asked for.
    pub requested: u128,
    /// What it got.
    pub granted: u128,
}

impl OperatorLimits {
    /// The limits a campaign runs under: its requests, defaults for what it
    /// leaves out, each lowered to the operator's maximum. Also returns every
    /// request that was lowered, so the caller can say so.
    pub fn resolve(&self, requested: &RequestedLimits) -> (Limits, Vec<Clamped>) {
        resolve_within(requested, &self.maximum)
    }

    /// A tenant's ceiling: what the tenant asked for in each field, the
    /// operator's maximum for what it left out, each lowered to the
    /// operator's maximum. Also returns every request that was lowered.
    pub fn tenant_ceiling(&self, requested: &RequestedLimits) -> (Limits, Vec<Clamped>) {
        let mut asked = requested.clone();
        let max = &self.maximum;
        asked.fuel.get_or_insert(max.fuel);
        asked
            .timeout_ms
            .get_or_insert(max.timeout.as_millis() as u64);
        asked.memory_mib.get_or_insert(max.memory_bytes >> 20);
        asked.max_segments.get_or_insert(max.max_segments);
        asked.max_id_bytes.get_or_insert(max.max_id_bytes);
        asked.max_reasons.get_or_insert(max.max_reasons);
        asked.max_log_bytes.get_or_insert(max.max_log_bytes);
        resolve_within(&asked, max)
    }
}

/// The limits a campaign runs under below `ceiling`: its requests, defaults
/// for what it leaves out, each lowered to the ceiling. Also returns every
/// request that was lowered, so the caller can say so.
pub fn resolve_within(requested: &RequestedLimits, ceiling: &Limits) -> (Limits, Vec<Clamped>) {
    let defaults = Limits::default();
    let max = ceiling;
    let mut clamped = Vec::new();
    let mut pick = |name: &'static str, asked: Option<u128>, default: u128, ceiling: u128| {
        let want = asked.unwrap_or(default);
        if want > ceiling {
            if asked.is_some() {
                clamped.push(Clamped {
                    name,
                    requested: want,
                    granted: ceiling,
                });
            }
            ceiling
        } else {
            want
        }
    };
    let ms = |d: Duration| d.as_millis();
    let limits = Limits {
        fuel: pick(
            "fuel",
            requested.fuel.map(u128::from),
            defaults.fuel.into(),
            max.fuel.into(),
        ) as u64,
        timeout: Duration::from_millis(pick(
            "timeout_ms",
            requested.timeout_ms.map(u128::from),
            ms(defaults.timeout),
            ms(max.timeout),
        ) as u64),
        memory_bytes: pick(
            "memory_mib",
            requested.memory_mib.map(|mib| (mib as u128) << 20),
            defaults.memory_bytes as u128,
            max.memory_bytes as u128,
        ) as usize,
        max_segments: pick(
            "max_segments",
            requested.max_segments.map(|n| n as u128),
            defaults.max_segments as u128,
            max.max_segments as u128,
        ) as usize,
        max_id_bytes: pick(
            "max_id_bytes",
            requested.max_id_bytes.map(|n| n as u128),
            defaults.max_id_bytes as u128,
            max.max_id_bytes as u128,
        ) as usize,
        max_reasons: pick(
            "max_reasons",
            requested.max_reasons.map(|n| n as u128),
            defaults.max_reasons as u128,
            max.max_reasons as u128,
        ) as usize,
        max_log_bytes: pick(
            "max_log_bytes",
            requested.max_log_bytes.map(|n| n as u128),
            defaults.max_log_bytes as u128,
            max.max_log_bytes as u128,
        ) as usize,
    };
    (limits, clamped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_requested_gives_defaults() {
        let (limits, clamped) = OperatorLimits::default().resolve(&RequestedLimits::default());
        assert_eq!(limits, Limits::default());
        assert!(clamped.is_empty());
    }

    #[test]
    fn requests_below_the_ceiling_are_granted() {
        let asked = RequestedLimits {
            fuel: Some(1_000),
            timeout_ms: Some(5),
            ..Default::default()
        };
        let (limits, clamped) = OperatorLimits::default().resolve(&asked);
        assert_eq!(limits.fuel, 1_000);
        assert_eq!(limits.timeout, Duration::from_millis(5));
        assert!(clamped.is_empty());
    }

    #[test]
    fn requests_above_the_ceiling_are_lowered_and_reported() {
        let asked = RequestedLimits {
            memory_mib: Some(4096),
            ..Default::default()
        };
        let (limits, clamped) = OperatorLimits::default().resolve(&asked);
        assert_eq!(limits.memory_bytes, 256 << 20);
        assert_eq!(clamped.len(), 1);
        assert_eq!(clamped[0].name, "memory_mib");
    }

    #[test]
    fn a_tenant_ceiling_lowers_campaign_requests_within_the_operator_maximum() {
        let operator = OperatorLimits::default();
        let (ceiling, clamped) = operator.tenant_ceiling(&RequestedLimits {
            fuel: Some(2_000_000),
            memory_mib: Some(100_000),
            ..Default::default()
        });
        assert_eq!(ceiling.fuel, 2_000_000);
        assert_eq!(ceiling.memory_bytes, 256 << 20);
        assert_eq!(ceiling.timeout, Duration::from_secs(1));
        assert_eq!(clamped.len(), 1);
        assert_eq!(clamped[0].name, "memory_mib");
        let (limits, clamped) = resolve_within(
            &RequestedLimits {
                fuel: Some(5_000_000),
                ..Default::default()
            },
            &ceiling,
        );
        assert_eq!(limits.fuel, 2_000_000);
        assert_eq!(clamped[0].granted, 2_000_000);
        // Defaults above the tenant's ceiling are lowered without a warning.
        let (limits, clamped) = resolve_within(&RequestedLimits::default(), &ceiling);
        assert_eq!(limits.fuel, 2_000_000);
        assert!(clamped.is_empty());
    }

    #[test]
    fn a_lower_operator_ceiling_lowers_defaults_silently() {
        let mut operator = OperatorLimits::default();
        operator.maximum.fuel = 500;
        let (limits, clamped) = operator.resolve(&RequestedLimits::default());
        assert_eq!(limits.fuel, 500);
        assert!(clamped.is_empty());
    }
}
