//! Facts about a rule that are known when it is uploaded, before any
//! customer data flows: the profile fields it can read, and the fuel it
//! spends on the largest and the smallest profile the host accepts.
//!
//! # Fields
//!
//! A component built by `wit-component` imports only the functions its core
//! code calls, so the functions of its `mailrules:rules/types` import name
//! every profile getter the rule can call, and no other. A getter listed
//! may still go uncalled on a given profile; one not listed is never called.
//!
//! # Extremes
//!
//! The host caps no single string or list of a profile: the only bound is
//! the record, a JSON Lines line of at most
//! [`crate::profile_reader::MAX_LINE_BYTES`]. A largest
//! profile is therefore one whose line fills that bound, and there is one
//! per way of spending it. [`largest_profiles`] spends it on one field at a
//! time (every optional field present, the others small), as many short
//! elements as fit, since per-element guest work (an allocation, a loop
//! iteration) grows with the number of elements, not their length. Values
//! are chosen to defeat early exits: categories and tags that no campaign
//! offers, prices of zero, times well before the campaign's `now`.
//! [`fuel_on_extremes`] evaluates the shapes that feed a getter the rule
//! imports and reports the most expensive one. This is a strong, repeatable
//! probe, not a proof of the worst case: a rule's cost can depend on values
//! in ways no fixed profile covers.

use std::sync::Arc;

use serde_json::{Value, json};
use wasmtime::component::types::ComponentItem;

use crate::campaign::Campaign;
use crate::engine::RuleEngine;
use crate::evaluate::Evaluator;
use crate::limits::Limits;
use crate::outcome::Status;
use crate::profile::Profile;
use crate::profile_reader::{MAX_LINE_BYTES, ProfileFormat, ProfileReader};
use crate::rule::LoadedRule;

/// The import that carries the profile and campaign resources.
const TYPES_IMPORT: &str = "mailrules:rules/types@0.1.";

/// How the component model names a method of the `profile` resource.
const PROFILE_METHOD: &str = "[method]profile.";

/// The profile fields `rule` can read: for a 0.2 rule the fields it
/// declared (`orders`, `cart`, …, in the contract's order); for a 0.1
/// rule the profile getters it imports, as WIT names without the
/// `[method]profile.` prefix (`last-visit-at`, `has-tag`, …), sorted.
pub fn profile_fields(engine: &RuleEngine, rule: &LoadedRule) -> Vec<String> {
    if let Some(declared) = &rule.info.declared_fields {
        return declared.clone();
    }
    let component = rule.pre.instance_pre().component();
    let ty = component.component_type();
    let mut fields: Vec<String> = ty
        .imports(engine.engine())
        .filter(|(name, _)| name.starts_with(TYPES_IMPORT))
        .filter_map(|(_, item)| match item.ty {
            ComponentItem::ComponentInstance(instance) => Some(instance),
            _ => None,
        })
        .flat_map(|instance| {
            instance
                .exports(engine.engine())
                .filter_map(|(name, _)| name.strip_prefix(PROFILE_METHOD).map(String::from))
                .collect::<Vec<_>>()
        })
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

/// The profile field a 0.1 getter reads, as contract 0.2 names fields
/// (`has-tag` reads `tags`, `has-viewed-category` reads
/// `viewed-categories`; every other getter is named like its field).
pub fn field_of_getter(getter: &str) -> &str {
    match getter {
        "has-tag" => "tags",
        "has-viewed-category" => "viewed-categories",
        other => other,
    }
}

/// The first of the `forbidden` fields (contract 0.2 names, see
/// [`crate::contract::v0_2::FIELDS`]) that `rule` can read, whichever its
/// contract version: what it declares (0.2), or the getters it imports
/// (0.1).
pub fn forbidden_field<'f>(
    engine: &RuleEngine,
    rule: &LoadedRule,
    forbidden: &'f [String],
) -> Option<&'f str> {
    let read = profile_fields(engine, rule);
    forbidden
        .iter()
        .find(|field| {
            read.iter()
                .any(|getter| field_of_getter(getter) == field.as_str())
        })
        .map(String::as_str)
}

