//! Flows: a campaign sent on its own when a customer does something (an
//! event) or enters a segment, after a delay, unless an exit event comes
//! first. Declared per tenant in TOML:
//!
//! ```toml
//! campaign = "cart-reminder"   # the tenant's campaign to send
//! delay = "4h"                 # after the trigger: 0s, 90m, 4h, 2d, 1w…
//! # local_time = "10:00"       # with a delay in whole days: that calendar
//! #                            # day, at this time in the recipient's zone
//! # expire_after = "7d"        # a trigger found this long after it was due
//! #                            # is dropped (default 7d)
//!
//! [trigger]
//! event = "cart_updated"       # or: segment = "inactive"
//! min_value_cents = 1          # optional: the cart's (order's, product's)
//!                              # value at least this
//!
//! [exit]
//! events = ["order_placed", "cart_updated"]  # any of these after the
//!                                            # trigger cancels the send
//! ```
//!
//! A segment trigger fires when the tenant's active rule first puts the
//! customer in that segment (evaluated with the flow's campaign); leaving
//! the segment and entering again is a new trigger.

use chrono::NaiveTime;
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

use super::events::{CustomerEvent, EventKind};
use super::timing::{local_day_at, parse_duration};
use crate::campaign::line_of;
use crate::profile::Timestamp;

const DAY: i64 = 86_400;
/// How long after its due time a trigger is still sent, by default.
pub const DEFAULT_EXPIRE_AFTER: i64 = 7 * DAY;
/// The longest a flow file may be, in bytes.
pub const MAX_FLOW_BYTES: usize = 16 * 1024;

/// What starts a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// An event of this kind.
    Event {
        /// The kind.
        kind: EventKind,
        /// The event's value (cart, order or product, in cents) at least
        /// this.
        min_value_cents: Option<i64>,
    },
    /// The customer entering this segment of the tenant's rule.
    Segment(String),
}

/// A validated flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The flow's name.
    pub name: String,
    /// The campaign it sends.
    pub campaign: String,
    /// What starts it.
    pub trigger: Trigger,
    /// Seconds from the trigger to the send.
    pub delay: i64,
    /// With a delay of whole days: the local time on that day.
    pub local_time: Option<NaiveTime>,
    /// Events after the trigger that cancel the send.
    pub exit_on: Vec<EventKind>,
    /// Seconds past its due time after which a trigger is dropped.
    pub expire_after: i64,
}

