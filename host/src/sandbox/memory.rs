//! The per-evaluation memory cap.

use wasmtime::ResourceLimiter;

/// Refuses memory growth past a byte limit and remembers that it did. A
/// refused `memory.grow` returns -1 to the guest, as WebAssembly specifies,
/// so a rule may handle it and go on; a rule that cannot (an allocator
/// aborting) traps, and the trap is reported as "memory limit". Memory the
/// module asks for at instantiation fails instantiation instead.
#[derive(Debug, Clone)]
pub struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
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

    /// Forgets refused growth, for the next evaluation in the same store.
    pub fn reset(&mut self) {
        self.hit = false;
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
            return Ok(false);
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
        assert!(!limiter.memory_growing(1 << 20, 2 << 20, None).unwrap());
        assert!(limiter.was_hit());
        limiter.reset();
        assert!(!limiter.was_hit());
    }
}
