//! A noisy neighbour: the reference pack's throughput through a shared
//! [`FairScheduler`] alone, and with another tenant whose rule loops to its
//! 100 ms deadline on every profile, in one run.

use std::time::{Duration, Instant};

use mailrules::fair_share::FairScheduler;
use mailrules_integration::noisy::{self, NOISY, Noisy, QUIET};

use crate::fixture::Fixture;
use crate::measure::count;
use crate::report::Table;

/// Profiles of the quiet tenant per run: enough that the wait for its
/// first worker (at most one of the neighbour's jobs, one deadline) is a
/// small part of the run.
const PROFILES: usize = 50_000;

/// The share of its fair share the quiet tenant should keep.
const TARGET: f64 = 0.8;

/// Profiles per second of the quiet tenant, and its CPU and worker-time
/// shares while both ran (1.0 when alone).
struct Run {
    per_second: f64,
    /// From the call to its first job running.
    first_wait: Duration,
    cpu_share: f64,
    worker_share: f64,
}

fn used(scheduler: &FairScheduler, tenant: &str) -> (Duration, Duration) {
    scheduler
        .tenant_usage(tenant)
        .map_or((Duration::ZERO, Duration::ZERO), |u| (u.cpu, u.worker_time))
}

/// One pass of the quiet tenant over `profiles`, with or without the
/// noisy one, on a fresh two-worker scheduler.
fn quiet_run(profiles: &[serde_json::Value], with_noisy: bool) -> anyhow::Result<Run> {
    let engine = noisy::engine();
    let scheduler = FairScheduler::new(2);
    let neighbour = with_noisy.then(|| Noisy::start(&scheduler, &noisy::noisy_evaluator(&engine)));
    if neighbour.is_some() {
        while used(&scheduler, NOISY).0.is_zero() {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let quiet = noisy::quiet_evaluator(&engine);
    let records = noisy::records(profiles);
    let before = (used(&scheduler, QUIET), used(&scheduler, NOISY));
    let started = Instant::now();
    let mut sent = 0usize;
    let (result, first_wait) = std::thread::scope(|scope| {
        let call = scope.spawn(|| {
            noisy::evaluate(&scheduler, QUIET, &quiet, records, |outcome| {
                sent += usize::from(outcome.status.sends());
                Ok::<(), std::convert::Infallible>(())
            })
            .map(|_| started.elapsed())
        });
        let running = |s: &FairScheduler| {
            s.tenant_usage(QUIET)
                .is_some_and(|u| u.running > 0 || u.jobs_run > 0)
        };
        while !running(&scheduler) && !call.is_finished() {
            std::thread::sleep(Duration::from_micros(200));
        }
        let first_wait = started.elapsed();
        (call.join().expect("the quiet tenant's call"), first_wait)
    });
    let elapsed = result.map_err(|e| anyhow::anyhow!("{e}"))?;
    let after = (used(&scheduler, QUIET), used(&scheduler, NOISY));
    if let Some(neighbour) = neighbour {
        let report = neighbour.stop();
        anyhow::ensure!(
            report.not_timeouts.is_empty(),
            "a noisy outcome was not a timeout: {}",
            report.not_timeouts[0]
        );
    }
    std::hint::black_box(sent);
    let share = |pick: fn(&(Duration, Duration)) -> Duration| {
        let quiet = pick(&after.0).saturating_sub(pick(&before.0)).as_secs_f64();
        let noisy = pick(&after.1).saturating_sub(pick(&before.1)).as_secs_f64();
        quiet / (quiet + noisy)
    };
    Ok(Run {
        per_second: profiles.len() as f64 / elapsed.as_secs_f64(),
        first_wait,
        cpu_share: share(|u| u.0),
        worker_share: share(|u| u.1),
    })
}

/// Alone, then with the looping neighbour, `rounds` times in turn; each
/// keeps its best round.
pub fn run(fixture: &Fixture, rounds: usize) -> anyhow::Result<Table> {
    let profiles = mailrules_integration::generator::profiles(PROFILES, 2_026, fixture.now);
    let mut alone: Option<Run> = None;
    let mut together: Option<Run> = None;
    for _ in 0..rounds.max(1) {
        let a = quiet_run(&profiles, false)?;
        if alone
            .as_ref()
            .is_none_or(|best| a.per_second > best.per_second)
        {
            alone = Some(a);
        }
        let t = quiet_run(&profiles, true)?;
        if together
            .as_ref()
            .is_none_or(|best| t.per_second > best.per_second)
        {
            together = Some(t);
        }
    }
    let (alone, together) = (alone.expect("one round"), together.expect("one round"));
    let mut table = Table::new(
        "6. Noisy neighbour",
        &format!(
            "The reference pack on {} generated profiles (chunks of up to {}) through one \
             two-worker `FairScheduler`, alone and while another tenant runs `misbehaving` \
             on `loop` profiles (each to its 100 ms deadline), best of {} rounds each. \
             *Share of fair share* is the throughput with the neighbour over half the \
             throughput alone (target ≥ {TARGET}); the CPU and worker-time shares are the \
             quiet tenant's part of what both used during its run, from the scheduler's \
             accounting; *first job after* is how long its call waited for a worker (jobs \
             are not preempted: up to one of the neighbour's, one deadline).",
            count(profiles.len() as f64),
            noisy::CHUNK,
            rounds.max(1)
        ),
        &[
            "quiet tenant",
            "profiles/s",
            "share of fair share",
            "CPU share",
            "worker-time share",
            "first job after ms",
        ],
    );
    table.row(vec![
        "alone".into(),
        count(alone.per_second),
        "—".into(),
        format!("{:.2}", alone.cpu_share),
        format!("{:.2}", alone.worker_share),
        format!("{:.1}", alone.first_wait.as_secs_f64() * 1e3),
    ]);
    table.row(vec![
        "with a neighbour looping to its deadline".into(),
        count(together.per_second),
        format!("{:.2}", together.per_second / (alone.per_second * 0.5)),
        format!("{:.2}", together.cpu_share),
        format!("{:.2}", together.worker_share),
        format!("{:.1}", together.first_wait.as_secs_f64() * 1e3),
    ]);
    Ok(table)
}