/// A flow file that is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}.toml:{}{message}", line.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".into()))]
pub struct FlowError {
    /// The flow's name.
    pub name: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowFile {
    campaign: Spanned<String>,
    #[serde(default)]
    delay: Option<Spanned<String>>,
    #[serde(default)]
    local_time: Option<Spanned<String>>,
    #[serde(default)]
    expire_after: Option<Spanned<String>>,
    trigger: Spanned<TriggerFile>,
    #[serde(default)]
    exit: Option<ExitFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerFile {
    #[serde(default)]
    event: Option<Spanned<String>>,
    #[serde(default)]
    segment: Option<Spanned<String>>,
    #[serde(default)]
    min_value_cents: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExitFile {
    #[serde(default)]
    events: Vec<Spanned<String>>,
}

impl Flow {
    /// Parses the flow `name` from its TOML text.
    pub fn parse(text: &str, name: &str) -> Result<Flow, FlowError> {
        let error = |span: Option<std::ops::Range<usize>>, message: String| FlowError {
            name: name.to_string(),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
        if text.len() > MAX_FLOW_BYTES {
            return Err(error(
                None,
                format!(
                    "{} bytes, more than the limit of {MAX_FLOW_BYTES}",
                    text.len()
                ),
            ));
        }
        let file: FlowFile =
            toml::from_str(text).map_err(|e| error(e.span(), e.message().to_string()))?;
        let duration = |field: &Option<Spanned<String>>, default: i64| match field {
            None => Ok(default),
            Some(value) => parse_duration(value.get_ref())
                .map_err(|message| error(Some(value.span()), message)),
        };
        let delay = duration(&file.delay, 0)?;
        let expire_after = duration(&file.expire_after, DEFAULT_EXPIRE_AFTER)?;
        let local_time = match &file.local_time {
            None => None,
            Some(value) => {
                let time = NaiveTime::parse_from_str(value.get_ref(), "%H:%M").map_err(|_| {
                    error(
                        Some(value.span()),
                        format!("`{}` is not a time like 10:00", value.get_ref()),
                    )
                })?;
                if delay % DAY != 0 {
                    return Err(error(
                        Some(value.span()),
                        "`local_time` needs a delay of whole days (e.g. \"2d\")".into(),
                    ));
                }
                Some(time)
            }
        };
        let trigger_span = file.trigger.span();
        let trigger_file = file.trigger.into_inner();
        let trigger = match (trigger_file.event, trigger_file.segment) {
            (Some(event), None) => Trigger::Event {
                kind: event_kind(&event).map_err(|m| error(Some(event.span()), m))?,
                min_value_cents: trigger_file.min_value_cents,
            },
            (None, Some(segment)) => {
                if trigger_file.min_value_cents.is_some() {
                    return Err(error(
                        Some(segment.span()),
                        "`min_value_cents` applies to event triggers only".into(),
                    ));
                }
                if segment.get_ref().trim().is_empty() {
                    return Err(error(Some(segment.span()), "empty segment".into()));
                }
                Trigger::Segment(segment.into_inner())
            }
            _ => {
                return Err(error(
                    Some(trigger_span),
                    "[trigger] needs exactly one of `event` or `segment`".into(),
                ));
            }
        };
        let exit_on = file
            .exit
            .map(|exit| exit.events)
            .unwrap_or_default()
            .iter()
            .map(|event| event_kind(event).map_err(|m| error(Some(event.span()), m)))
            .collect::<Result<Vec<_>, _>>()?;
        let campaign = file.campaign.get_ref().trim();
        if campaign.is_empty() {
            return Err(error(
                Some(file.campaign.span()),
                "empty campaign id".into(),
            ));
        }
        Ok(Flow {
            name: name.to_string(),
            campaign: campaign.to_string(),
            trigger,
            delay,
            local_time,
            exit_on,
            expire_after,
        })
    }

    /// Whether `event` starts this flow.
    pub fn triggered_by(&self, event: &CustomerEvent) -> bool {
        match &self.trigger {
            Trigger::Event {
                kind,
                min_value_cents,
            } => {
                event.kind() == *kind
                    && min_value_cents
                        .is_none_or(|min| event.value_cents().is_some_and(|value| value >= min))
            }
            Trigger::Segment(_) => false,
        }
    }

    /// When a trigger at `trigger_at` is due, in the recipient's `zone`.
    pub fn due_at(&self, trigger_at: Timestamp, zone: Tz) -> Timestamp {
        match self.local_time {
            Some(time) => local_day_at(trigger_at, self.delay / DAY, time, zone),
            None => trigger_at.saturating_add(self.delay),
        }
    }

    /// The first event among `events` (the customer's) that cancels a
    /// trigger made by event `(trigger_at, trigger_id)`: one of the exit
    /// kinds, after the trigger (ties in time go by id), and not after
    /// `now`.
    pub fn exit_event<'a>(
        &self,
        trigger_at: Timestamp,
        trigger_id: &str,
        events: &'a [CustomerEvent],
        now: Timestamp,
    ) -> Option<&'a CustomerEvent> {
        events
            .iter()
            .filter(|e| self.exit_on.contains(&e.kind()))
            .filter(|e| (e.at, e.id.as_str()) > (trigger_at, trigger_id) && e.at <= now)
            .min_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)))
    }
}

