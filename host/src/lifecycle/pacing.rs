//! Pacing: when one recipient's message may go, given the campaign's send
//! time, quiet hours and frequency caps, in the recipient's time zone.
//!
//! In a campaign:
//!
//! ```toml
//! [schedule]
//! send_at = { weekday = "tuesday", local_time = "10:00", window = "2h" }
//! quiet_hours = "21:00-08:00"
//! on_cap = "postpone"        # or "suppress" (the default)
//! [schedule.segments.new-subscriber]
//! send_at = { local_time = "08:30" }
//! ```

use std::collections::{BTreeMap, HashMap};

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::frequency::FrequencyCaps;
use super::timing::{QuietHours, SendAt, zone_or};
use crate::outcome::Outcome;
use crate::profile::{Profile, Timestamp};

/// What happens to a message a frequency cap stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnCap {
    /// The recipient does not get this message.
    #[default]
    Suppress,
    /// The message waits until the caps allow it.
    Postpone,
}

/// When a campaign's messages may go. The default: at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The send-time slot, in each recipient's zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<SendAt>,
    /// Slots for the recipients in a segment, instead of `send_at` (the
    /// first of the recipient's segments that has one wins).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        with = "segment_slots"
    )]
    pub segments: BTreeMap<String, SendAt>,
    /// Local hours when nothing is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// What a frequency cap does to a message.
    #[serde(default)]
    pub on_cap: OnCap,
}

impl Schedule {
    /// Whether the schedule sends everything at once.
    pub fn is_empty(&self) -> bool {
        self.send_at.is_none() && self.segments.is_empty() && self.quiet_hours.is_none()
    }

    /// The slot for a recipient in `segments`.
    fn slot_for(&self, segments: &[String]) -> Option<&SendAt> {
        segments
            .iter()
            .find_map(|segment| self.segments.get(segment))
            .or(self.send_at.as_ref())
    }
}

/// `[schedule.segments.<segment>] send_at = {...}`: a table per segment.
mod segment_slots {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::lifecycle::timing::SendAt;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Slot {
        send_at: SendAt,
    }

    pub fn serialize<S: Serializer>(
        value: &BTreeMap<String, SendAt>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let tables: BTreeMap<&String, Slot> = value
            .iter()
            .map(|(segment, send_at)| (segment, Slot { send_at: *send_at }))
            .collect();
        tables.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, SendAt>, D::Error> {
        let tables = BTreeMap::<String, Slot>::deserialize(d)?;
        Ok(tables
            .into_iter()
            .map(|(segment, slot)| (segment, slot.send_at))
            .collect())
    }
}

/// When one recipient's message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pacing {
    /// At once.
    Now,
    /// Later.
    Postpone {
        /// The earliest time it may go.
        until: Timestamp,
        /// Every reason it waits, `; `-separated: `send-at tuesday 10:00
        /// America/New_York; quiet hours 21:00-08:00`.
        why: String,
    },
    /// Not at all.
    Suppress {
        /// Why: `frequency-cap: 3 per 7d`, or `schedule: …` when no time
        /// satisfies the schedule.
        why: String,
    },
}

/// Rounds of send time, quiet hours and caps before giving up.
const ROUNDS: usize = 8;

/// When a message to a recipient in `segments`, in `zone`, who got
/// messages at the times in `sent`, may go at or after `now`: the earliest
/// time that satisfies the frequency caps (or `Suppress`, unless the
/// schedule postpones capped messages), then the send-time slot, then the
/// quiet hours, repeated until all three agree.
pub fn pace(
    schedule: &Schedule,
    caps: &FrequencyCaps,
    sent: &[Timestamp],
    segments: &[String],
    zone: Tz,
    now: Timestamp,
) -> Pacing {
    let slot = schedule.slot_for(segments);
    let mut reasons: Vec<String> = Vec::new();
    let mut note = |reason: String| {
        if !reasons.contains(&reason) {
            reasons.push(reason);
        }
    };
    let mut t = now;
    for _ in 0..ROUNDS {
        let start = t;
        if let Some(hit) = caps.check(sent, segments, t) {
            let why = format!("frequency-cap: {}", hit.rule);
            match schedule.on_cap {
                OnCap::Suppress => return Pacing::Suppress { why },
                OnCap::Postpone => {
                    t = hit.until;
                    note(why);
                }
            }
        }
        if let Some(slot) = slot {
            let open = slot.next_open(t, zone);
            if open != t {
                t = open;
                note(format!("send-at {slot} {}", zone.name()));
            }
        }
        if let Some(quiet) = &schedule.quiet_hours {
            let released = quiet.release(t, zone);
            if released != t {
                t = released;
                note(format!("quiet hours {quiet}"));
            }
        }
        if t == start {
            return if t == now {
                Pacing::Now
            } else {
                Pacing::Postpone {
                    until: t,
                    why: reasons.join("; "),
                }
            };
        }
    }
    Pacing::Suppress {
        why: format!(
            "schedule: no time in {} satisfies {}",
            zone.name(),
            reasons.join("; ")
        ),
    }
}

/// Paces each recipient's message in a send.
pub trait Pacer: Sync {
    /// When the message chosen in `outcome` goes to `profile`.
    fn pace(&self, outcome: &Outcome, profile: &Profile) -> Pacing;
}

/// A campaign's schedule and caps, with what each recipient got before.
#[derive(Debug, Clone)]
pub struct CampaignPacer {
    /// The send time and quiet hours.
    pub schedule: Schedule,
    /// The frequency caps (a tenant's merged with the campaign's).
    pub caps: FrequencyCaps,
    /// Times messages went to each profile id.
    pub history: HashMap<String, Vec<Timestamp>>,
    /// The zone of recipients without a (known) `timezone`.
    pub default_zone: Tz,
    /// The send time.
    pub now: Timestamp,
}

impl Pacer for CampaignPacer {
    fn pace(&self, outcome: &Outcome, profile: &Profile) -> Pacing {
        let zone = zone_or(profile.timezone.as_deref(), self.default_zone);
        let sent = self
            .history
            .get(&profile.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        pace(
            &self.schedule,
            &self.caps,
            sent,
            &outcome.segments,
            zone,
            self.now,
        )
    }
}

#[cfg(test)]
mod tests;
