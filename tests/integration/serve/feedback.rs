//! Feedback through the real service: a campaign with an A/B split and a
//! holdout is sent; a stream of opens, clicks, one-click unsubscribes
//! (forged links among them) goes to the service's own link endpoints and
//! orders to its events route; every KPI the service reports is checked
//! against counts this test keeps itself; an unsubscribed customer gets
//! nothing from the next send; and the tenant's page shows the same
//! numbers in headless Chromium.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use mailrules_integration::generator::Rng;
use serde_json::Value;

use super::{Server, send_and_wait, unix_now};

const TENANT: &str = "acme";
const CAMPAIGN: &str = "feedback-ab";
const NEXT: &str = "feedback-next";
const PUBLIC: &str = "https://mail.example.test";
const LINK: &str = "https://northwind.example/picks?c=";
const DAY: i64 = 86_400;
const WINDOW: i64 = 5 * DAY;

fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// 600 varied profiles; marketing consent for all but every 25th, tracking
/// consent for two in three.
fn profiles(now: i64) -> Vec<Value> {
    let mut profiles = mailrules_integration::generator::profiles(600, 12, now);
    for (i, profile) in profiles.iter_mut().enumerate() {
        let id = format!("c{i:04}");
        profile["id"] = id.clone().into();
        profile["email"] = format!("{id}@example.com").into();
        profile["consent"] = serde_json::json!({
            "email_marketing": i % 25 != 0,
            "tracking": i % 3 != 0,
        });
    }
    profiles
}

