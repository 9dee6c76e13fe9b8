//! The usual targets of email KPIs, and the rates that fall outside them.

use serde::Serialize;

use super::Kpis;

/// A rate outside its usual target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// Which rate: `open_rate`, `click_rate`, `conversion_rate` or
    /// `unsubscribe_rate`.
    pub rate: &'static str,
    /// What is wrong, in words (`open rate 12% is below the 20%–30% target`).
    pub text: String,
}

/// The rates of `kpis` outside the usual targets: (field, name, rate,
/// lowest, highest).
pub(super) fn flags(kpis: &Kpis) -> Vec<Flag> {
    let targets = [
        ("open_rate", "open rate", kpis.open_rate, 0.20, 0.30),
        ("click_rate", "click rate", kpis.click_rate, 0.02, 0.05),
        (
            "conversion_rate",
            "conversion rate",
            kpis.conversion_rate,
            0.01,
            0.03,
        ),
        (
            "unsubscribe_rate",
            "unsubscribe rate",
            kpis.unsubscribe_rate,
            0.0,
            0.01,
        ),
    ];
    let mut flags = Vec::new();
    for (field, name, rate, low, high) in targets {
        let mut flag = |text: String| flags.push(Flag { rate: field, text });
        let Some(rate) = rate else { continue };
        let shown = percent(rate);
        if rate < low {
            flag(format!(
                "{name} {shown} is below the {}–{} target",
                percent(low),
                percent(high)
            ));
        } else if rate > high && low > 0.0 {
            flag(format!(
                "{name} {shown} is above the {}–{} target",
                percent(low),
                percent(high)
            ));
        } else if rate >= high && low == 0.0 {
            flag(format!("{name} {shown} is not under {}", percent(high)));
        }
    }
    flags
}

/// `12.5%`.
pub(crate) fn percent(rate: f64) -> String {
    let text = format!("{:.1}", rate * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}
