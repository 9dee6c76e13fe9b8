//! `mailrules send` with a campaign's `[frequency]` caps (counted over the
//! journals passed with `--history`) and `[schedule]` send time, in each
//! recipient's own time zone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use mailrules::journal::{Entry, Fate, RecipientEntry};
use mailrules_integration::{read_jsonl, root};

use crate::harness::{addressed_to, send_campaign_command};

/// The example campaign with `extra` TOML appended, in `dir`.
fn campaign(dir: &Path, extra: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/campaign.toml")).unwrap();
    let path = dir.join("campaign.toml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

fn send(dir: &Path, campaign: &Path, profiles: &Path, journal: &str, extra: &[&str]) -> Output {
    send_campaign_command(campaign, profiles, &dir.join(journal))
        .args(["--maildir", "maildir"])
        .args(extra)
        .current_dir(dir)
        .output()
        .expect("mailrules runs")
}

fn recipients(journal: &Path) -> Vec<RecipientEntry> {
    let (entries, _, _) = mailrules::journal::read(journal).unwrap();
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Recipient(r) => Some(r),
            Entry::Started { .. } => None,
        })
        .collect()
}

/// Profile ids of the messages in the Maildir, from their `To:` headers
/// (every address is `<profile id>@example.com`).
fn maildir_recipients(dir: &Path) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for file in std::fs::read_dir(dir.join("maildir/new")).unwrap() {
        let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
        // The header may be folded after an encoded display name.
        let to = text.find("\nTo: ").expect("every message has a To header");
        let domain = to + text[to..].find("@example.com").expect("an address");
        let start = text[..domain]
            .rfind(|c: char| c == '<' || c.is_whitespace())
            .expect("the address follows the header name")
            + 1;
        let id = text[start..domain].to_owned();
        assert!(ids.insert(id), "one message per recipient");
    }
    ids
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_second_send_within_the_cap_suppresses_exactly_those_the_first_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let campaign = campaign(dir, "[frequency]\ncaps = [\"1 per 7d\"]\n");
    let all = read_jsonl(&root().join("examples/profiles.jsonl"));
    // The first send goes to the first 15 profiles; the second to all.
    let first_profiles = addressed_to(dir, "example.com", all[..15].to_vec());
    std::fs::rename(&first_profiles, dir.join("first.jsonl")).unwrap();
    let every_profile = addressed_to(dir, "example.com", all.clone());

    let first = send(
        dir,
        &campaign,
        &dir.join("first.jsonl"),
        "first.journal",
        &[],
    );
    assert!(first.status.success(), "{}", stderr(&first));
    let delivered_first = maildir_recipients(dir);
    let journaled: BTreeSet<String> = recipients(&dir.join("first.journal"))
        .into_iter()
        .filter(|r| r.fate == Fate::Delivered)
        .map(|r| r.profile_id)
        .collect();
    assert_eq!(journaled, delivered_first);
    assert_eq!(delivered_first.len(), 12, "{delivered_first:?}");

    let second = send(
        dir,
        &campaign,
        &every_profile,
        "second.journal",
        &["--history", "first.journal"],
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("12 recipients held back by the campaign's [frequency] caps"),
        "{}",
        stderr(&second)
    );
    let second_records = recipients(&dir.join("second.journal"));
    let capped: BTreeSet<String> = second_records
        .iter()
        .filter(|r| r.reason.as_deref() == Some("frequency-cap"))
        .map(|r| r.profile_id.clone())
        .collect();
    assert_eq!(capped, delivered_first);
    for record in second_records
        .iter()
        .filter(|r| r.reason.as_deref() == Some("frequency-cap"))
    {
        assert_eq!(record.fate, Fate::Suppressed);
        assert_eq!(record.status, "suppressed");
        assert_eq!(record.schedule.as_deref(), Some("frequency-cap: 1 per 7d"));
        assert_eq!(record.subject, None);
    }
    // Everyone else the rule sends to gets their first message now.
    let delivered_second: BTreeSet<String> = second_records
        .iter()
        .filter(|r| r.fate == Fate::Delivered)
        .map(|r| r.profile_id.clone())
        .collect();
    assert!(delivered_second.is_disjoint(&delivered_first));
    assert_eq!(delivered_second.len(), 8, "{delivered_second:?}");
    for record in second_records.iter().filter(|r| r.fate == Fate::Delivered) {
        assert_eq!(record.scheduled_at, Some(1_795_510_800));
        assert_eq!(record.schedule.as_deref(), Some("due"));
    }
    let in_maildir = maildir_recipients(dir);
    assert_eq!(
        in_maildir,
        &delivered_first | &delivered_second,
        "the Maildir holds each recipient once"
    );

    // A history journal that is not there is an error naming it.
    let missing = send(
        dir,
        &campaign,
        &every_profile,
        "third.journal",
        &["--history", "nope.journal"],
    );
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("--history nope.journal"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn a_send_time_postpones_each_recipient_to_their_own_local_slot() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // The campaign's now is Tuesday 2026-11-24T09:00:00Z.
    let campaign = campaign(
        dir,
        "[schedule]\nsend_at = { weekday = \"tuesday\", local_time = \"10:00\" }\n",
    );
    let zones = [
        Some("America/New_York"),
        Some("Europe/Berlin"),
        Some("Asia/Tokyo"),
        None,
    ];
    let mut profiles = read_jsonl(&root().join("examples/profiles.jsonl"));
    let mut zone_of = BTreeMap::new();
    for (i, profile) in profiles.iter_mut().enumerate() {
        let zone = zones[i % zones.len()];
        if let Some(zone) = zone {
            profile["timezone"] = zone.into();
        }
        zone_of.insert(profile["id"].as_str().unwrap().to_owned(), zone);
    }
    let profiles = addressed_to(dir, "example.com", profiles);
    let output = send(dir, &campaign, &profiles, "journal", &[]);
    // Postponed recipients are deferred: exit 3.
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the first is due at 2026-11-24T10:00:00Z"),
        "{}",
        stderr(&output)
    );
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    let mut delivered = BTreeSet::new();
    for record in recipients(&dir.join("journal")) {
        if !matches!(record.status.as_str(), "ok" | "fallback") {
            continue;
        }
        let zone = zone_of[&record.profile_id];
        *per_zone.entry(zone.unwrap_or("none")).or_default() += 1;
        let postponed = |until: &str, scheduled_at: i64, zone: &str| {
            assert_eq!(record.fate, Fate::Deferred, "{record:?}");
            assert_eq!(
                record.reason.as_deref(),
                Some(format!("postponed until {until}: send-at tuesday 10:00 {zone}").as_str())
            );
            assert_eq!(record.scheduled_at, Some(scheduled_at));
            assert_eq!(
                record.schedule.as_deref(),
                Some(format!("send-at tuesday 10:00 {zone}").as_str())
            );
        };
        match zone {
            // 04:00 EST: later today at 10:00 EST.
            Some("America/New_York") => {
                postponed("2026-11-24T15:00:00Z", 1_795_532_400, "America/New_York")
            }
            // 10:00 CET: the slot is open.
            Some("Europe/Berlin") => {
                assert_eq!(record.fate, Fate::Delivered, "{record:?}");
                assert_eq!(record.scheduled_at, Some(1_795_510_800));
                assert_eq!(record.schedule.as_deref(), Some("due"));
                delivered.insert(record.profile_id.clone());
            }
            // 18:00 JST: the slot has closed; next Tuesday 10:00 JST.
            Some("Asia/Tokyo") => postponed("2026-12-01T01:00:00Z", 1_796_086_800, "Asia/Tokyo"),
            // No zone: --timezone's default, UTC, where the slot opens at 10:00.
            None => postponed("2026-11-24T10:00:00Z", 1_795_514_400, "UTC"),
            Some(other) => unreachable!("{other}"),
        }
    }
    assert_eq!(
        per_zone,
        BTreeMap::from([
            ("America/New_York", 5),
            ("Asia/Tokyo", 5),
            ("Europe/Berlin", 6),
            ("none", 4)
        ])
    );
    assert_eq!(maildir_recipients(dir), delivered);

    // With Berlin as the default zone, the recipients without one go now.
    let again = send(
        dir,
        &campaign,
        &profiles,
        "berlin.journal",
        &["--timezone", "Europe/Berlin"],
    );
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    let delivered_now = recipients(&dir.join("berlin.journal"))
        .into_iter()
        .filter(|r| r.fate == Fate::Delivered)
        .count();
    assert_eq!(delivered_now, 10);
    let bad_zone = send(
        dir,
        &campaign,
        &profiles,
        "bad.journal",
        &["--timezone", "Mars/Olympus"],
    );
    assert_eq!(bad_zone.status.code(), Some(2), "{}", stderr(&bad_zone));
    assert!(stderr(&bad_zone).contains("--timezone: `Mars/Olympus` is not an IANA time zone"));
}
