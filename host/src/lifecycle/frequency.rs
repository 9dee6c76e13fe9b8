//! Frequency caps: how many messages a recipient may get in a window, and
//! the least time between two.
//!
//! In a campaign (and a tenant's settings):
//!
//! ```toml
//! [frequency]
//! caps = ["3 per 7d", "1 per 1d"]
//! min_gap = "16h"
//! [frequency.segments]
//! new-subscriber = ["2 per 7d"]
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::timing::{format_duration, parse_duration};
use crate::profile::Timestamp;

/// At most `count` messages in any `window` seconds: `3 per 7d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cap {
    /// Messages allowed in the window (at least one).
    pub count: u32,
    /// The window, in seconds (at least one).
    pub window: i64,
}

impl Cap {
    /// When a message may go at `now` again, if this cap is reached: `sent`
    /// holds only times at or before `now`.
    fn hit(&self, sent: &[Timestamp], now: Timestamp) -> Option<Timestamp> {
        let mut recent: Vec<Timestamp> = sent
            .iter()
            .copied()
            .filter(|&t| t > now - self.window)
            .collect();
        if recent.len() < self.count as usize {
            return None;
        }
        // Once the count-th most recent send leaves the window, fewer than
        // `count` remain in it.
        recent.sort_unstable_by(|a, b| b.cmp(a));
        Some(recent[self.count as usize - 1] + self.window)
    }
}

impl fmt::Display for Cap {
    /// `3 per 7d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.count, format_duration(self.window))
    }
}

impl std::str::FromStr for Cap {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [count, "per", window] = words.as_slice() else {
            return Err(format!(
                "frequency cap `{}` must be `N per DURATION`, e.g. `3 per 7d`",
                text.escape_debug()
            ));
        };
        let count: u32 = count.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
            format!(
                "frequency cap `{}`: `{count}` is not a whole number of messages of at least 1",
                text.escape_debug()
            )
        })?;
        let window = parse_duration(window)
            .map_err(|e| format!("frequency cap `{}`: {e}", text.escape_debug()))?;
        if window == 0 {
            return Err(format!(
                "frequency cap `{}`: the window must be longer than 0s",
                text.escape_debug()
            ));
        }
        Ok(Cap { count, window })
    }
}

string_conversions!(Cap);

/// Caps on how often one recipient gets messages. The default caps nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCaps {
    /// Caps for every recipient.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<Cap>,
    /// The least time between two messages, in seconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub min_gap: Option<i64>,
    /// Further caps for the recipients in a segment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub segments: BTreeMap<String, Vec<Cap>>,
}

/// A frequency cap that stops a message for now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapHit {
    /// The earliest time every cap reached is satisfied again.
    pub until: Timestamp,
    /// The cap that holds the message longest: `3 per 7d`, `16h since the
    /// last`, `new-subscriber: 2 per 7d`.
    pub rule: String,
}

impl FrequencyCaps {
    /// Whether nothing is capped.
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.min_gap.is_none() && self.segments.values().all(Vec::is_empty)
    }

    /// Both sets of caps at once (a tenant's and a campaign's): every cap
    /// of either, the larger minimum gap, the segments' lists joined.
    pub fn merged(&self, other: &FrequencyCaps) -> FrequencyCaps {
        fn union(into: &mut Vec<Cap>, from: &[Cap]) {
            for cap in from {
                if !into.contains(cap) {
                    into.push(*cap);
                }
            }
        }
        let mut merged = self.clone();
        union(&mut merged.caps, &other.caps);
        merged.min_gap = match (self.min_gap, other.min_gap) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        for (segment, caps) in &other.segments {
            union(merged.segments.entry(segment.clone()).or_default(), caps);
        }
        merged
    }

    /// Whether a message to a recipient in `segments` may go at `now`,
    /// given the times messages went to them (`sent`, any order; times
    /// after `now` are ignored). A cap of N per W is reached when N
    /// messages went in `(now - W, now]`; the answer is the earliest time
    /// every reached cap is satisfied, or `None` when none is reached.
    pub fn check(&self, sent: &[Timestamp], segments: &[String], now: Timestamp) -> Option<CapHit> {
        let sent: Vec<Timestamp> = sent.iter().copied().filter(|&t| t <= now).collect();
        let mut hit: Option<CapHit> = None;
        let mut consider = |until: Timestamp, rule: &dyn Fn() -> String| {
            if hit.as_ref().is_none_or(|h| until > h.until) {
                hit = Some(CapHit {
                    until,
                    rule: rule(),
                });
            }
        };
        for cap in &self.caps {
            if let Some(until) = cap.hit(&sent, now) {
                consider(until, &|| cap.to_string());
            }
        }
        if let Some(gap) = self.min_gap
            && let Some(&last) = sent.iter().max()
            && last > now - gap
        {
            consider(last + gap, &|| {
                format!("{} since the last", format_duration(gap))
            });
        }
        for (segment, caps) in &self.segments {
            if !segments.contains(segment) {
                continue;
            }
            for cap in caps {
                if let Some(until) = cap.hit(&sent, now) {
                    consider(until, &|| format!("{segment}: {cap}"));
                }
            }
        }
        hit
    }
}

/// An optional duration stored as its text (`16h`).
mod optional_duration {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::lifecycle::timing::{format_duration, parse_duration};

    pub fn serialize<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(seconds) => s.serialize_some(&format_duration(*seconds)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => parse_duration(&text)
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("min_gap: {e}"))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;
    const HOUR: i64 = 3_600;
    const NOW: Timestamp = 1_795_510_800; // 2026-11-24T09:00:00Z

