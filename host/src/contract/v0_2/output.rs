//! Turns the rows `decide-batch` returns into version-neutral decisions,
//! checking every index and span against the campaign, the rule's declared
//! segments and the returned text.

use crate::campaign::Campaign;
use crate::decision::{Decision, ErrorCode, RuleError, SlotChoice};
use crate::limits::Limits;

use super::types::{self, Decisions, Range, Span, Verdict};

/// The block index that leaves a slot to the campaign's fallback.
pub(crate) const FALLBACK_BLOCK: u16 = u16::MAX;

/// One profile's answer: the rule's decision or its own error, or why the
/// host cannot read the row (an invalid decision).
pub(crate) type Row = Result<Result<Decision, RuleError>, String>;

/// Longest suppression code or error message copied out of an answer:
/// spans may overlap, so nothing is copied before it is bounded.
const MAX_NOTE_BYTES: usize = 1024;

/// The rows of `decisions`, which must be one per profile of a batch of
/// `profiles`; `Err` when the answer as a whole does not fit the batch.
/// Every row is bounded by `limits` before anything of it is copied: a
/// guest can make every span cover its whole text.
pub(crate) fn rows(
    decisions: &Decisions,
    profiles: usize,
    campaign: &Campaign,
    segments: &[String],
    limits: &Limits,
) -> Result<Vec<Row>, String> {
    if decisions.rows.len() != profiles {
        return Err(format!(
            "decide-batch returned {} decisions for {profiles} profiles",
            decisions.rows.len()
        ));
    }
    Ok(decisions
        .rows
        .iter()
        .map(|row| row_of(row, decisions, campaign, segments, limits))
        .collect())
}

fn row_of(
    row: &types::DecisionRow,
    decisions: &Decisions,
    campaign: &Campaign,
    segments: &[String],
    limits: &Limits,
) -> Row {
    let note = cut(text(&decisions.text, row.note)?, MAX_NOTE_BYTES);
    if row.verdict == Verdict::Failed {
        return Ok(Err(RuleError {
            code: match row.error {
                types::ErrorCode::MissingData => ErrorCode::MissingData,
                types::ErrorCode::InvalidAttributes => ErrorCode::InvalidAttributes,
                types::ErrorCode::UnsupportedCampaign => ErrorCode::UnsupportedCampaign,
                types::ErrorCode::Internal => ErrorCode::Internal,
            },
            message: note.to_string(),
        }));
    }
    let reasons = slice(&decisions.reasons, row.reasons, "reasons")?;
    if reasons.len() > limits.max_reasons {
        return Err(format!(
            "{} reasons, more than the limit of {}",
            reasons.len(),
            limits.max_reasons
        ));
    }
    let max_reason = limits.max_id_bytes * 2;
    let mut decision = Decision {
        segments: segment_ids(row.segments, segments)?,
        reasons: reasons
            .iter()
            .map(|span| {
                let reason = text(&decisions.text, *span)?;
                if reason.len() > max_reason {
                    return Err(format!(
                        "reason of {} bytes, longer than the limit of {max_reason}",
                        reason.len()
                    ));
                }
                Ok(reason.to_string())
            })
            .collect::<Result<_, _>>()?,
        ..Decision::default()
    };
    if row.verdict == Verdict::Suppressed {
        decision.suppress = Some(note.to_string());
        return Ok(Ok(decision));
    }
    decision.subject = variant(&campaign.subjects, row.subject, "subject")?;
    decision.preheader = variant(&campaign.preheaders, row.preheader, "preheader")?;
    let blocks = slice(&decisions.blocks, row.blocks, "blocks")?;
    if !blocks.is_empty() && blocks.len() != campaign.slots.len() {
        return Err(format!(
            "{} block indices for {} slots",
            blocks.len(),
            campaign.slots.len()
        ));
    }
    for (slot, &index) in campaign.slots.iter().zip(blocks) {
        if index == FALLBACK_BLOCK {
            continue;
        }
        let block = slot.blocks.get(usize::from(index)).ok_or_else(|| {
            format!(
                "block index {index} for slot `{}`, which has {} blocks",
                slot.name,
                slot.blocks.len()
            )
        })?;
        decision.blocks.push(SlotChoice {
            slot: slot.name.clone(),
            block: block.id.clone(),
        });
    }
    Ok(Ok(decision))
}

