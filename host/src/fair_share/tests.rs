//! The policy checked with synthetic jobs that spin for a fixed CPU time.
//! Assertions are on CPU-time ratios and counts, which do not depend on
//! how busy the machine is; the waits only decide when to look.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::sandbox::thread_cpu_time;

/// Uses `cpu` of CPU time on the calling thread.
fn spin(cpu: Duration) {
    let start = thread_cpu_time();
    while thread_cpu_time().saturating_sub(start) < cpu {
        std::hint::spin_loop();
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Serialises the tests that measure shares, so their calling threads do
/// not wait for a CPU behind one another's workers.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALONE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// CPU time of `tenant` so far.
fn cpu(scheduler: &FairScheduler, tenant: &str) -> Duration {
    scheduler
        .tenant_usage(tenant)
        .map_or(Duration::ZERO, |u| u.cpu)
}

/// Waits until `done` holds, looking every few milliseconds.
fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        std::thread::sleep(ms(2));
    }
}

/// A tenant submitting items that each take `item` of CPU time, one item
/// per chunk, until `stop` is set.
fn busy_tenant(
    scheduler: &Arc<FairScheduler>,
    tenant: &'static str,
    item: Duration,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<CallUsage> {
    let (scheduler, stop) = (scheduler.clone(), stop.clone());
    std::thread::spawn(move || {
        let items = std::iter::repeat(()).take_while(|_| !stop.load(Ordering::Relaxed));
        scheduler
            .map_ordered(
                tenant,
                items,
                1,
                move |_, chunk: Vec<()>| {
                    chunk.iter().for_each(|_| spin(item));
                    chunk
                },
                |_| Ok::<(), ()>(()),
            )
            .expect("no failure")
    })
}

/// What a tenant has used: CPU time and worker time.
type Reading = (Duration, Duration);

fn readings(scheduler: &FairScheduler, tenants: &[&str]) -> Vec<Reading> {
    tenants
        .iter()
        .map(|t| {
            scheduler
                .tenant_usage(t)
                .map_or((Duration::ZERO, Duration::ZERO), |u| (u.cpu, u.worker_time))
        })
        .collect()
}

/// Each tenant's share of what `pick` measures, between two readings.
fn shares(before: &[Reading], after: &[Reading], pick: fn(&Reading) -> Duration) -> Vec<f64> {
    let deltas: Vec<f64> = before
        .iter()
        .zip(after)
        .map(|(b, a)| pick(a).saturating_sub(pick(b)).as_secs_f64())
        .collect();
    let total: f64 = deltas.iter().sum();
    deltas.iter().map(|d| d / total).collect()
}

fn cpu_of(reading: &Reading) -> Duration {
    reading.0
}

fn worker_time_of(reading: &Reading) -> Duration {
    reading.1
}

// Policy 3 shares out the workers; how much CPU each worker thread gets is
// up to the operating system, so with two workers the assertion is on
// worker time. With one worker both tenants run on the same thread and
// their CPU times compare directly.
#[test]
fn two_busy_tenants_split_the_workers_evenly() {
    let _alone = alone();
    let scheduler = FairScheduler::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let a = busy_tenant(&scheduler, "a", ms(2), &stop);
    wait_until(|| cpu(&scheduler, "a") > Duration::ZERO);
    let b = busy_tenant(&scheduler, "b", ms(2), &stop);
    wait_until(|| cpu(&scheduler, "b") > Duration::ZERO);
    let before = readings(&scheduler, &["a", "b"]);
    wait_until(|| cpu(&scheduler, "b") > before[1].0 + ms(500));
    let after = readings(&scheduler, &["a", "b"]);
    stop.store(true, Ordering::Relaxed);
    a.join().unwrap();
    b.join().unwrap();
    let shares = shares(&before, &after, worker_time_of);
    for share in &shares {
        assert!((0.45..=0.55).contains(share), "a, b: {shares:?}");
    }
}

#[test]
fn long_jobs_do_not_crowd_out_short_ones() {
    let _alone = alone();
    let scheduler = FairScheduler::new(2);
    let stop = Arc::new(AtomicBool::new(false));
    let short = busy_tenant(&scheduler, "short", ms(1), &stop);
    wait_until(|| cpu(&scheduler, "short") > Duration::ZERO);
    let before = readings(&scheduler, &["long", "short"]);
    let long = scheduler
        .map_ordered(
            "long",
            0..6,
            1,
            |_, chunk: Vec<i32>| {
                spin(ms(200));
                chunk
            },
            |_| Ok::<(), ()>(()),
        )
        .unwrap();
    let after = readings(&scheduler, &["long", "short"]);
    stop.store(true, Ordering::Relaxed);
    short.join().unwrap();
    assert_eq!((long.jobs, long.items), (6, 6));
    assert!(long.cpu >= ms(1200), "{long:?}");
    let shares = shares(&before, &after, worker_time_of);
    assert!(shares[1] >= 0.45, "long, short: {shares:?}");
}

#[test]
fn two_busy_tenants_split_one_worker_s_cpu_evenly() {
    let _alone = alone();
    let scheduler = FairScheduler::new(1);
    let stop = Arc::new(AtomicBool::new(false));
    let a = busy_tenant(&scheduler, "a", ms(2), &stop);
    let b = busy_tenant(&scheduler, "b", ms(2), &stop);
    wait_until(|| cpu(&scheduler, "a") > Duration::ZERO && cpu(&scheduler, "b") > Duration::ZERO);
    let before = readings(&scheduler, &["a", "b"]);
    wait_until(|| cpu(&scheduler, "b") > before[1].0 + ms(300));
    let after = readings(&scheduler, &["a", "b"]);
    stop.store(true, Ordering::Relaxed);
    a.join().unwrap();
    b.join().unwrap();
    let shares = shares(&before, &after, cpu_of);
    for share in &shares {
        assert!((0.45..=0.55).contains(share), "a, b: {shares:?}");
    }
}

#[test]
fn on_one_worker_the_least_served_tenant_goes_next() {
    let _alone = alone();
    // Round robin would give the 10 ms jobs 91% of the worker.
    let scheduler = FairScheduler::new(1);
    let stop = Arc::new(AtomicBool::new(false));
    let big = busy_tenant(&scheduler, "big", ms(10), &stop);
    let small = busy_tenant(&scheduler, "small", ms(1), &stop);
    wait_until(|| {
        cpu(&scheduler, "big") > Duration::ZERO && cpu(&scheduler, "small") > Duration::ZERO
    });
    let before = readings(&scheduler, &["big", "small"]);
    wait_until(|| cpu(&scheduler, "small") > before[1].0 + ms(400));
    let after = readings(&scheduler, &["big", "small"]);
    stop.store(true, Ordering::Relaxed);
    big.join().unwrap();
    small.join().unwrap();
    let shares = shares(&before, &after, cpu_of);
    for share in &shares {
        assert!((0.45..=0.55).contains(share), "big, small: {shares:?}");
    }
}

#[test]
fn idling_banks_no_credit() {
    let _alone = alone();
    // "late" has used nothing when it arrives; had it kept virtual time 0,
    // it would have the only worker to itself for the 300 ms "early" used.
    let scheduler = FairScheduler::new(1);
    let stop = Arc::new(AtomicBool::new(false));
    let early = busy_tenant(&scheduler, "early", ms(1), &stop);
    wait_until(|| cpu(&scheduler, "early") > ms(300));
    let late = busy_tenant(&scheduler, "late", ms(1), &stop);
    wait_until(|| cpu(&scheduler, "late") > Duration::ZERO);
    let before = readings(&scheduler, &["early", "late"]);
    wait_until(|| cpu(&scheduler, "late") > before[1].0 + ms(150));
    let after = readings(&scheduler, &["early", "late"]);
    stop.store(true, Ordering::Relaxed);
    early.join().unwrap();
    late.join().unwrap();
    let shares = shares(&before, &after, cpu_of);
    assert!((0.4..=0.6).contains(&shares[0]), "early, late: {shares:?}");
}

#[test]
fn results_come_back_in_input_order() {
    let scheduler = FairScheduler::new(2);
    let mut out = Vec::new();
    let usage = scheduler
        .map_ordered(
            "t",
            0..500u64,
            7,
            |first, chunk: Vec<u64>| {
                // Later chunks are often quicker than earlier ones.
                spin(Duration::from_micros(100 * (7 - first % 7)));
                chunk.into_iter().map(|n| n * 2).collect()
            },
            |n| {
                out.push(n);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
    assert_eq!(out, (0..500u64).map(|n| n * 2).collect::<Vec<_>>());
    assert_eq!(usage.items, 500);
    let t = scheduler.tenant_usage("t").unwrap();
    assert_eq!((t.jobs_run, t.queued, t.running), (usage.jobs, 0, 0));
}

#[test]
fn chunks_start_at_one_item_and_stay_small_when_items_are_slow() {
    let scheduler = FairScheduler::new(2);
    let mut lens = Vec::new();
    scheduler
        .map_ordered(
            "t",
            0..100u32,
            16,
            |_, chunk: Vec<u32>| vec![chunk.len()],
            |len| {
                lens.push(len);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
    assert_eq!(lens[0], 1);
    assert_eq!(lens.iter().sum::<usize>(), 100);
    assert!(lens.contains(&16), "{lens:?}");
    let mut slow = Vec::new();
    scheduler
        .map_ordered(
            "t",
            0..6u32,
            16,
            |_, chunk: Vec<u32>| {
                spin(ms(15));
                vec![chunk.len()]
            },
            |len| {
                slow.push(len);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
    assert_eq!(slow, vec![1; 6]);
}

#[test]
fn a_sink_error_stops_the_call_early() {
    let scheduler = FairScheduler::new(2);
    let read = std::cell::Cell::new(0u64);
    let items = (0..100_000u64).inspect(|_| read.set(read.get() + 1));
    let mut handed = Vec::new();
    let result = scheduler.map_ordered(
        "t",
        items,
        4,
        |_, chunk: Vec<u64>| chunk,
        |n| {
            if n == 10 {
                return Err("full");
            }
            handed.push(n);
            Ok(())
        },
    );
    assert!(matches!(result, Err(MapError::Sink("full"))), "{result:?}");
    assert_eq!(handed, (0..10).collect::<Vec<_>>());
    // At most six chunks (two per worker and two) of at most four items
    // were read past the failure.
    assert!(read.get() <= 11 + 6 * 4, "read {}", read.get());
    let t = scheduler.tenant_usage("t").unwrap();
    assert_eq!((t.queued, t.running), (0, 0));
}

#[test]
fn a_panicking_job_fails_its_call_and_spares_the_workers() {
    let scheduler = FairScheduler::new(2);
    let mut handed = Vec::new();
    let result = scheduler.map_ordered(
        "t",
        0..40u64,
        1,
        |first, chunk: Vec<u64>| {
            assert!(first != 8, "boom at {first}");
            chunk
        },
        |n| {
            handed.push(n);
            Ok::<(), ()>(())
        },
    );
    match result {
        Err(MapError::Panicked { first: 8, message }) => assert_eq!(message, "boom at 8"),
        other => panic!("{other:?}"),
    }
    assert_eq!(handed, (0..8).collect::<Vec<_>>());
    // Fire-and-forget jobs that panic, enough for both workers to meet one.
    for _ in 0..20 {
        scheduler.submit("p", || {
            spin(ms(1));
            panic!("deliberate");
        });
    }
    // Both workers still take jobs.
    let names = scheduler
        .map_ordered(
            "t",
            0..200u64,
            1,
            |_, _: Vec<u64>| {
                spin(ms(1));
                vec![
                    std::thread::current()
                        .name()
                        .unwrap_or_default()
                        .to_string(),
                ]
            },
            |_| Ok::<(), ()>(()),
        )
        .map(|_| ());
    assert!(names.is_ok());
    let mut seen = std::collections::BTreeSet::new();
    scheduler
        .map_ordered(
            "names",
            0..200u64,
            1,
            |_, _: Vec<u64>| {
                spin(Duration::from_micros(500));
                vec![
                    std::thread::current()
                        .name()
                        .unwrap_or_default()
                        .to_string(),
                ]
            },
            |name| {
                seen.insert(name);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["mailrules-eval-0", "mailrules-eval-1"]
    );
    let p = scheduler.tenant_usage("p").unwrap();
    assert_eq!(
        (p.jobs_run, p.panicked, p.queued, p.running),
        (20, 20, 0, 0)
    );
}

#[test]
fn usage_counts_jobs_and_forgets_idle_tenants() {
    let remembering = FairScheduler::new(2);
    let usage = remembering
        .map_ordered("t", 0..3u8, 1, |_, c: Vec<u8>| c, |_| Ok::<(), ()>(()))
        .unwrap();
    assert_eq!((usage.jobs, usage.items), (3, 3));
    let t = remembering.usage();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (
            t[0].tenant.as_str(),
            t[0].jobs_run,
            t[0].panicked,
            t[0].queued,
            t[0].running
        ),
        ("t", 3, 0, 0, 0)
    );
    let forgetful = FairScheduler::with_idle_memory(2, Duration::ZERO);
    forgetful
        .map_ordered("t", 0..3u8, 1, |_, c: Vec<u8>| c, |_| Ok::<(), ()>(()))
        .unwrap();
    assert_eq!(forgetful.usage(), Vec::new());
}

#[test]
fn an_empty_input_runs_nothing() {
    let scheduler = FairScheduler::new(1);
    let usage = scheduler
        .map_ordered(
            "t",
            std::iter::empty::<u8>(),
            16,
            |_, c| c,
            |_| Ok::<(), ()>(()),
        )
        .unwrap();
    assert_eq!(usage, CallUsage::default());
    assert_eq!(scheduler.usage(), Vec::new());
}
