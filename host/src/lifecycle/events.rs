//! Customer events: the public line format (`POST …/events`, one JSON
//! object a line) and its parsed, bounded form.
//!
//! ```json
//! {"id":"e-1","type":"order_placed","customer":"c-42","at":"2026-11-24T09:00:00Z",
//!  "order_id":"o-7","total_cents":4599,"currency":"EUR",
//!  "items":[{"sku":"s1","name":"Mug","category":"kitchen","price_cents":4599,"quantity":1}]}
//! ```
//!
//! Every event has an `id` unique within its tenant (a repeated id is the
//! same event), a `type`, the `customer` it is about and the time `at`
//! (RFC 3339) it happened. Unknown fields are ignored. Each line is checked
//! on its own: a bad line is rejected with its line number and reason and
//! the rest are kept.

use serde::{Deserialize, Serialize};

use crate::profile::{CartItem, Timestamp, format_time, parse_time};

/// Longest event id and customer id, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Longest free-text field (names, skus, categories, currencies), in bytes.
pub const MAX_TEXT_BYTES: usize = 256;
/// Most items an order or a cart may list.
pub const MAX_ITEMS: usize = 200;
/// Longest line, in bytes.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Rejected lines [`parse_lines`] keeps with their reasons (the first
/// ones); the rest are only counted, so a body of bad lines costs no more
/// memory than its good ones.
pub const MAX_LISTED_REJECTIONS: usize = 100;

/// What happened, with the fields of that kind of event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventData {
    /// The customer subscribed (marketing consent given). May carry the
    /// identity fields of a customer the tenant has not posted a profile
    /// for.
    Subscribed(Identity),
    /// The customer unsubscribed (marketing consent withdrawn), from the
    /// message named, if any (a one-click unsubscribe names it).
    Unsubscribed(EmailRef),
    /// Consent flags changed; an absent flag is unchanged.
    ConsentChanged {
        /// Agreed to marketing email.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email_marketing: Option<bool>,
        /// Agreed to tracking.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tracking: Option<bool>,
    },
    /// An order was placed.
    OrderPlaced {
        /// The shop's order id; two events for one order count once.
        order_id: String,
        /// Order total in cents.
        #[serde(default)]
        total_cents: i64,
        /// ISO 4217 currency.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
        /// What was bought.
        #[serde(default)]
        items: Vec<EventItem>,
    },
    /// The cart changed; no items means the cart was cleared.
    CartUpdated {
        /// The cart's items now.
        #[serde(default)]
        items: Vec<EventItem>,
    },
    /// A product page was viewed.
    ProductViewed {
        /// Stock keeping unit.
        sku: String,
        /// Category.
        #[serde(default)]
        category: String,
        /// Price in cents.
        #[serde(default)]
        price_cents: i64,
    },
    /// A visit to the site.
    SiteVisit {},
    /// A message was opened.
    EmailOpened(EmailRef),
    /// A link in a message was clicked.
    EmailClicked(EmailRef),
}

/// Identity fields a `subscribed` event may carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// BCP 47 locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// Which message an open, click or unsubscribe came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailRef {
    /// The campaign id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// The message's Message-ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The link followed (clicks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Longest link a click event may name, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// An order or cart line, as in the profile's cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventItem {
    /// Stock keeping unit.
    pub sku: String,
    /// Product name.
    #[serde(default)]
    pub name: String,
    /// Category.
    #[serde(default)]
    pub category: String,
    /// Unit price in cents.
    #[serde(default)]
    pub price_cents: i64,
    /// Units (at least 1).
    #[serde(default = "one")]
    pub quantity: u32,
}

fn one() -> u32 {
    1
}

impl From<&EventItem> for CartItem {
    fn from(item: &EventItem) -> Self {
        CartItem {
            sku: item.sku.clone(),
            name: item.name.clone(),
            category: item.category.clone(),
            price_cents: item.price_cents,
            quantity: item.quantity,
        }
    }
}

/// The kind of an event, without its fields (for triggers and exits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `subscribed`.
    Subscribed,
    /// `unsubscribed`.
    Unsubscribed,
    /// `consent_changed`.
    ConsentChanged,
    /// `order_placed`.
    OrderPlaced,
    /// `cart_updated`.
    CartUpdated,
    /// `product_viewed`.
    ProductViewed,
    /// `site_visit`.
    SiteVisit,
    /// `email_opened`.
    EmailOpened,
    /// `email_clicked`.
    EmailClicked,
}

