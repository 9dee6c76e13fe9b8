//! The evaluation deadline, measured in CPU time of the evaluating thread.
//!
//! The epoch ticker only says when to look: each time an evaluation's epoch
//! deadline passes, [`Deadline::check`] compares the CPU time the thread has
//! spent on it with the limit and either ends the evaluation or asks to be
//! woken again when the rest could be used up. Time the thread spends
//! waiting for a CPU on a busy machine does not count, so whether a rule
//! finishes does not depend on how busy the machine is; a host that cannot
//! keep up gets slower, not different answers. A wall-clock backstop of
//! [`WALL_CLOCK_BACKSTOP`] times the limit still ends an evaluation whose
//! thread is stopped for a long time; since the rule had CPU time left,
//! that ending is the host's problem ([`Deadline::stalled`]), never the
//! rule's timeout.

use std::time::{Duration, Instant};

/// The wall-clock backstop, as a multiple of the CPU-time limit.
pub const WALL_CLOCK_BACKSTOP: u32 = 10;

/// CPU time consumed by the calling thread since it started.
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID
    // is supported by every Linux kernel the host runs on.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// What to do when an evaluation's epoch deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineCheck {
    /// The limit is spent: end the evaluation.
    Expired,
    /// Look again after this much more time at the earliest.
    Remaining(Duration),
}

/// The deadline of the evaluation running in one store.
#[derive(Debug, Clone)]
pub struct Deadline {
    limit: Duration,
    cpu_start: Duration,
    wall_start: Instant,
    /// When the thread's CPU time was last read rather than estimated.
    measured_at: Instant,
}

impl Deadline {
    /// A deadline of `limit` CPU time starting now, on the calling thread.
    pub fn start(limit: Duration) -> Self {
        let now = Instant::now();
        Deadline {
            limit,
            cpu_start: thread_cpu_time(),
            wall_start: now,
            measured_at: now,
        }
    }

    /// The same limit again from now, for the next recipient of a batch,
    /// mostly without asking the kernel for the thread's CPU time (a system
    /// call of about half a microsecond, a large part of a recipient's cost
    /// in a batch): the CPU time spent since the last start is taken to be
    /// the wall time since then, which it never exceeds. The estimate is
    /// replaced by a measurement whenever a tenth of the limit has passed
    /// since the last one, so the time the thread spent waiting for a CPU
    /// can add at most that to any recipient's allowance.
    pub fn restart(&mut self) {
        let now = Instant::now();
        if now - self.measured_at >= self.limit / 10 {
            self.cpu_start = thread_cpu_time();
            self.measured_at = now;
        } else {
            self.cpu_start += now - self.wall_start;
        }
        self.wall_start = now;
    }

    /// The CPU-time limit.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// CPU time the calling thread has spent since the deadline started.
    pub fn cpu_spent(&self) -> Duration {
        thread_cpu_time().saturating_sub(self.cpu_start)
    }

    /// Whether an evaluation that was ended had CPU time left: the
    /// wall-clock backstop ended it because its thread could not run, not
    /// the rule. Call it on the evaluating thread.
    pub fn stalled(&self) -> bool {
        self.cpu_spent() < self.limit
    }

    /// Whether the limit is spent, measured on the calling thread (the one
    /// running the evaluation: wasmtime calls the epoch callback on it).
    pub fn check(&self) -> DeadlineCheck {
        let cpu = self.cpu_spent();
        let wall = self.wall_start.elapsed();
        let backstop = self.limit.saturating_mul(WALL_CLOCK_BACKSTOP);
        if cpu >= self.limit || wall >= backstop {
            return DeadlineCheck::Expired;
        }
        DeadlineCheck::Remaining((self.limit - cpu).min(backstop - wall))
    }
}

impl Default for Deadline {
    fn default() -> Self {
        Deadline::start(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin_for_cpu(cpu: Duration) {
        let start = thread_cpu_time();
        let mut counter = 0u64;
        while thread_cpu_time() - start < cpu {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }

    #[test]
    fn time_spent_asleep_does_not_count() {
        let deadline = Deadline::start(Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        match deadline.check() {
            DeadlineCheck::Remaining(left) => {
                assert!(left > Duration::from_millis(10), "{left:?}")
            }
            DeadlineCheck::Expired => panic!("40 ms asleep used up a 20 ms CPU deadline"),
        }
    }

    #[test]
    fn time_asleep_before_a_restart_is_not_credited_for_long() {
        let mut deadline = Deadline::start(Duration::from_millis(20));
        // Asleep for 10× the limit between two recipients: the restart
        // measures, so none of it becomes CPU time the next one may use.
        std::thread::sleep(Duration::from_millis(200));
        deadline.restart();
        spin_for_cpu(Duration::from_millis(25));
        assert_eq!(deadline.check(), DeadlineCheck::Expired);
    }

    #[test]
    fn a_restarted_deadline_gives_the_full_limit_again() {
        let mut deadline = Deadline::start(Duration::from_millis(20));
        spin_for_cpu(Duration::from_millis(15));
        deadline.restart();
        spin_for_cpu(Duration::from_millis(15));
        // 30 ms in all, but only 15 since the restart.
        assert!(matches!(deadline.check(), DeadlineCheck::Remaining(_)));
        spin_for_cpu(Duration::from_millis(10));
        assert_eq!(deadline.check(), DeadlineCheck::Expired);
    }

    #[test]
    fn cpu_time_spent_counts() {
        let deadline = Deadline::start(Duration::from_millis(20));
        spin_for_cpu(Duration::from_millis(25));
        assert_eq!(deadline.check(), DeadlineCheck::Expired);
    }

    #[test]
    fn the_wall_clock_backstop_ends_a_stopped_evaluation() {
        let deadline = Deadline::start(Duration::from_millis(2));
        std::thread::sleep(Duration::from_millis(25));
        assert_eq!(deadline.check(), DeadlineCheck::Expired);
        assert!(deadline.stalled(), "it ended with CPU time left");
    }

    #[test]
    fn a_deadline_spent_on_the_cpu_is_not_a_stall() {
        let deadline = Deadline::start(Duration::from_millis(5));
        spin_for_cpu(Duration::from_millis(6));
        assert!(!deadline.stalled());
    }
}
