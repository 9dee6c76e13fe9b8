//! Profiles and events posted by a tenant, and the profiles derived from
//! them.

use std::collections::HashMap;

use bytes::Bytes;
use mailrules::lifecycle::derive::derive;
use mailrules::lifecycle::events::{RejectedLine, parse_lines};
use mailrules::lifecycle::rfm::{self, Purchases, Rfm};
use mailrules::profile::{Profile, Timestamp};
use mailrules::profile_reader::{Position, ProfileFormat};
use serde::Serialize;

use super::super::{Hosting, HostingError};

/// Rejected lines listed in a response at most (the rest are counted).
const MAX_LISTED_REJECTIONS: usize = mailrules::lifecycle::events::MAX_LISTED_REJECTIONS;

/// What `POST …/profiles` did.
#[derive(Debug, Clone, Serialize)]
pub struct ProfilesPosted {
    /// Profiles created or replaced.
    pub upserted: usize,
    /// Records not accepted, counted.
    pub rejected_count: usize,
    /// The first of them, with where they are and why.
    pub rejected: Vec<RejectedLine>,
}

/// What `POST …/events` did.
#[derive(Debug, Clone, Serialize)]
pub struct EventsPosted {
    /// Events stored for the first time.
    pub accepted: usize,
    /// Events already stored (same id): ignored.
    pub duplicates: usize,
    /// Lines not accepted, counted.
    pub rejected_count: usize,
    /// The first of them, with their line and why.
    pub rejected: Vec<RejectedLine>,
}

impl Hosting {
    /// Creates or replaces the tenant's profiles from a body in the
    /// profile format (JSON Lines or MessagePack). A record that does not
    /// parse is rejected with its position; the rest are stored.
    pub fn post_profiles(
        &self,
        tenant: &str,
        body: Bytes,
        format: ProfileFormat,
    ) -> Result<ProfilesPosted, HostingError> {
        self.tenant_settings(tenant)?;
        let records = self.read_profiles(body, format)?;
        let mut rows = Vec::with_capacity(records.len());
        let mut rejected = Vec::new();
        for record in records {
            match record.profile {
                Ok(profile) => {
                    let json = serde_json::to_string(&profile)
                        .map_err(|e| HostingError::Internal(format!("profile: {e}")))?;
                    rows.push((profile.id, json));
                }
                Err(error) => rejected.push(RejectedLine {
                    line: position_number(&error.position),
                    reason: error.message,
                }),
            }
        }
        self.store.put_profiles(tenant, &rows)?;
        if !rows.is_empty() {
            self.rfm_changed(tenant);
        }
        let rejected_count = rejected.len();
        rejected.truncate(MAX_LISTED_REJECTIONS);
        Ok(ProfilesPosted {
            upserted: rows.len(),
            rejected_count,
            rejected,
        })
    }

    /// Stores the tenant's events from a JSON Lines body. A line that is
    /// not a valid event is rejected with its number and reason; an event
    /// already stored is ignored; the rest are stored. An event older than
    /// the last compaction is stored too: its order is counted (once per
    /// order id, folded or not) and the next compaction folds it.
    pub fn post_events(&self, tenant: &str, body: Bytes) -> Result<EventsPosted, HostingError> {
        self.tenant_settings(tenant)?;
        let caps = &self.config.caps;
        if body.len() > caps.max_profiles_bytes {
            return Err(HostingError::TooLarge {
                message: format!(
                    "the events are {} bytes, over the {}-byte limit of one request",
                    body.len(),
                    caps.max_profiles_bytes
                ),
            });
        }
        let mut parsed = parse_lines(&body, caps.max_profiles);
        let events: Vec<_> = std::mem::take(&mut parsed.events)
            .into_iter()
            .map(|(_, event)| event)
            .collect();
        let stored = self.store.insert_events(tenant, &events)?;
        self.store.apply_unsubscribes(tenant, &events)?;
        if stored.inserted > 0 {
            self.rfm_changed(tenant);
        }
        self.metrics.events_stored.inc_by(stored.inserted as u64);
        let rejected_count = parsed.rejected_count;
        Ok(EventsPosted {
            accepted: stored.inserted,
            duplicates: stored.duplicates,
            rejected_count,
            rejected: parsed.rejected,
        })
    }

    /// The customer's profile as rules would see it at `now`: the posted
    /// profile with what the events say (and, with `rfm`, the RFM scores
    /// as the `rfm` attribute). `NotFound` when the customer is unknown.
    pub fn derived_profile(
        &self,
        tenant: &str,
        customer: &str,
        now: Timestamp,
        rfm: Option<&HashMap<String, Rfm>>,
    ) -> Result<Profile, HostingError> {
        self.tenant_settings(tenant)?;
        let base = match self.store.profile(tenant, customer)? {
            Some(json) => Some(
                serde_json::from_str::<Profile>(&json)
                    .map_err(|e| HostingError::Internal(format!("stored profile: {e}")))?,
            ),
            None => None,
        };
        let events = self.store.customer_events(tenant, customer)?;
        let summary = self.store.order_summary(tenant, customer)?;
        if base.is_none() && events.is_empty() && summary.is_none() {
            return Err(HostingError::NotFound {
                what: "customer",
                id: customer.to_string(),
            });
        }
        let mut profile =
            derive(customer, base.as_ref(), &events, summary.as_ref(), now).map_err(|e| {
                HostingError::Unprocessable {
                    code: "no-address",
                    message: e.to_string(),
                }
            })?;
        if let Some(score) = rfm.and_then(|scores| scores.get(customer)) {
            rfm::with_attribute(&mut profile, *score);
        }
        Ok(profile)
    }

    /// Every customer of the tenant derived at `now` (those that cannot be
    /// — no address — are left out), with their RFM scores.
    pub fn derived_profiles(
        &self,
        tenant: &str,
        now: Timestamp,
    ) -> Result<HashMap<String, Profile>, HostingError> {
        let mut profiles = HashMap::new();
        for customer in self.store.customers(tenant)? {
            match self.derived_profile(tenant, &customer, now, None) {
                Ok(profile) => {
                    profiles.insert(customer, profile);
                }
                Err(HostingError::Unprocessable { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        let purchases: Vec<Purchases> = profiles.values().map(Purchases::from).collect();
        for (customer, score) in rfm::scores(&purchases) {
            if let Some(profile) = profiles.get_mut(&customer) {
                rfm::with_attribute(profile, score);
            }
        }
        Ok(profiles)
    }

    /// The RFM scores of the tenant's customers at `now`.
    pub fn rfm_scores(
        &self,
        tenant: &str,
        now: Timestamp,
    ) -> Result<HashMap<String, Rfm>, HostingError> {
        let profiles = self.derived_profiles(tenant, now)?;
        let purchases: Vec<Purchases> = profiles.values().map(Purchases::from).collect();
        Ok(rfm::scores(&purchases))
    }
}

fn position_number(position: &Position) -> usize {
    match position {
        Position::Line(line) => *line as usize,
        Position::Record { index, .. } => *index as usize,
    }
}