fn jsonl(values: &[Value]) -> Vec<u8> {
    values
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// The example campaign as `id` at `now`, with a web link in the HTML, and
/// `extra` appended (splits, holdout, feedback settings).
fn campaign(id: &str, now: i64, extra: &str) -> String {
    let text = super::example_campaign()
        .replace(
            r#"id = "autumn-picks-2026""#,
            &format!(r#"id = "{id}""#),
        )
        .replace(
            r#"now = "2026-11-24T09:00:00Z""#,
            &format!(r#"now = "{}""#, rfc3339(now)),
        )
        .replace(
            "{{ blocks.recommendations }}\n<p style",
            &format!(
                "{{{{ blocks.recommendations }}}}\n<p><a href=\"{LINK}{{{{ campaign.id | urlencode }}}}\">See all picks</a></p>\n<p style"
            ),
        );
    assert!(text.contains("See all picks"), "the layout changed");
    format!("{text}\n{extra}\n")
}

fn eval(server: &Server, token: &str, id: &str, body: &[u8]) -> Vec<Value> {
    let answer = server.eval(TENANT, token, id, body);
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A delivered message as the recipient's mailbox has it.
struct Mail {
    customer: String,
    unsubscribe: String,
    pixel: Option<String>,
    link: String,
}

fn read_mails(maildir: &Path, seen: &BTreeSet<String>) -> Vec<(String, Mail)> {
    let mut mails = Vec::new();
    for entry in std::fs::read_dir(maildir.join("new")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if seen.contains(&name) {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let message = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let to = message.to().unwrap().first().unwrap().address().unwrap();
        let customer = to.strip_suffix("@example.com").unwrap().to_string();
        let unsubscribe = super::one_click_url(&message);
        assert_eq!(
            message.header_raw("List-Unsubscribe-Post").unwrap().trim(),
            "List-Unsubscribe=One-Click"
        );
        // Merge fields are HTML-escaped (`/` as `&#x2f;`), as a mail client
        // reads them.
        let html = message.body_html(0).unwrap().replace("&#x2f;", "/");
        // The unsubscribe link in the body is the header's, untracked.
        assert!(html.contains(&format!("href=\"{unsubscribe}\"")), "{html}");
        let attribute = |marker: &str| {
            html.split(marker)
                .nth(1)
                .map(|rest| rest[..rest.find('"').unwrap()].to_string())
        };
        let pixel = attribute("<img src=\"");
        let link = html
            .split("href=\"")
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].to_string())
            .find(|href| *href != unsubscribe)
            .unwrap();
        mails.push((
            name,
            Mail {
                customer,
                unsubscribe,
                pixel,
                link,
            },
        ));
    }
    mails.sort_by(|a, b| a.1.customer.cmp(&b.1.customer));
    mails
}

/// A request to a link as a mail client makes it: no token, redirects
/// not followed.
fn follow(base: &str, method: &str, url: &str, body: Option<&str>) -> (u16, String, String) {
    let url = url.replacen(PUBLIC, base, 1);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        (_, Some(body)) => agent
            .post(&url)
            .content_type("application/x-www-form-urlencoded")
            .send(body),
        (_, None) => agent.post(&url).send_empty(),
    }
    .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (response.status().as_u16(), location, text)
}

/// What the test itself counted for one group of recipients.
#[derive(Debug, Default, Clone, PartialEq)]
struct Counted {
    recipients: u64,
    sent: u64,
    delivered: u64,
    tracked: u64,
    unique_opens: u64,
    total_opens: u64,
    unique_clicks: u64,
    total_clicks: u64,
    conversions: u64,
    revenue_cents: i64,
    unsubscribes: u64,
}

impl Counted {
    fn of(kpis: &Value) -> Counted {
        let n = |k: &str| kpis[k].as_u64().unwrap_or_else(|| panic!("{k} in {kpis}"));
        Counted {
            recipients: n("recipients"),
            sent: n("sent"),
            delivered: n("delivered"),
            tracked: n("tracked"),
            unique_opens: n("unique_opens"),
            total_opens: n("total_opens"),
            unique_clicks: n("unique_clicks"),
            total_clicks: n("total_clicks"),
            conversions: n("conversions"),
            revenue_cents: kpis["revenue_cents"].as_i64().unwrap(),
            unsubscribes: n("unsubscribes"),
        }
    }

    /// Checks the counts and every rate of `kpis`.
    fn check(&self, what: &str, kpis: &Value, converters: u64) {
        assert_eq!(&Counted::of(kpis), self, "{what}: {kpis}");
        for (rate, part, whole) in [
            // Opens and clicks can be seen only on tracked messages.
            ("open_rate", self.unique_opens, self.tracked),
            ("click_rate", self.unique_clicks, self.tracked),
            ("click_to_open_rate", self.unique_clicks, self.unique_opens),
            ("conversion_rate", converters, self.delivered),
            ("unsubscribe_rate", self.unsubscribes, self.delivered),
        ] {
            // JSON numbers parse back to within an ulp.
            match (kpis[rate].as_f64(), whole) {
                (None, 0) => {}
                (Some(got), whole) if whole > 0 => {
                    let expected = part as f64 / whole as f64;
                    assert!(
                        (got - expected).abs() < 1e-12,
                        "{what} {rate}: {got} vs {expected}"
                    );
                }
                (got, _) => panic!("{what} {rate}: {got:?} with {part} of {whole}"),
            }
        }
    }
}

/// What happened to one recipient, as the test made it happen.
#[derive(Debug, Default, Clone)]
struct Fate {
    outcome: Value,
    delivered: bool,
    /// The message carried the pixel and redirects.
    tracked: bool,
    opens: u64,
    clicks: u64,
    unsubscribed: bool,
    /// (order time, cents) of the attributed orders.
    conversions: Vec<i64>,
    /// Whether an order fell within the window after the send.
    ordered_after_send: bool,
}

/// Two-sided p-value of a two-proportion z-test (Abramowitz and Stegun
/// 7.1.26 for erfc, accurate to 1.5e-7).
fn p_value(x1: u64, n1: u64, x2: u64, n2: u64) -> f64 {
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1 + n2) as f64;
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt();
    let x = ((p1 - p2) / se).abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

#[test]
fn opens_clicks_orders_and_unsubscribes_add_up_to_the_kpis_the_service_and_its_page_report() {
    let _heavy = crate::harness::cpu_heavy();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        &["--tick-interval-secs", "0", "--public-url", PUBLIC],
    );
    let token = server.tenant_with_rule(TENANT, "seed-segments");
    let sent_at = unix_now() - 60;
    let profiles = profiles(sent_at);
    let body = jsonl(&profiles);

    // Split the subject the rule picks most often.
    let plain = campaign(CAMPAIGN, sent_at, "");
    assert_eq!(
        server.put_campaign(TENANT, &token, CAMPAIGN, &plain).status,
        200
    );
    let mut subjects: BTreeMap<String, usize> = BTreeMap::new();
    for outcome in eval(&server, &token, CAMPAIGN, &body) {
        if let Some(subject) = outcome["subject"].as_str() {
            *subjects.entry(subject.to_string()).or_default() += 1;
        }
    }
    let split = subjects.iter().max_by_key(|(_, n)| **n).unwrap().0.clone();
    let extra = format!(
        "[[subject]]\nid = \"ab-alt\"\ntext = \"Picked for You This Week\"\n\n\
         [[split]]\nsubject = \"{split}\"\narms = [{{ subject = \"{split}\", weight = 1 }}, {{ subject = \"ab-alt\", weight = 1 }}]\n\n\
         [holdout]\npercent = 10\n\n[feedback]\nab_min_sample = 40\n"
    );
    let text = campaign(CAMPAIGN, sent_at, &extra);
    let put = server.put_campaign(TENANT, &token, CAMPAIGN, &text);
    assert_eq!(put.status, 200, "{}", put.text());
    let mut fates: BTreeMap<String, Fate> = eval(&server, &token, CAMPAIGN, &body)
        .into_iter()
        .map(|outcome| {
            let id = outcome["profile_id"].as_str().unwrap().to_string();
            (
                id,
                Fate {
                    outcome,
                    ..Fate::default()
                },
            )
        })
        .collect();
    assert_eq!(fates.len(), 600);

    let report = send_and_wait(&server, TENANT, &token, CAMPAIGN, &body);
    let maildir = data.path().join(format!("tenants/{TENANT}/maildir"));
    let mails = read_mails(&maildir, &BTreeSet::new());
    assert_eq!(
        report["report"]["fates"]["delivered"].as_u64().unwrap(),
        mails.len() as u64
    );
    let holdout: BTreeSet<&String> = fates
        .iter()
        .filter(|(_, f)| f.outcome["reason"] == "holdout")
        .map(|(id, _)| id)
        .collect();
    assert!(holdout.len() > 30, "{}", holdout.len());
    let holdout: BTreeSet<String> = holdout.into_iter().cloned().collect();

    // Tracking only with consent: the pixel and the redirect, or neither.
    let tracking = |customer: &str| customer[1..].parse::<usize>().unwrap() % 3 != 0;
    for (_, mail) in &mails {
        assert!(mail.unsubscribe.starts_with(&format!("{PUBLIC}/u/")));
        if tracking(&mail.customer) {
            assert!(
                mail.pixel
                    .as_deref()
                    .unwrap()
                    .starts_with(&format!("{PUBLIC}/o/"))
            );
            assert!(
                mail.link.starts_with(&format!("{PUBLIC}/c/")),
                "{}",
                mail.link
            );
        } else {
            assert_eq!(mail.pixel, None, "{}", mail.customer);
            assert_eq!(mail.link, format!("{LINK}{CAMPAIGN}"));
        }
    }

    // The stream: opens, clicks, unsubscribes through the links; orders
    // posted as events.
    let mut rng = Rng::new(2026);
    let mut orders: Vec<String> = Vec::new();
    let order = |customer: &str, at: i64, cents: i64, orders: &mut Vec<String>| {
        let n = orders.len();
        orders.push(format!(
            r#"{{"id":"e-order-{n}","type":"order_placed","customer":"{customer}","at":"{}","order_id":"o-{n}","total_cents":{cents}}}"#,
            rfc3339(at)
        ));
    };
    let mut viewed_page = false;
    for (index, (_, mail)) in mails.iter().enumerate() {
        let fate = fates.get_mut(&mail.customer).unwrap();
        fate.delivered = true;
        fate.tracked = mail.pixel.is_some();
        let arm = fate.outcome["subject"].as_str().unwrap().to_string();
        if let Some(pixel) = &mail.pixel {
            if rng.chance(50) {
                // Some load the pixel twice: the service keeps one open a
                // minute per message, so both count once (the hits are
                // kept within one minute: none starts in its last 2 s).
                let hits = if rng.chance(20) { 2 } else { 1 };
                if unix_now() % 60 >= 58 {
                    std::thread::sleep(std::time::Duration::from_secs(3));
                }
                let minute = unix_now() / 60;
                for _ in 0..hits {
                    let (status, _, _) = follow(&server.base, "GET", pixel, None);
                    assert_eq!(status, 200);
                }
                assert_eq!(unix_now() / 60, minute, "the hits took 2 s");
                fate.opens = 1;
            }
            if rng.chance(if arm == "ab-alt" { 45 } else { 10 }) {
                let before = unix_now();
                let (status, location, _) = follow(&server.base, "GET", &mail.link, None);
                assert_eq!(
                    (status, location.as_str()),
                    (302, format!("{LINK}{CAMPAIGN}").as_str())
                );
                fate.clicks = 1;
                if rng.chance(50) {
                    let cents = 1_000 + rng.below(9_000) as i64;
                    order(&mail.customer, before + 3_600, cents, &mut orders);
                    fate.conversions.push(cents);
                    fate.ordered_after_send = true;
                } else if rng.chance(40) {
                    // Six days after the click: outside the window.
                    order(&mail.customer, before + WINDOW + DAY, 5_000, &mut orders);
                }
            }
        }
        if fate.clicks == 0 && rng.chance(10) {
            order(&mail.customer, sent_at + DAY, 2_500, &mut orders);
            fate.ordered_after_send = true;
        }
        if index % 23 == 5 {
            if !viewed_page {
                // Looking at the page changes nothing; its button posts.
                let (status, _, page) = follow(&server.base, "GET", &mail.unsubscribe, None);
                assert_eq!(status, 200);
                assert!(
                    page.contains("List-Unsubscribe") && page.contains("One-Click"),
                    "{page}"
                );
                let listed = server.call(
                    "GET",
                    &format!("/v1/tenants/{TENANT}/suppressions"),
                    Some(&token),
                    None,
                );
                assert_eq!(listed.json(), serde_json::json!([]));
                viewed_page = true;
            }
            let (status, _, _) = follow(
                &server.base,
                "POST",
                &mail.unsubscribe,
                Some("List-Unsubscribe=One-Click"),
            );
            assert_eq!(status, 200);
            // Twice is once.
            let (status, _, _) = follow(
                &server.base,
                "POST",
                &mail.unsubscribe,
                Some("List-Unsubscribe=One-Click"),
            );
            assert_eq!(status, 200);
            fate.unsubscribed = true;
        }
    }
    for customer in &holdout {
        if rng.chance(15) {
            order(customer, sent_at + DAY, 3_000, &mut orders);
            fates.get_mut(customer).unwrap().ordered_after_send = true;
        }
    }
    let posted = server.call(
        "POST",
        &format!("/v1/tenants/{TENANT}/events"),
        Some(&token),
        Some(("application/x-ndjson", orders.join("\n").into_bytes())),
    );
    assert_eq!(posted.status, 200, "{}", posted.text());
    assert_eq!(posted.json()["accepted"], orders.len());

    // Forged and misused links change nothing.
    let kpis_before = server
        .call(
            "GET",
            &format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}/kpis"),
            Some(&token),
            None,
        )
        .json();
    let tracked: Vec<&Mail> = mails
        .iter()
        .map(|(_, m)| m)
        .filter(|m| m.pixel.is_some())
        .collect();
    let (a, b) = (tracked[0], tracked[1]);
    let token_of = |url: &str| url.rsplit('/').next().unwrap().to_string();
    let (payload, mac) = token_of(&a.link)
        .split_once('.')
        .map(|(p, m)| (p.to_string(), m.to_string()))
        .unwrap();
    let flip = |text: &str, at: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        String::from_utf8(bytes).unwrap()
    };
    let b_unsubscribe_mac = token_of(&b.unsubscribe)
        .split_once('.')
        .unwrap()
        .1
        .to_string();
    let a_unsubscribe_payload = token_of(&a.unsubscribe)
        .split_once('.')
        .unwrap()
        .0
        .to_string();
    let forged = [
        ("GET", format!("{PUBLIC}/c/{}.{mac}", flip(&payload, 10))),
        ("GET", format!("{PUBLIC}/c/{payload}.{}", flip(&mac, 3))),
        (
            "GET",
            format!("{PUBLIC}/c/{}", token_of(a.pixel.as_ref().unwrap())),
        ),
        ("GET", format!("{PUBLIC}/o/{}", token_of(&a.link))),
        ("GET", format!("{PUBLIC}/c/not-a-token")),
        ("GET", format!("{PUBLIC}/o/{}", "A".repeat(5000))),
        (
            "POST",
            format!("{PUBLIC}/u/{a_unsubscribe_payload}.{b_unsubscribe_mac}"),
        ),
        ("POST", format!("{PUBLIC}/u/{}", token_of(&a.link))),
        (
            "GET",
            format!(
                "{PUBLIC}/u/{}.{}",
                flip(&a_unsubscribe_payload, 4),
                b_unsubscribe_mac
            ),
        ),
    ];
    for (method, url) in &forged {
        let body = (*method == "POST").then_some("List-Unsubscribe=One-Click");
        let (status, location, _) = follow(&server.base, method, url, body);
        assert_eq!((status, location.as_str()), (404, ""), "{method} {url}");
    }
    // A real unsubscribe link without the one-click body does nothing.
    let (status, _, _) = follow(&server.base, "POST", &a.unsubscribe, Some("hello"));
    assert_eq!(status, 400);
    let kpis = server.call(
        "GET",
        &format!("/v1/tenants/{TENANT}/campaigns/{CAMPAIGN}/kpis"),
        Some(&token),
        None,
    );
    assert_eq!(kpis.status, 200, "{}", kpis.text());
    let kpis = kpis.json();
    assert_eq!(kpis, kpis_before, "a forged link changed the KPIs");

    // The counts, computed here.
    let count = |members: &mut dyn Iterator<Item = &Fate>| {
        let mut counted = Counted::default();
        let mut converters = 0;
        for fate in members {
            counted.recipients += 1;
            if !fate.delivered {
                continue;
            }
            counted.sent += 1;
            counted.delivered += 1;
            counted.tracked += u64::from(fate.tracked);
            counted.unique_opens += u64::from(fate.opens > 0 || fate.clicks > 0);
            counted.total_opens += fate.opens;
            counted.unique_clicks += u64::from(fate.clicks > 0);
            counted.total_clicks += fate.clicks;
            counted.conversions += fate.conversions.len() as u64;
            counted.revenue_cents += fate.conversions.iter().sum::<i64>();
            counted.unsubscribes += u64::from(fate.unsubscribed);
            converters += u64::from(!fate.conversions.is_empty());
        }
        (counted, converters)
    };
    let (total, converters) = count(&mut fates.values());
    assert!(
        total.unique_clicks > 20 && total.conversions > 5 && total.unsubscribes > 10,
        "{total:?}"
    );
    total.check("total", &kpis["total"], converters);
    assert_eq!(
        kpis["total"]["suppressed"].as_u64().unwrap(),
        fates
            .values()
            .filter(|f| f.outcome["status"] == "suppressed")
            .count() as u64
    );

    let segments: BTreeSet<String> = fates
        .values()
        .flat_map(|f| f.outcome["segments"].as_array().unwrap().iter())
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let listed: Vec<&str> = kpis["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        segments.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for (segment, group) in segments.iter().zip(kpis["segments"].as_array().unwrap()) {
        let (counted, converters) = count(&mut fates.values().filter(|f| {
            f.outcome["segments"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == segment.as_str())
        }));
        counted.check(&format!("segment {segment}"), &group["kpis"], converters);
    }
    for (field, groups) in [("subject", "subjects"), ("preheader", "preheaders")] {
        let keys: BTreeSet<&str> = fates
            .values()
            .filter(|f| f.delivered)
            .map(|f| f.outcome[field].as_str().unwrap())
            .collect();
        let groups = kpis[groups].as_array().unwrap();
        assert_eq!(groups.len(), keys.len());
        for (key, group) in keys.iter().zip(groups) {
            assert_eq!(group["key"], *key);
            let (mut counted, converters) = count(
                &mut fates
                    .values()
                    .filter(|f| f.delivered && f.outcome[field] == *key),
            );
            counted.recipients = counted.delivered;
            counted.check(&format!("{field} {key}"), &group["kpis"], converters);
        }
    }

    // The A/B split: each arm, the leader, the verdict.
    let split_report = &kpis["splits"][0];
    assert_eq!(split_report["subject"], split.as_str());
    let mut arm_clicks = Vec::new();
    for (arm, result) in [split.as_str(), "ab-alt"]
        .iter()
        .zip(split_report["arms"].as_array().unwrap())
    {
        assert_eq!(result["arm"], *arm);
        let (counted, converters) = count(&mut fates.values().filter(|f| {
            f.outcome["ab"]["split"] == split.as_str() && f.outcome["ab"]["arm"] == *arm
        }));
        counted.check(&format!("arm {arm}"), &result["kpis"], converters);
        assert_eq!(result["successes"], counted.unique_clicks);
        assert_eq!(result["trials"], counted.tracked);
        arm_clicks.push((counted.unique_clicks, counted.tracked));
    }
    let p = p_value(
        arm_clicks[1].0,
        arm_clicks[1].1,
        arm_clicks[0].0,
        arm_clicks[0].1,
    );
    let reported = split_report["arms"][0]["against_leader"]["p_value"]
        .as_f64()
        .unwrap();
    assert!((p - reported).abs() < 1e-6, "{p} vs {reported}");
    assert!(
        p < 0.05,
        "the arms were made to differ: p = {p}, {arm_clicks:?}"
    );
    assert_eq!(split_report["leader"], "ab-alt");
    assert_eq!(split_report["winner"], "ab-alt", "{split_report}");

    // The holdout: orders within the window after the send, treated
    // (delivered) against held out.
    let treated: Vec<&Fate> = fates.values().filter(|f| f.delivered).collect();
    let control: Vec<&Fate> = fates
        .values()
        .filter(|f| f.outcome["reason"] == "holdout")
        .collect();
    let converted = |group: &[&Fate]| group.iter().filter(|f| f.ordered_after_send).count() as u64;
    let lift = &kpis["holdout"];
    assert_eq!(lift["treated"], treated.len());
    assert_eq!(lift["treated_converted"], converted(&treated));
    assert_eq!(lift["control"], control.len());
    assert_eq!(lift["control_converted"], converted(&control));
    let rate = |x: u64, n: usize| x as f64 / n as f64;
    let expected_lift =
        rate(converted(&treated), treated.len()) - rate(converted(&control), control.len());
    assert!((lift["absolute_lift"].as_f64().unwrap() - expected_lift).abs() < 1e-12);

    // Everyone who unsubscribed is on the list, and the next send passes
    // them by before the rule runs.
    let unsubscribed: BTreeSet<String> = fates
        .iter()
        .filter(|(_, f)| f.unsubscribed)
        .map(|(id, _)| id.clone())
        .collect();
    let listed: BTreeSet<String> = server
        .call(
            "GET",
            &format!("/v1/tenants/{TENANT}/suppressions"),
            Some(&token),
            None,
        )
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["campaign"], CAMPAIGN);
            s["customer"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(listed, unsubscribed);
    let seen: BTreeSet<String> = mails.iter().map(|(name, _)| name.clone()).collect();
    let put = server.put_campaign(TENANT, &token, NEXT, &campaign(NEXT, sent_at, ""));
    assert_eq!(put.status, 200, "{}", put.text());
    let next = send_and_wait(&server, TENANT, &token, NEXT, &body);
    assert_eq!(
        next["report"]["reasons"]["suppressed: unsubscribed"].as_u64(),
        Some(unsubscribed.len() as u64),
        "{next}"
    );
    let next_mails = read_mails(&maildir, &seen);
    assert!(!next_mails.is_empty());
    for (_, mail) in &next_mails {
        assert!(
            !unsubscribed.contains(&mail.customer),
            "{} got mail",
            mail.customer
        );
    }
    assert_eq!(
        next_mails.len() as u64,
        next["report"]["fates"]["delivered"].as_u64().unwrap()
    );

    page_shows_the_same_numbers(&server, &token, &kpis, &segments);
}

