use super::*;
use crate::profile::parse_time;

fn utc(text: &str) -> Timestamp {
    parse_time(text).unwrap()
}

fn at(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const BERLIN: Tz = chrono_tz::Europe::Berlin;
const NEW_YORK: Tz = chrono_tz::America::New_York;

#[test]
fn durations_parse_to_seconds() {
    let cases = [
        ("0s", 0),
        ("90s", 90),
        ("15m", 900),
        ("4h", 14_400),
        ("2d", 172_800),
        ("1w", 604_800),
        ("1d12h", 129_600),
        ("366d", 31_622_400),
    ];
    for (text, seconds) in cases {
        assert_eq!(parse_duration(text), Ok(seconds), "{text}");
    }
    assert_eq!(format_duration(129_600), "1d12h");
    assert_eq!(format_duration(604_800), "7d");
    assert_eq!(format_duration(0), "0s");
    assert_eq!(format_duration(5_430), "1h30m30s");
}

#[test]
fn bad_durations_are_errors_that_quote_the_text() {
    for (text, why) in [
        ("", "empty"),
        ("10", "`10` has no unit"),
        ("5x", "unknown unit `x`"),
        ("h", "no number before `h`"),
        ("367d", "longer than 366 days"),
        ("99999999999999999999s", "too large"),
    ] {
        let error = parse_duration(text).unwrap_err();
        assert!(
            error.starts_with(&format!("`{text}` is not a duration")),
            "{error}"
        );
        assert!(error.contains(why), "{error}");
    }
}

#[test]
fn a_local_time_in_the_spring_gap_is_the_first_instant_after_it() {
    // Europe/Berlin jumps from 02:00 CET to 03:00 CEST at 01:00 UTC.
    assert_eq!(instant(date(2026, 3, 29), at(2, 30), BERLIN), 1_774_746_000);
    assert_eq!(
        instant(date(2026, 3, 29), at(2, 30), BERLIN),
        utc("2026-03-29T01:00:00Z")
    );
    assert_eq!(
        instant(date(2026, 3, 29), at(3, 0), BERLIN),
        utc("2026-03-29T01:00:00Z")
    );
    // America/New_York jumps from 02:00 EST to 03:00 EDT at 07:00 UTC.
    assert_eq!(
        instant(date(2026, 3, 8), at(2, 30), NEW_YORK),
        utc("2026-03-08T07:00:00Z")
    );
    assert_eq!(
        instant(date(2026, 3, 8), at(1, 59), NEW_YORK),
        utc("2026-03-08T06:59:00Z")
    );
}

#[test]
fn a_local_time_that_happens_twice_is_the_earlier_instant() {
    // Europe/Berlin falls back from 03:00 CEST to 02:00 CET at 01:00 UTC.
    assert_eq!(
        instant(date(2026, 10, 25), at(2, 30), BERLIN),
        utc("2026-10-25T00:30:00Z")
    );
    // America/New_York falls back from 02:00 EDT to 01:00 EST at 06:00 UTC.
    assert_eq!(
        instant(date(2026, 11, 1), at(1, 30), NEW_YORK),
        utc("2026-11-01T05:30:00Z")
    );
}

#[test]
fn tuesday_ten_in_new_york_across_both_changes() {
    let send_at = SendAt {
        weekday: Some(Weekday::Tue),
        local_time: at(10, 0),
        window: DEFAULT_WINDOW,
    };
    // Wednesday 4 March (EST) → Tuesday 10 March, 10:00 EDT.
    assert_eq!(
        send_at.next_open(utc("2026-03-04T12:00:00Z"), NEW_YORK),
        utc("2026-03-10T14:00:00Z")
    );
    // Wednesday 28 October (EDT) → Tuesday 3 November, 10:00 EST.
    assert_eq!(
        send_at.next_open(utc("2026-10-28T12:00:00Z"), NEW_YORK),
        utc("2026-11-03T15:00:00Z")
    );
    assert_eq!(
        send_at.next_open(utc("2026-10-28T12:00:00Z"), NEW_YORK),
        1_793_718_000
    );
    // Inside the window: at once; at its end: next week.
    let open = utc("2026-11-03T15:59:59Z");
    assert_eq!(send_at.next_open(open, NEW_YORK), open);
    assert_eq!(
        send_at.next_open(utc("2026-11-03T16:00:00Z"), NEW_YORK),
        utc("2026-11-10T15:00:00Z")
    );
    assert_eq!(send_at.to_string(), "tuesday 10:00");
}

#[test]
fn a_daily_slot_across_berlins_changes() {
    let send_at = SendAt {
        weekday: None,
        local_time: at(2, 30),
        window: 15 * MINUTE,
    };
    // The night of the jump has no 02:30: the slot opens at 03:00 CEST.
    assert_eq!(
        send_at.next_open(utc("2026-03-28T22:00:00Z"), BERLIN),
        utc("2026-03-29T01:00:00Z")
    );
    // The night it falls back: the first 02:30 (CEST).
    assert_eq!(
        send_at.next_open(utc("2026-10-24T12:00:00Z"), BERLIN),
        utc("2026-10-25T00:30:00Z")
    );
    // Open until 00:45 UTC, then the next day at 02:30 CET.
    assert_eq!(
        send_at.next_open(utc("2026-10-25T00:44:00Z"), BERLIN),
        utc("2026-10-25T00:44:00Z")
    );
    assert_eq!(
        send_at.next_open(utc("2026-10-25T00:45:00Z"), BERLIN),
        utc("2026-10-26T01:30:00Z")
    );
}

#[test]
fn a_slot_that_runs_past_midnight_stays_open_the_next_day() {
    let send_at = SendAt {
        weekday: Some(Weekday::Mon),
        local_time: at(23, 0),
        window: 2 * HOUR,
    };
    // Tuesday 00:30 UTC is inside Monday's 23:00-01:00 slot.
    let t = utc("2026-11-03T00:30:00Z");
    assert_eq!(send_at.next_open(t, chrono_tz::UTC), t);
    assert_eq!(
        send_at.next_open(utc("2026-11-03T01:00:00Z"), chrono_tz::UTC),
        utc("2026-11-09T23:00:00Z")
    );
}

#[test]
fn quiet_hours_release_at_their_local_end() {
    let quiet: QuietHours = "21:00-08:00".parse().unwrap();
    // Saturday 23:00 CET → Sunday 08:00 CEST (after the jump).
    assert_eq!(
        quiet.release(utc("2026-03-28T22:00:00Z"), BERLIN),
        utc("2026-03-29T06:00:00Z")
    );
    // After midnight, the same morning.
    assert_eq!(
        quiet.release(utc("2026-03-29T03:00:00Z"), BERLIN),
        utc("2026-03-29T06:00:00Z")
    );
    // Outside: unchanged; the end itself is not quiet.
    let day = utc("2026-03-29T12:00:00Z");
    assert_eq!(quiet.release(day, BERLIN), day);
    let end = utc("2026-03-29T06:00:00Z");
    assert_eq!(quiet.release(end, BERLIN), end);
    // Same instant, New York: 17:00 EST on Saturday, not quiet.
    let evening = utc("2026-03-28T22:00:00Z");
    assert_eq!(quiet.release(evening, NEW_YORK), evening);
    // New York, the night it falls back: 21:00 EDT → 08:00 EST.
    assert_eq!(
        quiet.release(utc("2026-11-01T01:00:00Z"), NEW_YORK),
        utc("2026-11-01T13:00:00Z")
    );
}

#[test]
fn quiet_hours_ending_in_the_repeated_hour_end_on_its_second_pass() {
    let quiet: QuietHours = "00:00-01:30".parse().unwrap();
    // 01:15 EST, the second 01:15 of the night: the first 01:30 (05:30 UTC)
    // is past, so the quiet period ends at the second (06:30 UTC).
    assert_eq!(
        quiet.release(utc("2026-11-01T06:15:00Z"), NEW_YORK),
        utc("2026-11-01T06:30:00Z")
    );
    // 01:15 EDT, the first: ends at the first 01:30.
    assert_eq!(
        quiet.release(utc("2026-11-01T05:15:00Z"), NEW_YORK),
        utc("2026-11-01T05:30:00Z")
    );
}

#[test]
fn local_day_at_counts_local_calendar_days() {
    // Friday 13:00 CET, two days later at 10:00: Sunday 10:00 CEST.
    assert_eq!(
        local_day_at(utc("2026-03-27T12:00:00Z"), 2, at(10, 0), BERLIN),
        utc("2026-03-29T08:00:00Z")
    );
    // 03:00 UTC on 31 October is still 30 October in New York (23:00 EDT):
    // two days later is 1 November, 10:00 EST.
    assert_eq!(
        local_day_at(utc("2026-10-31T03:00:00Z"), 2, at(10, 0), NEW_YORK),
        utc("2026-11-01T15:00:00Z")
    );
    // Berlin is back on CET (+01:00) by 31 October.
    assert_eq!(
        local_day_at(utc("2026-10-31T03:00:00Z"), 0, at(2, 30), BERLIN),
        utc("2026-10-31T01:30:00Z")
    );
}

#[test]
fn unknown_zones_fall_back_to_the_default() {
    assert_eq!(zone_or(Some("Europe/Berlin"), NEW_YORK), BERLIN);
    assert_eq!(zone_or(Some("Mars/Olympus"), NEW_YORK), NEW_YORK);
    assert_eq!(zone_or(Some(""), BERLIN), BERLIN);
    assert_eq!(zone_or(None, BERLIN), BERLIN);
}

#[derive(Debug, Deserialize)]
struct Table {
    send_at: SendAt,
    quiet_hours: QuietHours,
}

#[test]
fn send_at_and_quiet_hours_read_and_write_their_campaign_forms() {
    let table: Table = toml::from_str(
        "send_at = { weekday = \"tuesday\", local_time = \"10:00\", window = \"90m\" }\nquiet_hours = \"21:00-08:00\"\n",
    )
    .unwrap();
    assert_eq!(
        table.send_at,
        SendAt {
            weekday: Some(Weekday::Tue),
            local_time: at(10, 0),
            window: 5_400
        }
    );
    assert_eq!(
        table.quiet_hours,
        QuietHours {
            start: at(21, 0),
            end: at(8, 0)
        }
    );
    assert_eq!(
        serde_json::to_string(&table.send_at).unwrap(),
        r#"{"weekday":"tuesday","local_time":"10:00","window":"1h30m"}"#
    );
    assert_eq!(
        serde_json::to_string(&table.quiet_hours).unwrap(),
        r#""21:00-08:00""#
    );
    let daily: SendAt = serde_json::from_str(r#"{"local_time":"07:45"}"#).unwrap();
    assert_eq!((daily.weekday, daily.window), (None, 3_600));
    assert_eq!(
        serde_json::to_string(&daily).unwrap(),
        r#"{"local_time":"07:45","window":"1h"}"#
    );
    let back: SendAt = serde_json::from_str(&serde_json::to_string(&daily).unwrap()).unwrap();
    assert_eq!(back, daily);
}

#[test]
fn bad_send_at_and_quiet_hours_are_clear_errors() {
    let error = |json: &str| {
        serde_json::from_str::<SendAt>(json)
            .unwrap_err()
            .to_string()
    };
    assert!(
        error(r#"{"weekday":"tuesdy","local_time":"10:00"}"#)
            .contains("send_at weekday: `tuesdy` is not a weekday"),
        "{}",
        error(r#"{"weekday":"tuesdy","local_time":"10:00"}"#)
    );
    assert!(error(r#"{"local_time":"25:00"}"#).contains("`25:00` is not a local time"));
    assert!(error(r#"{"local_time":"10:00","window":"0s"}"#).contains("between 1s and 7d"));
    assert!(error(r#"{"local_time":"10:00","window":"1x"}"#).contains("send_at window: `1x`"));
    assert!(error(r#"{"local_time":"10:00","days":1}"#).contains("unknown field `days`"));
    let quiet = |text: &str| text.parse::<QuietHours>().unwrap_err();
    assert!(
        quiet("21:00").contains("must be START-END"),
        "{}",
        quiet("21:00")
    );
    assert!(quiet("21:00-8h").contains("`8h` is not a local time"));
    assert!(quiet("08:00-08:00").contains("same time"));
}
