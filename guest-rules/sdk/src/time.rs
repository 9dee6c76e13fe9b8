//! Time helpers. Rules get no clock of their own: `now` is the campaign's
//! send time (`campaign.now()`), so the same input always gives the same
//! decision.

use crate::Timestamp;

/// Seconds in one day.
pub const SECONDS_PER_DAY: i64 = 86_400;

/// Whether `t` is set and lies in the last `days` days: `now - days ≤ t ≤ now`.
///
/// A time in the future (after `now`) is not within any window.
pub fn within_days(t: Option<Timestamp>, now: Timestamp, days: i64) -> bool {
    match t {
        Some(t) => t <= now && t >= now.saturating_sub(days.saturating_mul(SECONDS_PER_DAY)),
        None => false,
    }
}

/// Whole days from `t` to `now` (negative when `t` is in the future), or
/// `None` when `t` is not set.
pub fn days_since(t: Option<Timestamp>, now: Timestamp) -> Option<i64> {
    t.map(|t| (now - t).div_euclid(SECONDS_PER_DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn window_includes_both_ends() {
        assert!(within_days(Some(NOW), NOW, 7));
        assert!(within_days(Some(NOW - 7 * SECONDS_PER_DAY), NOW, 7));
        assert!(!within_days(Some(NOW - 7 * SECONDS_PER_DAY - 1), NOW, 7));
    }

    #[test]
    fn future_and_missing_times_are_outside() {
        assert!(!within_days(Some(NOW + 1), NOW, 7));
        assert!(!within_days(None, NOW, 7));
    }

    #[test]
    fn days_since_rounds_down() {
        assert_eq!(days_since(Some(NOW - SECONDS_PER_DAY - 5), NOW), Some(1));
        assert_eq!(days_since(Some(NOW + 5), NOW), Some(-1));
        assert_eq!(days_since(None, NOW), None);
    }
}
