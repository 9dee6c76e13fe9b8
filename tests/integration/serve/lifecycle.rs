//! Lifecycle email over the real service: profiles and events in, the
//! example flows (`examples/flows/`) driven through a simulated week by
//! `POST /v1/tick?now=…`, with a `kill -9` in the middle of a send.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use mailrules_integration::root;

use super::{OPERATOR, Server};

const TENANT: &str = "northwind";
const FLOWS: [&str; 4] = ["welcome", "cart-reminder", "thank-you", "re-engagement"];

fn at(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .timestamp()
}

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A tenant with the reference rule, the lifecycle campaign and the four
/// example flows.
fn lifecycle_tenant(server: &Server) -> String {
    let token = server.create_tenant(TENANT);
    let component = mailrules_integration::rule("seed-segments");
    assert_eq!(server.upload(TENANT, &token, "v1", &component).status, 201);
    assert_eq!(server.activate(TENANT, &token, "v1").status, 200);
    let flows = root().join("examples/flows");
    let campaign = std::fs::read_to_string(flows.join("lifecycle.toml")).unwrap();
    let put = server.put_campaign(TENANT, &token, "lifecycle", &campaign);
    assert_eq!(put.status, 200, "{}", put.text());
    for flow in FLOWS {
        let text = std::fs::read(flows.join(format!("{flow}.toml"))).unwrap();
        let put = server.call(
            "PUT",
            &format!("/v1/tenants/{TENANT}/flows/{flow}"),
            Some(&token),
            Some(("application/toml", text)),
        );
        assert_eq!(put.status, 200, "{flow}: {}", put.text());
        assert_eq!(put.json()["created"], true);
    }
    token
}

/// Customers known before the week, posted pre-computed. Everyone but eve
/// opened recently, so only eve becomes `inactive` during the week.
const PROFILES: &str = r#"{"id":"bob","email":"bob@example.com","timezone":"America/New_York","subscribed_at":"2026-10-01T12:00:00Z","consent":{"email_marketing":true},"engagement":{"last_open_at":"2026-11-20T12:00:00Z"}}
{"id":"cid","email":"cid@example.com","timezone":"Europe/London","subscribed_at":"2026-06-01T12:00:00Z","consent":{"email_marketing":true},"engagement":{"last_open_at":"2026-11-25T12:00:00Z"}}
{"id":"dee","email":"dee@example.com","timezone":"Asia/Tokyo","subscribed_at":"2026-05-01T12:00:00Z","consent":{"email_marketing":true},"engagement":{"last_open_at":"2026-11-26T12:00:00Z"}}
{"id":"eve","email":"eve@example.com","timezone":"Europe/Berlin","subscribed_at":"2025-01-01T12:00:00Z","consent":{"email_marketing":true},"engagement":{"last_open_at":"2026-10-05T21:30:00Z"}}
"#;

/// Buyers whose thank-yous all fall due Thursday 10:00Z with cid's and
/// fay's: enough for the send that carries them to be killed mid-way.
const BULK: usize = 1_500;

fn bulk_profiles() -> String {
    (0..BULK)
        .map(|i| {
            format!(
                r#"{{"id":"b{i:04}","email":"b{i:04}@example.com","timezone":"UTC","subscribed_at":"2026-06-01T12:00:00Z","consent":{{"email_marketing":true}},"engagement":{{"last_open_at":"2026-11-27T12:00:00Z"}}}}"#
            ) + "\n"
        })
        .collect()
}

fn bulk_orders() -> Vec<String> {
    (0..BULK)
        .map(|i| {
            format!(
                r#"{{"id":"o-b{i:04}","type":"order_placed","customer":"b{i:04}","at":"2026-12-01T11:30:00Z","order_id":"b{i:04}","total_cents":2500,"items":[{{"sku":"cap","name":"Cap","category":"fashion","price_cents":2500}}]}}"#
            )
        })
        .collect()
}

