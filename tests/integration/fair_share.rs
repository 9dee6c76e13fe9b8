//! Tenants sharing the evaluation workers: a neighbour whose rule loops to
//! its deadline on every profile changes nothing in another tenant's
//! outcomes and gets no more than its share of the workers.

use std::time::Duration;

use mailrules::fair_share::FairScheduler;
use mailrules_integration::noisy::{self, NOISY, Noisy, QUIET};
use mailrules_integration::{generator, now, rule};

use crate::harness::{evaluate, example_campaign};

/// `(cpu, worker time)` of `tenant`.
fn used(scheduler: &FairScheduler, tenant: &str) -> (Duration, Duration) {
    scheduler
        .tenant_usage(tenant)
        .map_or((Duration::ZERO, Duration::ZERO), |u| (u.cpu, u.worker_time))
}

#[test]
fn a_looping_neighbour_changes_nothing_and_gets_only_its_share() {
    let _alone = crate::harness::cpu_heavy();
    let profiles = generator::profiles(10_000, 2_026, now());
    let alone: Vec<String> = evaluate(&rule("seed-segments"), example_campaign(), &profiles, 2)
        .iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect();

    let engine = noisy::engine();
    let scheduler = FairScheduler::new(2);
    let noisy = Noisy::start(&scheduler, &noisy::noisy_evaluator(&engine));
    while used(&scheduler, NOISY).0.is_zero() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let quiet = noisy::quiet_evaluator(&engine);
    let records = noisy::records(&profiles);
    let (together, before, after) = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let mut lines = Vec::new();
            noisy::evaluate(&scheduler, QUIET, &quiet, records, |outcome| {
                lines.push(serde_json::to_string(&outcome).unwrap());
                Ok::<(), ()>(())
            })
            .unwrap();
            let after = (used(&scheduler, QUIET), used(&scheduler, NOISY));
            (lines, after)
        });
        // Both are busy from the quiet tenant's first job on.
        while used(&scheduler, QUIET).0.is_zero() && !run.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let before = (used(&scheduler, QUIET), used(&scheduler, NOISY));
        let (lines, after) = run.join().unwrap();
        (lines, before, after)
    });
    let report = noisy.stop();

    assert_eq!(together.len(), alone.len());
    if let Some(i) = (0..alone.len()).find(|&i| together[i] != alone[i]) {
        panic!(
            "outcome {i} differs:\nalone:    {}\ntogether: {}",
            alone[i], together[i]
        );
    }
    assert!(
        together.iter().all(|line| !line.contains("timeout")),
        "a quiet outcome timed out"
    );
    assert!(report.outcomes > 0);
    assert_eq!(report.not_timeouts, Vec::<String>::new());

    let share = |pick: fn(&(Duration, Duration)) -> Duration| {
        let quiet = pick(&after.0).saturating_sub(pick(&before.0)).as_secs_f64();
        let noisy = pick(&after.1).saturating_sub(pick(&before.1)).as_secs_f64();
        quiet / (quiet + noisy)
    };
    let cpu_share = share(|u| u.0);
    let worker_share = share(|u| u.1);
    eprintln!(
        "quiet tenant's share while both were busy: {cpu_share:.3} of worker CPU time, \
         {worker_share:.3} of worker time; noisy outcomes: {}",
        report.outcomes
    );
    assert!(cpu_share >= 0.40, "CPU share {cpu_share:.3}");
    assert!(worker_share >= 0.45, "worker-time share {worker_share:.3}");
}
