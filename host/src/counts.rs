//! Counts per key with a bound on the number of distinct keys kept.
//!
//! Segment ids and suppression codes are invented by rules, so a rule can
//! make every recipient's keys new. Tables of such keys keep at most
//! [`MAX_DISTINCT_KEYS`] of them (the first ones seen); every later key is
//! counted under [`OTHER_KEY`], so memory and output stay bounded however
//! many recipients a run has.

use std::collections::BTreeMap;

/// Distinct keys a table keeps before it counts new keys as [`OTHER_KEY`].
pub const MAX_DISTINCT_KEYS: usize = 1_000;

/// The key under which keys beyond the bound are counted. Parentheses are
/// not allowed in ids, so it cannot collide with a rule's key.
pub const OTHER_KEY: &str = "(other)";

/// Counts per key, keeping at most a fixed number of distinct keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedCounts {
    counts: BTreeMap<String, u64>,
    max_keys: usize,
    other: u64,
}

impl Default for BoundedCounts {
    fn default() -> Self {
        BoundedCounts::new(MAX_DISTINCT_KEYS)
    }
}

impl BoundedCounts {
    /// An empty table keeping at most `max_keys` distinct keys.
    pub fn new(max_keys: usize) -> Self {
        BoundedCounts {
            counts: BTreeMap::new(),
            max_keys,
            other: 0,
        }
    }

    /// Adds one to `key` (or to [`OTHER_KEY`] when the table is full and
    /// `key` is not in it).
    pub fn add(&mut self, key: &str) {
        if let Some(count) = self.counts.get_mut(key) {
            *count += 1;
        } else if self.counts.len() < self.max_keys {
            self.counts.insert(key.to_string(), 1);
        } else {
            self.other += 1;
        }
    }

    /// The count of `key` (keys beyond the bound are not found here).
    pub fn get(&self, key: &str) -> Option<u64> {
        self.counts.get(key).copied()
    }

    /// Additions counted under [`OTHER_KEY`].
    pub fn other(&self) -> u64 {
        self.other
    }

    /// Distinct keys kept.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.other == 0
    }

    /// The rows, in key order, then [`OTHER_KEY`] when anything overflowed.
    pub fn rows(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        self.counts
            .iter()
            .map(|(key, count)| (key.clone(), *count))
            .chain((self.other > 0).then(|| (OTHER_KEY.to_string(), self.other)))
    }
}

impl serde::Serialize for BoundedCounts {
    /// A map of key → count, with [`OTHER_KEY`] last when anything
    /// overflowed.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.rows())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_beyond_the_bound_are_counted_as_other() {
        let mut counts = BoundedCounts::new(3);
        for key in ["b", "a", "b", "c", "d", "e", "a", "d"] {
            counts.add(key);
        }
        assert_eq!(counts.len(), 3);
        assert_eq!(counts.get("a"), Some(2));
        assert_eq!(counts.get("b"), Some(2));
        assert_eq!(counts.get("c"), Some(1));
        assert_eq!(counts.get("d"), None);
        assert_eq!(counts.other(), 3, "d, e and d again");
        let rows: Vec<_> = counts.rows().collect();
        assert_eq!(
            rows,
            vec![
                ("a".to_string(), 2),
                ("b".to_string(), 2),
                ("c".to_string(), 1),
                (OTHER_KEY.to_string(), 3)
            ]
        );
    }

    #[test]
    fn a_million_new_keys_keep_the_table_at_its_bound() {
        let mut counts = BoundedCounts::default();
        for i in 0..1_000_000u32 {
            counts.add(&format!("segment-{i}"));
        }
        assert_eq!(counts.len(), MAX_DISTINCT_KEYS);
        assert_eq!(counts.other(), 1_000_000 - MAX_DISTINCT_KEYS as u64);
        assert_eq!(counts.rows().count(), MAX_DISTINCT_KEYS + 1);
    }

    #[test]
    fn an_empty_table_has_no_rows() {
        let counts = BoundedCounts::default();
        assert!(counts.is_empty());
        assert_eq!(counts.rows().count(), 0);
    }
}
