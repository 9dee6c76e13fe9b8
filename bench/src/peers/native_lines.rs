//! What `mailrules eval` does per input record, with the reference pack
//! compiled in ([`super::native_borrowed`]) instead of run in a sandbox: the
//! host's consent check, the pack's decision, the host's checks of that
//! decision, and the outcome line `mailrules eval` prints by default
//! (without `--explain`: no `reasons`, `fuel` or `log`), byte for byte.
//!
//! Which decisions pass the host's checks ([`mailrules::policy`]) depends
//! only on the variant, the recommended block and its source, so that is
//! worked out once per campaign by running those very checks; such a
//! decision's line is then written from borrowed strings, allocating
//! nothing. Every other outcome (a decision the checks refuse, so the
//! fallback; any decision of a campaign with a holdout or A/B splits; an
//! unreadable record) goes through the host's own code, `policy::outcome`,
//! so its line is exactly the host's.

use std::io::Write;
use std::time::Duration;

use mailrules::decision::{Decision, SlotChoice};
use mailrules::policy;
use mailrules::profile::Timestamp;
use mailrules::profile_reader::ProfileRecord;
use mailrules::{Campaign, Evaluation, Limits, Outcome, Status};
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq};

use super::PlainDecision;
use super::native_borrowed::{
    CampaignLookup, CompactDecision, HERO_SLOT, RECOMMENDATIONS_SLOT, Reason, Segment, SegmentSet,
    Source, Variant, decide,
};

/// The pack natively, with the host's policy around it, for one campaign.
pub struct NativeEval<'c> {
    lookup: CampaignLookup<'c>,
    limits: Limits,
    /// Blocks in the recommendations slot.
    recommendation_blocks: usize,
    /// Whether a decision that sends, keyed by [`NativeEval::key`], passes
    /// the host's checks with every segment set (so with any of them).
    valid: Vec<bool>,
    /// Whether the sunset suppression passes them with every segment set.
    sunset_valid: bool,
    /// Whether the campaign holds out or splits recipients.
    experiments: bool,
}

/// The pack's decision as the host's bindings carry it.
pub fn host_decision(plain: PlainDecision) -> Decision {
    Decision {
        segments: plain.segments,
        subject: plain.subject,
        preheader: plain.preheader,
        blocks: plain
            .blocks
            .into_iter()
            .map(|(slot, block)| SlotChoice { slot, block })
            .collect(),
        suppress: plain.suppress,
        reasons: plain.reasons,
    }
}

impl<'c> NativeEval<'c> {
    /// Prepares `campaign` at time `now`, checked against `limits` (the
    /// operator's limits resolved with the campaign's request, as
    /// `mailrules eval` does).
    pub fn new(campaign: &'c Campaign, now: Timestamp, limits: Limits) -> Self {
        let lookup = CampaignLookup::new(campaign, now);
        let recommendation_blocks = campaign
            .slot(RECOMMENDATIONS_SLOT)
            .map_or(0, |s| s.blocks.len());
        let every_segment = SegmentSet(Segment::ALL.iter().fold(0, |b, s| b | s.bit()));
        let passes = |decision: CompactDecision| {
            let decision = host_decision(decision.to_plain(&lookup));
            policy::validate_decision(&decision, campaign, &limits).is_ok()
        };
        let mut eval = NativeEval {
            lookup: lookup.clone(),
            limits: limits.clone(),
            recommendation_blocks,
            valid: Vec::new(),
            sunset_valid: false,
            experiments: campaign.holdout_basis_points > 0 || !campaign.splits.is_empty(),
        };
        for variant in Variant::ALL {
            for because in [
                Some(chooser(variant)),
                Some(Segment::Inactive),
                None::<Segment>,
            ] {
                let because = because.filter(|_| variant != Variant::Default);
                let mut choices: Vec<(Option<u16>, Source)> = (0..recommendation_blocks)
                    .flat_map(|b| {
                        let b = Some(b as u16);
                        [(b, Source::Orders), (b, Source::Viewed)]
                    })
                    .collect();
                choices.push((None, Source::Default));
                for (block, source) in choices {
                    let block = match source {
                        Source::Default => lookup.bestsellers(),
                        _ => block,
                    };
                    let probe = lookup.sending(every_segment, variant, because, block, source);
                    let key = eval.key(&probe);
                    if eval.valid.len() <= key {
                        eval.valid.resize(key + 1, false);
                    }
                    eval.valid[key] = passes(probe);
                }
            }
        }
        eval.sunset_valid = passes(CompactDecision::sunset(every_segment));
        eval
    }

