//! A campaign's `[feedback]` table: how its results are judged.
//!
//! ```toml
//! [feedback]
//! conversion_window = "5d"   # an order this long after a click converts
//! ab_metric = "clicks"       # "opens", "clicks" or "conversions"
//! ab_min_sample = 100        # delivered messages per arm before a winner
//! ab_confidence = 0.95       # 1 − the test's significance level
//! ```

use serde::{Deserialize, Serialize};

use crate::lifecycle::timing::{format_duration, parse_duration};

/// The conversion window when a campaign names none: five days.
pub const DEFAULT_CONVERSION_WINDOW: i64 = 5 * 86_400;

/// Longest conversion window: 90 days (the events kept per customer).
pub const MAX_CONVERSION_WINDOW: i64 = 90 * 86_400;

/// The metric an A/B split is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbMetric {
    /// Unique opens per delivered message.
    Opens,
    /// Unique clicks per delivered message.
    #[default]
    Clicks,
    /// Converting recipients per delivered message.
    Conversions,
}

impl AbMetric {
    /// The metric named `name` (`opens`, `clicks`, `conversions`).
    pub fn parse(name: &str) -> Option<AbMetric> {
        match name {
            "opens" => Some(AbMetric::Opens),
            "clicks" => Some(AbMetric::Clicks),
            "conversions" => Some(AbMetric::Conversions),
            _ => None,
        }
    }

    /// The metric's name.
    pub fn as_str(&self) -> &'static str {
        match self {
            AbMetric::Opens => "opens",
            AbMetric::Clicks => "clicks",
            AbMetric::Conversions => "conversions",
        }
    }
}

/// A conversion window: a duration of one second to 90 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ConversionWindow(pub i64);

impl TryFrom<String> for ConversionWindow {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let seconds = parse_duration(&text)?;
        if !(1..=MAX_CONVERSION_WINDOW).contains(&seconds) {
            return Err(format!(
                "conversion_window `{text}` must be between 1s and 90d"
            ));
        }
        Ok(ConversionWindow(seconds))
    }
}

impl From<ConversionWindow> for String {
    fn from(window: ConversionWindow) -> String {
        format_duration(window.0)
    }
}

/// The confidence an A/B winner needs, in hundredths of a percent
/// (9500 = 0.95); written as a fraction between 0.5 and 0.999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Confidence(u16);

impl Confidence {
    /// As a fraction (0.95).
    pub fn value(&self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

impl TryFrom<f64> for Confidence {
    type Error = String;
    fn try_from(value: f64) -> Result<Self, String> {
        if !(0.5..=0.999).contains(&value) {
            return Err(format!(
                "ab_confidence {value} must be between 0.5 and 0.999"
            ));
        }
        Ok(Confidence((value * 10_000.0).round() as u16))
    }
}

impl From<Confidence> for f64 {
    fn from(confidence: Confidence) -> f64 {
        confidence.value()
    }
}

/// How a campaign's results are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackSettings {
    /// How long after a click an order counts as its conversion (and how
    /// long after the send for the holdout comparison).
    pub conversion_window: ConversionWindow,
    /// The metric A/B splits are judged on.
    pub ab_metric: AbMetric,
    /// Delivered messages every arm needs before a winner is called (at
    /// least 1).
    #[serde(deserialize_with = "at_least_one")]
    pub ab_min_sample: u64,
    /// The confidence a winner needs (0.5 to 0.999).
    pub ab_confidence: Confidence,
}

impl Default for FeedbackSettings {
    fn default() -> Self {
        FeedbackSettings {
            conversion_window: ConversionWindow(DEFAULT_CONVERSION_WINDOW),
            ab_metric: AbMetric::Clicks,
            ab_min_sample: 100,
            ab_confidence: Confidence(9_500),
        }
    }
}

fn at_least_one<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = u64::deserialize(deserializer)?;
    if value == 0 {
        return Err(serde::de::Error::custom("ab_min_sample must be at least 1"));
    }
    Ok(value)
}
