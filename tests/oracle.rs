//! The reference pack's specification, implemented a second time, directly
//! on the profile JSON and independently of `guest-rules/seed-segments`, so
//! the real component can be checked against it on any profile set.
//!
//! It returns the line `mailrules eval` should print (without `--explain`).

use serde_json::{Value, json};

const DAY: i64 = 86_400;

/// Recommendation blocks the example campaign offers.
pub const REC_BLOCKS: [&str; 8] = [
    "outdoor",
    "fashion",
    "electronics",
    "home",
    "beauty",
    "books",
    "music",
    "bestsellers",
];

fn time(v: &Value, path: &[&str]) -> Option<i64> {
    let mut at = v;
    for key in path {
        at = at.get(key)?;
    }
    let text = at.as_str()?;
    Some(
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("generated times are valid")
            .timestamp(),
    )
}

fn number(v: &Value, path: &[&str]) -> i64 {
    let mut at = v;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return 0,
        }
    }
    at.as_i64().unwrap_or(0)
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    let mut at = v;
    for key in path {
        match at.get(key) {
            Some(next) => at = next,
            None => return Vec::new(),
        }
    }
    at.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The expected output line for `profile` at campaign time `now`.
pub fn expected(profile: &Value, now: i64) -> Value {
    let id = profile["id"]
        .as_str()
        .expect("generated profiles have ids")
        .to_string();
    let consented = profile
        .get("consent")
        .and_then(|c| c.get("email_marketing"))
        .and_then(Value::as_bool);
    if consented != Some(true) {
        return json!({"profile_id": id, "status": "suppressed", "segments": [], "subject": null,
                      "preheader": null, "blocks": null, "reason": "no-consent"});
    }
    // within(t, d): t is set and now − d days ≤ t ≤ now
    let within = |t: Option<i64>, d: i64| t.is_some_and(|t| now - d * DAY <= t && t <= now);

    let subscribed = time(profile, &["subscribed_at"]);
    let count = number(profile, &["orders", "count"]);
    let spent = number(profile, &["orders", "total_spent_cents"]);
    let orders_90d = number(profile, &["orders", "orders_90d"]);
    let last_order = time(profile, &["orders", "last_order_at"]);
    let last_open = time(profile, &["engagement", "last_open_at"]);
    let last_click = time(profile, &["engagement", "last_click_at"]);
    let last_visit = time(profile, &["behavior", "last_visit_at"]);
    let viewed_categories = strings(profile, &["behavior", "viewed_categories"]);
    let cart = profile
        .get("behavior")
        .and_then(|b| b.get("cart"))
        .filter(|c| !c.is_null());

    let new_subscriber = within(subscribed, 30) && count == 0;
    let recent_buyer = within(last_order, 7);
    let repeat_buyer = count >= 2;
    let lapsed_customer = count >= 1 && !within(last_order, 180);
    let high_value_loyal =
        spent > 50_000 && orders_90d >= 2 && (within(last_open, 90) || within(last_click, 90));
    let active = within(last_open, 30) || within(last_click, 30);
    let inactive = !within(last_open, 60) && !within(last_click, 60) && !within(subscribed, 60);
    let dormant = inactive && !within(last_visit, 60) && !within(last_order, 60);
    let cart_abandoner = cart.is_some_and(|c| {
        let items = c.get("items").and_then(Value::as_array).map_or(0, Vec::len);
        let updated = time(c, &["updated_at"]);
        items >= 1 && within(updated, 1) && (last_order.is_none() || last_order < updated)
    });
    let browser_at_risk = profile
        .pointer("/behavior/viewed_products")
        .and_then(Value::as_array)
        .is_some_and(|products| {
            products.iter().any(|p| {
                number(p, &["price_cents"]) >= 10_000 && within(time(p, &["viewed_at"]), 30)
            })
        })
        && !within(last_order, 30);
    let bargain_hunter = viewed_categories
        .iter()
        .any(|c| c == "sale" || c == "clearance")
        && !within(last_order, 30)
        && within(last_open, 30);

    let segments: Vec<&str> = [
        ("new-subscriber", new_subscriber),
        ("recent-buyer", recent_buyer),
        ("repeat-buyer", repeat_buyer),
        ("lapsed-customer", lapsed_customer),
        ("high-value-loyal", high_value_loyal),
        ("active", active),
        ("inactive", inactive),
        ("dormant", dormant),
        ("cart-abandoner", cart_abandoner),
        ("browser-at-risk", browser_at_risk),
        ("bargain-hunter", bargain_hunter),
    ]
    .into_iter()
    .filter(|(_, member)| *member)
    .map(|(name, _)| name)
    .collect();

    if dormant && last_open.is_none() && last_click.is_none() && !within(subscribed, 365) {
        return json!({"profile_id": id, "status": "suppressed", "segments": segments, "subject": null,
                      "preheader": null, "blocks": null, "reason": "sunset"});
    }
    let variant = if cart_abandoner {
        "cart-reminder"
    } else if new_subscriber {
        "welcome"
    } else if high_value_loyal {
        "vip"
    } else if recent_buyer {
        "thank-you"
    } else if browser_at_risk {
        "browse-reminder"
    } else if bargain_hunter {
        "sale"
    } else if dormant || inactive {
        "we-miss-you"
    } else {
        "default"
    };
    let mut candidates = strings(profile, &["orders", "categories"]);
    candidates.extend(viewed_categories);
    let rec = candidates
        .iter()
        .find(|c| REC_BLOCKS.contains(&c.as_str()))
        .map_or("bestsellers".to_string(), Clone::clone);
    json!({
        "profile_id": id,
        "status": "ok",
        "segments": segments,
        "subject": variant,
        "preheader": variant,
        "blocks": { "hero": format!("hero-{variant}"), "recommendations": format!("rec-{rec}") },
    })
}
