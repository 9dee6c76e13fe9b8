//! What the host enforces whatever a rule says: consent, valid ids, output
//! caps, and the campaign's failure policy.

use std::collections::HashSet;

use crate::campaign::{Campaign, FailurePolicy};
use crate::decision::Decision;
use crate::evaluate::{Evaluation, Failure};
use crate::limits::Limits;
use crate::outcome::{Blocks, Outcome, Status};
use crate::profile::Profile;

/// The reason recorded for recipients without marketing consent.
pub const NO_CONSENT: &str = "no-consent";

/// Whether the recipient may receive marketing email at all. When not, the
/// rule is not even run: it never sees the profile.
pub fn consent_refused(profile: &Profile) -> Option<Outcome> {
    (!profile.consent.email_marketing).then(|| {
        Outcome::without_message(profile.id.clone(), Status::Suppressed, NO_CONSENT.into())
    })
}

/// A decision checked against the campaign and the output caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedDecision {
    /// Segment ids.
    pub segments: Vec<String>,
    /// Subject, preheader and blocks, or the suppression reason.
    pub selection: Result<(String, String, Blocks), String>,
    /// Rule reasons plus the host's notes.
    pub reasons: Vec<String>,
}

/// Checks a decision: every id well formed and within the caps, subject,
/// preheader and blocks among the campaign's candidates. Slots the rule left
/// out get the fallback block, noted as `fallback-block:<slot>`.
pub fn check_decision(
    decision: Decision,
    campaign: &Campaign,
    limits: &Limits,
) -> Result<CheckedDecision, Failure> {
    validate_decision(&decision, campaign, limits)?;
    let Decision {
        segments,
        subject,
        preheader,
        blocks: choices,
        mut reasons,
        suppress,
    } = decision;
    if let Some(code) = suppress {
        return Ok(CheckedDecision {
            segments,
            selection: Err(code),
            reasons,
        });
    }
    let mut blocks = Vec::with_capacity(campaign.slots.len());
    for (slot, fallback) in &campaign.fallback.blocks {
        match choices.iter().find(|c| &c.slot == slot) {
            Some(choice) => blocks.push((slot.clone(), choice.block.clone())),
            None => {
                reasons.push(format!("fallback-block:{slot}"));
                blocks.push((slot.clone(), fallback.clone()));
            }
        }
    }
    Ok(CheckedDecision {
        segments,
        selection: Ok((subject, preheader, Blocks(blocks))),
        reasons,
    })
}

/// Whether [`check_decision`] accepts `decision`, by reference: the same
/// checks, in the same order, with the same failure, and nothing built.
pub fn validate_decision(
    decision: &Decision,
    campaign: &Campaign,
    limits: &Limits,
) -> Result<(), Failure> {
    let invalid = |detail: String| Failure::InvalidDecision { detail };
    if decision.segments.len() > limits.max_segments {
        return Err(invalid(format!(
            "{} segments, more than the limit of {}",
            decision.segments.len(),
            limits.max_segments
        )));
    }
    if decision.reasons.len() > limits.max_reasons {
        return Err(invalid(format!(
            "{} reasons, more than the limit of {}",
            decision.reasons.len(),
            limits.max_reasons
        )));
    }
    if decision.blocks.len() > campaign.slots.len() {
        return Err(invalid(format!(
            "{} block choices for a campaign with {} slots",
            decision.blocks.len(),
            campaign.slots.len()
        )));
    }
    let mut seen = HashSet::with_capacity(decision.segments.len());
    for segment in &decision.segments {
        check_id("segment", segment, limits)?;
        if !seen.insert(segment.as_str()) {
            return Err(invalid(format!("segment `{segment}` appears twice")));
        }
    }
    for reason in &decision.reasons {
        check_reason(reason, limits)?;
        if crate::reserved::is_host_code(reason) {
            return Err(invalid(format!(
                "reason `{}` is reserved for the host",
                shown(reason, limits)
            )));
        }
    }
    if let Some(code) = &decision.suppress {
        check_id("suppression reason", code, limits)?;
        if crate::reserved::is_host_code(code) {
            return Err(invalid(format!(
                "suppression code `{}` is reserved for the host",
                shown(code, limits)
            )));
        }
        return Ok(());
    }
    if !campaign.has_subject(&decision.subject) {
        return Err(invalid(format!(
            "subject `{}` is not a subject variant of the campaign",
            shown(&decision.subject, limits)
        )));
    }
    if !campaign.has_preheader(&decision.preheader) {
        return Err(invalid(format!(
            "preheader `{}` is not a preheader variant of the campaign",
            shown(&decision.preheader, limits)
        )));
    }
    for choice in &decision.blocks {
        if campaign.slot(&choice.slot).is_none() {
            return Err(invalid(format!(
                "slot `{}` is not a slot of the campaign",
                shown(&choice.slot, limits)
            )));
        }
        if !campaign.has_block(&choice.slot, &choice.block) {
            return Err(invalid(format!(
                "block `{}` is not a block of slot `{}`",
                shown(&choice.block, limits),
                choice.slot
            )));
        }
        if decision
            .blocks
            .iter()
            .filter(|c| c.slot == choice.slot)
            .count()
            > 1
        {
            return Err(invalid(format!("slot `{}` is filled twice", choice.slot)));
        }
    }
    Ok(())
}

