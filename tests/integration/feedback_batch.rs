//! Feedback for batch users: `mailrules send --suppressions` passes the
//! listed customers by before the rule runs, and `mailrules report --kpis`
//! adds a journal and an events file up to the campaign's KPIs.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use mailrules_integration::{mailrules_bin, root};

use crate::harness::send_command;

/// Recipient address → Message-ID of each message in `maildir`.
fn message_ids(maildir: &Path) -> HashMap<String, String> {
    std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|entry| {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let header = |name: &str| {
                text.lines()
                    .take_while(|l| !l.is_empty())
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap()
                    .to_string()
            };
            let to = header("To");
            let to = to
                .rsplit_once('<')
                .map_or(to.as_str(), |(_, rest)| rest.trim_end_matches('>'))
                .to_string();
            (to, header("Message-ID"))
        })
        .collect()
}

fn report(dir: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(mailrules_bin())
        .args(["report", "--kpis", "--campaign"])
        .arg(root().join("examples/campaign.toml"))
        .arg("--events")
        .arg(dir.join("events.jsonl"))
        .arg(dir.join("journal"))
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_suppression_list_and_an_events_file_give_the_campaigns_kpis() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("unsubscribed.txt");
    std::fs::write(
        &list,
        "# unsubscribed elsewhere\ncart-ben\n\nVIP-Carla@Example.com\n",
    )
    .unwrap();
    let profiles = root().join("examples/profiles.jsonl");
    let sent = send_command(&profiles, &dir.path().join("journal"))
        .arg("--maildir")
        .arg(dir.path().join("maildir"))
        .arg("--suppressions")
        .arg(&list)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert!(sent.status.success(), "{stderr}");
    assert!(
        stderr.contains("2 entries on the suppression list"),
        "{stderr}"
    );
    // 20 of the 24 example profiles get a message without a list.
    let ids = message_ids(&dir.path().join("maildir"));
    assert_eq!(ids.len(), 18);
    assert!(
        !ids.contains_key("cart-ben@example.com") && !ids.contains_key("vip-carla@example.com")
    );
    let totals = Command::new(mailrules_bin())
        .arg("report")
        .arg(dir.path().join("journal"))
        .output()
        .unwrap();
    let totals = String::from_utf8_lossy(&totals.stdout);
    assert!(totals.contains("suppressed: unsubscribed"), "{totals}");

    let id = |address: &str| ids[address].clone();
    let events = [
        format!(
            r#"{{"id":"e1","type":"email_opened","customer":"new-sub-anna","at":"2026-11-24T10:00:00Z","campaign":"autumn-picks-2026","message_id":"{}"}}"#,
            id("new-sub-anna@example.com")
        ),
        format!(
            r#"{{"id":"e2","type":"email_opened","customer":"new-sub-anna","at":"2026-11-24T11:00:00Z","campaign":"autumn-picks-2026","message_id":"{}"}}"#,
            id("new-sub-anna@example.com")
        ),
        format!(
            r#"{{"id":"e3","type":"email_clicked","customer":"thanks-dev","at":"2026-11-24T12:00:00Z","campaign":"autumn-picks-2026","message_id":"{}"}}"#,
            id("thanks-dev@example.com")
        ),
        r#"{"id":"e4","type":"order_placed","customer":"thanks-dev","at":"2026-11-25T12:00:00Z","order_id":"o1","total_cents":4599}"#.to_string(),
        // By campaign only: the customer's message of it.
        r#"{"id":"e5","type":"email_opened","customer":"browser-eve","at":"2026-11-24T13:00:00Z","campaign":"autumn-picks-2026"}"#.to_string(),
        // An order without a click converts nothing.
        r#"{"id":"e6","type":"order_placed","customer":"dormant-hal","at":"2026-11-25T12:00:00Z","order_id":"o2","total_cents":9900}"#.to_string(),
        format!(
            r#"{{"id":"e7","type":"unsubscribed","customer":"lapsed-gina","at":"2026-11-24T14:00:00Z","campaign":"autumn-picks-2026","message_id":"{}"}}"#,
            id("lapsed-gina@example.com")
        ),
    ];
    std::fs::write(dir.path().join("events.jsonl"), events.join("\n")).unwrap();
    let json = report(dir.path(), &["--json"]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let kpis: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let total = &kpis["total"];
    let got: Vec<u64> = [
        "recipients",
        "delivered",
        "suppressed",
        "unique_opens",
        "total_opens",
        "unique_clicks",
        "conversions",
        "unsubscribes",
    ]
    .iter()
    .map(|k| total[k].as_u64().unwrap())
    .collect();
    // Suppressed: the 4 the campaign never sends to, and the 2 listed.
    assert_eq!(got, [24, 18, 6, 3, 3, 1, 1, 1], "{total}");
    assert_eq!(total["revenue_cents"], 4599);
    assert_eq!(total["conversion_rate"].as_f64().unwrap(), 1.0 / 18.0);
    let text = report(dir.path(), &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("campaign autumn-picks-2026 (conversion window 5d"),
        "{text}"
    );
    assert!(text.contains("\ntotal "), "{text}");

    // A bad line is named, and nothing is reported.
    std::fs::write(
        dir.path().join("events.jsonl"),
        format!("{}\n{{\"id\":\"x\"}}\n", events[0]),
    )
    .unwrap();
    let bad = report(dir.path(), &[]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("events.jsonl:2:"), "{stderr}");
    assert!(bad.stdout.is_empty());
}

#[test]
fn a_bad_suppression_list_stops_the_send_before_anything_goes() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("list.txt");
    std::fs::write(&list, "c-1\nann@\n").unwrap();
    let sent = send_command(
        &root().join("examples/profiles.jsonl"),
        &dir.path().join("journal"),
    )
    .arg("--maildir")
    .arg(dir.path().join("maildir"))
    .arg("--suppressions")
    .arg(&list)
    .output()
    .unwrap();
    assert!(!sent.status.success());
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert!(
        stderr.contains("list.txt:2: `ann@` has an @ but is not an email address"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("maildir/new").exists()
            || std::fs::read_dir(dir.path().join("maildir/new"))
                .unwrap()
                .count()
                == 0
    );
}