    fn caps(toml_text: &str) -> FrequencyCaps {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn caps_read_and_write_their_strings() {
        let caps = caps(
            "caps = [\"3 per 7d\", \"1 per 1d12h\"]\nmin_gap = \"16h\"\n[segments]\nnew-subscriber = [\"2 per 7d\"]\n",
        );
        assert_eq!(
            caps.caps,
            vec![
                Cap {
                    count: 3,
                    window: 7 * DAY
                },
                Cap {
                    count: 1,
                    window: 36 * HOUR
                }
            ]
        );
        assert_eq!(caps.min_gap, Some(16 * HOUR));
        assert_eq!(
            serde_json::to_string(&caps).unwrap(),
            r#"{"caps":["3 per 7d","1 per 1d12h"],"min_gap":"16h","segments":{"new-subscriber":["2 per 7d"]}}"#
        );
        let back: FrequencyCaps =
            serde_json::from_str(&serde_json::to_string(&caps).unwrap()).unwrap();
        assert_eq!(back, caps);
        assert_eq!(
            serde_json::to_string(&FrequencyCaps::default()).unwrap(),
            "{}"
        );
        assert!(FrequencyCaps::default().is_empty());
    }

    #[test]
    fn bad_caps_are_clear_errors() {
        let error = |text: &str| text.parse::<Cap>().unwrap_err();
        assert!(error("3/7d").contains("must be `N per DURATION`"));
        assert!(error("0 per 7d").contains("`0` is not a whole number"));
        assert!(error("3 per 7x").contains("`7x` is not a duration"));
        assert!(error("3 per 0s").contains("longer than 0s"));
        let error = toml::from_str::<FrequencyCaps>("min_gap = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("min_gap: `soon` is not a duration"),
            "{error}"
        );
        let error = toml::from_str::<FrequencyCaps>("cap = []")
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `cap`"), "{error}");
    }

    #[test]
    fn a_cap_is_reached_by_n_sends_in_the_window_and_lifts_when_the_nth_leaves() {
        let caps = caps("caps = [\"3 per 7d\"]");
        let three = [NOW - 6 * DAY, NOW - 2 * DAY, NOW - HOUR];
        assert_eq!(
            caps.check(&three, &[], NOW),
            Some(CapHit {
                until: NOW + DAY,
                rule: "3 per 7d".into()
            })
        );
        // The oldest exactly 7 days ago is outside (now - 7d, now].
        assert_eq!(
            caps.check(&[NOW - 7 * DAY, NOW - 2 * DAY, NOW - HOUR], &[], NOW),
            None
        );
        // A fourth, older one does not move `until`; order does not matter.
        let four = [NOW - HOUR, NOW - 6 * DAY, NOW - 5 * DAY, NOW - 2 * DAY];
        assert_eq!(caps.check(&four, &[], NOW).unwrap().until, NOW + 2 * DAY);
        // Sends after now are ignored.
        assert_eq!(
            caps.check(&[NOW - 2 * DAY, NOW - HOUR, NOW + HOUR], &[], NOW),
            None
        );
        // At `until`, the cap is satisfied.
        assert_eq!(caps.check(&three, &[], NOW + DAY), None);
    }

    #[test]
    fn the_minimum_gap_counts_from_the_last_send() {
        let caps = caps("min_gap = \"16h\"");
        assert_eq!(
            caps.check(&[NOW - 10 * DAY, NOW - 4 * HOUR], &[], NOW),
            Some(CapHit {
                until: NOW + 12 * HOUR,
                rule: "16h since the last".into()
            })
        );
        assert_eq!(caps.check(&[NOW - 16 * HOUR], &[], NOW), None);
        assert_eq!(caps.check(&[], &[], NOW), None);
    }

    #[test]
    fn segment_caps_apply_to_their_segment_and_the_latest_until_wins() {
        let caps = caps(
            "caps = [\"3 per 7d\"]\nmin_gap = \"1h\"\n[segments]\nnew-subscriber = [\"2 per 7d\"]\n",
        );
        let sent = [NOW - 3 * DAY, NOW - 2 * DAY];
        assert_eq!(caps.check(&sent, &["vip".into()], NOW), None);
        assert_eq!(
            caps.check(&sent, &["vip".into(), "new-subscriber".into()], NOW),
            Some(CapHit {
                until: NOW + 4 * DAY,
                rule: "new-subscriber: 2 per 7d".into()
            })
        );
        // Three sends: the general cap lifts when the oldest leaves (+1d),
        // the segment's when the second oldest does (+5d).
        let sent = [NOW - 6 * DAY, NOW - 2 * DAY, NOW - 30 * 60];
        let hit = caps.check(&sent, &["new-subscriber".into()], NOW).unwrap();
        assert_eq!(hit.until, NOW + 5 * DAY);
        assert_eq!(hit.rule, "new-subscriber: 2 per 7d");
        let hit = caps.check(&sent, &[], NOW).unwrap();
        assert_eq!((hit.until, hit.rule.as_str()), (NOW + DAY, "3 per 7d"));
    }

    #[test]
    fn merging_takes_every_cap_and_the_larger_gap() {
        let tenant =
            caps("caps = [\"3 per 7d\"]\nmin_gap = \"16h\"\n[segments]\nvip = [\"5 per 7d\"]\n");
        let campaign = caps(
            "caps = [\"3 per 7d\", \"1 per 1d\"]\nmin_gap = \"1d\"\n[segments]\nvip = [\"1 per 2d\"]\nnew = [\"2 per 7d\"]\n",
        );
        let merged = tenant.merged(&campaign);
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            r#"{"caps":["3 per 7d","1 per 1d"],"min_gap":"1d","segments":{"new":["2 per 7d"],"vip":["5 per 7d","1 per 2d"]}}"#
        );
        assert_eq!(FrequencyCaps::default().merged(&tenant), tenant);
        assert_eq!(tenant.merged(&FrequencyCaps::default()), tenant);
    }
}