    /// Where a decision that sends is in [`NativeEval::valid`]: everything
    /// the host's checks of it depend on but the segments.
    fn key(&self, decision: &CompactDecision) -> usize {
        let [Some(Reason::Variant { because, .. }), _] = decision.reasons else {
            unreachable!("a decision that sends gives its variant's reason first")
        };
        let because = match because {
            None => 0,
            Some(Segment::Inactive) => 1,
            Some(_) => 2,
        };
        let row = decision.variant as usize * 3 + because;
        let column = match (decision.source, decision.recommendation) {
            (Source::Default, _) => 2 * self.recommendation_blocks,
            (Source::Orders, Some(b)) => 2 * usize::from(b),
            (Source::Viewed, Some(b)) => 2 * usize::from(b) + 1,
            _ => unreachable!("a category's block is in the slot"),
        };
        row * (2 * self.recommendation_blocks + 1) + column
    }

    /// The pack's compact decision for `profile` (for callers that want it
    /// without a line).
    pub fn decide(&self, profile: &mailrules::Profile) -> CompactDecision {
        decide(profile, &self.lookup)
    }

    /// Writes the line `mailrules eval` prints for `record` (and a newline)
    /// and returns its status.
    pub fn write_line(
        &self,
        out: &mut impl Write,
        record: ProfileRecord,
    ) -> std::io::Result<Status> {
        let profile = match record.profile {
            Ok(profile) => profile,
            Err(error) => {
                let mut outcome = Outcome::without_message(
                    error.profile_id.clone().unwrap_or_default(),
                    Status::Error,
                    error.to_string(),
                );
                outcome.input = Some(error.position.to_string());
                return write_outcome(out, &outcome);
            }
        };
        if !profile.consent.email_marketing {
            let line = Line {
                profile_id: &profile.id,
                status: Status::Suppressed,
                segments: Ids(SegmentSet::default()),
                subject: None,
                preheader: None,
                blocks: None,
                reason: Some(policy::NO_CONSENT),
            };
            return write_borrowed(out, &line);
        }
        let decision = decide(&profile, &self.lookup);
        let fits = decision.segments.len() <= self.limits.max_segments;
        if decision.suppress {
            if fits && self.sunset_valid {
                let line = Line {
                    profile_id: &profile.id,
                    status: Status::Suppressed,
                    segments: Ids(decision.segments),
                    subject: None,
                    preheader: None,
                    blocks: None,
                    reason: Some(super::native_borrowed::SUNSET),
                };
                return write_borrowed(out, &line);
            }
        } else if fits && !self.experiments && self.valid[self.key(&decision)] {
            let lookup = &self.lookup;
            let line = Line {
                profile_id: &profile.id,
                status: Status::Ok,
                segments: Ids(decision.segments),
                subject: Some(lookup.subject_id(&decision)),
                preheader: Some(lookup.preheader_id(&decision)),
                blocks: Some(Blocks {
                    fallback: &lookup.campaign.fallback.blocks,
                    hero: lookup.hero_id(&decision),
                    recommendation: lookup.recommendation_id(decision.recommendation),
                }),
                reason: None,
            };
            return write_borrowed(out, &line);
        }
        let evaluation = Evaluation {
            result: Ok(host_decision(decision.to_plain(&self.lookup))),
            fuel_used: None,
            elapsed: Duration::ZERO,
            log: String::new(),
            log_dropped: 0,
            canary: false,
        };
        let outcome = policy::outcome(
            profile.id.clone(),
            evaluation,
            self.lookup.campaign,
            &self.limits,
        );
        write_outcome(out, &outcome)
    }
}

