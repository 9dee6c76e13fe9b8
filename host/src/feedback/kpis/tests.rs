use std::path::Path;

use super::*;
use crate::journal::Entry;
use crate::lifecycle::events::CustomerEvent;

const DAY: i64 = 86_400;
const SENT: i64 = 1_764_000_000; // 2025-11-24T16:00:00Z

fn campaign(extra: &str) -> Campaign {
    Campaign::parse(
        &format!(
            r#"
id = "k"
[[subject]]
id = "a"
text = "A"
[[subject]]
id = "b"
text = "B"
[[preheader]]
id = "p"
text = "P"
[fallback]
subject = "a"
preheader = "p"
[[split]]
subject = "a"
arms = [{{ subject = "a", weight = 1 }}, {{ subject = "b", weight = 1 }}]
{extra}
"#
        ),
        Path::new("k.toml"),
    )
    .unwrap()
}

fn sent(customer: &str, arm: &str, segments: &[&str], fate: Fate) -> Recipient {
    Recipient {
        customer: customer.into(),
        message_id: Some(format!("<{customer}@k>")),
        fate,
        reason: None,
        segments: segments.iter().map(|s| s.to_string()).collect(),
        subject: Some(arm.into()),
        preheader: Some("p".into()),
        ab_split: Some("a".into()),
        tracked: true,
        sent_at: SENT,
    }
}

fn held_out(customer: &str) -> Recipient {
    Recipient {
        message_id: None,
        fate: Fate::Suppressed,
        reason: Some("holdout".into()),
        subject: None,
        preheader: None,
        ab_split: None,
        ..sent(customer, "a", &["vip"], Fate::Suppressed)
    }
}

