//! RFM scores: recency, frequency and monetary quintiles (1–5, 5 best)
//! over one tenant's customers with at least one order.
//!
//! Each score is the customer's quintile among the tenant's buyers by that
//! measure: days since the last order (fewer is better), order count, and
//! lifetime spend. Equal values get equal scores (the quintile of the first
//! of them in rank order). Customers without orders get no scores.
//!
//! Rules see them as the custom attribute `rfm` (a map with `r`, `f`, `m`
//! and `score`, e.g. `"545"`), until a contract version carries them as
//! fields.

use std::collections::HashMap;

use serde::Serialize;

use crate::profile::{Profile, Timestamp};

/// One customer's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rfm {
    /// Recency quintile (5: ordered most recently).
    pub r: u8,
    /// Frequency quintile (5: most orders).
    pub f: u8,
    /// Monetary quintile (5: spent most).
    pub m: u8,
}

impl Rfm {
    /// The three digits, e.g. `"545"`.
    pub fn score(&self) -> String {
        format!("{}{}{}", self.r, self.f, self.m)
    }
}

/// What the scores are computed from, per customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchases {
    /// The customer id.
    pub customer: String,
    /// Last order time.
    pub last_order_at: Option<Timestamp>,
    /// Orders ever placed.
    pub count: u32,
    /// Lifetime spend, cents.
    pub total_spent_cents: i64,
}

impl From<&Profile> for Purchases {
    fn from(profile: &Profile) -> Self {
        Purchases {
            customer: profile.id.clone(),
            last_order_at: profile.orders.last_order_at,
            count: profile.orders.count,
            total_spent_cents: profile.orders.total_spent_cents,
        }
    }
}

/// The scores of every customer with at least one order.
pub fn scores(customers: &[Purchases]) -> HashMap<String, Rfm> {
    let buyers: Vec<&Purchases> = customers
        .iter()
        .filter(|c| c.count > 0 && c.last_order_at.is_some())
        .collect();
    let recency = quintiles(&buyers, |c| c.last_order_at.unwrap_or(i64::MIN));
    let frequency = quintiles(&buyers, |c| i64::from(c.count));
    let monetary = quintiles(&buyers, |c| c.total_spent_cents);
    buyers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (
                c.customer.clone(),
                Rfm {
                    r: recency[i],
                    f: frequency[i],
                    m: monetary[i],
                },
            )
        })
        .collect()
}

/// Quintile (1–5) of each item by `key`, higher key → higher quintile.
fn quintiles(items: &[&Purchases], key: impl Fn(&Purchases) -> i64) -> Vec<u8> {
    let n = items.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| key(items[i]));
    let mut result = vec![0u8; n];
    let mut rank = 0;
    while rank < n {
        let value = key(items[order[rank]]);
        let quintile = (1 + rank * 5 / n) as u8;
        let mut tie = rank;
        while tie < n && key(items[order[tie]]) == value {
            result[order[tie]] = quintile;
            tie += 1;
        }
        rank = tie;
    }
    result
}

/// `profile` with its scores in the custom attribute `rfm`.
pub fn with_attribute(profile: &mut Profile, rfm: Rfm) {
    let mut attributes: serde_json::Map<String, serde_json::Value> =
        rmp_serde::from_slice(&profile.attributes).unwrap_or_default();
    attributes.insert(
        "rfm".into(),
        serde_json::json!({"r": rfm.r, "f": rfm.f, "m": rfm.m, "score": rfm.score()}),
    );
    if let Ok(bytes) = rmp_serde::to_vec_named(&attributes) {
        profile.attributes = bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buyer(customer: &str, last: i64, count: u32, spent: i64) -> Purchases {
        Purchases {
            customer: customer.into(),
            last_order_at: Some(last),
            count,
            total_spent_cents: spent,
        }
    }

    #[test]
    fn ten_buyers_fall_two_to_a_quintile() {
        let customers: Vec<Purchases> = (0..10)
            .map(|i| buyer(&format!("c{i}"), 1000 + i, 1 + i as u32, 100 * (10 - i)))
            .collect();
        let scores = scores(&customers);
        assert_eq!(scores["c0"], Rfm { r: 1, f: 1, m: 5 });
        assert_eq!(scores["c1"], Rfm { r: 1, f: 1, m: 5 });
        assert_eq!(scores["c4"], Rfm { r: 3, f: 3, m: 3 });
        assert_eq!(scores["c9"], Rfm { r: 5, f: 5, m: 1 });
        assert_eq!(scores["c9"].score(), "551");
    }

    #[test]
    fn ties_share_a_score_and_non_buyers_get_none() {
        let customers = vec![
            buyer("a", 5, 1, 100),
            buyer("b", 5, 1, 100),
            buyer("c", 9, 3, 900),
            Purchases {
                customer: "never".into(),
                last_order_at: None,
                count: 0,
                total_spent_cents: 0,
            },
        ];
        let scores = scores(&customers);
        assert_eq!(scores.len(), 3);
        assert_eq!(scores["a"], scores["b"]);
        assert_eq!(scores["a"], Rfm { r: 1, f: 1, m: 1 });
        assert_eq!(scores["c"], Rfm { r: 4, f: 4, m: 4 });
    }

    #[test]
    fn the_attribute_joins_the_existing_ones() {
        let mut profile: Profile =
            serde_json::from_str(r#"{"id":"c","email":"a@b.c","attributes":{"tier":"gold"}}"#)
                .unwrap();
        with_attribute(&mut profile, Rfm { r: 5, f: 4, m: 3 });
        let attributes: serde_json::Value = rmp_serde::from_slice(&profile.attributes).unwrap();
        assert_eq!(
            attributes,
            serde_json::json!({"tier":"gold","rfm":{"r":5,"f":4,"m":3,"score":"543"}})
        );
    }
}
