//! The CPU-time clock of a worker thread, readable from other threads, so
//! usage reports can include the part of a job that is still running.

use std::time::Duration;

/// A thread's CPU-time clock (`pthread_getcpuclockid`).
#[derive(Debug, Clone, Copy)]
pub(super) struct ThreadClock(libc::clockid_t);

impl ThreadClock {
    /// The calling thread's clock, when the system provides one.
    pub(super) fn of_current_thread() -> Option<Self> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self()` is the calling thread, alive for the
        // call, and `clock` is a valid, writable clockid_t.
        let status = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
        (status == 0).then_some(ThreadClock(clock))
    }

    /// CPU time the thread has used. The thread must still be running
    /// (the scheduler reads only the clocks of workers in the middle of a
    /// job, under the lock that keeps them from exiting).
    pub(super) fn read(&self) -> Duration {
        let mut now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `now` is a valid, writable timespec; the clock id came
        // from pthread_getcpuclockid for a thread that is still alive.
        let status = unsafe { libc::clock_gettime(self.0, &mut now) };
        if status != 0 {
            return Duration::ZERO;
        }
        Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
    }
}
