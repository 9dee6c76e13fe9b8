//! The customer profile: its public JSON / MessagePack format and the parsed
//! form the host hands to rules.
//!
//! Field names are part of the public format (see `profile.schema.json` at the
//! repository root). Times are RFC 3339 strings and become whole seconds since
//! the Unix epoch once, at parse time. Missing optional fields mean null or
//! empty; a missing `consent` means no consent. Unknown fields are ignored, so
//! exports with extra columns load unchanged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// One customer, as read from the profile stream.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Profile {
    /// The tenant's customer id (required, non-empty).
    #[serde(deserialize_with = "non_empty")]
    pub id: String,
    /// The recipient's address (required, must contain `@`).
    #[serde(deserialize_with = "email_address")]
    pub email: String,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// BCP 47 locale.
    #[serde(default)]
    pub locale: Option<String>,
    /// IANA time zone.
    #[serde(default)]
    pub timezone: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default)]
    pub country: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    #[serde(default, deserialize_with = "date")]
    pub birth_date: Option<String>,
    /// When the customer subscribed.
    #[serde(default, deserialize_with = "time", serialize_with = "write_time")]
    pub subscribed_at: Option<Timestamp>,
    /// Consent flags; absent means no consent at all.
    #[serde(default, deserialize_with = "null_as_default")]
    pub consent: Consent,
    /// Purchase history.
    #[serde(default, deserialize_with = "null_as_default")]
    pub orders: Orders,
    /// Email engagement.
    #[serde(default, deserialize_with = "null_as_default")]
    pub engagement: Engagement,
    /// Browsing and cart.
    #[serde(default, deserialize_with = "null_as_default")]
    pub behavior: Behavior,
    /// The tenant's tags.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    /// Custom attributes, re-encoded as one MessagePack map.
    #[serde(
        default = "empty_attributes",
        deserialize_with = "attributes",
        serialize_with = "write_attributes"
    )]
    pub attributes: Vec<u8>,
}

/// Consent flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Consent {
    /// Agreed to marketing email.
    #[serde(default, deserialize_with = "null_as_default")]
    pub email_marketing: bool,
    /// Agreed to tracking.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tracking: bool,
}

/// Purchase history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Orders {
    /// Orders ever placed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub count: u32,
    /// Lifetime spend in cents.
    #[serde(default, deserialize_with = "null_as_default")]
    pub total_spent_cents: i64,
    /// ISO 4217 currency of the totals.
    #[serde(default)]
    pub currency: Option<String>,
    /// First order time.
    #[serde(default, deserialize_with = "time", serialize_with = "write_time")]
    pub first_order_at: Option<Timestamp>,
    /// Last order time.
    #[serde(default, deserialize_with = "time", serialize_with = "write_time")]
    pub last_order_at: Option<Timestamp>,
    /// Orders in the last 90 days.
    #[serde(default, deserialize_with = "null_as_default")]
    pub orders_90d: u32,
    /// Purchased categories, most purchased first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub categories: Vec<String>,
}

/// Email engagement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Engagement {
    /// Last open time.
    #[serde(default, deserialize_with = "time", serialize_with = "write_time")]
    pub last_open_at: Option<Timestamp>,
    /// Last click time.
    #[serde(default, deserialize_with = "time", serialize_with = "write_time")]
    pub last_click_at: Option<Timestamp>,
    /// Opens in 30 days.
    #[serde(default, deserialize_with = "null_as_default")]
    pub opens_30d: u32,
    /// Clicks in 30 days.
    #[serde(default, deserialize_with = "null_as_default")]
    pub clicks_30d: u32,
    /// Emails received in 30 days.
    #[serde(default, deserialize_with = "null_as_default")]
    pub emails_received_30d: u32,
}

/// Browsing and cart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Behavior {
    /// Last site visit.
    #[serde(default, deserialize_with = "time", serialize_with = "write_time")]
    pub last_visit_at: Option<Timestamp>,
    /// Browsed categories, most viewed first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub viewed_categories: Vec<String>,
    /// Viewed products, most recent first.
    #[serde(default, deserialize_with = "null_as_default")]
    pub viewed_products: Vec<ViewedProduct>,
    /// The open cart.
    #[serde(default)]
    pub cart: Option<Cart>,
}

