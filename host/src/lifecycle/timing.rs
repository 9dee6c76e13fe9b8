//! Durations, send-time slots and quiet hours, in the recipient's own time
//! zone.
//!
//! Local times are turned into instants with one rule across daylight
//! saving changes: a local time that does not exist (the clocks jump
//! forward over it) means the first instant after the gap, so 02:30 on the
//! night Europe/Berlin springs forward is 03:00; a local time that happens
//! twice (the clocks fall back) means the earlier of the two.

use std::fmt;

use chrono::offset::LocalResult;
use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
pub use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::profile::Timestamp;

/// The longest duration [`parse_duration`] accepts: 366 days.
pub const MAX_DURATION: i64 = 366 * DAY;

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;

/// Parses a duration such as `90s`, `15m`, `4h`, `2d`, `1w` or `1d12h` into
/// seconds (units `s`, `m`, `h`, `d`, `w`, largest first or in any order;
/// at most 366 days).
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let fail = |why: &str| {
        Err(format!(
            "`{}` is not a duration ({why}); write e.g. 90s, 15m, 4h, 2d, 1w or 1d12h",
            text.escape_debug()
        ))
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return fail("it is empty");
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in trimmed.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => MINUTE,
            'h' => HOUR,
            'd' => DAY,
            'w' => WEEK,
            _ => return fail(&format!("unknown unit `{c}`")),
        };
        if digits.is_empty() {
            return fail(&format!("no number before `{c}`"));
        }
        let Ok(n) = digits.parse::<i64>() else {
            return fail("the number is too large");
        };
        digits.clear();
        total = match n.checked_mul(unit).and_then(|s| total.checked_add(s)) {
            Some(total) if total <= MAX_DURATION => total,
            _ => return fail("longer than 366 days"),
        };
    }
    if !digits.is_empty() {
        return fail(&format!("`{digits}` has no unit"));
    }
    Ok(total)
}

/// Writes seconds as [`parse_duration`] reads them, largest units first,
/// without weeks: `7d`, `16h`, `1d12h`, `0s`.
pub fn format_duration(seconds: i64) -> String {
    if seconds == 0 {
        return "0s".to_owned();
    }
    let mut rest = seconds;
    let mut text = String::new();
    for (unit, name) in [(DAY, 'd'), (HOUR, 'h'), (MINUTE, 'm'), (1, 's')] {
        if rest >= unit {
            text.push_str(&format!("{}{name}", rest / unit));
            rest %= unit;
        }
    }
    text
}

/// The time zone called `name` (IANA, e.g. `America/New_York`), or
/// `default` when there is no name or it is not a known zone.
pub fn zone_or(name: Option<&str>, default: Tz) -> Tz {
    name.and_then(|n| n.trim().parse::<Tz>().ok())
        .unwrap_or(default)
}

/// The local date and time of instant `t` in `zone`.
pub fn local(t: Timestamp, zone: Tz) -> NaiveDateTime {
    zone.timestamp_opt(t, 0)
        .single()
        .map(|local| local.naive_local())
        .unwrap_or_default()
}

/// The instant of local `date` and `time` in `zone`: the earlier one when
/// it happens twice, the first instant after the gap when it does not
/// exist.
pub fn instant(date: NaiveDate, time: NaiveTime, zone: Tz) -> Timestamp {
    resolve(date.and_time(time), zone).0
}

/// The earliest and latest instants of a local date-time (equal unless it
/// happens twice; both the end of the gap when it does not exist).
fn resolve(when: NaiveDateTime, zone: Tz) -> (Timestamp, Timestamp) {
    match zone.from_local_datetime(&when) {
        LocalResult::Single(t) => (t.timestamp(), t.timestamp()),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.timestamp(), b.timestamp());
            (a.min(b), a.max(b))
        }
        LocalResult::None => {
            let end = end_of_gap(when, zone);
            (end, end)
        }
    }
}

