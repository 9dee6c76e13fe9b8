//! Which message each open, click, unsubscribe and order belongs to.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{MessageResult, Recipient};
use crate::lifecycle::events::{CustomerEvent, EmailRef, EventData};

/// An order, once per order id.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) customer: String,
    pub(crate) at: i64,
}

/// The events matched to messages.
pub(crate) struct Attributed {
    /// Per recipient, in the order given.
    pub(crate) results: Vec<MessageResult>,
    /// Every order of the events (first event of each order id).
    pub(crate) orders: Vec<Order>,
    /// Events naming the campaign that matched no message.
    pub(crate) unmatched: u64,
}

/// A click as attribution sees it: when, and on which of this campaign's
/// messages (`None`: another campaign's, or one not known).
struct Click {
    at: i64,
    message: Option<usize>,
}

/// Matches `events` to the `recipients` of campaign `campaign`, and
/// orders to the latest click within `window` before them.
pub(crate) fn attribute(
    campaign: &str,
    recipients: &[Recipient],
    events: &[CustomerEvent],
    window: i64,
) -> Attributed {
    let by_message: HashMap<&str, usize> = recipients
        .iter()
        .enumerate()
        .filter(|(_, r)| r.was_sent())
        .filter_map(|(index, r)| r.message_id.as_deref().map(|id| (id, index)))
        .collect();
    let mut by_customer: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, recipient) in recipients.iter().enumerate() {
        if recipient.was_sent() {
            by_customer
                .entry(&recipient.customer)
                .or_default()
                .push(index);
        }
    }
    for messages in by_customer.values_mut() {
        messages.sort_by_key(|&index| recipients[index].sent_at);
    }
    let find = |event: &CustomerEvent, reference: &EmailRef| -> Lookup {
        if reference
            .campaign
            .as_deref()
            .is_some_and(|named| named != campaign)
        {
            return Lookup::Elsewhere;
        }
        if let Some(id) = reference.message_id.as_deref() {
            return match by_message.get(id) {
                Some(&index) if recipients[index].customer == event.customer => {
                    Lookup::Found(index)
                }
                Some(_) => Lookup::Ignored,
                None if reference.campaign.is_some() => Lookup::Unmatched,
                None => Lookup::Elsewhere,
            };
        }
        if reference.campaign.is_none() {
            return Lookup::Elsewhere;
        }
        let latest = by_customer
            .get(event.customer.as_str())
            .and_then(|messages| {
                messages
                    .iter()
                    .rev()
                    .find(|&&index| recipients[index].sent_at <= event.at)
                    .copied()
            });
        latest.map_or(Lookup::Unmatched, Lookup::Found)
    };

    let mut sorted: Vec<&CustomerEvent> = events.iter().collect();
    sorted.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    let mut results = vec![MessageResult::default(); recipients.len()];
    let mut unmatched = 0;
    let mut clicks: HashMap<&str, Vec<Click>> = HashMap::new();
    let mut orders: BTreeMap<&str, (&CustomerEvent, i64)> = BTreeMap::new();
    let mut seen_events = HashSet::new();
    for event in sorted {
        if !seen_events.insert(event.id.as_str()) {
            continue;
        }
        match &event.data {
            EventData::EmailOpened(reference) => match find(event, reference) {
                Lookup::Found(index) => {
                    results[index].opens += 1;
                    results[index].opened = true;
                }
                Lookup::Unmatched => unmatched += 1,
                Lookup::Elsewhere | Lookup::Ignored => {}
            },
            EventData::EmailClicked(reference) => {
                let message = match find(event, reference) {
                    Lookup::Found(index) => {
                        results[index].clicks += 1;
                        results[index].clicked = true;
                        Some(index)
                    }
                    Lookup::Unmatched => {
                        unmatched += 1;
                        None
                    }
                    Lookup::Elsewhere | Lookup::Ignored => None,
                };
                clicks.entry(&event.customer).or_default().push(Click {
                    at: event.at,
                    message,
                });
            }
            EventData::Unsubscribed(reference) => match find(event, reference) {
                Lookup::Found(index) => results[index].unsubscribed = true,
                Lookup::Unmatched => unmatched += 1,
                Lookup::Elsewhere | Lookup::Ignored => {}
            },
            EventData::OrderPlaced {
                order_id,
                total_cents,
                ..
            } => {
                orders.entry(order_id).or_insert((event, *total_cents));
            }
            _ => {}
        }
    }
    let mut all_orders = Vec::with_capacity(orders.len());
    for (event, total_cents) in orders.into_values() {
        all_orders.push(Order {
            customer: event.customer.clone(),
            at: event.at,
        });
        // Clicks are in time order: the latest one at or before the order.
        let last_click = clicks.get(event.customer.as_str()).and_then(|clicks| {
            clicks
                .iter()
                .rev()
                .find(|click| click.at <= event.at)
                .filter(|click| event.at - click.at <= window)
        });
        if let Some(&Click {
            message: Some(index),
            ..
        }) = last_click
        {
            results[index].conversions += 1;
            results[index].revenue_cents = results[index].revenue_cents.saturating_add(total_cents);
        }
    }
    Attributed {
        results,
        orders: all_orders,
        unmatched,
    }
}

/// Where an event's message is.
enum Lookup {
    /// This campaign's message at this index.
    Found(usize),
    /// Names this campaign, but none of its messages.
    Unmatched,
    /// Names a message of another customer: not counted.
    Ignored,
    /// Another campaign's (or no campaign's).
    Elsewhere,
}
