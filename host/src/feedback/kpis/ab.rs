//! A/B verdicts and the holdout's lift.

use serde::Serialize;

use super::attribution::Order;
use super::{Kpis, MessageResult, Recipient, kpis_of, percent};
use crate::campaign::Campaign;
use crate::feedback::settings::AbMetric;
use crate::feedback::stats::{ProportionTest, two_proportion};

/// One arm of a split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArmResult {
    /// The arm's subject variant.
    pub arm: String,
    /// Its KPIs.
    pub kpis: Kpis,
    /// Successes on the split's metric (unique opens, unique clicks or
    /// converters).
    pub successes: u64,
    /// Messages the metric could be seen on: tracked ones for opens and
    /// clicks, delivered ones for conversions.
    pub trials: u64,
    /// Successes ÷ trials.
    pub rate: Option<f64>,
    /// This arm against the leading one (absent for the leader).
    pub against_leader: Option<ProportionTest>,
}

/// A split's arms and verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SplitResult {
    /// The subject variant that is split.
    pub subject: String,
    /// The metric it is judged on.
    pub metric: String,
    /// Its arms, in the campaign's order.
    pub arms: Vec<ArmResult>,
    /// The arm with the highest rate so far.
    pub leader: Option<String>,
    /// The winner, once every arm has the minimum sample and the leader
    /// beats every other arm at the campaign's confidence.
    pub winner: Option<String>,
    /// Why there is a winner or not, in words.
    pub verdict: String,
}

/// The control group against the treated one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HoldoutResult {
    /// Delivered messages (treated).
    pub treated: u64,
    /// Treated recipients with an order within the window after the send.
    pub treated_converted: u64,
    /// Recipients held out (control).
    pub control: u64,
    /// Control recipients with an order within the window after the time
    /// they would have been sent.
    pub control_converted: u64,
    /// Treated conversion rate.
    pub treated_rate: Option<f64>,
    /// Control conversion rate.
    pub control_rate: Option<f64>,
    /// Treated rate − control rate.
    pub absolute_lift: Option<f64>,
    /// (Treated rate − control rate) ÷ control rate.
    pub relative_lift: Option<f64>,
    /// Treated against control.
    pub test: Option<ProportionTest>,
    /// Whether the difference is significant at the campaign's confidence.
    pub significant: bool,
}