/// The first instant whose local time is at or after `when`, which lies in
/// a daylight saving gap: the instant the clocks jumped.
fn end_of_gap(when: NaiveDateTime, zone: Tz) -> Timestamp {
    let as_utc = when.and_utc().timestamp();
    // Offsets are within ±26 hours, so local time is before `when` at `lo`
    // and after it at `hi`.
    let (mut lo, mut hi) = (as_utc - 30 * HOUR, as_utc + 30 * HOUR);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if local(mid, zone) >= when {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The local calendar day of `trigger` in `zone`, plus `days`, at local
/// `time`: "two days later at 10:00".
pub fn local_day_at(trigger: Timestamp, days: i64, time: NaiveTime, zone: Tz) -> Timestamp {
    let date = local(trigger, zone).date();
    let date = if days >= 0 {
        date.checked_add_days(Days::new(days.unsigned_abs()))
    } else {
        date.checked_sub_days(Days::new(days.unsigned_abs()))
    }
    .unwrap_or(date);
    instant(date, time, zone)
}

/// Parses `HH:MM` or `HH:MM:SS`.
pub fn parse_local_time(text: &str) -> Result<NaiveTime, String> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
        .map_err(|_| {
            format!(
                "`{}` is not a local time; write HH:MM (24-hour), e.g. 10:00",
                text.escape_debug()
            )
        })
}

/// Writes a local time as `HH:MM`, or `HH:MM:SS` when it has seconds.
pub fn format_local_time(time: NaiveTime) -> String {
    if time.format("%S").to_string() == "00" {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

fn parse_weekday(text: &str) -> Result<Weekday, String> {
    let lower = text.trim().to_ascii_lowercase();
    let day = match lower.as_str() {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => {
            return Err(format!(
                "`{}` is not a weekday; write monday … sunday",
                text.escape_debug()
            ));
        }
    };
    Ok(day)
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// When messages may go out: from `local_time` for `window` seconds, on
/// `weekday` or every day, in the recipient's time zone.
///
/// In a campaign: `send_at = { weekday = "tuesday", local_time = "10:00",
/// window = "1h" }` (weekday and window optional; the window defaults to
/// one hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SendAtFile", into = "SendAtFile")]
pub struct SendAt {
    /// The day of the week, or every day when absent.
    pub weekday: Option<Weekday>,
    /// The local time the slot opens.
    pub local_time: NaiveTime,
    /// How long the slot stays open, in seconds (at least one).
    pub window: i64,
}

/// The default [`SendAt::window`]: one hour.
pub const DEFAULT_WINDOW: i64 = HOUR;

impl SendAt {
    /// `earliest` itself when it falls inside an open slot `[slot, slot +
    /// window)`, else the start of the next slot.
    pub fn next_open(&self, earliest: Timestamp, zone: Tz) -> Timestamp {
        let today = local(earliest, zone).date();
        // A window up to a week long can reach from a slot eight days back.
        let mut next: Option<Timestamp> = None;
        for offset in -8i64..=8 {
            let date = if offset < 0 {
                today.checked_sub_days(Days::new(offset.unsigned_abs()))
            } else {
                today.checked_add_days(Days::new(offset.unsigned_abs()))
            };
            let Some(date) = date else { continue };
            if self.weekday.is_some_and(|day| date.weekday() != day) {
                continue;
            }
            let slot = instant(date, self.local_time, zone);
            if slot <= earliest && earliest < slot + self.window {
                return earliest;
            }
            if slot > earliest && next.is_none_or(|n| slot < n) {
                next = Some(slot);
            }
        }
        next.unwrap_or(earliest)
    }
}

impl fmt::Display for SendAt {
    /// `tuesday 10:00`, or `10:00` for every day.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(day) = self.weekday {
            write!(f, "{} ", weekday_name(day))?;
        }
        f.write_str(&format_local_time(self.local_time))
    }
}

/// The stored form of [`SendAt`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendAtFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weekday: Option<String>,
    local_time: String,
    #[serde(default)]
    window: Option<String>,
}

impl TryFrom<SendAtFile> for SendAt {
    type Error = String;

    fn try_from(file: SendAtFile) -> Result<Self, String> {
        let window = match &file.window {
            Some(text) => parse_duration(text).map_err(|e| format!("send_at window: {e}"))?,
            None => DEFAULT_WINDOW,
        };
        if window <= 0 || window > WEEK {
            return Err(format!(
                "send_at window `{}` must be between 1s and 7d",
                file.window.unwrap_or_default()
            ));
        }
        Ok(SendAt {
            weekday: file
                .weekday
                .as_deref()
                .map(parse_weekday)
                .transpose()
                .map_err(|e| format!("send_at weekday: {e}"))?,
            local_time: parse_local_time(&file.local_time)
                .map_err(|e| format!("send_at local_time: {e}"))?,
            window,
        })
    }
}

impl From<SendAt> for SendAtFile {
    fn from(send_at: SendAt) -> Self {
        SendAtFile {
            weekday: send_at.weekday.map(|d| weekday_name(d).to_owned()),
            local_time: format_local_time(send_at.local_time),
            window: Some(format_duration(send_at.window)),
        }
    }
}

/// Local hours when nothing is sent, `start` to `end`; may wrap midnight
/// (`21:00-08:00`). In a campaign: `quiet_hours = "21:00-08:00"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct QuietHours {
    /// When the quiet period begins (local).
    pub start: NaiveTime,
    /// When it ends (local); before `start` when it wraps midnight.
    pub end: NaiveTime,
}

impl QuietHours {
    /// Whether local time `time` is quiet.
    fn is_quiet(&self, time: NaiveTime) -> bool {
        if self.start <= self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// `t` when it is outside the quiet hours in `zone`, else the instant
    /// the quiet period ends (its local end time).
    pub fn release(&self, t: Timestamp, zone: Tz) -> Timestamp {
        let now = local(t, zone);
        if !self.is_quiet(now.time()) {
            return t;
        }
        let mut date = now.date();
        if self.start > self.end && now.time() >= self.start {
            date = date.succ_opt().unwrap_or(date);
        }
        let (earlier, later) = resolve(date.and_time(self.end), zone);
        // After the clocks fell back, the end may come round a second time.
        if earlier > t { earlier } else { later.max(t) }
    }
}

impl fmt::Display for QuietHours {
    /// `21:00-08:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            format_local_time(self.start),
            format_local_time(self.end)
        )
    }
}

impl std::str::FromStr for QuietHours {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((start, end)) = text.split_once('-') else {
            return Err(format!(
                "quiet hours `{}` must be START-END in local time, e.g. 21:00-08:00",
                text.escape_debug()
            ));
        };
        let hours = QuietHours {
            start: parse_local_time(start).map_err(|e| format!("quiet hours: {e}"))?,
            end: parse_local_time(end).map_err(|e| format!("quiet hours: {e}"))?,
        };
        if hours.start == hours.end {
            return Err(format!(
                "quiet hours `{}` start and end at the same time",
                text.escape_debug()
            ));
        }
        Ok(hours)
    }
}

string_conversions!(QuietHours);

#[cfg(test)]
mod tests;
