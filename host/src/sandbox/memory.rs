//! The per-evaluation memory cap.

use wasmtime::ResourceLimiter;

/// Refuses memory growth past a byte limit and remembers that it did, so the
/// resulting trap can be reported as "memory limit" (wasmtime surfaces it as
/// a plain error, not a `Trap`).
#[derive(Debug, Clone)]
pub struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
}

/// The error a refused memory growth traps with.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {max_bytes} bytes reached (asked for {desired} bytes)")]
pub struct MemoryLimitExceeded {
    /// The limit.
    pub max_bytes: usize,
    /// What the guest asked for.
    pub desired: usize,
}

impl MemoryLimiter {
    /// A limiter allowing `max_bytes` of linear memory per memory.
    pub fn new(max_bytes: usize) -> Self {
        MemoryLimiter {
            max_bytes,
            hit: false,
        }
    }

    /// Whether a growth was refused.
    pub fn was_hit(&self) -> bool {
        self.hit
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Err(MemoryLimitExceeded {
                max_bytes: self.max_bytes,
                desired,
            }
            .into());
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any
        // real rule and keeps a table bomb from taking host memory.
        Ok(desired <= 100_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_past_the_limit_is_refused_and_remembered() {
        let mut limiter = MemoryLimiter::new(1 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!limiter.was_hit());
        assert!(limiter.memory_growing(1 << 20, 2 << 20, None).is_err());
        assert!(limiter.was_hit());
    }
}
