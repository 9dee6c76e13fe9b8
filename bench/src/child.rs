//! Running a program and reading its wall time and peak memory.

use std::process::Command;
use std::time::{Duration, Instant};

/// How a finished child process went.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// Peak resident memory, bytes.
    pub peak_rss: u64,
    /// Whether it exited with status 0.
    pub success: bool,
}

/// Runs `command` to completion, measuring it with `wait4`.
pub fn run_measured(command: &mut Command) -> std::io::Result<Finished> {
    let started = Instant::now();
    let child = command.spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for; both pointers are
    // valid for the duration of the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    if waited != pid {
        return Err(std::io::Error::last_os_error());
    }
    // The child is reaped; dropping its handle does not wait again.
    drop(child);
    Ok(Finished {
        elapsed,
        peak_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_and_memory_are_reported() {
        let ok = run_measured(&mut Command::new("true")).unwrap();
        assert!(ok.success);
        assert!(ok.peak_rss > 0);
        let failed = run_measured(&mut Command::new("false")).unwrap();
        assert!(!failed.success);
    }
}