/// What a rule spends on the largest and the smallest profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuelFacts {
    /// Fuel used on the most expensive largest profile (the budget when it
    /// ran out); `None` when that evaluation hit its deadline, where the
    /// count is not known.
    pub max_profile: Option<u64>,
    /// The status (`ok`, `suppressed`) or failure code (`out-of-fuel`, …)
    /// of that evaluation.
    pub max_profile_outcome: String,
    /// Which largest profile it was: the field that got the byte budget
    /// (see [`largest_profiles`]).
    pub max_profile_shape: &'static str,
    /// Fuel used on the smallest profile, as for `max_profile`.
    pub min_profile: Option<u64>,
    /// The status or failure code on the smallest profile.
    pub min_profile_outcome: String,
}

/// One largest profile: which field got the byte budget, the profile
/// getters that read it, and the profile.
#[derive(Debug, Clone)]
pub struct Extreme {
    /// The name of the shape (`tags`, `viewed-products`, …, or `full` for
    /// every field present and small).
    pub shape: &'static str,
    /// The getters that read what the budget went to.
    pub getters: &'static [&'static str],
    /// The profile; its JSON Lines line is at most `MAX_LINE_BYTES`.
    pub profile: Profile,
}

/// Seconds in a day.
const DAY: i64 = 86_400;

/// How long before `now` every time of an extreme profile lies: outside
/// every "within N days" window a rule is likely to test.
const LONG_AGO_DAYS: i64 = 400;

