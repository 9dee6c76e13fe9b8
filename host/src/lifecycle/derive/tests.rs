use super::*;
use crate::lifecycle::events::CustomerEvent;

/// 2026-11-24T09:00:00Z.
const NOW: Timestamp = 1_795_510_800;

fn events(lines: &[&str]) -> Vec<CustomerEvent> {
    lines
        .iter()
        .map(|line| CustomerEvent::from_json(line.as_bytes()).unwrap())
        .collect()
}

fn history() -> Vec<CustomerEvent> {
    events(&[
        r#"{"id":"e01","customer":"c1","at":"2026-01-10T08:00:00Z","type":"subscribed","email":"ada@example.com","first_name":"Ada","timezone":"Europe/Berlin"}"#,
        r#"{"id":"e02","customer":"c1","at":"2026-02-01T10:00:00Z","type":"order_placed","order_id":"o1","total_cents":12000,"currency":"EUR","items":[{"sku":"t1","category":"tea","price_cents":4000,"quantity":3}]}"#,
        // The same order again under another event id: counted once.
        r#"{"id":"e03","customer":"c1","at":"2026-02-01T10:00:00Z","type":"order_placed","order_id":"o1","total_cents":12000,"currency":"EUR"}"#,
        r#"{"id":"e04","customer":"c1","at":"2026-10-01T10:00:00Z","type":"order_placed","order_id":"o2","total_cents":2500,"currency":"EUR","items":[{"sku":"m1","category":"mugs","price_cents":2500}]}"#,
        r#"{"id":"e05","customer":"c1","at":"2026-11-20T10:00:00Z","type":"order_placed","order_id":"o3","total_cents":5000,"currency":"EUR","items":[{"sku":"m2","category":"mugs","price_cents":2500,"quantity":2}]}"#,
        r#"{"id":"e06","customer":"c1","at":"2026-11-01T12:00:00Z","type":"email_opened","campaign":"k"}"#,
        r#"{"id":"e07","customer":"c1","at":"2026-10-01T12:00:00Z","type":"email_opened"}"#,
        r#"{"id":"e08","customer":"c1","at":"2026-11-02T12:00:00Z","type":"email_clicked"}"#,
        r#"{"id":"e09","customer":"c1","at":"2026-11-23T12:00:00Z","type":"site_visit"}"#,
        r#"{"id":"e10","customer":"c1","at":"2026-11-22T12:00:00Z","type":"product_viewed","sku":"p1","category":"tea","price_cents":15000}"#,
        r#"{"id":"e11","customer":"c1","at":"2026-11-23T12:00:00Z","type":"product_viewed","sku":"p2","category":"sale","price_cents":900}"#,
        r#"{"id":"e12","customer":"c1","at":"2026-11-23T13:00:00Z","type":"product_viewed","sku":"p1","category":"tea","price_cents":14000}"#,
        // Viewed too long ago to count.
        r#"{"id":"e13","customer":"c1","at":"2026-09-01T12:00:00Z","type":"product_viewed","sku":"p9","category":"old","price_cents":1}"#,
        r#"{"id":"e14","customer":"c1","at":"2026-11-24T08:00:00Z","type":"cart_updated","items":[{"sku":"p1","name":"Sencha","category":"tea","price_cents":14000}]}"#,
        r#"{"id":"e15","customer":"c1","at":"2026-03-01T00:00:00Z","type":"consent_changed","tracking":true}"#,
        // After `now`: not seen yet.
        r#"{"id":"e16","customer":"c1","at":"2026-11-25T00:00:00Z","type":"unsubscribed"}"#,
        // Another customer's event is never read.
        r#"{"id":"e17","customer":"c2","at":"2026-11-01T00:00:00Z","type":"order_placed","order_id":"x","total_cents":1}"#,
    ])
}

/// The same customer written by hand, as a pre-computed profile.
const PRECOMPUTED: &str = r#"{"id":"c1","email":"ada@example.com","first_name":"Ada","timezone":"Europe/Berlin",
    "subscribed_at":"2026-01-10T08:00:00Z","consent":{"email_marketing":true,"tracking":true},
    "orders":{"count":3,"total_spent_cents":19500,"currency":"EUR","first_order_at":"2026-02-01T10:00:00Z",
              "last_order_at":"2026-11-20T10:00:00Z","orders_90d":2,"categories":["mugs","tea"]},
    "engagement":{"last_open_at":"2026-11-01T12:00:00Z","last_click_at":"2026-11-02T12:00:00Z","opens_30d":1,"clicks_30d":1},
    "behavior":{"last_visit_at":"2026-11-23T12:00:00Z","viewed_categories":["tea","sale"],
      "viewed_products":[{"sku":"p1","category":"tea","price_cents":14000,"viewed_at":"2026-11-23T13:00:00Z"},
                         {"sku":"p2","category":"sale","price_cents":900,"viewed_at":"2026-11-23T12:00:00Z"}],
      "cart":{"updated_at":"2026-11-24T08:00:00Z","items":[{"sku":"p1","name":"Sencha","category":"tea","price_cents":14000,"quantity":1}]}}}"#;

