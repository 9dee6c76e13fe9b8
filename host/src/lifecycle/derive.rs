//! Profiles derived from a customer's events, at a given time.
//!
//! [`derive`] starts from the profile the tenant posted (if any) and
//! replaces each group of fields that events speak about with what the
//! events say as of `now` (events after `now` are not seen yet):
//!
//! | field | from |
//! |---|---|
//! | identity (email, names, locale, timezone, country) | the latest `subscribed` event carrying it |
//! | `subscribed_at` | the latest `subscribed` |
//! | `consent` | `subscribed` (marketing on), `unsubscribed` (off), `consent_changed`, applied in time order |
//! | `orders.*` | `order_placed` (one per `order_id`): count, spend, currency of the latest, first and last order, orders within 90 days, categories by units bought (most first) |
//! | `engagement` | `email_opened` / `email_clicked`: last open and click, opens and clicks within 30 days |
//! | `behavior.last_visit_at` | the latest `site_visit` |
//! | `behavior.viewed_products` | `product_viewed` within 30 days, latest view per sku, most recent first (at most 50) |
//! | `behavior.viewed_categories` | the categories of those views, most viewed first |
//! | `behavior.cart` | the latest `cart_updated` (no items: no cart) |
//!
//! A group without events keeps the posted profile's values, so posted
//! (pre-computed) fields and events can be mixed. "Within d days" means
//! `now − d days ≤ t ≤ now`, as in the rule SDK. Ties in time are broken by
//! event id, so the result does not depend on arrival order.
//!
//! Orders older than what any windowed field needs may be folded into an
//! [`OrderSummary`] (compaction); [`derive`] counts it as if its orders were
//! still there.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::events::{CustomerEvent, EventData, EventItem};
use crate::profile::{
    Behavior, Cart, CartItem, Consent, Engagement, Orders, Profile, Timestamp, ViewedProduct,
};

const DAY: i64 = 86_400;
/// The window of `orders_90d`.
pub const ORDERS_WINDOW_DAYS: i64 = 90;
/// The window of opens, clicks and viewed products.
pub const ENGAGEMENT_WINDOW_DAYS: i64 = 30;
/// Most viewed products kept.
pub const MAX_VIEWED_PRODUCTS: usize = 50;

/// Orders folded away by compaction, counted as if still there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSummary {
    /// Orders folded.
    pub count: u32,
    /// Their total, in cents.
    pub total_spent_cents: i64,
    /// The first of them.
    pub first_order_at: Option<Timestamp>,
    /// The last of them.
    pub last_order_at: Option<Timestamp>,
    /// Currency of the last of them.
    pub currency: Option<String>,
    /// Units bought per category, with the last purchase time.
    pub categories: BTreeMap<String, (u64, Timestamp)>,
    /// Order ids folded, so a late copy of one does not count twice.
    pub order_ids: Vec<String>,
}

/// Why no profile can be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeriveError {
    /// Neither a posted profile nor a `subscribed` event gives an address.
    #[error(
        "customer `{0}` has no email address: post a profile or a `subscribed` event with `email`"
    )]
    NoAddress(String),
}

/// The profile of `customer` at `now`: `base` (the posted profile, if any)
/// with every group events speak about derived from `events` (any order;
/// only this customer's) and the compacted `summary`.
pub fn derive(
    customer: &str,
    base: Option<&Profile>,
    events: &[CustomerEvent],
    summary: Option<&OrderSummary>,
    now: Timestamp,
) -> Result<Profile, DeriveError> {
    let mut seen: Vec<&CustomerEvent> = events
        .iter()
        .filter(|e| e.at <= now && e.customer == customer)
        .collect();
    seen.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));

    let mut profile = match base {
        Some(base) => base.clone(),
        None => Profile {
            id: customer.to_string(),
            email: String::new(),
            first_name: None,
            last_name: None,
            locale: None,
            timezone: None,
            country: None,
            birth_date: None,
            subscribed_at: None,
            consent: Consent::default(),
            orders: Orders::default(),
            engagement: Engagement::default(),
            behavior: Behavior::default(),
            tags: Vec::new(),
            attributes: vec![0x80],
        },
    };
    apply_identity_and_consent(&mut profile, &seen);
    if profile.email.is_empty() {
        return Err(DeriveError::NoAddress(customer.to_string()));
    }
    if let Some(orders) = derive_orders(&seen, summary, now) {
        profile.orders = orders;
    }
    if let Some(engagement) = derive_engagement(&seen, now, profile.engagement.emails_received_30d)
    {
        profile.engagement = engagement;
    }
    derive_behavior(&mut profile.behavior, &seen, now);
    Ok(profile)
}

fn within(t: Timestamp, now: Timestamp, days: i64) -> bool {
    now - days * DAY <= t && t <= now
}

