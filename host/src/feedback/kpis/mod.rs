//! KPIs of a campaign: what its messages did, per segment, per subject and
//! preheader variant and per A/B arm, with the A/B verdicts and the
//! holdout's lift.
//!
//! Inputs are the campaign's journals (who was sent what, read with
//! [`recipients_of_journal`]) and the tenant's customer events (opens,
//! clicks, unsubscribes, orders). Definitions (also in the README):
//!
//! | KPI | counts |
//! |---|---|
//! | recipients | journal records: every recipient the campaign was evaluated for |
//! | sent | deliveries tried: delivered + deferred (by the relay) + failed (refused, or not renderable) |
//! | unique opens | delivered messages with an open **or a click** (a click implies an open) |
//! | total opens / clicks | open / click events on the campaign's messages |
//! | unique clicks | delivered messages with a click |
//! | conversions, revenue | orders placed within the conversion window after a click whose latest click (last-click attribution, any campaign) was on this campaign's message; the order's total |
//! | converters | messages with at least one conversion |
//! | unsubscribes | messages whose recipient unsubscribed from them |
//! | tracked | delivered messages whose opens and clicks can be seen (they carried the pixel and redirects: recipients with tracking consent) |
//! | open rate | unique opens ÷ tracked |
//! | click rate (CTR) | unique clicks ÷ tracked |
//! | click-to-open | unique clicks ÷ unique opens |
//! | conversion rate | converters ÷ delivered |
//! | unsubscribe rate | unsubscribes ÷ delivered |
//!
//! An event names its message by Message-ID (tracked links do); one that
//! names only the campaign counts for the customer's latest message of it
//! sent before the event. Events about another customer's message are
//! ignored. A recipient postponed to a later send time is counted where it
//! is finally sent, not as deferred.

mod ab;
mod attribution;
mod journal;
mod targets;
mod text;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

pub use ab::{ArmResult, HoldoutResult, SplitResult};
pub use journal::{Recipient, recipients_of_journal};
pub use targets::Flag;
use targets::flags;
pub(crate) use targets::percent;

use crate::campaign::Campaign;
use crate::journal::Fate;
use crate::lifecycle::events::CustomerEvent;
use crate::lifecycle::timing::format_duration;

/// The counts and rates of a group of recipients.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Kpis {
    /// Recipients evaluated.
    pub recipients: u64,
    /// Messages handed to delivery.
    pub sent: u64,
    /// Accepted by the relay (or stored).
    pub delivered: u64,
    /// Delivered messages whose opens and clicks can be seen: the
    /// denominator of the open and click rates.
    pub tracked: u64,
    /// Refused for good.
    pub failed: u64,
    /// Refused for now (sent again on resume).
    pub deferred: u64,
    /// Suppressed (consent, unsubscribed, the rule, caps, holdout).
    pub suppressed: u64,
    /// Delivered messages opened (or clicked).
    pub unique_opens: u64,
    /// Open events.
    pub total_opens: u64,
    /// Delivered messages clicked.
    pub unique_clicks: u64,
    /// Click events.
    pub total_clicks: u64,
    /// Orders attributed.
    pub conversions: u64,
    /// Messages with at least one attributed order.
    pub converters: u64,
    /// Total of the attributed orders, in cents.
    pub revenue_cents: i64,
    /// Messages unsubscribed from.
    pub unsubscribes: u64,
    /// Unique opens ÷ tracked.
    pub open_rate: Option<f64>,
    /// Unique clicks ÷ tracked (CTR).
    pub click_rate: Option<f64>,
    /// Unique clicks ÷ unique opens.
    pub click_to_open_rate: Option<f64>,
    /// Converters ÷ delivered.
    pub conversion_rate: Option<f64>,
    /// Unsubscribes ÷ delivered.
    pub unsubscribe_rate: Option<f64>,
    /// Rates outside the usual targets (open 20–30 %, CTR 2–5 %,
    /// conversion 1–3 %, unsubscribes under 1 %).
    pub flags: Vec<Flag>,
}

/// A group's name and KPIs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupKpis {
    /// The segment, variant or arm.
    pub key: String,
    /// Its KPIs.
    pub kpis: Kpis,
}

/// Messages delivered on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `2026-11-24`.
    pub day: String,
    /// Messages delivered that day.
    pub delivered: u64,
}

/// Everything known about a campaign's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KpiReport {
    /// The campaign id.
    pub campaign: String,
    /// The conversion window (`5d`).
    pub conversion_window: String,
    /// The metric A/B splits are judged on.
    pub ab_metric: String,
    /// All recipients.
    pub total: Kpis,
    /// Per segment (a recipient counts in each of its segments).
    pub segments: Vec<GroupKpis>,
    /// Per subject variant.
    pub subjects: Vec<GroupKpis>,
    /// Per preheader variant.
    pub preheaders: Vec<GroupKpis>,
    /// Per A/B split, its arms and verdict.
    pub splits: Vec<SplitResult>,
    /// The holdout comparison, when the campaign holds some out.
    pub holdout: Option<HoldoutResult>,
    /// Messages delivered per day.
    pub delivered_per_day: Vec<DayCount>,
    /// Events naming this campaign that matched none of its messages.
    pub unmatched_events: u64,
}