fn event(id: &str, customer: &str, at: i64, rest: &str) -> CustomerEvent {
    let at = crate::profile::format_time(at);
    CustomerEvent::from_json(
        format!(r#"{{"id":"{id}","customer":"{customer}","at":"{at}",{rest}}}"#).as_bytes(),
    )
    .unwrap()
}

fn open(id: &str, customer: &str, at: i64) -> CustomerEvent {
    event(
        id,
        customer,
        at,
        &format!(r#""type":"email_opened","campaign":"k","message_id":"<{customer}@k>""#),
    )
}

fn click(id: &str, customer: &str, at: i64, campaign: &str) -> CustomerEvent {
    event(
        id,
        customer,
        at,
        &format!(
            r#""type":"email_clicked","campaign":"{campaign}","message_id":"<{customer}@{campaign}>""#
        ),
    )
}

fn order(id: &str, customer: &str, at: i64, cents: i64) -> CustomerEvent {
    event(
        id,
        customer,
        at,
        &format!(r#""type":"order_placed","order_id":"{id}","total_cents":{cents}"#),
    )
}

#[test]
fn every_count_and_rate_of_a_small_campaign() {
    let recipients = vec![
        sent("c1", "a", &["vip"], Fate::Delivered),
        sent("c2", "a", &["vip", "new"], Fate::Delivered),
        sent("c3", "b", &["new"], Fate::Delivered),
        sent("c4", "b", &["new"], Fate::Failed),
        held_out("c5"),
    ];
    let events = vec![
        open("o1", "c1", SENT + 60),
        open("o2", "c1", SENT + 120), // a second open: total, not unique
        click("k1", "c2", SENT + 300, "k"), // a click without an open: opened
        order("ord1", "c2", SENT + 2 * DAY, 4_500), // within 5 days: converts
        order("ord1", "c2", SENT + 2 * DAY + 1, 4_500), // same order again
        click("k2", "c3", SENT + 60, "k"),
        click("x1", "c3", SENT + 100, "other"), // a later click elsewhere wins
        order("ord2", "c3", SENT + 200, 9_900),
        order("ord3", "c1", SENT + DAY, 1_000), // no click: not a conversion
        order("ord4", "c5", SENT + DAY, 2_000), // the holdout buys anyway
        event(
            "u1",
            "c3",
            SENT + 400,
            r#""type":"unsubscribed","campaign":"k""#, // by campaign only
        ),
        // Another customer's message: ignored.
        event(
            "o9",
            "c4",
            SENT + 10,
            r#""type":"email_opened","campaign":"k","message_id":"<c1@k>""#,
        ),
        // Names the campaign but no message of it.
        event(
            "o8",
            "c8",
            SENT + 10,
            r#""type":"email_opened","campaign":"k""#,
        ),
    ];
    let report = compute(&campaign("[holdout]\npercent = 10"), &recipients, &events);
    let t = &report.total;
    assert_eq!(
        (
            t.recipients,
            t.sent,
            t.delivered,
            t.failed,
            t.deferred,
            t.suppressed
        ),
        (5, 4, 3, 1, 0, 1)
    );
    // c1 opened; c2 and c3 clicked, which implies an open.
    assert_eq!((t.unique_opens, t.total_opens), (3, 2));
    assert_eq!((t.unique_clicks, t.total_clicks), (2, 2));
    assert_eq!(
        (t.conversions, t.converters, t.revenue_cents),
        (1, 1, 4_500)
    );
    assert_eq!(t.unsubscribes, 1);
    assert_eq!(t.open_rate, Some(1.0));
    assert_eq!(t.click_rate, Some(2.0 / 3.0));
    assert_eq!(t.click_to_open_rate, Some(2.0 / 3.0));
    assert_eq!(t.conversion_rate, Some(1.0 / 3.0));
    assert_eq!(t.unsubscribe_rate, Some(1.0 / 3.0));
    let flags: Vec<(&str, &str)> = t.flags.iter().map(|f| (f.rate, f.text.as_str())).collect();
    assert_eq!(
        flags,
        [
            ("open_rate", "open rate 100% is above the 20%–30% target"),
            ("click_rate", "click rate 66.7% is above the 2%–5% target"),
            (
                "conversion_rate",
                "conversion rate 33.3% is above the 1%–3% target"
            ),
            ("unsubscribe_rate", "unsubscribe rate 33.3% is not under 1%"),
        ]
    );
    assert_eq!(report.unmatched_events, 1);

    let segment = |key: &str| &report.segments.iter().find(|g| g.key == key).unwrap().kpis;
    assert_eq!(
        (
            segment("vip").recipients,
            segment("vip").delivered,
            segment("vip").unique_opens
        ),
        (3, 2, 2) // c1, c2 and the held-out c5
    );
    assert_eq!(
        (
            segment("new").recipients,
            segment("new").delivered,
            segment("new").unique_clicks
        ),
        (3, 2, 2)
    );
    let subjects: Vec<(&str, u64)> = report
        .subjects
        .iter()
        .map(|g| (g.key.as_str(), g.kpis.sent))
        .collect();
    assert_eq!(subjects, [("a", 2), ("b", 2)]);

    let split = &report.splits[0];
    assert_eq!(split.metric, "clicks");
    assert_eq!(split.arms[0].successes, 1);
    assert_eq!(split.arms[1].successes, 1);
    assert_eq!(split.arms[1].kpis.delivered, 1);
    assert_eq!(split.winner, None);
    assert!(
        split.verdict.starts_with("not enough data"),
        "{}",
        split.verdict
    );

    let holdout = report.holdout.as_ref().unwrap();
    // Treated: c1 (ord3), c2 (ord1), c3 (ord2) all ordered within 5 days.
    assert_eq!((holdout.treated, holdout.treated_converted), (3, 3));
    assert_eq!((holdout.control, holdout.control_converted), (1, 1));
    assert_eq!(holdout.absolute_lift, Some(0.0));

    assert_eq!(
        report.delivered_per_day,
        [DayCount {
            day: "2025-11-24".into(),
            delivered: 3
        }]
    );
}

#[test]
fn an_order_after_the_window_or_before_the_click_does_not_convert() {
    let recipients = vec![sent("c1", "a", &[], Fate::Delivered)];
    let events = vec![
        order("early", "c1", SENT + 10, 100),
        click("k1", "c1", SENT + 20, "k"),
        order("late", "c1", SENT + 20 + 5 * DAY + 1, 200),
        order("edge", "c1", SENT + 20 + 5 * DAY, 300),
    ];
    let report = compute(&campaign(""), &recipients, &events);
    assert_eq!(
        (report.total.conversions, report.total.revenue_cents),
        (1, 300)
    );
    let two_days = compute(
        &campaign("[feedback]\nconversion_window = \"2d\""),
        &recipients,
        &events,
    );
    assert_eq!(two_days.total.conversions, 0);
    assert_eq!(two_days.conversion_window, "2d");
}

#[test]
fn a_split_with_enough_data_has_a_winner() {
    // Arm a: 60 clicks of 500; arm b: 40 of 500 → z = 2.108, p = 0.035.
    let mut recipients = Vec::new();
    let mut events = Vec::new();
    for (arm, clicks) in [("a", 60), ("b", 40)] {
        for i in 0..500 {
            let customer = format!("{arm}{i}");
            recipients.push(sent(&customer, arm, &[], Fate::Delivered));
            if i < clicks {
                events.push(click(&format!("k-{customer}"), &customer, SENT + 5, "k"));
            }
        }
    }
    let report = compute(&campaign(""), &recipients, &events);
    let split = &report.splits[0];
    assert_eq!(split.leader.as_deref(), Some("a"));
    assert_eq!(split.winner.as_deref(), Some("a"), "{}", split.verdict);
    let test = split.arms[1].against_leader.unwrap();
    assert!((test.p_value - 0.03502).abs() < 1e-4, "{test:?}");
    // At 99% confidence the same data is not enough.
    let strict = compute(
        &campaign("[feedback]\nab_confidence = 0.99"),
        &recipients,
        &events,
    );
    assert_eq!(strict.splits[0].winner, None);
    assert!(
        strict.splits[0]
            .verdict
            .starts_with("no significant difference")
    );
}

#[test]
fn journals_keep_the_last_record_and_postponed_recipients_are_not_sent() {
    use crate::journal::RecipientEntry;
    let record = |id: &str, fate: Fate, message: bool| {
        Entry::Recipient(RecipientEntry {
            profile_id: id.into(),
            fate,
            status: "ok".into(),
            segments: vec![],
            subject: Some("a".into()),
            preheader: Some("p".into()),
            blocks: vec![],
            message_id: message.then(|| format!("<{id}@k>")),
            reply: None,
            reason: None,
            input: None,
            scheduled_at: None,
            schedule: None,
            ab_split: None,
            tracked: None,
        })
    };
    let entries = vec![
        Entry::Started {
            campaign_id: "k".into(),
            rule_sha256: "00".into(),
            now: SENT,
            campaign_sha256: None,
        },
        record("c1", Fate::Deferred, true),
        record("c2", Fate::Deferred, false),
        record("c1", Fate::Delivered, true),
    ];
    let recipients = recipients_of_journal(&entries);
    assert_eq!(recipients.len(), 2);
    assert_eq!(recipients[0].fate, Fate::Delivered);
    assert_eq!(recipients[0].sent_at, SENT);
    let report = compute(&campaign(""), &recipients, &[]);
    assert_eq!(
        (
            report.total.sent,
            report.total.delivered,
            report.total.deferred
        ),
        (1, 1, 0)
    );
}

#[test]
fn ties_and_empty_arms_never_make_a_winner() {
    // Three arms; a and b both click at 100%, c at 0% — a ties b.
    let mut split = campaign("");
    split.splits[0].arms.push(("c".into(), 1));
    let mut recipients = Vec::new();
    let mut events = Vec::new();
    for (arm, clicks) in [("a", 200), ("b", 200), ("c", 0)] {
        for i in 0..200 {
            let customer = format!("{arm}{i}");
            recipients.push(sent(&customer, arm, &[], Fate::Delivered));
            if i < clicks {
                events.push(click(&format!("k-{customer}"), &customer, SENT + 5, "k"));
            }
        }
    }
    let tied = compute(&split, &recipients, &events);
    assert_eq!(tied.splits[0].leader.as_deref(), Some("a"));
    assert_eq!(tied.splits[0].winner, None, "{}", tied.splits[0].verdict);
    assert!(
        tied.splits[0].verdict.contains("p = 1.0000"),
        "{}",
        tied.splits[0].verdict
    );
    // An arm with no delivered message at all is short even at a minimum of 1.
    let only_a: Vec<Recipient> = recipients
        .iter()
        .filter(|r| r.subject.as_deref() == Some("a"))
        .cloned()
        .collect();
    let empty = compute(&campaign("[feedback]\nab_min_sample = 1"), &only_a, &events);
    assert_eq!(empty.splits[0].winner, None);
    assert!(
        empty.splits[0]
            .verdict
            .starts_with("not enough data: arm `b` has 0 messages"),
        "{}",
        empty.splits[0].verdict
    );
    assert!(
        Campaign::parse(
            "id = \"k\"\n[[subject]]\nid = \"a\"\ntext = \"A\"\n[[preheader]]\nid = \"p\"\ntext = \"P\"\n[fallback]\nsubject = \"a\"\npreheader = \"p\"\n[feedback]\nab_min_sample = 0\n",
            Path::new("k.toml")
        )
        .unwrap_err()
        .to_string()
        .contains("ab_min_sample must be at least 1")
    );
}

#[test]
fn open_and_click_rates_count_only_messages_that_could_be_tracked() {
    let untracked = Recipient {
        tracked: false,
        ..sent("c2", "a", &[], Fate::Delivered)
    };
    let recipients = vec![sent("c1", "a", &[], Fate::Delivered), untracked];
    let events = vec![
        open("o1", "c1", SENT + 60),
        order("x1", "c2", SENT + 60, 100), // no click: no conversion
    ];
    let report = compute(&campaign(""), &recipients, &events);
    let t = &report.total;
    assert_eq!((t.delivered, t.tracked, t.unique_opens), (2, 1, 1));
    assert_eq!(t.open_rate, Some(1.0));
    assert_eq!(t.click_rate, Some(0.0));
    assert_eq!(t.conversion_rate, Some(0.0));
    assert_eq!(t.unsubscribe_rate, Some(0.0));
    // The split measures clicks on the one tracked message.
    assert_eq!(report.splits[0].arms[0].trials, 1);
}