#[test]
fn events_derive_the_precomputed_profile() {
    let derived = derive("c1", None, &history(), None, NOW).unwrap();
    let precomputed: Profile = serde_json::from_str(PRECOMPUTED).unwrap();
    assert_eq!(derived, precomputed);
}

#[test]
fn arrival_order_does_not_matter() {
    let mut reversed = history();
    reversed.reverse();
    assert_eq!(
        derive("c1", None, &reversed, None, NOW).unwrap(),
        derive("c1", None, &history(), None, NOW).unwrap()
    );
}

#[test]
fn the_unsubscribe_counts_once_its_time_has_come() {
    let later = NOW + 86_400;
    let profile = derive("c1", None, &history(), None, later).unwrap();
    assert!(!profile.consent.email_marketing);
    // And the windows moved: the open of 2026-11-01 is still within 30 days,
    // the order of 2026-10-01 no longer... still within 90.
    assert_eq!(profile.engagement.opens_30d, 1);
    assert_eq!(profile.orders.orders_90d, 2);
}

#[test]
fn groups_without_events_keep_the_posted_values() {
    let base: Profile = serde_json::from_str(
        r#"{"id":"c9","email":"b@example.com","consent":{"email_marketing":true},
            "orders":{"count":7,"total_spent_cents":70000},"engagement":{"opens_30d":4,"emails_received_30d":9}}"#,
    )
    .unwrap();
    let visits = events(&[
        r#"{"id":"v1","customer":"c9","at":"2026-11-20T10:00:00Z","type":"site_visit"}"#,
        r#"{"id":"v2","customer":"c9","at":"2026-11-21T10:00:00Z","type":"email_opened"}"#,
    ]);
    let profile = derive("c9", Some(&base), &visits, None, NOW).unwrap();
    assert_eq!(profile.orders.count, 7);
    assert_eq!(profile.orders.total_spent_cents, 70000);
    assert_eq!(profile.behavior.last_visit_at, Some(1_795_168_800));
    // Engagement is derived (one open), but the received count is kept.
    assert_eq!(profile.engagement.opens_30d, 1);
    assert_eq!(profile.engagement.emails_received_30d, 9);
}

#[test]
fn a_customer_without_an_address_cannot_be_derived() {
    let visit =
        events(&[r#"{"id":"v1","customer":"c5","at":"2026-11-20T10:00:00Z","type":"site_visit"}"#]);
    assert_eq!(
        derive("c5", None, &visit, None, NOW),
        Err(DeriveError::NoAddress("c5".into()))
    );
}

#[test]
fn a_cleared_cart_is_no_cart() {
    let cart = events(&[
        r#"{"id":"k1","customer":"c1","at":"2026-11-20T10:00:00Z","type":"subscribed","email":"a@b.c"}"#,
        r#"{"id":"k2","customer":"c1","at":"2026-11-20T11:00:00Z","type":"cart_updated","items":[{"sku":"s"}]}"#,
        r#"{"id":"k3","customer":"c1","at":"2026-11-20T12:00:00Z","type":"cart_updated","items":[]}"#,
    ]);
    assert_eq!(
        derive("c1", None, &cart, None, NOW).unwrap().behavior.cart,
        None
    );
}

#[test]
fn folded_orders_count_as_if_still_there() {
    let all = history();
    let mut summary = OrderSummary::default();
    let folded = fold_old_orders(&mut summary, &all, NOW);
    // o1 (twice: both events go) is older than 90 days; o2 and o3 are not.
    assert_eq!(folded, ["e02", "e03"]);
    assert_eq!(summary.count, 1);
    let superseded = superseded_events(&all, NOW - 90 * 86_400);
    // Of the two opens before the horizon... none is: only the view of
    // 2026-09-01 is old, and it is the latest old view, so it stays.
    assert!(superseded.is_empty(), "{superseded:?}");
    let kept: Vec<CustomerEvent> = all
        .into_iter()
        .filter(|e| !folded.contains(&e.id))
        .collect();
    assert_eq!(
        derive("c1", None, &kept, Some(&summary), NOW).unwrap(),
        derive("c1", None, &history(), None, NOW).unwrap()
    );
}

#[test]
fn superseded_events_go_and_the_profile_stays() {
    let mut all = history();
    all.extend(events(&[
        r#"{"id":"x1","customer":"c1","at":"2025-01-01T00:00:00Z","type":"site_visit"}"#,
        r#"{"id":"x2","customer":"c1","at":"2025-02-01T00:00:00Z","type":"site_visit"}"#,
        r#"{"id":"x3","customer":"c1","at":"2025-01-01T00:00:00Z","type":"email_opened"}"#,
        r#"{"id":"x4","customer":"c1","at":"2025-03-01T00:00:00Z","type":"email_opened"}"#,
        r#"{"id":"x5","customer":"c1","at":"2025-03-01T00:00:00Z","type":"unsubscribed"}"#,
    ]));
    let superseded = superseded_events(&all, NOW - 90 * 86_400);
    assert_eq!(superseded, ["x1", "x3"]);
    let kept: Vec<CustomerEvent> = all
        .iter()
        .filter(|e| !superseded.contains(&e.id))
        .cloned()
        .collect();
    assert_eq!(
        derive("c1", None, &kept, None, NOW).unwrap(),
        derive("c1", None, &all, None, NOW).unwrap()
    );
}