impl EventKind {
    /// Every kind, as named in the line format.
    pub const ALL: [EventKind; 9] = [
        EventKind::Subscribed,
        EventKind::Unsubscribed,
        EventKind::ConsentChanged,
        EventKind::OrderPlaced,
        EventKind::CartUpdated,
        EventKind::ProductViewed,
        EventKind::SiteVisit,
        EventKind::EmailOpened,
        EventKind::EmailClicked,
    ];

    /// The name in the line format.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::Subscribed => "subscribed",
            EventKind::Unsubscribed => "unsubscribed",
            EventKind::ConsentChanged => "consent_changed",
            EventKind::OrderPlaced => "order_placed",
            EventKind::CartUpdated => "cart_updated",
            EventKind::ProductViewed => "product_viewed",
            EventKind::SiteVisit => "site_visit",
            EventKind::EmailOpened => "email_opened",
            EventKind::EmailClicked => "email_clicked",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// One customer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerEvent {
    /// Unique within the tenant.
    pub id: String,
    /// The customer it is about.
    pub customer: String,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub data: EventData,
}

impl CustomerEvent {
    /// The kind of event.
    pub fn kind(&self) -> EventKind {
        match &self.data {
            EventData::Subscribed(_) => EventKind::Subscribed,
            EventData::Unsubscribed(_) => EventKind::Unsubscribed,
            EventData::ConsentChanged { .. } => EventKind::ConsentChanged,
            EventData::OrderPlaced { .. } => EventKind::OrderPlaced,
            EventData::CartUpdated { .. } => EventKind::CartUpdated,
            EventData::ProductViewed { .. } => EventKind::ProductViewed,
            EventData::SiteVisit {} => EventKind::SiteVisit,
            EventData::EmailOpened(_) => EventKind::EmailOpened,
            EventData::EmailClicked(_) => EventKind::EmailClicked,
        }
    }

    /// The money an event carries: an order's total, a cart's value.
    pub fn value_cents(&self) -> Option<i64> {
        match &self.data {
            EventData::OrderPlaced { total_cents, .. } => Some(*total_cents),
            EventData::CartUpdated { items } => Some(cart_value(items)),
            EventData::ProductViewed { price_cents, .. } => Some(*price_cents),
            _ => None,
        }
    }

    /// The event as one JSON line of the public format.
    pub fn to_json(&self) -> String {
        let line = Line {
            id: self.id.clone(),
            customer: self.customer.clone(),
            at: format_time(self.at),
            data: self.data.clone(),
        };
        serde_json::to_string(&line).expect("an event serializes")
    }

    /// Parses one line of the public format, checking every bound.
    pub fn from_json(line: &[u8]) -> Result<CustomerEvent, String> {
        if line.len() > MAX_LINE_BYTES {
            return Err(format!(
                "the line has {} bytes, more than the limit of {MAX_LINE_BYTES}",
                line.len()
            ));
        }
        let line: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let at = parse_time(&line.at)?;
        let event = CustomerEvent {
            id: line.id,
            customer: line.customer,
            at,
            data: line.data,
        };
        event.check()?;
        Ok(event)
    }

    fn check(&self) -> Result<(), String> {
        check_id("id", &self.id)?;
        check_id("customer", &self.customer)?;
        // Years 1970 to 2999 (3000-01-01T00:00:00Z is 32,503,680,000):
        // anything else is a unit mix-up.
        if !(0..32_503_680_000).contains(&self.at) {
            return Err(format!(
                "`at` {} is outside 1970–2999",
                format_time(self.at)
            ));
        }
        match &self.data {
            EventData::Subscribed(identity) => {
                for (name, value) in [
                    ("email", &identity.email),
                    ("first_name", &identity.first_name),
                    ("last_name", &identity.last_name),
                    ("locale", &identity.locale),
                    ("timezone", &identity.timezone),
                    ("country", &identity.country),
                ] {
                    if let Some(value) = value {
                        check_text(name, value)?;
                    }
                }
                if let Some(email) = &identity.email
                    && !crate::profile::is_email_address(email)
                {
                    return Err(format!(
                        "`{}` is not an email address",
                        email.escape_debug()
                    ));
                }
            }
            EventData::OrderPlaced {
                order_id,
                total_cents,
                currency,
                items,
            } => {
                check_id("order_id", order_id)?;
                if *total_cents < 0 {
                    return Err(format!("`total_cents` {total_cents} is negative"));
                }
                if let Some(currency) = currency {
                    check_text("currency", currency)?;
                }
                check_items(items)?;
            }
            EventData::CartUpdated { items } => check_items(items)?,
            EventData::ProductViewed {
                sku,
                category,
                price_cents,
            } => {
                check_id("sku", sku)?;
                check_text("category", category)?;
                if *price_cents < 0 {
                    return Err(format!("`price_cents` {price_cents} is negative"));
                }
            }
            EventData::EmailOpened(reference)
            | EventData::EmailClicked(reference)
            | EventData::Unsubscribed(reference) => {
                for (name, value) in [
                    ("campaign", &reference.campaign),
                    ("message_id", &reference.message_id),
                ] {
                    if let Some(value) = value {
                        check_text(name, value)?;
                    }
                }
                if let Some(url) = &reference.url {
                    if url.len() > MAX_URL_BYTES {
                        return Err(format!(
                            "`url` has {} bytes, more than the limit of {MAX_URL_BYTES}",
                            url.len()
                        ));
                    }
                    if url.chars().any(char::is_control) {
                        return Err("`url` contains a control character".into());
                    }
                }
            }
            EventData::ConsentChanged { .. } | EventData::SiteVisit {} => {}
        }
        Ok(())
    }
}