/// The week's events: (when they are posted, the line).
fn events() -> Vec<(i64, String)> {
    let lines = [
        // ann subscribes Monday 08:30 in Berlin: welcome at once.
        r#"{"id":"e-ann-1","type":"subscribed","customer":"ann","at":"2026-11-30T07:30:00Z","email":"ann@example.com","first_name":"Ann","timezone":"Europe/Berlin"}"#,
        // fay (UTC) subscribes, then leaves a cart an hour later: the
        // reminder is due 15:00 but within 16 h of the welcome, and 02:00
        // is in quiet hours: it goes Tuesday 08:00.
        r#"{"id":"e-fay-1","type":"subscribed","customer":"fay","at":"2026-11-30T09:40:00Z","email":"fay@example.com","timezone":"UTC"}"#,
        r#"{"id":"e-fay-2","type":"cart_updated","customer":"fay","at":"2026-11-30T11:00:00Z","items":[{"sku":"tent-2p","name":"Tent","category":"outdoor","price_cents":19900}]}"#,
        // gus subscribes and unsubscribes before the next tick.
        r#"{"id":"e-gus-1","type":"subscribed","customer":"gus","at":"2026-11-30T12:10:00Z","email":"gus@example.com"}"#,
        r#"{"id":"e-gus-2","type":"unsubscribed","customer":"gus","at":"2026-11-30T12:30:00Z"}"#,
        // cid leaves a cart Tuesday 09:00 London and orders at 11:00: no
        // reminder; a thank-you Thursday 10:00 London.
        r#"{"id":"e-cid-1","type":"cart_updated","customer":"cid","at":"2026-12-01T09:00:00Z","items":[{"sku":"boots","name":"Boots","category":"fashion","price_cents":8900}]}"#,
        r#"{"id":"e-cid-2","type":"order_placed","customer":"cid","at":"2026-12-01T11:00:00Z","order_id":"o-cid-1","total_cents":8900,"currency":"GBP","items":[{"sku":"boots","name":"Boots","category":"fashion","price_cents":8900}]}"#,
        // fay orders Tuesday noon: thank-you Thursday 10:00 UTC.
        r#"{"id":"e-fay-3","type":"order_placed","customer":"fay","at":"2026-12-01T12:00:00Z","order_id":"o-fay-1","total_cents":19900,"currency":"EUR","items":[{"sku":"tent-2p","name":"Tent","category":"outdoor","price_cents":19900}]}"#,
        // bob leaves a cart Tuesday 09:00 New York: one reminder at 13:00
        // New York (18:00Z), though the event arrives twice.
        r#"{"id":"e-bob-1","type":"cart_updated","customer":"bob","at":"2026-12-01T14:00:00Z","items":[{"sku":"lamp","name":"Lamp","category":"home","price_cents":4500}]}"#,
        r#"{"id":"e-bob-1","type":"cart_updated","customer":"bob","at":"2026-12-01T14:00:00Z","items":[{"sku":"lamp","name":"Lamp","category":"home","price_cents":4500}]}"#,
        // dee orders Wednesday 20:00 Tokyo: thank-you Friday 10:00 Tokyo
        // (01:00Z).
        r#"{"id":"e-dee-1","type":"order_placed","customer":"dee","at":"2026-12-02T11:00:00Z","order_id":"o-dee-1","total_cents":12000,"currency":"JPY","items":[{"sku":"tea","name":"Tea","category":"home","price_cents":12000}]}"#,
        // A visit of dee's that arrives a day late (out of order).
        r#"{"id":"e-dee-0","type":"site_visit","customer":"dee","at":"2026-12-01T10:00:00Z"}"#,
        // fay leaves another cart Thursday noon: within 16 h of the
        // thank-you, then the third message in 7 days: it waits for next
        // week.
        r#"{"id":"e-fay-4","type":"cart_updated","customer":"fay","at":"2026-12-03T12:00:00Z","items":[{"sku":"stove","name":"Stove","category":"outdoor","price_cents":5900}]}"#,
    ];
    let mut timed: Vec<(i64, String)> = lines
        .iter()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            (at(event["at"].as_str().unwrap()), line.to_string())
        })
        .collect();
    timed.extend(
        bulk_orders()
            .into_iter()
            .map(|line| (at("2026-12-01T11:30:00Z"), line)),
    );
    // dee's visit is posted with her order, a day after it happened.
    for (posted, line) in &mut timed {
        if line.contains("e-dee-0") {
            *posted = at("2026-12-02T11:00:00Z");
        }
    }
    timed
}