/// What happened to one message after it was sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageResult {
    opens: u64,
    clicks: u64,
    opened: bool,
    clicked: bool,
    unsubscribed: bool,
    conversions: u64,
    revenue_cents: i64,
}

/// Computes the KPIs of `campaign` from its `recipients` (all its
/// journals, oldest first) and the tenant's `events`.
pub fn compute(
    campaign: &Campaign,
    recipients: &[Recipient],
    events: &[CustomerEvent],
) -> KpiReport {
    let recipients = distinct_messages(recipients);
    let settings = &campaign.feedback;
    let window = settings.conversion_window.0;
    let attributed = attribution::attribute(&campaign.id, &recipients, events, window);
    let results = &attributed.results;

    let mut segments: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut subjects: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut preheaders: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut days: BTreeMap<String, u64> = BTreeMap::new();
    for (index, recipient) in recipients.iter().enumerate() {
        for segment in &recipient.segments {
            segments.entry(segment).or_default().push(index);
        }
        if recipient.was_sent() {
            if let Some(subject) = &recipient.subject {
                subjects.entry(subject).or_default().push(index);
            }
            if let Some(preheader) = &recipient.preheader {
                preheaders.entry(preheader).or_default().push(index);
            }
        }
        if recipient.fate == Fate::Delivered {
            *days.entry(day_of(recipient.sent_at)).or_default() += 1;
        }
    }
    let group = |groups: BTreeMap<&str, Vec<usize>>| -> Vec<GroupKpis> {
        groups
            .into_iter()
            .map(|(key, members)| GroupKpis {
                key: key.to_string(),
                kpis: kpis_of(&recipients, results, members),
            })
            .collect()
    };
    let total = kpis_of(&recipients, results, 0..recipients.len());
    KpiReport {
        campaign: campaign.id.clone(),
        conversion_window: format_duration(window),
        ab_metric: settings.ab_metric.as_str().to_string(),
        segments: group(segments),
        subjects: group(subjects),
        preheaders: group(preheaders),
        splits: ab::splits(campaign, &recipients, results),
        holdout: ab::holdout(campaign, &recipients, &attributed.orders),
        delivered_per_day: days
            .into_iter()
            .map(|(day, delivered)| DayCount { day, delivered })
            .collect(),
        unmatched_events: attributed.unmatched,
        total,
    }
}

/// One record per message: a message sent again (same Message-ID) counts
/// once, as its latest record says.
fn distinct_messages(recipients: &[Recipient]) -> Vec<Recipient> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Recipient> = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        match recipient.message_id.as_deref() {
            Some(id) => match seen.get(id) {
                Some(&at) => out[at] = recipient.clone(),
                None => {
                    seen.insert(id, out.len());
                    out.push(recipient.clone());
                }
            },
            None => out.push(recipient.clone()),
        }
    }
    out
}

/// The KPIs of the recipients at `members`.
pub(crate) fn kpis_of(
    recipients: &[Recipient],
    results: &[MessageResult],
    members: impl IntoIterator<Item = usize>,
) -> Kpis {
    let mut kpis = Kpis::default();
    for index in members {
        let (recipient, result) = (&recipients[index], &results[index]);
        kpis.recipients += 1;
        match recipient.fate {
            Fate::Delivered => kpis.delivered += 1,
            Fate::Failed => kpis.failed += 1,
            Fate::Deferred if recipient.message_id.is_some() => kpis.deferred += 1,
            Fate::Suppressed => kpis.suppressed += 1,
            _ => {}
        }
        if recipient.was_sent() {
            kpis.sent += 1;
        }
        kpis.total_opens += result.opens;
        kpis.total_clicks += result.clicks;
        if recipient.fate != Fate::Delivered {
            continue;
        }
        kpis.tracked += u64::from(recipient.tracked);
        kpis.unique_opens += u64::from(result.opened || result.clicked);
        kpis.unique_clicks += u64::from(result.clicked);
        kpis.unsubscribes += u64::from(result.unsubscribed);
        kpis.conversions += result.conversions;
        kpis.converters += u64::from(result.conversions > 0);
        kpis.revenue_cents = kpis.revenue_cents.saturating_add(result.revenue_cents);
    }
    let rate = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    kpis.open_rate = rate(kpis.unique_opens, kpis.tracked);
    kpis.click_rate = rate(kpis.unique_clicks, kpis.tracked);
    kpis.click_to_open_rate = rate(kpis.unique_clicks, kpis.unique_opens);
    kpis.conversion_rate = rate(kpis.converters, kpis.delivered);
    kpis.unsubscribe_rate = rate(kpis.unsubscribes, kpis.delivered);
    kpis.flags = flags(&kpis);
    kpis
}

fn day_of(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