fn shown(id: &str, limits: &Limits) -> String {
    let mut end = id.len().min(limits.max_id_bytes);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].escape_debug().to_string()
}

fn check_id(what: &str, id: &str, limits: &Limits) -> Result<(), Failure> {
    let detail = if id.is_empty() {
        format!("empty {what} id")
    } else if id.len() > limits.max_id_bytes {
        format!(
            "{what} id of {} bytes, longer than the limit of {}",
            id.len(),
            limits.max_id_bytes
        )
    } else if !crate::id::is_valid(id, limits.max_id_bytes) {
        format!(
            "{what} id `{}` has characters other than {}",
            shown(id, limits),
            crate::id::ALLOWED
        )
    } else {
        return Ok(());
    };
    Err(Failure::InvalidDecision { detail })
}

fn check_reason(reason: &str, limits: &Limits) -> Result<(), Failure> {
    let max = limits.max_id_bytes * 2;
    let detail = if reason.len() > max {
        format!(
            "reason of {} bytes, longer than the limit of {max}",
            reason.len()
        )
    } else if reason.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
        format!(
            "reason `{}` has characters other than printable ASCII",
            shown(reason, limits)
        )
    } else {
        return Ok(());
    };
    Err(Failure::InvalidDecision { detail })
}

/// The reason recorded for the control group.
pub const HOLDOUT: &str = "holdout";

/// Holds out the control group and assigns A/B/n arms, both from stable
/// buckets of (campaign, recipient), to outcomes that send a message.
pub fn apply_experiments(outcome: &mut Outcome, campaign: &Campaign) {
    if !outcome.status.sends() {
        return;
    }
    let reasons = outcome.reasons.get_or_insert_with(Vec::new);
    if campaign.holdout_basis_points > 0
        && crate::bucket::ab_bucket(&campaign.id, &outcome.profile_id, HOLDOUT)
            < campaign.holdout_basis_points
    {
        reasons.push(HOLDOUT.to_string());
        outcome.status = Status::Suppressed;
        outcome.reason = Some(HOLDOUT.to_string());
        outcome.subject = None;
        outcome.preheader = None;
        outcome.blocks = None;
        return;
    }
    let Some(split) = outcome
        .subject
        .as_deref()
        .and_then(|subject| campaign.split(subject))
    else {
        return;
    };
    let bucket = crate::bucket::ab_bucket(
        &campaign.id,
        &outcome.profile_id,
        &format!("split:{}", split.subject),
    );
    let total: u64 = split
        .arms
        .iter()
        .map(|(_, weight)| u64::from(*weight))
        .sum();
    let point = u64::from(bucket) * total / u64::from(crate::bucket::BUCKETS);
    let mut reached = 0;
    let arm = split
        .arms
        .iter()
        .find(|(_, weight)| {
            reached += u64::from(*weight);
            point < reached
        })
        .map_or(&split.arms[split.arms.len() - 1].0, |(arm, _)| arm);
    reasons.push(format!("ab:{}->{arm}", split.subject));
    outcome.ab = Some(crate::outcome::AbArm {
        split: split.subject.clone(),
        arm: arm.clone(),
    });
    outcome.subject = Some(arm.clone());
}

