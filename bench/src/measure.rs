//! Timing side by side: every path runs once per round, in turn, and keeps
//! its best round, so a burst of load on a shared machine hits all paths
//! alike and spoils at most one round of each.

use std::time::{Duration, Instant};

/// One path under comparison: a name and a pass over the whole input that
/// returns how many items it handled and a checksum (so the work cannot be
/// optimized away).
pub struct Path<'a> {
    /// What it is.
    pub name: String,
    /// One pass over the input.
    pub pass: Box<dyn FnMut() -> (usize, usize) + 'a>,
}

impl<'a> Path<'a> {
    /// A path named `name` running `pass`.
    pub fn new(name: impl Into<String>, pass: impl FnMut() -> (usize, usize) + 'a) -> Self {
        Path {
            name: name.into(),
            pass: Box::new(pass),
        }
    }
}

/// The best time per item of each path, in nanoseconds, in the order given.
pub fn best_per_item(paths: &mut [Path<'_>], rounds: usize) -> Vec<f64> {
    let mut best = vec![f64::MAX; paths.len()];
    let mut checksum = 0usize;
    for _ in 0..rounds.max(1) {
        for (path, best) in paths.iter_mut().zip(best.iter_mut()) {
            let started = Instant::now();
            let (items, sum) = (path.pass)();
            checksum = checksum.wrapping_add(sum);
            *best = best.min(per_item(started.elapsed(), items));
        }
    }
    std::hint::black_box(checksum);
    best
}

/// Nanoseconds per item.
pub fn per_item(elapsed: Duration, items: usize) -> f64 {
    elapsed.as_nanos() as f64 / items.max(1) as f64
}

/// The smallest of `rounds` timings of `run`.
pub fn best_of(rounds: usize, mut run: impl FnMut()) -> Duration {
    (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// `value` as a ratio to `base`, e.g. `3.2×`.
pub fn ratio(value: f64, base: f64) -> String {
    format!("{:.2}×", value / base)
}

/// A count with thousands separators.
pub fn count(n: f64) -> String {
    let whole = n.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.4), "999");
        assert_eq!(count(1000.0), "1,000");
        assert_eq!(count(1_234_567.0), "1,234,567");
    }

    #[test]
    fn each_path_keeps_its_best_round() {
        let mut calls = 0;
        let mut paths = vec![Path::new("sleepy", || {
            calls += 1;
            std::thread::sleep(Duration::from_millis(if calls == 2 { 1 } else { 20 }));
            (1, 0)
        })];
        let best = best_per_item(&mut paths, 3);
        drop(paths);
        assert_eq!(calls, 3);
        assert!(best[0] < 15e6, "best round was {} ns", best[0]);
    }
}