fn apply_identity_and_consent(profile: &mut Profile, events: &[&CustomerEvent]) {
    for event in events {
        match &event.data {
            EventData::Subscribed(identity) => {
                profile.subscribed_at = Some(event.at);
                profile.consent.email_marketing = true;
                let set = |field: &mut Option<String>, value: &Option<String>| {
                    if value.is_some() {
                        field.clone_from(value);
                    }
                };
                if let Some(email) = &identity.email {
                    profile.email.clone_from(email);
                }
                set(&mut profile.first_name, &identity.first_name);
                set(&mut profile.last_name, &identity.last_name);
                set(&mut profile.locale, &identity.locale);
                set(&mut profile.timezone, &identity.timezone);
                set(&mut profile.country, &identity.country);
            }
            EventData::Unsubscribed(_) => profile.consent.email_marketing = false,
            EventData::ConsentChanged {
                email_marketing,
                tracking,
            } => {
                if let Some(value) = email_marketing {
                    profile.consent.email_marketing = *value;
                }
                if let Some(value) = tracking {
                    profile.consent.tracking = *value;
                }
            }
            _ => {}
        }
    }
}

fn derive_orders(
    events: &[&CustomerEvent],
    summary: Option<&OrderSummary>,
    now: Timestamp,
) -> Option<Orders> {
    let mut orders = Orders::default();
    let mut categories: BTreeMap<String, (u64, Timestamp)> = BTreeMap::new();
    let mut order_ids: Vec<&str> = Vec::new();
    let mut any = false;
    if let Some(summary) = summary.filter(|s| s.count > 0) {
        any = true;
        orders.count = summary.count;
        orders.total_spent_cents = summary.total_spent_cents;
        orders.first_order_at = summary.first_order_at;
        orders.last_order_at = summary.last_order_at;
        orders.currency.clone_from(&summary.currency);
        // Folded orders are older than the 90-day window by construction,
        // but the check keeps this true whatever `now` is.
        if let Some(last) = summary.last_order_at
            && within(last, now, ORDERS_WINDOW_DAYS)
        {
            orders.orders_90d += 1;
        }
        categories.clone_from(&summary.categories);
        order_ids.extend(summary.order_ids.iter().map(String::as_str));
    }
    for order in events.iter().copied().filter_map(Order::of) {
        if order_ids.contains(&order.order_id) {
            continue;
        }
        order_ids.push(order.order_id);
        any = true;
        orders.count = orders.count.saturating_add(1);
        orders.total_spent_cents = orders.total_spent_cents.saturating_add(order.total_cents);
        orders.first_order_at = Some(orders.first_order_at.map_or(order.at, |t| t.min(order.at)));
        orders.last_order_at = Some(orders.last_order_at.map_or(order.at, |t| t.max(order.at)));
        if order.currency.is_some() {
            orders.currency.clone_from(order.currency);
        }
        if within(order.at, now, ORDERS_WINDOW_DAYS) {
            orders.orders_90d += 1;
        }
        count_units(&mut categories, order.items, order.at);
    }
    any.then(|| {
        orders.categories = ranked(categories);
        orders
    })
}

/// An `order_placed` event's fields, with its id and time.
struct Order<'a> {
    event_id: &'a str,
    at: Timestamp,
    order_id: &'a str,
    total_cents: i64,
    currency: &'a Option<String>,
    items: &'a [EventItem],
}

impl<'a> Order<'a> {
    /// The order `event` places, if it places one.
    fn of(event: &'a CustomerEvent) -> Option<Self> {
        match &event.data {
            EventData::OrderPlaced {
                order_id,
                total_cents,
                currency,
                items,
            } => Some(Order {
                event_id: &event.id,
                at: event.at,
                order_id,
                total_cents: *total_cents,
                currency,
                items,
            }),
            _ => None,
        }
    }
}

/// Adds the units of `items` to their categories' counts, with the time.
fn count_units(
    categories: &mut BTreeMap<String, (u64, Timestamp)>,
    items: &[EventItem],
    at: Timestamp,
) {
    for item in items.iter().filter(|i| !i.category.is_empty()) {
        let entry = categories.entry(item.category.clone()).or_insert((0, 0));
        entry.0 += u64::from(item.quantity);
        entry.1 = entry.1.max(at);
    }
}

/// Names by count (most first), then by the latest time, then by name.
fn ranked(counts: impl IntoIterator<Item = (String, (u64, Timestamp))>) -> Vec<String> {
    let mut ranked: Vec<(String, (u64, Timestamp))> = counts.into_iter().collect();
    ranked.sort_by(|(a, (ca, ta)), (b, (cb, tb))| cb.cmp(ca).then(tb.cmp(ta)).then(a.cmp(b)));
    ranked.into_iter().map(|(name, _)| name).collect()
}

