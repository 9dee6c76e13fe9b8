//! The report as text tables (`mailrules report --kpis`).

use std::fmt;

use super::{GroupKpis, KpiReport, Kpis, percent};

fn rate(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_string(), percent)
}

fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

fn row(f: &mut fmt::Formatter<'_>, key: &str, k: &Kpis) -> fmt::Result {
    writeln!(
        f,
        "{key:<24} {:>8} {:>8} {:>9} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>11} {:>7} {:>7}",
        k.recipients,
        k.sent,
        k.delivered,
        k.failed,
        k.deferred,
        rate(k.open_rate),
        rate(k.click_rate),
        rate(k.click_to_open_rate),
        k.conversions,
        rate(k.conversion_rate),
        money(k.revenue_cents),
        k.unsubscribes,
        rate(k.unsubscribe_rate),
    )?;
    for flag in &k.flags {
        writeln!(f, "{:<24}   ! {}", "", flag.text)?;
    }
    Ok(())
}

fn table(f: &mut fmt::Formatter<'_>, title: &str, groups: &[GroupKpis]) -> fmt::Result {
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(f, "\n{title}")?;
    for group in groups {
        row(f, &group.key, &group.kpis)?;
    }
    Ok(())
}

impl fmt::Display for KpiReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "campaign {} (conversion window {}, A/B judged on {})",
            self.campaign, self.conversion_window, self.ab_metric
        )?;
        writeln!(
            f,
            "{:<24} {:>8} {:>8} {:>9} {:>6} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>11} {:>7} {:>7}",
            "",
            "recips",
            "sent",
            "delivered",
            "failed",
            "deferred",
            "open",
            "ctr",
            "c-to-o",
            "convs",
            "conv",
            "revenue",
            "unsubs",
            "unsub"
        )?;
        row(f, "total", &self.total)?;
        table(f, "by segment", &self.segments)?;
        table(f, "by subject", &self.subjects)?;
        table(f, "by preheader", &self.preheaders)?;
        for split in &self.splits {
            writeln!(
                f,
                "\nA/B split of subject `{}` on {}",
                split.subject, split.metric
            )?;
            for arm in &split.arms {
                row(f, &arm.arm, &arm.kpis)?;
            }
            writeln!(f, "  {}", split.verdict)?;
        }
        if let Some(h) = &self.holdout {
            writeln!(
                f,
                "\nholdout: treated {} of {} converted ({}), control {} of {} ({}), lift {}{}",
                h.treated_converted,
                h.treated,
                rate(h.treated_rate),
                h.control_converted,
                h.control,
                rate(h.control_rate),
                h.absolute_lift
                    .map_or_else(|| "-".into(), |l| format!("{:+.1} points", l * 100.0)),
                match h.test {
                    Some(t) => format!(
                        " (p = {:.4}{})",
                        t.p_value,
                        if h.significant { ", significant" } else { "" }
                    ),
                    None => String::new(),
                }
            )?;
        }
        if self.unmatched_events > 0 {
            writeln!(
                f,
                "\n{} events name this campaign but none of its messages",
                self.unmatched_events
            )?;
        }
        Ok(())
    }
}