/// The total value of cart or order lines, in cents.
pub fn cart_value(items: &[EventItem]) -> i64 {
    items
        .iter()
        .map(|item| item.price_cents.saturating_mul(i64::from(item.quantity)))
        .fold(0i64, i64::saturating_add)
}

#[derive(Serialize, Deserialize)]
struct Line {
    id: String,
    customer: String,
    at: String,
    #[serde(flatten)]
    data: EventData,
}

fn check_id(name: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("`{name}` must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(format!(
            "`{name}` has {} bytes, more than the limit of {MAX_ID_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{name}` contains a control character"));
    }
    Ok(())
}

fn check_text(name: &str, value: &str) -> Result<(), String> {
    if value.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "`{name}` has {} bytes, more than the limit of {MAX_TEXT_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("`{name}` contains a control character"));
    }
    Ok(())
}

fn check_items(items: &[EventItem]) -> Result<(), String> {
    if items.len() > MAX_ITEMS {
        return Err(format!(
            "{} items, more than the limit of {MAX_ITEMS}",
            items.len()
        ));
    }
    for item in items {
        check_id("items.sku", &item.sku)?;
        check_text("items.name", &item.name)?;
        check_text("items.category", &item.category)?;
        if item.price_cents < 0 {
            return Err(format!(
                "item `{}` has a negative price",
                item.sku.escape_debug()
            ));
        }
        if item.quantity == 0 {
            return Err(format!("item `{}` has quantity 0", item.sku.escape_debug()));
        }
    }
    Ok(())
}

/// A line that was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedLine {
    /// 1-based line number in the body.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The events of a JSON Lines body: the good ones with their line numbers,
/// and the rejected lines. Blank lines are skipped.
#[derive(Debug, Default)]
pub struct ParsedEvents {
    /// Accepted events and the line each was on.
    pub events: Vec<(usize, CustomerEvent)>,
    /// The first [`MAX_LISTED_REJECTIONS`] lines that were not accepted.
    pub rejected: Vec<RejectedLine>,
    /// How many lines were not accepted, listed or not.
    pub rejected_count: usize,
}

impl ParsedEvents {
    /// Counts a rejected line, and lists it while the list is short.
    pub fn reject(&mut self, line: usize, reason: impl FnOnce() -> String) {
        self.rejected_count += 1;
        if self.rejected.len() < MAX_LISTED_REJECTIONS {
            self.rejected.push(RejectedLine {
                line,
                reason: reason(),
            });
        }
    }
}