/// Loads the tenant's page in headless Chromium and checks what it
/// rendered against the API's numbers; keeps the DOM and a screenshot.
fn page_shows_the_same_numbers(
    server: &Server,
    token: &str,
    kpis: &Value,
    segments: &BTreeSet<String>,
) {
    let (status, location, _) = follow(&server.base, "GET", &format!("{PUBLIC}/ui"), None);
    assert_eq!((status, location.as_str()), (308, "ui/"));
    let artifacts = mailrules_integration::root().join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let url = format!("{}/ui/#tenant={TENANT}&token={token}", server.base);
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        let output = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--virtual-time-budget=20000",
                "--window-size=1400,3000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (scripts/test.sh installs Debian's chromium)");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let dom = chromium(&["--dump-dom"]);
    std::fs::write(artifacts.join("kpi-page.html"), &dom).unwrap();
    let screenshot = artifacts.join("kpi-page.png");
    chromium(&[&format!("--screenshot={}", screenshot.display())]);
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);

    assert!(
        dom.contains("data-ready=\"true\""),
        "the page did not load: {dom}"
    );
    let cell = |key: &str| {
        let marker = format!("data-kpi=\"{CAMPAIGN}/{key}\"");
        let rest = dom
            .split(&marker)
            .nth(1)
            .unwrap_or_else(|| panic!("no cell {key}"));
        let rest = &rest[rest.find('>').unwrap() + 1..];
        rest[..rest.find('<').unwrap()].to_string()
    };
    // The page rounds to one decimal; JavaScript and Rust may round a tie
    // differently, so compare within the rounding.
    let same_percent = |shown: String, rate: &Value| {
        if rate.is_null() {
            assert_eq!(shown, "–");
            return;
        }
        let shown: f64 = shown.trim_end_matches('%').parse().unwrap();
        assert!(
            (shown - rate.as_f64().unwrap() * 100.0).abs() <= 0.051,
            "{shown} vs {rate}"
        );
    };
    let total = &kpis["total"];
    for field in [
        "recipients",
        "delivered",
        "unique_opens",
        "unique_clicks",
        "conversions",
        "unsubscribes",
    ] {
        assert_eq!(
            cell(&format!("total/total/{field}")),
            total[field].to_string(),
            "{field}"
        );
    }
    let cents = total["revenue_cents"].as_i64().unwrap();
    assert_eq!(
        cell("total/total/revenue_cents"),
        format!("{}.{:02}", cents / 100, cents % 100)
    );
    for rate in [
        "open_rate",
        "click_rate",
        "conversion_rate",
        "unsubscribe_rate",
    ] {
        same_percent(cell(&format!("total/total/{rate}")), &total[rate]);
    }
    for (segment, group) in segments.iter().zip(kpis["segments"].as_array().unwrap()) {
        assert_eq!(
            cell(&format!("segment/{segment}/delivered")),
            group["kpis"]["delivered"].to_string()
        );
        same_percent(
            cell(&format!("segment/{segment}/open_rate")),
            &group["kpis"]["open_rate"],
        );
    }
    let split = kpis["splits"][0]["subject"].as_str().unwrap();
    assert!(
        dom.contains(&format!("data-winner=\"ab-alt\" data-split=\"{split}\"")),
        "no verdict"
    );
    // Every rate outside its target is marked, with the target as its title.
    let flags: usize = ["segments", "subjects", "preheaders"]
        .iter()
        .flat_map(|g| kpis[*g].as_array().unwrap())
        .map(|g| &g["kpis"])
        .chain(std::iter::once(&kpis["total"]))
        .chain(
            kpis["splits"][0]["arms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| &a["kpis"]),
        )
        .map(|k| k["flags"].as_array().unwrap().len())
        .sum();
    assert!(flags > 0);
    let article = dom
        .split(&format!("data-campaign=\"{CAMPAIGN}\""))
        .nth(1)
        .and_then(|rest| rest.split("</article>").next())
        .unwrap();
    assert_eq!(
        article.matches("class=\"off-target\" title=\"").count(),
        flags
    );
    // Charts: one bar per segment in each per-segment chart.
    let bars = dom.matches("<rect ").count();
    assert!(bars >= 3 * segments.len(), "{bars} bars");
    // The rule version and its upload facts.
    assert!(dom.contains("data-version=\"v1\""), "no rule version");
}