/// The segment that chooses `variant` first in the pack's order.
fn chooser(variant: Variant) -> Segment {
    match variant {
        Variant::CartReminder => Segment::CartAbandoner,
        Variant::Welcome => Segment::NewSubscriber,
        Variant::Vip => Segment::HighValueLoyal,
        Variant::ThankYou => Segment::RecentBuyer,
        Variant::BrowseReminder => Segment::BrowserAtRisk,
        Variant::Sale => Segment::BargainHunter,
        Variant::WeMissYou | Variant::Default => Segment::Dormant,
    }
}

/// An outcome as `mailrules eval` prints it without `--explain`.
fn write_outcome(out: &mut impl Write, outcome: &Outcome) -> std::io::Result<Status> {
    let mut outcome = outcome.clone();
    outcome.reasons = None;
    outcome.fuel = None;
    outcome.log = None;
    serde_json::to_writer(&mut *out, &outcome)?;
    out.write_all(b"\n")?;
    Ok(outcome.status)
}

fn write_borrowed(out: &mut impl Write, line: &Line<'_>) -> std::io::Result<Status> {
    serde_json::to_writer(&mut *out, line)?;
    out.write_all(b"\n")?;
    Ok(line.status)
}

/// An [`Outcome`] line of borrowed strings: the same fields, in the same
/// order, as it prints without `--explain` (no `ab` or `input`: those lines
/// take the host's path).
#[derive(Serialize)]
struct Line<'a> {
    profile_id: &'a str,
    status: Status,
    segments: Ids,
    subject: Option<&'a str>,
    preheader: Option<&'a str>,
    blocks: Option<Blocks<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

/// Segment ids, as a list.
struct Ids(SegmentSet);

impl Serialize for Ids {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for id in self.0.ids() {
            seq.serialize_element(id)?;
        }
        seq.end()
    }
}

/// The block of every slot, in the order of the campaign's fallback (as
/// `policy::check_decision` fills them): the pack's two choices, and the
/// fallback block for any other slot.
struct Blocks<'a> {
    fallback: &'a [(String, String)],
    hero: &'a str,
    recommendation: &'a str,
}