fn tick(server: &Server, now: i64) -> serde_json::Value {
    let answer = server.call(
        "POST",
        &format!("/v1/tick?now={}", rfc3339(now)),
        Some(OPERATOR),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let report = answer.json();
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    report
}

fn post_events(server: &Server, token: &str, lines: &[String]) -> serde_json::Value {
    let answer = server.call(
        "POST",
        &format!("/v1/tenants/{TENANT}/events"),
        Some(token),
        Some(("application/x-ndjson", lines.join("\n").into_bytes())),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

/// One message in the Maildir.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Mail {
    to: String,
    date: i64,
    subject: String,
    message_id: String,
}

fn mails_in(maildir: &Path) -> usize {
    std::fs::read_dir(maildir.join("new")).map_or(0, |d| d.count())
}

fn mails(maildir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    let mut mails: Vec<Mail> = entries
        .map(|entry| {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let header = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_else(|| panic!("no {name} header"))
                    .to_string()
            };
            let to = header("To");
            // `Name <address>` or a bare address.
            let to = match to.split_once('<') {
                Some((_, rest)) => rest.trim_end_matches('>').to_string(),
                None => to,
            };
            Mail {
                to,
                date: chrono::DateTime::parse_from_rfc2822(&header("Date"))
                    .unwrap()
                    .timestamp(),
                subject: header("Subject"),
                message_id: header("Message-ID"),
            }
        })
        .collect();
    mails.sort();
    mails
}

const WELCOME: &str = "Welcome! Discover Your Personalized Picks";
const CART: &str = "Still Thinking It Over? Here's a Special Offer";
const THANKS: &str = "Thanks for Your Order! Here's What Goes With It";
const MISS_YOU: &str = "We Miss You! Here's 15% Off to Come Back";

#[test]
fn a_simulated_week_sends_each_flow_message_once_at_its_time() {
    // Loads the machine: not beside the tests that measure shares of it.
    let _cpu = crate::harness::cpu_heavy();
    let data = tempfile::tempdir().unwrap();
    let args = ["--tick-interval-secs", "0"];
    let mut server = Server::start(data.path(), &args);
    let token = lifecycle_tenant(&server);
    let posted = server.call(
        "POST",
        &format!("/v1/tenants/{TENANT}/profiles"),
        Some(&token),
        Some((
            "application/x-ndjson",
            format!("{PROFILES}{}", bulk_profiles()).into_bytes(),
        )),
    );
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert_eq!(posted.json()["upserted"], 4 + BULK);

    let maildir = data.path().join(format!("tenants/{TENANT}/maildir"));
    let start = at("2026-11-30T00:00:00Z");
    let mut pending = events();
    let mut duplicates = 0;
    let mut killed_at = 0;
    for hour in 0..=7 * 24 {
        let now = start + hour * 3600;
        let due: Vec<String> = pending
            .iter()
            .filter(|(posted, _)| *posted <= now)
            .map(|(_, line)| line.clone())
            .collect();
        pending.retain(|(posted, _)| *posted > now);
        if !due.is_empty() {
            let answer = post_events(&server, &token, &due);
            assert_eq!(answer["rejected_count"], 0, "{answer}");
            duplicates += answer["duplicates"].as_u64().unwrap();
        }
        if now == at("2026-12-02T00:00:00Z") {
            // A restart between ticks.
            server.kill();
            server = Server::start(data.path(), &args);
        }
        if now == at("2026-12-03T10:00:00Z") {
            // A kill -9 while the tick sends (two thank-yous are due), then
            // the same tick again after the restart.
            let base = server.base.clone();
            let killed_tick = std::thread::spawn(move || {
                let _ = std::panic::catch_unwind(|| {
                    super::call(
                        &base,
                        "POST",
                        &format!("/v1/tick?now={}", rfc3339(now)),
                        Some(OPERATOR),
                        None,
                    )
                });
            });
            // Kill once the send is under way.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while mails_in(&maildir) < 8 + 50 && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            server.kill();
            let _ = killed_tick.join();
            killed_at = mails_in(&maildir);
            server = Server::start(data.path(), &args);
        }
        tick(&server, now);
    }
    assert_eq!(duplicates, 1, "bob's cart event was posted twice");
    assert!(
        killed_at > 8 && killed_at < 8 + BULK + 2,
        "the kill did not land in the send ({killed_at} messages)"
    );

    // Every message once (a resend after the kill would carry the same
    // Message-ID), at its time, with the variant the rule chose then.
    let all = mails(&maildir);
    let unique: BTreeSet<&str> = all.iter().map(|m| m.message_id.as_str()).collect();
    let mut by_recipient: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for mail in &all {
        if seen.insert(mail.message_id.clone()) {
            by_recipient
                .entry(mail.to.clone())
                .or_default()
                .push((mail.date, mail.subject.clone()));
        }
    }
    for messages in by_recipient.values_mut() {
        messages.sort();
    }
    let expect = |list: &[(&str, &str)]| -> Vec<(i64, String)> {
        list.iter()
            .map(|(time, subject)| (at(time), subject.to_string()))
            .collect()
    };
    let mut expected = BTreeMap::new();
    expected.insert(
        "ann@example.com".to_string(),
        expect(&[("2026-11-30T08:00:00Z", WELCOME)]),
    );
    expected.insert(
        "bob@example.com".to_string(),
        expect(&[("2026-12-01T18:00:00Z", CART)]),
    );
    expected.insert(
        "cid@example.com".to_string(),
        expect(&[("2026-12-03T10:00:00Z", THANKS)]),
    );
    expected.insert(
        "dee@example.com".to_string(),
        expect(&[("2026-12-04T01:00:00Z", THANKS)]),
    );
    // eve turns inactive Friday 21:30Z, in Berlin's quiet hours: Saturday
    // 08:00 Berlin.
    expected.insert(
        "eve@example.com".to_string(),
        expect(&[("2026-12-05T07:00:00Z", MISS_YOU)]),
    );
    expected.insert(
        "fay@example.com".to_string(),
        expect(&[
            ("2026-11-30T10:00:00Z", WELCOME),
            ("2026-12-01T08:00:00Z", CART),
            ("2026-12-03T10:00:00Z", THANKS),
        ]),
    );
    for i in 0..BULK {
        expected.insert(
            format!("b{i:04}@example.com"),
            expect(&[("2026-12-03T10:00:00Z", THANKS)]),
        );
    }
    assert_eq!(by_recipient.len(), expected.len());
    for (recipient, messages) in &expected {
        assert_eq!(by_recipient.get(recipient), Some(messages), "{recipient}");
    }
    assert_eq!(unique.len(), 8 + BULK);

    // The runs say what happened to each trigger and why.
    let runs_of = |flow: &str| -> Vec<serde_json::Value> {
        let answer = server.call(
            "GET",
            &format!("/v1/tenants/{TENANT}/runs?flow={flow}"),
            Some(&token),
            None,
        );
        answer.json()["runs"].as_array().unwrap().clone()
    };
    let flows: BTreeMap<&str, Vec<serde_json::Value>> =
        ["welcome", "cart-reminder", "re-engagement"]
            .into_iter()
            .map(|flow| (flow, runs_of(flow)))
            .collect();
    let run = |flow: &str, customer: &str| -> Vec<&serde_json::Value> {
        flows[flow]
            .iter()
            .filter(|r| r["customer"] == customer)
            .collect()
    };
    let states = |flow: &str| -> BTreeMap<String, usize> {
        let mut states = BTreeMap::new();
        for run in &flows[flow] {
            *states
                .entry(run["state"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        states
    };
    let counts = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect()
    };
    assert_eq!(states("welcome"), counts(&[("sent", 2), ("suppressed", 1)]));
    assert_eq!(
        states("cart-reminder"),
        counts(&[("cancelled", 1), ("sent", 2), ("waiting", 1)])
    );
    assert_eq!(states("re-engagement"), counts(&[("sent", 1)]));
    let cid_cart = run("cart-reminder", "cid");
    assert_eq!(cid_cart.len(), 1);
    assert_eq!(cid_cart[0]["state"], "cancelled");
    assert!(
        cid_cart[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("exit: order_placed `e-cid-2`"),
        "{}",
        cid_cart[0]
    );
    let gus = run("welcome", "gus");
    assert_eq!(gus.len(), 1);
    assert_eq!(gus[0]["state"], "suppressed");
    assert!(
        gus[0]["reason"].as_str().unwrap().contains("no-consent"),
        "{}",
        gus[0]
    );
    let eve = run("re-engagement", "eve");
    assert_eq!(eve.len(), 1, "eve entered `inactive` once: {eve:?}");
    assert_eq!(eve[0]["state"], "sent");
    assert!(
        eve[0]["reason"].as_str().unwrap().contains("quiet hours"),
        "{}",
        eve[0]
    );
    // fay's second cart waits for the 7-day cap: until a week after her
    // welcome.
    let fay_carts = run("cart-reminder", "fay");
    assert_eq!(fay_carts.len(), 2);
    let waiting: Vec<_> = fay_carts
        .iter()
        .filter(|r| r["state"] == "waiting")
        .collect();
    assert_eq!(waiting.len(), 1, "{fay_carts:?}");
    assert!(
        waiting[0]["due_at"].as_i64().unwrap() >= at("2026-12-07T10:00:00Z"),
        "{}",
        waiting[0]
    );
    assert!(
        waiting[0]["reason"].as_str().unwrap().contains("3 per 7d"),
        "{}",
        waiting[0]
    );
    let thanks = server
        .call(
            "GET",
            &format!("/v1/tenants/{TENANT}/runs?flow=thank-you&state=sent"),
            Some(&token),
            None,
        )
        .json();
    // The listing stops at 1,000 runs.
    assert_eq!(thanks["runs"].as_array().unwrap().len(), 1_000);
}

/// Customers whose history arrives as events, and the same customers
/// written out pre-computed by hand.
const HISTORIES: &str = r#"{"id":"h1","type":"subscribed","customer":"vip","at":"2026-01-05T10:00:00Z","email":"vip@example.com","first_name":"Vera","timezone":"Europe/Paris"}
{"id":"h2","type":"order_placed","customer":"vip","at":"2026-09-10T10:00:00Z","order_id":"v1","total_cents":32000,"items":[{"sku":"a","category":"electronics","price_cents":32000}]}
{"id":"h3","type":"order_placed","customer":"vip","at":"2026-11-01T10:00:00Z","order_id":"v2","total_cents":28000,"items":[{"sku":"b","category":"home","price_cents":14000,"quantity":2}]}
{"id":"h4","type":"email_opened","customer":"vip","at":"2026-11-20T10:00:00Z"}
{"id":"h5","type":"subscribed","customer":"cart","at":"2026-11-10T10:00:00Z","email":"cart@example.com"}
{"id":"h6","type":"product_viewed","customer":"cart","at":"2026-11-23T10:00:00Z","sku":"tv","category":"electronics","price_cents":89900}
{"id":"h7","type":"cart_updated","customer":"cart","at":"2026-11-24T06:00:00Z","items":[{"sku":"tv","name":"TV","category":"electronics","price_cents":89900}]}
{"id":"h8","type":"subscribed","customer":"deal","at":"2025-03-01T10:00:00Z","email":"deal@example.com"}
{"id":"h9","type":"order_placed","customer":"deal","at":"2025-04-01T10:00:00Z","order_id":"d1","total_cents":1500,"items":[{"sku":"s","category":"fashion","price_cents":1500}]}
{"id":"h10","type":"email_opened","customer":"deal","at":"2026-11-15T10:00:00Z"}
{"id":"h11","type":"product_viewed","customer":"deal","at":"2026-11-16T10:00:00Z","sku":"s2","category":"sale","price_cents":900}
{"id":"h12","type":"site_visit","customer":"deal","at":"2026-11-16T10:00:00Z"}
"#;

const PRECOMPUTED: &str = r#"{"id":"vip","email":"vip@example.com","first_name":"Vera","timezone":"Europe/Paris","subscribed_at":"2026-01-05T10:00:00Z","consent":{"email_marketing":true},"orders":{"count":2,"total_spent_cents":60000,"first_order_at":"2026-09-10T10:00:00Z","last_order_at":"2026-11-01T10:00:00Z","orders_90d":2,"categories":["home","electronics"]},"engagement":{"last_open_at":"2026-11-20T10:00:00Z","opens_30d":1}}
{"id":"cart","email":"cart@example.com","subscribed_at":"2026-11-10T10:00:00Z","consent":{"email_marketing":true},"behavior":{"viewed_categories":["electronics"],"viewed_products":[{"sku":"tv","category":"electronics","price_cents":89900,"viewed_at":"2026-11-23T10:00:00Z"}],"cart":{"updated_at":"2026-11-24T06:00:00Z","items":[{"sku":"tv","name":"TV","category":"electronics","price_cents":89900}]}}}
{"id":"deal","email":"deal@example.com","subscribed_at":"2025-03-01T10:00:00Z","consent":{"email_marketing":true},"orders":{"count":1,"total_spent_cents":1500,"first_order_at":"2025-04-01T10:00:00Z","last_order_at":"2025-04-01T10:00:00Z","categories":["fashion"]},"engagement":{"last_open_at":"2026-11-15T10:00:00Z","opens_30d":1},"behavior":{"last_visit_at":"2026-11-16T10:00:00Z","viewed_categories":["sale"],"viewed_products":[{"sku":"s2","category":"sale","price_cents":900,"viewed_at":"2026-11-16T10:00:00Z"}]}}
"#;

#[test]
fn profiles_derived_from_events_decide_like_the_same_profiles_precomputed() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    let token = server.tenant_with_rule("acme", "seed-segments");
    let posted = server.call(
        "POST",
        "/v1/tenants/acme/events",
        Some(&token),
        Some(("application/x-ndjson", HISTORIES.as_bytes().to_vec())),
    );
    assert_eq!(posted.json()["accepted"], 12, "{}", posted.text());
    let now = "2026-11-24T09:00:00Z";
    let mut derived = Vec::new();
    for customer in ["vip", "cart", "deal"] {
        let answer = server.call(
            "GET",
            &format!("/v1/tenants/acme/profiles/{customer}?now={now}"),
            Some(&token),
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        derived.extend(answer.body);
        derived.push(b'\n');
    }
    let eval = |profiles: &[u8]| {
        let answer = server.call(
            "POST",
            &format!(
                "/v1/tenants/acme/campaigns/{}/eval?explain=true&now={now}",
                super::CAMPAIGN
            ),
            Some(&token),
            Some(("application/x-ndjson", profiles.to_vec())),
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer
            .text()
            .lines()
            .map(|line| {
                let mut decision: serde_json::Value = serde_json::from_str(line).unwrap();
                // Fuel depends on the bytes of the profile (the derived one
                // carries the `rfm` attribute); the decision must not.
                decision.as_object_mut().unwrap().remove("fuel");
                decision
            })
            .collect::<Vec<_>>()
    };
    let from_events = eval(&derived);
    let precomputed = eval(PRECOMPUTED.as_bytes());
    assert_eq!(from_events, precomputed);
    // And they are the decisions the segments call for.
    let segments: Vec<&serde_json::Value> = from_events.iter().map(|d| &d["segments"]).collect();
    assert!(
        segments[0]
            .as_array()
            .unwrap()
            .contains(&"high-value-loyal".into()),
        "{segments:?}"
    );
    assert!(
        segments[1]
            .as_array()
            .unwrap()
            .contains(&"cart-abandoner".into()),
        "{segments:?}"
    );
    assert!(
        segments[2]
            .as_array()
            .unwrap()
            .contains(&"bargain-hunter".into()),
        "{segments:?}"
    );

    // RFM quintiles over the tenant's three buyers... two buyers: vip
    // ranks above deal on every measure.
    let vip: serde_json::Value =
        serde_json::from_slice(&derived[..derived.iter().position(|b| *b == b'\n').unwrap()])
            .unwrap();
    assert_eq!(
        vip["attributes"]["rfm"],
        serde_json::json!({"r": 3, "f": 3, "m": 3, "score": "333"})
    );
}

#[test]
fn a_profile_read_carries_the_rfm_scores_of_the_last_tick() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    // No flows: the tick derives no profiles for them, only the scores.
    let token = server.tenant_with_rule(TENANT, "seed-segments");
    let order = |id: &str, customer: &str, at: &str, cents: u32| {
        format!(
            r#"{{"id":"{id}","type":"order_placed","customer":"{customer}","at":"{at}","order_id":"{id}","total_cents":{cents}}}"#
        )
    };
    let subscribed = |customer: &str| {
        format!(
            r#"{{"id":"s-{customer}","type":"subscribed","customer":"{customer}","at":"2026-10-01T10:00:00Z","email":"{customer}@example.com"}}"#
        )
    };
    let posted = post_events(
        &server,
        &token,
        &[
            subscribed("ann"),
            subscribed("bob"),
            order("a1", "ann", "2026-10-05T10:00:00Z", 1_000),
            order("b1", "bob", "2026-10-06T10:00:00Z", 5_000),
            order("b2", "bob", "2026-10-07T10:00:00Z", 5_000),
        ],
    );
    assert_eq!(posted["accepted"], 5, "{posted}");
    let rfm = |customer: &str| -> (serde_json::Value, serde_json::Value) {
        let answer = server.call(
            "GET",
            &format!("/v1/tenants/{TENANT}/profiles/{customer}?now=2026-11-01T00:00:00Z"),
            Some(&token),
            None,
        );
        assert_eq!(answer.status, 200, "{}", answer.text());
        let profile = answer.json();
        (
            profile["attributes"]["rfm"]["score"].clone(),
            profile["orders"]["count"].clone(),
        )
    };
    // No tick yet: the first read computes them. Of two buyers, bob ranks
    // above ann on every measure.
    assert_eq!(rfm("ann"), ("111".into(), 1.into()));
    assert_eq!(rfm("bob"), ("333".into(), 2.into()));

    // ann now orders more, and more lately, than bob: the profile says so
    // at once, the scores from the next tick on.
    let posted = post_events(
        &server,
        &token,
        &[
            order("a2", "ann", "2026-10-10T10:00:00Z", 9_000),
            order("a3", "ann", "2026-10-11T10:00:00Z", 9_000),
        ],
    );
    assert_eq!(posted["accepted"], 2, "{posted}");
    assert_eq!(rfm("ann"), ("111".into(), 3.into()));
    assert_eq!(rfm("bob"), ("333".into(), 2.into()));
    tick(&server, at("2026-11-01T00:00:00Z"));
    assert_eq!(rfm("ann"), ("333".into(), 3.into()));
    assert_eq!(rfm("bob"), ("111".into(), 2.into()));
}

#[test]
fn a_campaign_sent_on_monday_reaches_each_recipient_on_tuesday_at_ten_local() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    let token = server.tenant_with_rule("acme", "seed-segments");
    let campaign = super::example_campaign()
        .replace(
            r#"now = "2026-11-24T09:00:00Z""#,
            r#"now = "2026-11-30T09:00:00Z""#,
        )
        .replacen(
            "[[subject]]",
            "[schedule]\nsend_at = { weekday = \"tuesday\", local_time = \"10:00\" }\n\n[[subject]]",
            1,
        );
    let put = server.put_campaign("acme", &token, super::CAMPAIGN, &campaign);
    assert_eq!(put.status, 200, "{}", put.text());
    let profiles = ["Asia/Tokyo", "Europe/Berlin", "America/New_York"]
        .iter()
        .enumerate()
        .map(|(i, zone)| {
            format!(
                r#"{{"id":"r{i}","email":"r{i}@example.com","timezone":"{zone}","subscribed_at":"2026-11-01T00:00:00Z","consent":{{"email_marketing":true}}}}"#
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let started = server.call(
        "POST",
        &format!("/v1/tenants/acme/campaigns/{}/sends", super::CAMPAIGN),
        Some(&token),
        Some(("application/x-ndjson", profiles.into_bytes())),
    );
    assert_eq!(started.status, 202, "{}", started.text());
    let id = started.json()["id"].as_str().unwrap().to_string();
    let send = super::walkthrough::wait_for_send(&server, "acme", &token, &id);
    // Nobody is due on Monday: all three wait for their Tuesday 10:00.
    assert_eq!(send["report"]["fates"]["deferred"], 3, "{send}");
    let maildir = data.path().join("tenants/acme/maildir");
    assert_eq!(mails_in(&maildir), 0);

    let start = at("2026-11-30T10:00:00Z");
    for hour in 0..=30 {
        tick(&server, start + hour * 3600);
    }
    let got: Vec<(String, i64)> = mails(&maildir)
        .into_iter()
        .map(|m| (m.to, m.date))
        .collect();
    assert_eq!(
        got,
        [
            // 10:00 in Tokyo, Berlin and New York.
            ("r0@example.com".to_string(), at("2026-12-01T01:00:00Z")),
            ("r1@example.com".to_string(), at("2026-12-01T09:00:00Z")),
            ("r2@example.com".to_string(), at("2026-12-01T15:00:00Z")),
        ]
    );
    let runs = server
        .call("GET", "/v1/tenants/acme/runs", Some(&token), None)
        .json();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3);
    for run in runs {
        assert_eq!(run["state"], "sent", "{run}");
        assert_eq!(run["flow"], format!("send:{id}"));
        assert!(run["reason"].as_str().unwrap().contains("send-at"), "{run}");
    }
}

#[test]
fn mailrules_tick_runs_the_schedule_on_a_data_directory_not_in_use() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    let token = lifecycle_tenant(&server);
    let event = r#"{"id":"s1","type":"subscribed","customer":"ann","at":"2026-11-30T07:30:00Z","email":"ann@example.com","timezone":"Europe/Berlin"}"#;
    post_events(&server, &token, &[event.to_string()]);
    let tick = |now: &str| {
        std::process::Command::new(mailrules_integration::mailrules_bin())
            .args(["tick", "--now", now, "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap()
    };
    // The running service holds the data directory.
    let refused = tick("2026-11-30T08:00:00Z");
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("in use by another mailrules process"),
        "{stderr}"
    );

    server.kill();
    let done = tick("2026-11-30T08:00:00Z");
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(report["now"], "2026-11-30T08:00:00Z");
    assert_eq!(report["triggered"], 1, "{report}");
    assert_eq!(report["queued"], 1, "{report}");
    assert_eq!(report["sent"], 1, "{report}");
    let maildir = data.path().join(format!("tenants/{TENANT}/maildir"));
    let sent = mails(&maildir);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, WELCOME);
    assert_eq!(sent[0].date, at("2026-11-30T08:00:00Z"));
    // Again at the same time: nothing more.
    let again: serde_json::Value =
        serde_json::from_slice(&tick("2026-11-30T08:00:00Z").stdout).unwrap();
    assert_eq!(again["queued"], 0, "{again}");
    assert_eq!(mails_in(&maildir), 1);
}

#[test]
fn serve_runs_the_schedule_on_its_own_with_the_clock() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "1"]);
    let token = lifecycle_tenant(&server);
    let now = chrono::Utc::now().timestamp();
    // Subscribed a minute ago in a zone where it is now 12:00 or so: no
    // quiet hours whatever the time of day here (UTC±14 covers every hour).
    let hour = chrono::DateTime::from_timestamp(now, 0)
        .unwrap()
        .format("%H")
        .to_string()
        .parse::<i32>()
        .unwrap();
    let offset = (12 - hour + 24) % 24;
    let offset = if offset > 12 { offset - 24 } else { offset };
    // Etc/GMT-N is UTC+N (the sign is inverted in the tz database).
    let zone = match offset {
        0 => "Etc/GMT".to_string(),
        n if n > 0 => format!("Etc/GMT-{n}"),
        n => format!("Etc/GMT+{}", -n),
    };
    let event = format!(
        r#"{{"id":"live-1","type":"subscribed","customer":"liv","at":"{}","email":"liv@example.com","timezone":"{zone}"}}"#,
        rfc3339(now - 60)
    );
    post_events(&server, &token, &[event]);
    let maildir = data.path().join(format!("tenants/{TENANT}/maildir"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while mails_in(&maildir) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let sent = mails(&maildir);
    assert_eq!(sent.len(), 1, "the welcome went out within a minute");
    assert_eq!(sent[0].to, "liv@example.com");
    assert_eq!(sent[0].subject, WELCOME);
    // Later ticks send nothing more.
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    assert_eq!(mails_in(&maildir), 1);
}

#[test]
fn the_daily_compaction_keeps_every_derived_profile_and_late_events_count_once() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &["--tick-interval-secs", "0"]);
    let token = lifecycle_tenant(&server);
    let order = |id: &str, at: &str, order: &str, cents: u32| {
        format!(
            r#"{{"id":"{id}","type":"order_placed","customer":"old","at":"{at}","order_id":"{order}","total_cents":{cents},"items":[{{"sku":"s","category":"books","price_cents":{cents}}}]}}"#
        )
    };
    let history = vec![
        r#"{"id":"o0","type":"subscribed","customer":"old","at":"2025-01-01T00:00:00Z","email":"old@example.com"}"#.to_string(),
        order("o1", "2025-03-01T00:00:00Z", "A", 1000),
        order("o2", "2025-06-01T00:00:00Z", "B", 2000),
        order("o3", "2026-11-01T00:00:00Z", "C", 4000),
        r#"{"id":"o4","type":"site_visit","customer":"old","at":"2025-02-01T00:00:00Z"}"#.to_string(),
        r#"{"id":"o5","type":"site_visit","customer":"old","at":"2025-04-01T00:00:00Z"}"#.to_string(),
        r#"{"id":"o6","type":"email_opened","customer":"old","at":"2026-11-20T00:00:00Z"}"#.to_string(),
    ];
    post_events(&server, &token, &history);
    let now = "2026-11-30T12:00:00Z";
    let profile = || {
        server
            .call(
                "GET",
                &format!("/v1/tenants/{TENANT}/profiles/old?now={now}"),
                Some(&token),
                None,
            )
            .json()
    };
    let before = profile();
    assert_eq!(before["orders"]["count"], 3, "{before}");
    assert_eq!(before["orders"]["total_spent_cents"], 7000);
    tick(&server, at(now));
    // Orders A and B were folded and the older visit dropped...
    // Kept: the subscription, the recent order, the latest old visit and
    // the recent open.
    let kept = rusqlite_count(data.path(), "SELECT count(*) FROM customer_events");
    assert_eq!(kept, 4);
    assert_eq!(profile(), before);
    // ...and the same old order posted again later still counts once; a
    // new old one counts.
    let late = post_events(
        &server,
        &token,
        &[
            order("o1-again", "2025-03-01T00:00:00Z", "A", 1000),
            order("o7", "2025-05-01T00:00:00Z", "D", 500),
        ],
    );
    assert_eq!(late["accepted"], 2, "{late}");
    let after = profile();
    assert_eq!(after["orders"]["count"], 4, "{after}");
    assert_eq!(after["orders"]["total_spent_cents"], 7500);
}

fn rusqlite_count(data: &Path, sql: &str) -> i64 {
    let db = rusqlite::Connection::open(data.join("mailrules.sqlite3")).unwrap();
    db.query_row(sql, [], |row| row.get(0)).unwrap()
}
