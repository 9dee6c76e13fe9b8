//! Running a program and reading its wall time, CPU time and peak memory.
//!
//! CPU time (user + system) is what `getrusage(RUSAGE_CHILDREN)` gains
//! between the spawn and the wait: the program's, its threads' and those of
//! whatever it waited for; the harness runs one child at a time.
//!
//! Peak memory is read from `/proc/<pid>/status` (`VmHWM`, the high-water
//! mark of the program's own address space) while it runs. The `wait4`
//! figure is no use here: Linux carries the spawning process's high-water
//! mark across `exec` into the child's `ru_maxrss`.

use std::process::Command;
use std::time::{Duration, Instant};

/// How often the high-water mark is read.
const POLL: Duration = Duration::from_millis(5);

/// How a finished child process went.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
    /// User plus system CPU time, every thread of it.
    pub cpu: Duration,
    /// Peak resident memory, bytes (as last read before the exit).
    pub peak_rss: u64,
    /// Whether it exited with status 0.
    pub success: bool,
}

/// `VmHWM` of process `pid`, in bytes, while it has an address space.
fn high_water_mark(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// User plus system CPU time of this process's children that have ended
/// and been waited for.
fn children_cpu() -> Duration {
    // SAFETY: a zeroed `rusage` is a valid value, and getrusage only writes
    // into the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// Runs `command` to completion, measuring it.
pub fn run_measured(command: &mut Command) -> std::io::Result<Finished> {
    let cpu_before = children_cpu();
    let started = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(hwm) = high_water_mark(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(POLL);
    };
    Ok(Finished {
        elapsed: started.elapsed(),
        cpu: children_cpu().saturating_sub(cpu_before),
        peak_rss: peak,
        success: status.success(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_and_the_programs_own_memory_are_reported() {
        // A parent holding a lot of memory must not inflate the child's peak.
        let ballast = vec![1u8; 200 << 20];
        let ok = run_measured(Command::new("sleep").arg("0.1")).unwrap();
        assert!(ok.success);
        assert!(ok.peak_rss > 0);
        assert!(ok.peak_rss < 100 << 20, "{} bytes", ok.peak_rss);
        assert!(ok.elapsed >= Duration::from_millis(100));
        std::hint::black_box(&ballast);
        let failed = run_measured(&mut Command::new("false")).unwrap();
        assert!(!failed.success);
    }

    #[test]
    fn the_cpu_time_of_the_program_and_what_it_waited_for_is_counted() {
        let idle = run_measured(Command::new("sleep").arg("0.2")).unwrap();
        assert!(idle.cpu < idle.elapsed, "{:?} of CPU", idle.cpu);
        let busy = run_measured(
            Command::new("sh")
                .arg("-c")
                .arg("head -c 50000000 /dev/zero | sha256sum >/dev/null"),
        )
        .unwrap();
        assert!(busy.success);
        assert!(busy.cpu > idle.cpu, "{:?} against {:?}", busy.cpu, idle.cpu);
    }
}
