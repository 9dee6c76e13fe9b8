//! Deterministic A/B bucketing and seeds: the same campaign, recipient and
//! salt give the same number on every run and every machine.

use sha2::{Digest, Sha256};

/// Number of A/B buckets: buckets are `0..BUCKETS`.
pub const BUCKETS: u32 = 10_000;

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// The A/B bucket of a recipient in a campaign for a given salt.
pub fn ab_bucket(campaign_id: &str, profile_id: &str, salt: &str) -> u32 {
    let hash = digest(&["ab", campaign_id, profile_id, salt]);
    let value = u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"));
    (value % u64::from(BUCKETS)) as u32
}

/// The seed of a recipient's WASI randomness in a campaign.
pub fn seed(campaign_id: &str, profile_id: &str) -> u64 {
    let hash = digest(&["seed", campaign_id, profile_id]);
    u64::from_le_bytes(hash[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_in_range() {
        assert_eq!(ab_bucket("c", "p", "s"), ab_bucket("c", "p", "s"));
        assert!(ab_bucket("c", "p", "s") < BUCKETS);
        // Length-prefixing keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(digest(&["ab", "c"]), digest(&["a", "bc"]));
    }

    #[test]
    fn buckets_spread_evenly() {
        let mut halves = [0u32; 2];
        for i in 0..10_000 {
            halves[(ab_bucket("camp", &format!("p{i}"), "x") >= BUCKETS / 2) as usize] += 1;
        }
        assert!(halves[0] > 4_700 && halves[1] > 4_700, "{halves:?}");
    }
}