/// The outcome of a recipient whose rule was not run because its circuit
/// breaker is open (see [`crate::breaker`]): like any failure of the rule,
/// the campaign's fallback or a skip as its failure policy says, with
/// reason `breaker-open`. Unlike [`Failure::RulesOff`], which the operator
/// chooses and which always sends the fallback, an open breaker follows
/// the campaign. Consent is checked first, as for a rule that runs
/// ([`consent_refused`]).
pub fn breaker_open(profile: &Profile, campaign: &Campaign, limits: &Limits) -> Outcome {
    consent_refused(profile).unwrap_or_else(|| {
        outcome(
            profile.id.clone(),
            Evaluation::breaker_open(),
            campaign,
            limits,
        )
    })
}

/// Turns an evaluation into the recipient's outcome: a valid decision as
/// is, a failure into the fallback or a skip as the campaign says. A host
/// without room to run the rule ([`Failure::HostUnavailable`]) is no
/// decision and not the rule's fault: an error outcome, nothing sent.
pub fn outcome(
    profile_id: String,
    evaluation: Evaluation,
    campaign: &Campaign,
    limits: &Limits,
) -> Outcome {
    let checked = evaluation
        .result
        .and_then(|decision| check_decision(decision, campaign, limits));
    let mut outcome = match checked {
        Ok(CheckedDecision {
            segments,
            selection: Ok((subject, preheader, blocks)),
            reasons,
        }) => Outcome {
            segments,
            subject: Some(subject),
            preheader: Some(preheader),
            blocks: Some(blocks),
            reasons: Some(reasons),
            ..Outcome::without_message(profile_id, Status::Ok, String::new())
        },
        Ok(CheckedDecision {
            segments,
            selection: Err(code),
            reasons,
        }) => Outcome {
            segments,
            reasons: Some(reasons),
            ..Outcome::without_message(profile_id, Status::Suppressed, code)
        },
        Err(failure @ Failure::HostUnavailable { .. }) => {
            Outcome::without_message(profile_id, Status::Error, failure.to_string())
        }
        Err(failure)
            if failure == Failure::RulesOff
                || campaign.failure_policy == FailurePolicy::Fallback =>
        {
            Outcome {
                subject: Some(campaign.fallback.subject.clone()),
                preheader: Some(campaign.fallback.preheader.clone()),
                blocks: Some(Blocks(campaign.fallback.blocks.clone())),
                ..Outcome::without_message(profile_id, Status::Fallback, failure.to_string())
            }
        }
        Err(failure) => Outcome::without_message(profile_id, Status::Skipped, failure.to_string()),
    };
    if outcome.status == Status::Ok {
        outcome.reason = None;
    }
    apply_experiments(&mut outcome, campaign);
    outcome.fuel = evaluation.fuel_used;
    if !evaluation.log.is_empty() || evaluation.log_dropped > 0 {
        let mut log = evaluation.log;
        if evaluation.log_dropped > 0 {
            log.push_str(&format!(
                "[host] {} more bytes dropped\n",
                evaluation.log_dropped
            ));
        }
        outcome.log = Some(log);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::SlotChoice;

    fn campaign() -> Campaign {
        let text = r#"
id = "c"
[[subject]]
id = "s1"
text = "S"
[[preheader]]
id = "p1"
text = "P"
[[slot]]
name = "hero"
[[slot.block]]
id = "h1"
[[slot.block]]
id = "h2"
[[slot]]
name = "footer"
[[slot.block]]
id = "f1"
[fallback]
subject = "s1"
preheader = "p1"
blocks = { hero = "h1", footer = "f1" }
"#;
        Campaign::parse(text, std::path::Path::new("c.toml")).unwrap()
    }

    fn decision(blocks: &[(&str, &str)]) -> Decision {
        Decision {
            segments: vec!["vip".into()],
            subject: "s1".into(),
            preheader: "p1".into(),
            blocks: blocks
                .iter()
                .map(|(slot, block)| SlotChoice {
                    slot: slot.to_string(),
                    block: block.to_string(),
                })
                .collect(),
            suppress: None,
            reasons: vec!["because".into()],
        }
    }

    fn detail(result: Result<CheckedDecision, Failure>) -> String {
        match result {
            Err(Failure::InvalidDecision { detail }) => detail,
            other => panic!("expected an invalid decision, got {other:?}"),
        }
    }

    fn profile(consent: bool) -> Profile {
        let json =
            format!(r#"{{"id":"r1","email":"r@x.y","consent":{{"email_marketing":{consent}}}}}"#);
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn an_open_breaker_follows_the_failure_policy_and_consent() {
        let limits = Limits::default();
        let mut campaign = campaign();
        let fallback = breaker_open(&profile(true), &campaign, &limits);
        assert_eq!(fallback.status, Status::Fallback);
        assert_eq!(
            fallback.reason.as_deref(),
            Some("breaker-open: the rule failed too often lately and was not run")
        );
        assert_eq!(fallback.subject.as_deref(), Some("s1"));
        assert_eq!(
            fallback.blocks.unwrap().0,
            vec![("hero".into(), "h1".into()), ("footer".into(), "f1".into())]
        );
        assert_eq!(fallback.fuel, Some(0));
        campaign.failure_policy = FailurePolicy::Skip;
        let skipped = breaker_open(&profile(true), &campaign, &limits);
        assert_eq!(skipped.status, Status::Skipped);
        assert!(skipped.subject.is_none());
        assert_eq!(
            breaker_open(&profile(false), &campaign, &limits)
                .reason
                .as_deref(),
            Some(NO_CONSENT)
        );
    }

    #[test]
    fn a_rule_cannot_suppress_with_a_host_code() {
        for code in ["no-consent", "holdout", "breaker-open", "host-paused"] {
            let mut suppressing = decision(&[]);
            suppressing.suppress = Some(code.into());
            assert_eq!(
                detail(check_decision(suppressing, &campaign(), &Limits::default())),
                format!("suppression code `{code}` is reserved for the host")
            );
        }
        let mut own = decision(&[]);
        own.suppress = Some("sunset".into());
        let checked = check_decision(own, &campaign(), &Limits::default()).unwrap();
        assert_eq!(checked.selection, Err("sunset".to_string()));
    }

    #[test]
    fn a_rule_cannot_add_the_hosts_notes_to_its_reasons() {
        for reason in ["fallback-block:hero", "ab:s1->s2", "holdout"] {
            let mut noting = decision(&[("hero", "h1"), ("footer", "f1")]);
            noting.reasons.push(reason.into());
            assert_eq!(
                detail(check_decision(noting, &campaign(), &Limits::default())),
                format!("reason `{reason}` is reserved for the host")
            );
        }
    }

    #[test]
    fn a_missing_slot_gets_the_fallback_block_and_a_note() {
        let checked =
            check_decision(decision(&[("hero", "h2")]), &campaign(), &Limits::default()).unwrap();
        let (_, _, blocks) = checked.selection.unwrap();
        assert_eq!(
            blocks.0,
            vec![("hero".into(), "h2".into()), ("footer".into(), "f1".into())]
        );
        assert_eq!(checked.reasons, vec!["because", "fallback-block:footer"]);
    }

    #[test]
    fn unknown_and_repeated_choices_are_invalid() {
        let limits = Limits::default();
        assert!(
            detail(check_decision(
                decision(&[("hero", "f1")]),
                &campaign(),
                &limits
            ))
            .contains("not a block of slot `hero`")
        );
        assert!(
            detail(check_decision(
                decision(&[("side", "h1")]),
                &campaign(),
                &limits
            ))
            .contains("slot `side`")
        );
        assert!(
            detail(check_decision(
                decision(&[("hero", "h1"), ("hero", "h2")]),
                &campaign(),
                &limits
            ))
            .contains("filled twice")
        );
        let flood: Vec<(&str, &str)> = vec![("hero", "h1"); 100_000];
        assert!(
            detail(check_decision(decision(&flood), &campaign(), &limits))
                .contains("100000 block choices")
        );
    }

    #[test]
    fn ids_that_could_break_headers_or_reports_are_invalid() {
        let limits = Limits::default();
        let mut bad = decision(&[]);
        bad.segments = vec!["x\r\nBcc: y@z".into()];
        assert!(
            detail(check_decision(bad, &campaign(), &limits)).contains("characters other than")
        );
        let mut bad = decision(&[]);
        bad.reasons = vec!["tab\there".into()];
        assert!(detail(check_decision(bad, &campaign(), &limits)).contains("printable ASCII"));
        let mut bad = decision(&[]);
        bad.segments = vec!["a".into(), "a".into()];
        assert!(detail(check_decision(bad, &campaign(), &limits)).contains("appears twice"));
    }

    #[test]
    fn a_suppression_skips_the_selection_checks_but_not_the_code() {
        let mut suppressed = decision(&[("nope", "nope")]);
        suppressed.suppress = Some("sunset".into());
        let checked = check_decision(suppressed.clone(), &campaign(), &Limits::default()).unwrap();
        assert_eq!(checked.selection, Err("sunset".to_string()));
        suppressed.suppress = Some("no good".into());
        suppressed.blocks.clear();
        assert!(
            detail(check_decision(suppressed, &campaign(), &Limits::default()))
                .contains("suppression reason")
        );
    }
}

#[cfg(test)]
mod experiment_tests {
    use super::*;
    use crate::outcome::Blocks;

    fn campaign(extra: &str) -> Campaign {
        let text = format!(
            r#"
id = "ab"
[[subject]]
id = "a"
text = "A"
[[subject]]
id = "b"
text = "B"
[[subject]]
id = "c"
text = "C"
[[preheader]]
id = "p"
text = "P"
[fallback]
subject = "a"
preheader = "p"
{extra}
"#
        );
        Campaign::parse(&text, std::path::Path::new("ab.toml")).unwrap()
    }

    fn sent(id: &str) -> Outcome {
        Outcome {
            subject: Some("a".into()),
            preheader: Some("p".into()),
            blocks: Some(Blocks::default()),
            reason: None,
            ..Outcome::without_message(id.into(), Status::Ok, String::new())
        }
    }

    #[test]
    fn arms_follow_their_weights_and_stay_put() {
        let campaign = campaign(
            "[[split]]\nsubject = \"a\"\narms = [{ subject = \"a\", weight = 1 }, { subject = \"b\", weight = 3 }]",
        );
        let mut counts = std::collections::HashMap::new();
        for i in 0..8_000 {
            let mut outcome = sent(&format!("r{i}"));
            apply_experiments(&mut outcome, &campaign);
            let arm = outcome.subject.clone().unwrap();
            assert_eq!(outcome.ab.as_ref().unwrap().arm, arm);
            *counts.entry(arm).or_insert(0) += 1;
            let mut again = sent(&format!("r{i}"));
            apply_experiments(&mut again, &campaign);
            assert_eq!(
                again.subject, outcome.subject,
                "assignment is deterministic"
            );
        }
        let b = counts["b"] as f64 / 8_000.0;
        assert!((0.72..0.78).contains(&b), "{counts:?}");
    }

    #[test]
    fn the_holdout_receives_nothing() {
        let campaign = campaign("[holdout]\npercent = 10");
        let held = (0..10_000)
            .filter(|i| {
                let mut outcome = sent(&format!("r{i}"));
                apply_experiments(&mut outcome, &campaign);
                outcome.status == Status::Suppressed
            })
            .count();
        assert!((900..1_100).contains(&held), "{held}");
    }

    #[test]
    fn splits_and_holdouts_are_validated() {
        let bad = |extra: &str| {
            let text = format!(
                "id = \"x\"\n[[subject]]\nid = \"a\"\ntext = \"A\"\n[[preheader]]\nid = \"p\"\ntext = \"P\"\n[fallback]\nsubject = \"a\"\npreheader = \"p\"\n{extra}"
            );
            Campaign::parse(&text, std::path::Path::new("x.toml"))
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad("[[split]]\nsubject = \"zz\"\narms = [{ subject = \"a\", weight = 1 }]")
                .contains("`zz`")
        );
        assert!(
            bad("[[split]]\nsubject = \"a\"\narms = [{ subject = \"a\", weight = 0 }]")
                .contains("weights")
        );
        assert!(bad("[holdout]\npercent = 80").contains("between 0 and 50"));
    }
}
