//! Each tenant's RFM scores as of its last tick, so reading one profile
//! does not derive every customer of the tenant again.
//!
//! The scores are quintiles over the whole tenant (see
//! [`mailrules::lifecycle::rfm`]): a tick that derives the tenant's
//! profiles (it has flows) keeps their scores. Posting profiles or events
//! marks them changed, and the next tick computes them again (also for a
//! tenant without flows). Until then a read sees the scores of before the
//! change. A tenant without scores yet gets them computed once, at the
//! first read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mailrules::lifecycle::rfm::{self, Purchases, Rfm};
use mailrules::profile::{Profile, Timestamp};

use super::super::{Hosting, HostingError, lock};

/// One customer id → scores map, shared by the reads that use it.
pub type RfmScores = Arc<HashMap<String, Rfm>>;

/// The scores of every tenant that has some, with its changes.
#[derive(Default)]
pub(crate) struct RfmCache(Mutex<HashMap<String, Entry>>);

#[derive(Default)]
struct Entry {
    scores: Option<RfmScores>,
    /// Postings of profiles or events so far.
    changes: u64,
    /// `changes` when the data of `scores` was read.
    scored_at_change: u64,
}

impl RfmCache {
    /// The tenant's data changed (profiles or events were stored).
    fn changed(&self, tenant: &str) {
        lock(&self.0).entry(tenant.to_string()).or_default().changes += 1;
    }

    /// The scores, if any, and the change count to store new ones with.
    fn get(&self, tenant: &str) -> (Option<RfmScores>, u64, bool) {
        let cache = lock(&self.0);
        match cache.get(tenant) {
            Some(entry) => (
                entry.scores.clone(),
                entry.changes,
                entry.changes > entry.scored_at_change,
            ),
            None => (None, 0, false),
        }
    }

    /// Keeps `scores`, computed from the data as of change `change`.
    fn put(&self, tenant: &str, scores: RfmScores, change: u64) {
        let mut cache = lock(&self.0);
        let entry = cache.entry(tenant.to_string()).or_default();
        entry.scores = Some(scores);
        entry.scored_at_change = change;
    }
}

impl Hosting {
    /// The tenant's RFM scores as of its last tick (see the module docs);
    /// computed at `now` and kept when the tenant has none yet.
    pub fn cached_rfm_scores(
        &self,
        tenant: &str,
        now: Timestamp,
    ) -> Result<RfmScores, HostingError> {
        let (scores, change, _) = self.rfm.get(tenant);
        if let Some(scores) = scores {
            return Ok(scores);
        }
        let scores = Arc::new(self.rfm_scores(tenant, now)?);
        self.rfm.put(tenant, scores.clone(), change);
        Ok(scores)
    }

    /// Notes that the tenant's profiles or events changed: the next tick
    /// computes its scores again.
    pub(super) fn rfm_changed(&self, tenant: &str) {
        self.rfm.changed(tenant);
    }

    /// The tick's part: keeps the scores of `profiles` (the tenant's
    /// profiles derived at `now`, when the tick derived them), or computes
    /// them again when the tenant's data changed since they were.
    pub(super) fn refresh_rfm(
        &self,
        tenant: &str,
        now: Timestamp,
        profiles: Option<&HashMap<String, Profile>>,
        change: u64,
    ) -> Result<(), HostingError> {
        let scores = match profiles {
            Some(profiles) => {
                let purchases: Vec<Purchases> = profiles.values().map(Purchases::from).collect();
                rfm::scores(&purchases)
            }
            None => {
                let (scores, _, stale) = self.rfm.get(tenant);
                if scores.is_none() || !stale {
                    return Ok(());
                }
                self.rfm_scores(tenant, now)?
            }
        };
        self.rfm.put(tenant, Arc::new(scores), change);
        Ok(())
    }

    /// The tenant's change count, read before its data is.
    pub(super) fn rfm_change(&self, tenant: &str) -> u64 {
        self.rfm.get(tenant).1
    }
}