impl Serialize for Blocks<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fallback.len()))?;
        for (slot, fallback) in self.fallback {
            let block = match slot.as_str() {
                HERO_SLOT => self.hero,
                RECOMMENDATIONS_SLOT => self.recommendation,
                _ => fallback.as_str(),
            };
            map.serialize_entry(slot, block)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;

    use mailrules::campaign::Split;
    use mailrules::profile_reader::{ProfileFormat, ProfileReader};
    use mailrules::{Evaluator, LoadedRule, RuleEngine};

    use super::*;
    use crate::fixture::Fixture;

    /// Generated profiles as JSON Lines, with records the reader refuses.
    fn input(now: Timestamp) -> Vec<u8> {
        let mut bytes = Vec::new();
        mailrules_integration::generator::write_jsonl(&mut bytes, 3_000, 11, now).unwrap();
        bytes.extend_from_slice(b"{not json\n{\"id\":\"no-email\"}\n\n");
        bytes.extend_from_slice(
            b"{\"id\":\"last\",\"email\":\"l@x.y\",\"consent\":{\"email_marketing\":true}}\n",
        );
        bytes
    }

    fn reader(bytes: &[u8]) -> ProfileReader {
        ProfileReader::new(Cursor::new(bytes.to_vec()), ProfileFormat::JsonLines)
    }

    /// The lines `mailrules eval` prints: the component run by the host.
    fn host_lines(campaign: &Arc<Campaign>, now: Timestamp, bytes: &[u8]) -> String {
        let engine = RuleEngine::new(mailrules::OperatorLimits::default()).unwrap();
        let rule = LoadedRule::load(&engine, &Fixture::new(0).unwrap().rule_path, None).unwrap();
        let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
        let evaluator = Evaluator::new(&engine, &rule, campaign.clone(), limits, now);
        let mut out = Vec::new();
        mailrules::run::run(&evaluator, reader(bytes), 2, |processed| {
            write_outcome(&mut out, &processed.outcome).map(|_| ())
        })
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    fn native_lines(campaign: &Campaign, now: Timestamp, bytes: &[u8]) -> String {
        let (limits, _) = mailrules::OperatorLimits::default().resolve(&campaign.limits);
        let eval = NativeEval::new(campaign, now, limits);
        let mut out = Vec::new();
        for record in reader(bytes) {
            eval.write_line(&mut out, record).unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    /// How many lines have each status.
    fn statuses(lines: &str) -> [usize; 5] {
        let mut counts = [0; 5];
        for line in lines.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let status = value["status"].as_str().unwrap();
            let i = Status::ALL
                .iter()
                .position(|s| s.as_str() == status)
                .unwrap();
            counts[i] += 1;
        }
        counts
    }

    fn assert_same_lines(campaign: Campaign, now: Timestamp) -> [usize; 5] {
        let bytes = input(now);
        let campaign = Arc::new(campaign);
        let native = native_lines(&campaign, now, &bytes);
        let host = host_lines(&campaign, now, &bytes);
        for (i, (n, h)) in native.lines().zip(host.lines()).enumerate() {
            assert_eq!(n, h, "line {}", i + 1);
        }
        assert_eq!(native.lines().count(), host.lines().count());
        statuses(&native)
    }

    #[test]
    fn lines_are_the_hosts_for_the_example_campaign() {
        let fixture = Fixture::new(0).unwrap();
        let counts = assert_same_lines((*fixture.campaign).clone(), fixture.now);
        // ok, fallback, suppressed (no consent and sunset), skipped, error
        assert_eq!(counts, [2_531, 0, 470, 0, 2]);
    }

    #[test]
    fn every_decision_for_the_example_campaign_is_written_without_the_hosts_path() {
        let fixture = Fixture::new(2_000).unwrap();
        let (limits, _) = mailrules::OperatorLimits::default().resolve(&fixture.campaign.limits);
        let eval = NativeEval::new(&fixture.campaign, fixture.now, limits);
        assert!(eval.sunset_valid && !eval.experiments);
        for profile in &fixture.profiles {
            let decision = eval.decide(profile);
            assert!(
                decision.suppress || eval.valid[eval.key(&decision)],
                "{}",
                profile.id
            );
        }
        // A refused choice is known as such.
        let mut campaign = (*fixture.campaign).clone();
        campaign.slots[0].blocks.retain(|b| b.id != "hero-vip");
        let eval = NativeEval::new(&campaign, fixture.now, Limits::default());
        let vip = eval.lookup.sending(
            SegmentSet(0),
            Variant::Vip,
            Some(Segment::HighValueLoyal),
            Some(0),
            Source::Orders,
        );
        let sale = eval.lookup.sending(
            SegmentSet(0),
            Variant::Sale,
            Some(Segment::BargainHunter),
            Some(0),
            Source::Orders,
        );
        assert!(!eval.valid[eval.key(&vip)] && eval.valid[eval.key(&sale)]);
    }

    #[test]
    fn lines_are_the_hosts_when_the_campaign_refuses_some_decisions() {
        let fixture = Fixture::new(0).unwrap();
        let mut campaign = (*fixture.campaign).clone();
        campaign.subjects.retain(|s| s.id != "welcome");
        for slot in &mut campaign.slots {
            slot.blocks
                .retain(|b| b.id != "hero-vip" && b.id != "rec-books");
        }
        let counts = assert_same_lines(campaign, fixture.now);
        assert!(counts[1] > 100, "{counts:?}");
    }

    #[test]
    fn lines_are_the_hosts_with_a_holdout_and_a_split() {
        let fixture = Fixture::new(0).unwrap();
        let mut campaign = (*fixture.campaign).clone();
        campaign.holdout_basis_points = 1_000;
        campaign.splits.push(Split {
            subject: "default".into(),
            arms: vec![("default".into(), 1), ("sale".into(), 1)],
        });
        let counts = assert_same_lines(campaign, fixture.now);
        assert!(counts[2] > 482, "{counts:?}");
    }
}