/// Parses a JSON Lines body of events; at most `max_events` are kept, the
/// lines after that are rejected as over the limit.
pub fn parse_lines(body: &[u8], max_events: usize) -> ParsedEvents {
    let mut parsed = ParsedEvents::default();
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        let line_number = index + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if parsed.events.len() >= max_events {
            parsed.reject(line_number, || {
                format!("more than {max_events} events in one request")
            });
            continue;
        }
        match CustomerEvent::from_json(line) {
            Ok(event) => parsed.events.push((line_number, event)),
            Err(reason) => parsed.reject(line_number, || reason),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_line_parses_and_prints_back_the_same() {
        let line = r#"{"id":"e1","customer":"c1","at":"2026-11-24T09:00:00Z","type":"order_placed","order_id":"o1","total_cents":4599,"currency":"EUR","items":[{"sku":"s1","name":"Mug","category":"kitchen","price_cents":4599,"quantity":1}]}"#;
        let event = CustomerEvent::from_json(line.as_bytes()).unwrap();
        assert_eq!(event.kind(), EventKind::OrderPlaced);
        assert_eq!(event.at, 1_795_510_800);
        assert_eq!(event.value_cents(), Some(4599));
        let back = CustomerEvent::from_json(event.to_json().as_bytes()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn every_kind_parses_from_its_name() {
        for kind in EventKind::ALL {
            let extra = match kind {
                EventKind::OrderPlaced => r#","order_id":"o1""#,
                EventKind::ProductViewed => r#","sku":"s1""#,
                _ => "",
            };
            let line = format!(
                r#"{{"id":"e","customer":"c","at":"2026-01-01T00:00:00Z","type":"{}"{extra}}}"#,
                kind.as_str()
            );
            let event = CustomerEvent::from_json(line.as_bytes()).unwrap();
            assert_eq!(event.kind(), kind, "{line}");
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn bad_lines_are_rejected_with_their_number_and_the_rest_kept() {
        let body = concat!(
            r#"{"id":"e1","customer":"c1","at":"2026-01-01T00:00:00Z","type":"site_visit"}"#,
            "\n\n",
            r#"{"id":"e2","customer":"c1","at":"yesterday","type":"site_visit"}"#,
            "\n",
            r#"{"id":"e3","customer":"c1","at":"2026-01-01T00:00:00Z","type":"teleported"}"#,
            "\n",
            r#"{"id":"","customer":"c1","at":"2026-01-01T00:00:00Z","type":"site_visit"}"#,
            "\n",
            r#"{"id":"e5","customer":"c1","at":"2026-01-01T00:00:00Z","type":"cart_updated","items":[{"sku":"s","quantity":0}]}"#,
            "\n",
            r#"{"id":"e6","customer":"c1","at":"2026-01-01T00:00:00Z","type":"subscribed","email":"x\r\nBcc: y@z"}"#,
            "\nnot json\n",
        );
        let parsed = parse_lines(body.as_bytes(), 100);
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.events[0].0, 1);
        let lines: Vec<usize> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7, 8]);
        assert!(parsed.rejected[0].reason.contains("`yesterday`"));
        assert!(parsed.rejected[1].reason.contains("teleported"));
        assert!(parsed.rejected[2].reason.contains("`id` must not be empty"));
        assert!(parsed.rejected[3].reason.contains("quantity 0"));
        assert!(parsed.rejected[4].reason.contains("control character"));
    }

    #[test]
    fn the_event_count_is_capped_per_body() {
        let line = r#"{"id":"e","customer":"c","at":"2026-01-01T00:00:00Z","type":"site_visit"}"#;
        let body = [line; 5].join("\n");
        let parsed = parse_lines(body.as_bytes(), 3);
        assert_eq!(parsed.events.len(), 3);
        assert_eq!(parsed.rejected.len(), 2);
        assert!(parsed.rejected[0].reason.contains("more than 3 events"));
    }

    #[test]
    fn times_are_from_1970_to_2999() {
        let at = |time: &str| {
            CustomerEvent::from_json(
                format!(r#"{{"id":"e","customer":"c","at":"{time}","type":"site_visit"}}"#)
                    .as_bytes(),
            )
            .map(|event| event.at)
        };
        assert_eq!(at("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(at("2999-12-31T23:59:59Z"), Ok(32_503_679_999));
        assert_eq!(
            at("3000-01-01T00:00:00Z"),
            Err("`at` 3000-01-01T00:00:00Z is outside 1970–2999".into())
        );
        assert_eq!(
            at("1969-12-31T23:59:59Z"),
            Err("`at` 1969-12-31T23:59:59Z is outside 1970–2999".into())
        );
    }

    #[test]
    fn a_body_of_bad_lines_is_counted_but_only_its_first_lines_listed() {
        let body = "x\n".repeat(10_000);
        let parsed = parse_lines(body.as_bytes(), 100);
        assert!(parsed.events.is_empty());
        assert_eq!(parsed.rejected_count, 10_000);
        assert_eq!(parsed.rejected.len(), MAX_LISTED_REJECTIONS);
        let lines: Vec<usize> = parsed.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, (1..=100).collect::<Vec<_>>());
    }

    #[test]
    fn a_cart_value_is_price_times_quantity() {
        let items = vec![
            EventItem {
                sku: "a".into(),
                name: String::new(),
                category: String::new(),
                price_cents: 1250,
                quantity: 2,
            },
            EventItem {
                sku: "b".into(),
                name: String::new(),
                category: String::new(),
                price_cents: 300,
                quantity: 1,
            },
        ];
        assert_eq!(cart_value(&items), 2800);
    }
}