fn derive_engagement(
    events: &[&CustomerEvent],
    now: Timestamp,
    emails_received_30d: u32,
) -> Option<Engagement> {
    let mut engagement = Engagement {
        emails_received_30d,
        ..Engagement::default()
    };
    let mut any = false;
    for event in events {
        let (last, count) = match &event.data {
            EventData::EmailOpened(_) => (&mut engagement.last_open_at, &mut engagement.opens_30d),
            EventData::EmailClicked(_) => {
                (&mut engagement.last_click_at, &mut engagement.clicks_30d)
            }
            _ => continue,
        };
        any = true;
        *last = Some(last.map_or(event.at, |t| t.max(event.at)));
        if within(event.at, now, ENGAGEMENT_WINDOW_DAYS) {
            *count += 1;
        }
    }
    any.then_some(engagement)
}

fn derive_behavior(behavior: &mut Behavior, events: &[&CustomerEvent], now: Timestamp) {
    let mut viewed: HashMap<&str, ViewedProduct> = HashMap::new();
    let mut any_view = false;
    for event in events {
        match &event.data {
            EventData::SiteVisit {} => {
                behavior.last_visit_at = Some(event.at.max(behavior.last_visit_at.unwrap_or(0)));
            }
            EventData::CartUpdated { items } => {
                behavior.cart = (!items.is_empty()).then(|| Cart {
                    items: items.iter().map(CartItem::from).collect(),
                    updated_at: event.at,
                });
            }
            EventData::ProductViewed {
                sku,
                category,
                price_cents,
            } => {
                any_view = true;
                if within(event.at, now, ENGAGEMENT_WINDOW_DAYS) {
                    // Events are in time order: the last view of a sku wins.
                    viewed.insert(
                        sku,
                        ViewedProduct {
                            sku: sku.clone(),
                            category: category.clone(),
                            price_cents: *price_cents,
                            viewed_at: event.at,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    if !any_view {
        return;
    }
    let mut products: Vec<ViewedProduct> = viewed.into_values().collect();
    products.sort_by(|a, b| b.viewed_at.cmp(&a.viewed_at).then(a.sku.cmp(&b.sku)));
    products.truncate(MAX_VIEWED_PRODUCTS);
    let mut categories: HashMap<String, (u64, Timestamp)> = HashMap::new();
    for product in products.iter().filter(|p| !p.category.is_empty()) {
        let entry = categories.entry(product.category.clone()).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(product.viewed_at);
    }
    behavior.viewed_categories = ranked(categories);
    behavior.viewed_products = products;
}

/// Folds the orders of `events` older than the 90-day window before `now`
/// into `summary`; returns the ids of the events folded (to delete).
pub fn fold_old_orders(
    summary: &mut OrderSummary,
    events: &[CustomerEvent],
    now: Timestamp,
) -> Vec<String> {
    let horizon = now - ORDERS_WINDOW_DAYS * DAY;
    let mut old: Vec<Order<'_>> = events
        .iter()
        .filter_map(Order::of)
        .filter(|o| o.at < horizon)
        .collect();
    old.sort_by(|a, b| (a.at, a.event_id).cmp(&(b.at, b.event_id)));
    let mut folded = Vec::with_capacity(old.len());
    for order in old {
        folded.push(order.event_id.to_string());
        if summary.order_ids.iter().any(|id| id == order.order_id) {
            continue;
        }
        summary.order_ids.push(order.order_id.to_string());
        summary.count = summary.count.saturating_add(1);
        summary.total_spent_cents = summary.total_spent_cents.saturating_add(order.total_cents);
        summary.first_order_at = Some(summary.first_order_at.map_or(order.at, |t| t.min(order.at)));
        if summary.last_order_at.is_none_or(|t| t <= order.at) {
            summary.last_order_at = Some(order.at);
            if order.currency.is_some() {
                summary.currency.clone_from(order.currency);
            }
        }
        count_units(&mut summary.categories, order.items, order.at);
    }
    folded
}

/// Events older than `horizon` that no derived field can need any more:
/// of visits, opens, clicks, views, carts and unsubscribes before the
/// horizon, all but the latest of each kind (the latest keeps "last …"
/// times, the cart and the consent order). Orders are folded instead
/// ([`fold_old_orders`]); subscriptions and consent changes are kept.
/// `horizon` must be at least 90 days before any `now` derived later.
pub fn superseded_events(events: &[CustomerEvent], horizon: Timestamp) -> Vec<String> {
    use super::events::EventKind;
    let mut latest: HashMap<EventKind, &CustomerEvent> = HashMap::new();
    let mut old = Vec::new();
    for event in events.iter().filter(|e| e.at < horizon) {
        let kind = event.kind();
        if matches!(
            kind,
            EventKind::OrderPlaced | EventKind::Subscribed | EventKind::ConsentChanged
        ) {
            continue;
        }
        old.push(event);
        let newer = latest
            .get(&kind)
            .is_none_or(|l| (event.at, &event.id) > (l.at, &l.id));
        if newer {
            latest.insert(kind, event);
        }
    }
    old.into_iter()
        .filter(|e| !latest.values().any(|l| l.id == e.id))
        .map(|e| e.id.clone())
        .collect()
}

#[cfg(test)]
mod tests;