/// A viewed product.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ViewedProduct {
    /// Stock keeping unit.
    pub sku: String,
    /// Category.
    #[serde(default, deserialize_with = "null_as_default")]
    pub category: String,
    /// Price in cents.
    #[serde(default, deserialize_with = "null_as_default")]
    pub price_cents: i64,
    /// When it was viewed.
    #[serde(
        deserialize_with = "required_time",
        serialize_with = "write_required_time"
    )]
    pub viewed_at: Timestamp,
}

/// The open cart.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Cart {
    /// Items in the cart.
    #[serde(default, deserialize_with = "null_as_default")]
    pub items: Vec<CartItem>,
    /// When the cart last changed.
    #[serde(
        deserialize_with = "required_time",
        serialize_with = "write_required_time"
    )]
    pub updated_at: Timestamp,
}

/// One cart line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct CartItem {
    /// Stock keeping unit.
    pub sku: String,
    /// Product name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Category.
    #[serde(default, deserialize_with = "null_as_default")]
    pub category: String,
    /// Unit price in cents.
    #[serde(default, deserialize_with = "null_as_default")]
    pub price_cents: i64,
    /// Units.
    #[serde(default = "one", deserialize_with = "quantity")]
    pub quantity: u32,
}

/// An empty MessagePack map.
fn empty_attributes() -> Vec<u8> {
    vec![0x80]
}

fn one() -> u32 {
    1
}

/// Parses an RFC 3339 time into whole seconds since the epoch.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e}), e.g. 2026-11-24T09:00:00Z"))
}

/// A time as RFC 3339 UTC, whole seconds.
pub fn format_time(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| at.to_string())
}

fn write_time<S: Serializer>(at: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_some(&format_time(*at)),
        None => s.serialize_none(),
    }
}

fn write_required_time<S: Serializer>(at: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*at))
}

fn write_attributes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let map: serde_json::Value = rmp_serde::from_slice(bytes).map_err(serde::ser::Error::custom)?;
    map.serialize(s)
}

fn null_as_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn quantity<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(1))
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) => parse_time(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn required_time<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    let text = String::deserialize(d)?;
    parse_time(&text).map_err(serde::de::Error::custom)
}

fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|e| {
        serde::de::Error::custom(format!("`{text}` is not a YYYY-MM-DD date ({e})"))
    })?;
    Ok(Some(text))
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    Ok(text)
}

/// Whether `text` looks like an address: an `@` with something either
/// side, no whitespace and no control characters.
pub fn is_email_address(text: &str) -> bool {
    text.contains('@')
        && !text.starts_with('@')
        && !text.ends_with('@')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn email_address<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let text = String::deserialize(d)?;
    if !is_email_address(&text) {
        return Err(serde::de::Error::custom(format!(
            "`{}` is not an email address",
            text.escape_debug()
        )));
    }
    Ok(text)
}

