use super::*;
use crate::outcome::Status;
use crate::profile::parse_time;

const NOW: Timestamp = 1_795_510_800; // Tuesday 2026-11-24T09:00:00Z
const DAY: i64 = 86_400;
const NEW_YORK: Tz = chrono_tz::America::New_York;
const BERLIN: Tz = chrono_tz::Europe::Berlin;

fn utc(text: &str) -> Timestamp {
    parse_time(text).unwrap()
}

fn schedule(toml_text: &str) -> Schedule {
    toml::from_str(toml_text).unwrap()
}

fn caps(toml_text: &str) -> FrequencyCaps {
    toml::from_str(toml_text).unwrap()
}

fn postpone(until: &str, why: &str) -> Pacing {
    Pacing::Postpone {
        until: utc(until),
        why: why.into(),
    }
}

#[test]
fn nothing_scheduled_goes_now() {
    let none = Schedule::default();
    assert!(none.is_empty());
    assert_eq!(
        pace(
            &none,
            &FrequencyCaps::default(),
            &[NOW - 60],
            &[],
            NEW_YORK,
            NOW
        ),
        Pacing::Now
    );
}

#[test]
fn the_send_time_is_in_the_recipients_zone() {
    let tuesday = schedule("send_at = { weekday = \"tuesday\", local_time = \"10:00\" }");
    let no_caps = FrequencyCaps::default();
    // 04:00 in New York: wait for 10:00 EST.
    assert_eq!(
        pace(&tuesday, &no_caps, &[], &[], NEW_YORK, NOW),
        postpone(
            "2026-11-24T15:00:00Z",
            "send-at tuesday 10:00 America/New_York"
        )
    );
    // 10:00 in Berlin: the slot is open.
    assert_eq!(pace(&tuesday, &no_caps, &[], &[], BERLIN, NOW), Pacing::Now);
    // 09:00 in UTC: the slot opens in an hour.
    assert_eq!(
        pace(&tuesday, &no_caps, &[], &[], chrono_tz::UTC, NOW),
        postpone("2026-11-24T10:00:00Z", "send-at tuesday 10:00 UTC")
    );
}

#[test]
fn the_send_time_and_quiet_hours_are_met_together() {
    let early = schedule(
        "send_at = { local_time = \"07:00\", window = \"3h\" }\nquiet_hours = \"21:00-08:00\"",
    );
    // 10:00 in Berlin: today's slot has closed; tomorrow's opens at 07:00,
    // in quiet hours until 08:00.
    assert_eq!(
        pace(&early, &FrequencyCaps::default(), &[], &[], BERLIN, NOW),
        postpone(
            "2026-11-25T07:00:00Z",
            "send-at 07:00 Europe/Berlin; quiet hours 21:00-08:00"
        )
    );
}

#[test]
fn a_reached_cap_suppresses_or_postpones() {
    let weekly = caps("caps = [\"1 per 7d\"]");
    let sent = [NOW - DAY];
    let tuesday = schedule("send_at = { weekday = \"tuesday\", local_time = \"10:00\" }");
    assert_eq!(
        pace(&tuesday, &weekly, &sent, &[], NEW_YORK, NOW),
        Pacing::Suppress {
            why: "frequency-cap: 1 per 7d".into()
        }
    );
    // Postponed: free again on Monday 30 November at 09:00 UTC, and the
    // next Tuesday slot after that is 1 December, 10:00 EST.
    let postponing = Schedule {
        on_cap: OnCap::Postpone,
        ..tuesday
    };
    assert_eq!(
        pace(&postponing, &weekly, &sent, &[], NEW_YORK, NOW),
        postpone(
            "2026-12-01T15:00:00Z",
            "frequency-cap: 1 per 7d; send-at tuesday 10:00 America/New_York"
        )
    );
    // Without a slot, exactly when the cap lifts.
    let plain = Schedule {
        on_cap: OnCap::Postpone,
        ..Schedule::default()
    };
    assert_eq!(
        pace(&plain, &weekly, &sent, &[], NEW_YORK, NOW),
        postpone("2026-11-30T09:00:00Z", "frequency-cap: 1 per 7d")
    );
}