/// The smallest profile the host accepts that a rule is run for: an id, an
/// address and marketing consent, nothing else.
pub fn smallest_profile() -> Profile {
    parse_line(r#"{"id":"m","email":"m@m","consent":{"email_marketing":true}}"#)
        .expect("the smallest profile is valid")
}

/// The largest profiles (see the module documentation), for a campaign at
/// time `now`: `full`, then one per field that can take the whole budget.
pub fn largest_profiles(now: i64) -> Vec<Extreme> {
    let base = full_profile(now);
    let shapes: [(&'static str, &'static [&'static str], Filler); 8] = [
        ("tags", &["tags", "has-tag"], Filler::List(&["tags"])),
        (
            "order-categories",
            &["order-categories"],
            Filler::List(&["orders", "categories"]),
        ),
        (
            "viewed-categories",
            &["viewed-categories", "has-viewed-category"],
            Filler::List(&["behavior", "viewed_categories"]),
        ),
        (
            "viewed-products",
            &["viewed-products"],
            Filler::List(&["behavior", "viewed_products"]),
        ),
        (
            "cart",
            &["cart"],
            Filler::List(&["behavior", "cart", "items"]),
        ),
        ("attributes", &["attributes"], Filler::Attributes),
        (
            "strings",
            &[
                "id",
                "email",
                "first-name",
                "last-name",
                "locale",
                "timezone",
                "country",
                "currency",
            ],
            Filler::Strings,
        ),
        ("full", &[], Filler::Nothing),
    ];
    let long_ago = now - LONG_AGO_DAYS * DAY;
    let mut extremes: Vec<Extreme> = shapes
        .into_iter()
        .map(|(shape, getters, filler)| Extreme {
            shape,
            getters,
            profile: filled(&base, &filler, long_ago),
        })
        .collect();
    // `full` first: it is what every rule is measured on.
    extremes.rotate_right(1);
    extremes
}

/// Where a shape spends the byte budget.
enum Filler {
    /// Every optional field present with one small element per list.
    Nothing,
    /// A list at this path of the profile's JSON.
    List(&'static [&'static str]),
    /// Entries of the custom attributes map.
    Attributes,
    /// The free-text string fields, sharing the budget.
    Strings,
}

/// Every optional field present, every list with one element, every time
/// `LONG_AGO_DAYS` before `now`.
fn full_profile(now: i64) -> Value {
    let at = time(now - LONG_AGO_DAYS * DAY);
    let date = chrono::DateTime::from_timestamp(now - LONG_AGO_DAYS * DAY, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    json!({
        "id": "m",
        "email": "m@m",
        "first_name": "m",
        "last_name": "m",
        "locale": "en",
        "timezone": "UTC",
        "country": "ZZ",
        "birth_date": date,
        "subscribed_at": at,
        "consent": {"email_marketing": true, "tracking": true},
        "orders": {
            "count": 1,
            "total_spent_cents": 0,
            "currency": "XXX",
            "first_order_at": at,
            "last_order_at": at,
            "orders_90d": 0,
            "categories": [element(&["orders", "categories"], 0, &at)],
        },
        "engagement": {
            "last_open_at": at,
            "last_click_at": at,
            "opens_30d": 0,
            "clicks_30d": 0,
            "emails_received_30d": 0,
        },
        "behavior": {
            "last_visit_at": at,
            "viewed_categories": [element(&["behavior", "viewed_categories"], 0, &at)],
            "viewed_products": [element(&["behavior", "viewed_products"], 0, &at)],
            "cart": {
                "items": [element(&["behavior", "cart", "items"], 0, &at)],
                "updated_at": at,
            },
        },
        "tags": [element(&["tags"], 0, &at)],
        "attributes": {"k0000000": 0},
    })
}

fn time(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Element `i` of the list at `path`: the same length for every `i` below
/// ten million, so the number that fits is known in advance.
fn element(path: &[&str], i: usize, at: &str) -> Value {
    let id = format!("x{i:07}");
    match path.last() {
        Some(&"viewed_products") => json!({
            "sku": id, "category": id, "price_cents": 0, "viewed_at": at,
        }),
        Some(&"items") => json!({
            "sku": id, "name": id, "category": id, "price_cents": 0, "quantity": 1,
        }),
        _ => Value::String(id),
    }
}

/// `base` with the byte budget spent as `filler` says.
fn filled(base: &Value, filler: &Filler, long_ago: i64) -> Profile {
    let at = time(long_ago);
    let mut profile = base.clone();
    // The line holds the record and its newline.
    let budget = MAX_LINE_BYTES - 1;
    let free = budget - profile.to_string().len();
    match filler {
        Filler::Nothing => {}
        Filler::List(path) => {
            let one = element(path, 0, &at).to_string().len() + 1;
            let count = 1 + free / one;
            let list = path
                .iter()
                .fold(&mut profile, |value, key| &mut value[*key]);
            *list = Value::Array((0..count).map(|i| element(path, i, &at)).collect());
        }
        Filler::Attributes => {
            // `"k0000000":0,` per entry.
            let count = 1 + free / 13;
            let map = (0..count)
                .map(|i| (format!("k{i:07}"), Value::from(0)))
                .collect();
            profile["attributes"] = Value::Object(map);
        }
        Filler::Strings => {
            let fields = ["first_name", "last_name", "locale", "timezone", "country"];
            let each = free / (fields.len() + 3);
            for field in fields {
                profile[field] = Value::String("m".repeat(each + 1));
            }
            profile["id"] = Value::String("m".repeat(each + 1));
            profile["email"] = Value::String(format!("{}@m", "m".repeat(each)));
            profile["orders"]["currency"] = Value::String("m".repeat(each + 3));
        }
    }
    let mut line = profile.to_string();
    assert!(
        line.len() <= budget,
        "an extreme profile of {} bytes is over the line bound",
        line.len()
    );
    line.push('\n');
    parse_line(&line).expect("the host accepts its own extreme profiles")
}

/// Reads one profile the way `mailrules eval` reads a JSON Lines input.
fn parse_line(line: &str) -> Result<Profile, String> {
    let mut reader = ProfileReader::new(
        std::io::Cursor::new(line.as_bytes().to_vec()),
        ProfileFormat::JsonLines,
    );
    match reader.next() {
        Some(record) => record.profile.map_err(|e| e.to_string()),
        None => Err("no record".into()),
    }
}

/// Evaluates `rule` for `campaign` at `now` under `limits` on the smallest
/// profile and on every largest profile whose budget goes to a field the
/// rule reads (and on `full`), and reports the smallest and the most
/// expensive (the first of them on a tie, as when several run out of fuel).
/// A deadline counts as more expensive than any fuel figure.
pub fn fuel_on_extremes(
    engine: &RuleEngine,
    rule: &LoadedRule,
    campaign: Arc<Campaign>,
    limits: Limits,
    now: i64,
) -> FuelFacts {
    let fields = profile_fields(engine, rule);
    let evaluator = Evaluator::new(engine, rule, campaign, limits, now);
    let (min_profile, min_profile_outcome) = measure(&evaluator, smallest_profile());
    let mut max: Option<(Option<u64>, String, &'static str)> = None;
    for extreme in largest_profiles(now) {
        let reads = extreme.shape == "full"
            || extreme
                .getters
                .iter()
                .any(|getter| fields.iter().any(|field| field == getter));
        if !reads {
            continue;
        }
        let (fuel, outcome) = measure(&evaluator, extreme.profile);
        let costlier = match &max {
            None => true,
            Some((best, _, _)) => cost(fuel) > cost(*best),
        };
        if costlier {
            max = Some((fuel, outcome, extreme.shape));
        }
    }
    let (max_profile, max_profile_outcome, max_profile_shape) =
        max.expect("the `full` shape is always measured");
    FuelFacts {
        max_profile,
        max_profile_outcome,
        max_profile_shape,
        min_profile,
        min_profile_outcome,
    }
}

/// Orders fuel figures, an unknown count (a deadline) above all.
fn cost(fuel: Option<u64>) -> u64 {
    fuel.unwrap_or(u64::MAX)
}

/// Fuel used on `profile`, and the status or failure code.
fn measure(evaluator: &Evaluator, profile: Profile) -> (Option<u64>, String) {
    let id = profile.id.clone();
    let evaluation = evaluator.evaluate(Arc::new(profile));
    let failure = evaluation.result.as_ref().err().map(|f| f.code());
    let fuel = evaluation.fuel_used;
    let outcome = crate::policy::outcome(id, evaluation, evaluator.campaign(), evaluator.limits());
    let described = match (failure, outcome.status) {
        (Some(code), _) => code.to_string(),
        (None, Status::Ok | Status::Suppressed) => outcome.status.as_str().to_string(),
        // A decision the host refused: the reason starts with its code.
        (None, _) => outcome
            .reason
            .as_deref()
            .and_then(|reason| reason.split(':').next())
            .unwrap_or(outcome.status.as_str())
            .to_string(),
    };
    (fuel, described)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_510_800; // 2026-11-24T09:00:00Z

    #[test]
    fn every_largest_profile_fills_the_line_and_is_accepted() {
        let extremes = largest_profiles(NOW);
        let shapes: Vec<&str> = extremes.iter().map(|e| e.shape).collect();
        assert_eq!(
            shapes,
            [
                "full",
                "tags",
                "order-categories",
                "viewed-categories",
                "viewed-products",
                "cart",
                "attributes",
                "strings"
            ]
        );
        let full = &extremes[0].profile;
        assert!(full.first_name.is_some() && full.behavior.cart.is_some());
        assert_eq!(full.tags, ["x0000000"]);
        let tags = &extremes[1].profile.tags;
        assert_eq!(tags.len(), 95_241);
        assert_eq!(tags[95_240], "x0095240");
        assert_eq!(extremes[2].profile.orders.categories.len(), 95_241);
        assert_eq!(extremes[4].profile.behavior.viewed_products.len(), 11_388);
        assert_eq!(
            extremes[5]
                .profile
                .behavior
                .cart
                .as_ref()
                .unwrap()
                .items
                .len(),
            11_906
        );
        // The MessagePack encoding of 80,000-odd small entries.
        assert_eq!(extremes[6].profile.attributes.len(), 805_885);
        assert_eq!(extremes[7].profile.id.len(), 130_956);
    }

    #[test]
    fn the_smallest_profile_has_consent_and_nothing_else() {
        let p = smallest_profile();
        assert!(p.consent.email_marketing);
        assert!(p.tags.is_empty() && p.first_name.is_none() && p.behavior.cart.is_none());
    }
}