/// The verdict of every split of `campaign`.
pub(crate) fn splits(
    campaign: &Campaign,
    recipients: &[Recipient],
    results: &[MessageResult],
) -> Vec<SplitResult> {
    let settings = &campaign.feedback;
    let alpha = 1.0 - settings.ab_confidence.value();
    campaign
        .splits
        .iter()
        .map(|split| {
            let mut arms: Vec<ArmResult> = split
                .arms
                .iter()
                .map(|(arm, _)| {
                    let members = (0..recipients.len()).filter(|&i| {
                        let r = &recipients[i];
                        r.ab_split.as_deref() == Some(split.subject.as_str())
                            && r.subject.as_deref() == Some(arm.as_str())
                    });
                    let kpis = kpis_of(recipients, results, members);
                    // Opens and clicks can only be seen on tracked
                    // messages; conversions on every delivered one.
                    let (successes, trials) = match settings.ab_metric {
                        AbMetric::Opens => (kpis.unique_opens, kpis.tracked),
                        AbMetric::Clicks => (kpis.unique_clicks, kpis.tracked),
                        AbMetric::Conversions => (kpis.converters, kpis.delivered),
                    };
                    ArmResult {
                        arm: arm.clone(),
                        rate: (trials > 0).then(|| successes as f64 / trials as f64),
                        successes,
                        trials,
                        kpis,
                        against_leader: None,
                    }
                })
                .collect();
            let leader = arms
                .iter()
                .enumerate()
                .filter(|(_, arm)| arm.rate.is_some())
                .fold(None::<usize>, |best, (index, arm)| match best {
                    Some(b) if arms[b].rate >= arm.rate => Some(b),
                    _ => Some(index),
                });
            if let Some(lead) = leader {
                let (x, n) = (arms[lead].successes, arms[lead].trials);
                for arm in arms.iter_mut() {
                    if arm.arm != split.arms[lead].0 {
                        arm.against_leader =
                            two_proportion(arm.successes, arm.trials, x, n);
                    }
                }
            }
            let metric = settings.ab_metric.as_str();
            // An arm without delivered messages is short whatever the
            // minimum: there is nothing to beat it with.
            let short = arms
                .iter()
                .find(|arm| arm.trials < settings.ab_min_sample.max(1));
            let (winner, verdict) = match (leader, short) {
                (_, Some(arm)) => (
                    None,
                    format!(
                        "not enough data: arm `{}` has {} messages to measure {metric} on, of the {} each arm needs",
                        arm.arm, arm.trials, settings.ab_min_sample
                    ),
                ),
                (None, None) => (None, "no arm has delivered messages".into()),
                (Some(lead), None) => {
                    // An arm the test cannot tell from the leader (both
                    // rates 0 or both 1) counts as p = 1: no difference.
                    let no_difference = ProportionTest {
                        z: 0.0,
                        p_value: 1.0,
                    };
                    let weakest = arms
                        .iter()
                        .enumerate()
                        .filter(|(index, _)| *index != lead)
                        .map(|(_, arm)| (arm, arm.against_leader.unwrap_or(no_difference)))
                        .max_by(|a, b| a.1.p_value.total_cmp(&b.1.p_value));
                    let leader = &arms[lead];
                    let rate = percent(leader.rate.unwrap_or(0.0));
                    match weakest {
                        Some((other, test)) if test.p_value < alpha && test.z < 0.0 => (
                            Some(leader.arm.clone()),
                            format!(
                                "`{}` wins on {metric}: {rate} against {} for `{}` (p = {:.4}, below {:.4})",
                                leader.arm,
                                percent(other.rate.unwrap_or(0.0)),
                                other.arm,
                                test.p_value,
                                alpha
                            ),
                        ),
                        Some((other, test)) => (
                            None,
                            format!(
                                "no significant difference yet: `{}` leads on {metric} with {rate}, `{}` has {} (p = {:.4}, needs below {:.4})",
                                leader.arm,
                                other.arm,
                                percent(other.rate.unwrap_or(0.0)),
                                test.p_value,
                                alpha
                            ),
                        ),
                        None => (None, "a single arm has nothing to beat".into()),
                    }
                }
            };
            SplitResult {
                subject: split.subject.clone(),
                metric: metric.to_string(),
                leader: leader.map(|lead| arms[lead].arm.clone()),
                arms,
                winner,
                verdict,
            }
        })
        .collect()
}

/// The holdout comparison: conversions (any order within the window after
/// the send) of the delivered recipients against those held out.
pub(crate) fn holdout(
    campaign: &Campaign,
    recipients: &[Recipient],
    orders: &[Order],
) -> Option<HoldoutResult> {
    let held_out = recipients.iter().filter(|r| r.in_holdout()).count();
    if campaign.holdout_basis_points == 0 && held_out == 0 {
        return None;
    }
    let window = campaign.feedback.conversion_window.0;
    let mut by_customer: std::collections::HashMap<&str, Vec<i64>> =
        std::collections::HashMap::new();
    for order in orders {
        by_customer
            .entry(&order.customer)
            .or_default()
            .push(order.at);
    }
    let converted = |r: &Recipient| {
        by_customer.get(r.customer.as_str()).is_some_and(|times| {
            times
                .iter()
                .any(|&at| at >= r.sent_at && at - r.sent_at <= window)
        })
    };
    let (mut treated, mut treated_converted, mut control, mut control_converted) = (0, 0, 0, 0);
    for recipient in recipients {
        if recipient.in_holdout() {
            control += 1;
            control_converted += u64::from(converted(recipient));
        } else if recipient.fate == crate::journal::Fate::Delivered {
            treated += 1;
            treated_converted += u64::from(converted(recipient));
        }
    }
    let rate = |x: u64, n: u64| (n > 0).then(|| x as f64 / n as f64);
    let (treated_rate, control_rate) = (
        rate(treated_converted, treated),
        rate(control_converted, control),
    );
    let test = two_proportion(treated_converted, treated, control_converted, control);
    Some(HoldoutResult {
        treated,
        treated_converted,
        control,
        control_converted,
        treated_rate,
        control_rate,
        absolute_lift: treated_rate.zip(control_rate).map(|(t, c)| t - c),
        relative_lift: treated_rate
            .zip(control_rate)
            .filter(|(_, c)| *c > 0.0)
            .map(|(t, c)| (t - c) / c),
        significant: test
            .is_some_and(|t| t.p_value < 1.0 - campaign.feedback.ab_confidence.value()),
        test,
    })
}