#[test]
fn a_segments_slot_replaces_the_campaigns() {
    let text = "send_at = { local_time = \"18:00\" }\n[segments.new-subscriber]\nsend_at = { local_time = \"08:30\" }\n";
    let by_segment = schedule(text);
    let no_caps = FrequencyCaps::default();
    let segments = ["vip".to_string(), "new-subscriber".to_string()];
    assert_eq!(
        pace(&by_segment, &no_caps, &[], &segments, NEW_YORK, NOW),
        postpone("2026-11-24T13:30:00Z", "send-at 08:30 America/New_York")
    );
    assert_eq!(
        pace(&by_segment, &no_caps, &[], &segments[..1], NEW_YORK, NOW),
        postpone("2026-11-24T23:00:00Z", "send-at 18:00 America/New_York")
    );
    assert_eq!(
        serde_json::to_string(&by_segment).unwrap(),
        r#"{"send_at":{"local_time":"18:00","window":"1h"},"segments":{"new-subscriber":{"send_at":{"local_time":"08:30","window":"1h"}}},"on_cap":"suppress"}"#
    );
    let back: Schedule =
        serde_json::from_str(&serde_json::to_string(&by_segment).unwrap()).unwrap();
    assert_eq!(back, by_segment);
}

#[test]
fn a_slot_inside_the_quiet_hours_never_opens() {
    let never = schedule("send_at = { local_time = \"22:00\" }\nquiet_hours = \"21:00-08:00\"");
    assert_eq!(
        pace(
            &never,
            &FrequencyCaps::default(),
            &[],
            &[],
            chrono_tz::UTC,
            NOW
        ),
        Pacing::Suppress {
            why: "schedule: no time in UTC satisfies send-at 22:00 UTC; quiet hours 21:00-08:00"
                .into()
        }
    );
}

#[test]
fn the_campaign_pacer_uses_the_profiles_zone_and_history() {
    let pacer = CampaignPacer {
        schedule: schedule("send_at = { weekday = \"tuesday\", local_time = \"10:00\" }"),
        caps: caps("caps = [\"1 per 7d\"]"),
        history: HashMap::from([("capped".to_string(), vec![NOW - DAY])]),
        default_zone: BERLIN,
        now: NOW,
    };
    let profile = |id: &str, zone: Option<&str>| -> Profile {
        let mut json = serde_json::json!({ "id": id, "email": format!("{id}@example.com") });
        if let Some(zone) = zone {
            json["timezone"] = zone.into();
        }
        serde_json::from_value(json).unwrap()
    };
    let outcome = Outcome::without_message(String::new(), Status::Ok, String::new());
    assert_eq!(
        pacer.pace(&outcome, &profile("ny", Some("America/New_York"))),
        postpone(
            "2026-11-24T15:00:00Z",
            "send-at tuesday 10:00 America/New_York"
        )
    );
    // No zone, or an unknown one: the default (Berlin, where it is 10:00).
    assert_eq!(pacer.pace(&outcome, &profile("plain", None)), Pacing::Now);
    assert_eq!(
        pacer.pace(&outcome, &profile("odd", Some("Nowhere/Special"))),
        Pacing::Now
    );
    assert_eq!(
        pacer.pace(&outcome, &profile("capped", None)),
        Pacing::Suppress {
            why: "frequency-cap: 1 per 7d".into()
        }
    );
}

#[test]
fn on_cap_reads_its_two_words() {
    assert_eq!(schedule("on_cap = \"postpone\"").on_cap, OnCap::Postpone);
    assert_eq!(Schedule::default().on_cap, OnCap::Suppress);
    let error = toml::from_str::<Schedule>("on_cap = \"drop\"")
        .unwrap_err()
        .to_string();
    assert!(error.contains("unknown variant `drop`"), "{error}");
}