fn event_kind(name: &Spanned<String>) -> Result<EventKind, String> {
    EventKind::parse(name.get_ref()).ok_or_else(|| {
        let known: Vec<&str> = EventKind::ALL.iter().map(EventKind::as_str).collect();
        format!(
            "unknown event type `{}` (known: {})",
            name.get_ref(),
            known.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CART: &str = r#"campaign = "cart-reminder"
delay = "4h"

[trigger]
event = "cart_updated"
min_value_cents = 1

[exit]
events = ["order_placed", "cart_updated"]
"#;

    fn event(line: &str) -> CustomerEvent {
        CustomerEvent::from_json(line.as_bytes()).unwrap()
    }

    #[test]
    fn the_cart_flow_parses() {
        let flow = Flow::parse(CART, "cart").unwrap();
        assert_eq!(flow.delay, 4 * 3600);
        assert_eq!(flow.expire_after, DEFAULT_EXPIRE_AFTER);
        assert_eq!(
            flow.exit_on,
            [EventKind::OrderPlaced, EventKind::CartUpdated]
        );
        let cart = event(
            r#"{"id":"e1","customer":"c","at":"2026-11-24T09:00:00Z","type":"cart_updated","items":[{"sku":"s","price_cents":500}]}"#,
        );
        let cleared = event(
            r#"{"id":"e2","customer":"c","at":"2026-11-24T09:00:00Z","type":"cart_updated","items":[]}"#,
        );
        assert!(flow.triggered_by(&cart));
        assert!(!flow.triggered_by(&cleared), "a cleared cart is worth 0");
        assert_eq!(flow.due_at(cart.at, Tz::UTC), cart.at + 4 * 3600);
    }

    #[test]
    fn an_order_after_the_cart_exits_and_one_before_does_not() {
        let flow = Flow::parse(CART, "cart").unwrap();
        let at = 1_795_510_800; // 09:00Z
        let events = vec![
            event(
                r#"{"id":"o0","customer":"c","at":"2026-11-24T08:00:00Z","type":"order_placed","order_id":"x"}"#,
            ),
            event(
                r#"{"id":"o1","customer":"c","at":"2026-11-24T10:00:00Z","type":"order_placed","order_id":"y"}"#,
            ),
        ];
        assert_eq!(
            flow.exit_event(at, "e1", &events, at + 7200)
                .map(|e| e.id.as_str()),
            Some("o1")
        );
        // Not yet happened at 09:30.
        assert_eq!(flow.exit_event(at, "e1", &events, at + 1800), None);
    }

    #[test]
    fn local_time_sends_on_the_calendar_day() {
        let flow = Flow::parse(
            "campaign = \"thanks\"\ndelay = \"2d\"\nlocal_time = \"10:00\"\n[trigger]\nevent = \"order_placed\"\n",
            "thanks",
        )
        .unwrap();
        // Ordered Tuesday 2026-11-24 at 15:00 in New York (20:00Z): the
        // thank-you goes Thursday 10:00 New York time (15:00Z).
        let ordered = 1_795_550_400;
        let due = flow.due_at(ordered, chrono_tz::America::New_York);
        assert_eq!(
            crate::profile::format_time(due),
            "2026-11-26T15:00:00Z",
            "ordered {}",
            crate::profile::format_time(ordered)
        );
    }

    #[test]
    fn mistakes_name_their_line() {
        let cases = [
            (
                "campaign = \"c\"\n[trigger]\nevent = \"teleported\"\n",
                3,
                "unknown event type `teleported`",
            ),
            (
                "campaign = \"c\"\ndelay = \"soon\"\n[trigger]\nevent = \"site_visit\"\n",
                2,
                "soon",
            ),
            (
                "campaign = \"c\"\n[trigger]\nevent = \"site_visit\"\nsegment = \"x\"\n",
                2,
                "exactly one",
            ),
            (
                "campaign = \"c\"\ndelay = \"4h\"\nlocal_time = \"10:00\"\n[trigger]\nsegment = \"x\"\n",
                3,
                "whole days",
            ),
            (
                "campaign = \"c\"\n[trigger]\nsegment = \"x\"\n[exit]\nevents = [\"nope\"]\n",
                5,
                "`nope`",
            ),
            (
                "campaign = \"c\"\nextra = 1\n[trigger]\nsegment = \"x\"\n",
                2,
                "unknown field",
            ),
        ];
        for (text, line, needle) in cases {
            let error = Flow::parse(text, "f").unwrap_err();
            assert_eq!(error.line, Some(line), "{text}: {error}");
            assert!(error.to_string().contains(needle), "{text}: {error}");
            assert!(
                error.to_string().starts_with(&format!("f.toml:{line}: ")),
                "{error}"
            );
        }
    }
}