fn attributes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    use serde::de::Error;
    let map = match Option::<serde_json::Value>::deserialize(d)? {
        None => serde_json::Map::new(),
        Some(serde_json::Value::Object(map)) => map,
        Some(other) => {
            return Err(D::Error::custom(format!(
                "must be a map of custom attributes, not {}",
                json_kind(&other)
            )));
        }
    };
    rmp_serde::to_vec_named(&map).map_err(D::Error::custom)
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Profile, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn minimal_profile_has_empty_defaults_and_no_consent() {
        let p = parse(r#"{"id":"c1","email":"a@example.com"}"#).unwrap();
        assert_eq!(p.id, "c1");
        assert!(!p.consent.email_marketing);
        assert_eq!(p.orders.count, 0);
        assert!(p.behavior.cart.is_none());
        assert_eq!(
            rmp_serde::from_slice::<serde_json::Value>(&p.attributes).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn times_become_epoch_seconds() {
        let p = parse(r#"{"id":"c1","email":"a@b.c","subscribed_at":"2026-01-01T01:00:00+01:00"}"#)
            .unwrap();
        assert_eq!(p.subscribed_at, Some(1_767_225_600));
    }

    #[test]
    fn bad_time_is_an_error_that_quotes_the_value() {
        let err = parse(r#"{"id":"c1","email":"a@b.c","subscribed_at":"yesterday"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("`yesterday` is not an RFC 3339 time"),
            "{err}"
        );
    }

    #[test]
    fn missing_id_or_bad_email_is_an_error() {
        assert!(parse(r#"{"email":"a@b.c"}"#).is_err());
        assert!(parse(r#"{"id":"","email":"a@b.c"}"#).is_err());
        assert!(parse(r#"{"id":"c1","email":"not-an-address"}"#).is_err());
        assert!(parse(r#"{"id":"c1","email":"a@b.c\r\nBcc: x@y.z"}"#).is_err());
    }

    #[test]
    fn nulls_mean_empty() {
        let p = parse(
            r#"{"id":"c1","email":"a@b.c","orders":null,"tags":null,
                "behavior":{"viewed_categories":null,"cart":null},"attributes":null}"#,
        )
        .unwrap();
        assert_eq!(p.orders, Orders::default());
        assert!(p.tags.is_empty());
    }

    #[test]
    fn attributes_must_be_a_map_and_are_messagepack() {
        let p = parse(r#"{"id":"c1","email":"a@b.c","attributes":{"tier":"gold","points":120}}"#)
            .unwrap();
        let back: serde_json::Value = rmp_serde::from_slice(&p.attributes).unwrap();
        assert_eq!(back, serde_json::json!({"tier":"gold","points":120}));
        let err = parse(r#"{"id":"c1","email":"a@b.c","attributes":[1]}"#).unwrap_err();
        assert!(err.to_string().contains("not an array"), "{err}");
    }

    #[test]
    fn a_profile_written_as_json_reads_back_the_same() {
        let p = parse(
            r#"{"id":"c1","email":"a@b.c","timezone":"Europe/Berlin","subscribed_at":"2026-01-01T01:00:00+01:00",
                "consent":{"email_marketing":true},"orders":{"count":2,"last_order_at":"2026-02-01T00:00:00Z","categories":["tea"]},
                "behavior":{"cart":{"updated_at":"2026-01-01T00:00:00Z","items":[{"sku":"s1","quantity":3}]},
                "viewed_products":[{"sku":"v","viewed_at":"2026-01-02T00:00:00Z"}]},
                "tags":["vip"],"attributes":{"tier":"gold"}}"#,
        )
        .unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#""subscribed_at":"2026-01-01T00:00:00Z""#),
            "{json}"
        );
        assert!(json.contains(r#""attributes":{"tier":"gold"}"#), "{json}");
        assert_eq!(parse(&json).unwrap(), p);
    }

    #[test]
    fn cart_quantity_defaults_to_one() {
        let p = parse(
            r#"{"id":"c1","email":"a@b.c","behavior":{"cart":{"updated_at":"2026-01-01T00:00:00Z",
                "items":[{"sku":"s1"}]}}}"#,
        )
        .unwrap();
        assert_eq!(p.behavior.cart.unwrap().items[0].quantity, 1);
    }
}

#[cfg(test)]
mod schema_tests {
    /// The published JSON Schema names exactly the fields the parser reads.
    #[test]
    fn the_json_schema_matches_the_profile_fields() {
        let text = include_str!("../../schema/profile.schema.json");
        let schema: serde_json::Value = serde_json::from_str(text).expect("the schema is JSON");
        let keys = |v: &serde_json::Value| {
            let mut keys: Vec<String> = v["properties"]
                .as_object()
                .expect("properties")
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        assert_eq!(
            keys(&schema),
            [
                "attributes",
                "behavior",
                "birth_date",
                "consent",
                "country",
                "email",
                "engagement",
                "first_name",
                "id",
                "last_name",
                "locale",
                "orders",
                "subscribed_at",
                "tags",
                "timezone"
            ]
        );
        assert_eq!(
            keys(&schema["properties"]["orders"]),
            [
                "categories",
                "count",
                "currency",
                "first_order_at",
                "last_order_at",
                "orders_90d",
                "total_spent_cents"
            ]
        );
        assert_eq!(
            keys(&schema["properties"]["behavior"]),
            [
                "cart",
                "last_visit_at",
                "viewed_categories",
                "viewed_products"
            ]
        );
        assert_eq!(
            keys(&schema["properties"]["engagement"]),
            [
                "clicks_30d",
                "emails_received_30d",
                "last_click_at",
                "last_open_at",
                "opens_30d"
            ]
        );
    }
}