fn segment_ids(bits: u64, declared: &[String]) -> Result<Vec<String>, String> {
    if declared.len() < 64 && bits >> declared.len() != 0 {
        return Err(format!(
            "segment bit {} set, but the rule declares {} segments",
            63 - bits.leading_zeros(),
            declared.len()
        ));
    }
    Ok(declared
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, id)| id.clone())
        .collect())
}

fn variant(
    variants: &[crate::campaign::Variant],
    index: u16,
    what: &str,
) -> Result<String, String> {
    variants
        .get(usize::from(index))
        .map(|variant| variant.id.clone())
        .ok_or_else(|| {
            format!(
                "{what} index {index}, but the campaign has {} {what} variants",
                variants.len()
            )
        })
}

fn slice<'a, T>(list: &'a [T], range: Range, what: &str) -> Result<&'a [T], String> {
    let start = range.start as usize;
    start
        .checked_add(range.len as usize)
        .and_then(|end| list.get(start..end))
        .ok_or_else(|| {
            format!(
                "{what} range {}+{} outside the {} returned",
                range.start,
                range.len,
                list.len()
            )
        })
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn text(text: &str, span: Span) -> Result<&str, String> {
    let start = span.start as usize;
    start
        .checked_add(span.len as usize)
        .and_then(|end| text.get(start..end))
        .ok_or_else(|| {
            format!(
                "text span {}+{} outside the {} bytes returned (or not on a character boundary)",
                span.start,
                span.len,
                text.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Campaign {
        Campaign::parse(
            "id = \"c\"\n[[subject]]\nid = \"s1\"\ntext = \"-\"\n[[subject]]\nid = \"s2\"\ntext = \"-\"\n\
             [[preheader]]\nid = \"p1\"\ntext = \"-\"\n\
             [[slot]]\nname = \"hero\"\n[[slot.block]]\nid = \"hero-a\"\nhtml = \"-\"\n\
             [[slot.block]]\nid = \"hero-b\"\nhtml = \"-\"\n\
             [[slot]]\nname = \"recs\"\n[[slot.block]]\nid = \"rec-a\"\nhtml = \"-\"\n\
             [fallback]\nsubject = \"s1\"\npreheader = \"p1\"\nblocks = { hero = \"hero-a\", recs = \"rec-a\" }\n",
            std::path::Path::new("c.toml"),
        )
        .expect("valid campaign")
    }

    fn row() -> types::DecisionRow {
        types::DecisionRow {
            verdict: Verdict::Decided,
            segments: 0b101,
            subject: 1,
            preheader: 0,
            blocks: Range { start: 0, len: 2 },
            reasons: Range { start: 0, len: 1 },
            note: Span { start: 0, len: 0 },
            error: types::ErrorCode::Internal,
        }
    }

    fn answer(row: types::DecisionRow) -> Decisions {
        Decisions {
            rows: vec![row],
            blocks: vec![1, FALLBACK_BLOCK],
            reasons: vec![Span { start: 0, len: 6 }],
            text: "why:itsunset".to_string(),
        }
    }

    fn segments() -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    fn one(row: types::DecisionRow) -> Row {
        rows(
            &answer(row),
            1,
            &campaign(),
            &segments(),
            &Limits::default(),
        )
        .expect("one row for one profile")
        .remove(0)
    }

    #[test]
    fn indices_become_the_campaigns_and_the_rules_ids() {
        let decision = one(row()).unwrap().unwrap();
        assert_eq!(decision.segments, ["a", "c"]);
        assert_eq!(decision.subject, "s2");
        assert_eq!(decision.preheader, "p1");
        assert_eq!(
            decision.blocks,
            [SlotChoice {
                slot: "hero".into(),
                block: "hero-b".into()
            }]
        );
        assert_eq!(decision.reasons, ["why:it"]);
        assert_eq!(decision.suppress, None);
    }

    #[test]
    fn overlapping_spans_cost_nothing_before_they_are_bounded() {
        // One megabyte of text, and a million reasons each covering all of
        // it: refused on the count, before any is copied.
        let big = "x".repeat(1 << 20);
        let whole = Span {
            start: 0,
            len: big.len() as u32,
        };
        let many = Decisions {
            rows: vec![types::DecisionRow {
                reasons: Range {
                    start: 0,
                    len: 1_000_000,
                },
                note: whole,
                ..row()
            }],
            blocks: vec![1, FALLBACK_BLOCK],
            reasons: vec![whole; 1_000_000],
            text: big.clone(),
        };
        let limits = Limits::default();
        assert_eq!(
            rows(&many, 1, &campaign(), &segments(), &limits).unwrap()[0],
            Err("1000000 reasons, more than the limit of 32".to_string())
        );
        let long = Decisions {
            rows: vec![types::DecisionRow {
                reasons: Range { start: 0, len: 1 },
                ..row()
            }],
            ..many.clone()
        };
        assert_eq!(
            rows(&long, 1, &campaign(), &segments(), &limits).unwrap()[0],
            Err("reason of 1048576 bytes, longer than the limit of 128".to_string())
        );
        // A failure's message is cut before it is copied.
        let failed = Decisions {
            rows: vec![types::DecisionRow {
                verdict: Verdict::Failed,
                note: whole,
                ..row()
            }],
            ..many
        };
        let error = rows(&failed, 1, &campaign(), &segments(), &limits).unwrap()[0]
            .clone()
            .unwrap()
            .unwrap_err();
        assert_eq!(error.message.len(), MAX_NOTE_BYTES);
    }

    #[test]
    fn suppressions_and_errors_carry_their_text() {
        let suppressed = one(types::DecisionRow {
            verdict: Verdict::Suppressed,
            note: Span { start: 6, len: 6 },
            ..row()
        })
        .unwrap()
        .unwrap();
        assert_eq!(suppressed.suppress.as_deref(), Some("sunset"));
        assert_eq!(suppressed.subject, "");
        let failed = one(types::DecisionRow {
            verdict: Verdict::Failed,
            error: types::ErrorCode::MissingData,
            note: Span { start: 0, len: 3 },
            ..row()
        })
        .unwrap()
        .unwrap_err();
        assert_eq!(failed.code, ErrorCode::MissingData);
        assert_eq!(failed.message, "why");
    }

    #[test]
    fn every_index_and_span_is_checked() {
        let cases = [
            (
                types::DecisionRow {
                    segments: 0b1000,
                    ..row()
                },
                "segment bit 3 set, but the rule declares 3 segments",
            ),
            (
                types::DecisionRow {
                    subject: 2,
                    ..row()
                },
                "subject index 2, but the campaign has 2 subject variants",
            ),
            (
                types::DecisionRow {
                    blocks: Range { start: 0, len: 1 },
                    ..row()
                },
                "1 block indices for 2 slots",
            ),
            (
                types::DecisionRow {
                    blocks: Range { start: 1, len: 2 },
                    ..row()
                },
                "blocks range 1+2 outside the 2 returned",
            ),
            (
                types::DecisionRow {
                    reasons: Range {
                        start: u32::MAX,
                        len: 2,
                    },
                    ..row()
                },
                "reasons range 4294967295+2 outside the 1 returned",
            ),
            (
                types::DecisionRow {
                    verdict: Verdict::Suppressed,
                    note: Span { start: 10, len: 5 },
                    ..row()
                },
                "text span 10+5 outside the 12 bytes returned (or not on a character boundary)",
            ),
        ];
        for (bad, message) in cases {
            assert_eq!(one(bad), Err(message.to_string()));
        }
        let mut blocks = answer(row());
        blocks.blocks[0] = 2;
        assert_eq!(
            rows(&blocks, 1, &campaign(), &segments(), &Limits::default()).unwrap()[0],
            Err("block index 2 for slot `hero`, which has 2 blocks".to_string())
        );
        assert_eq!(
            rows(
                &answer(row()),
                2,
                &campaign(),
                &segments(),
                &Limits::default()
            ),
            Err("decide-batch returned 1 decisions for 2 profiles".to_string())
        );
    }
}
