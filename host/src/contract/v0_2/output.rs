//! Turns the rows `decide-batch` returns into version-neutral decisions,
//! checking every index and span against the campaign, the rule's declared
//! segments and the returned text.

use crate::campaign::Campaign;
use crate::decision::{Decision, ErrorCode, RuleError, SlotChoice};

use super::types::{self, Decisions, Range, Span, Verdict};

/// The block index that leaves a slot to the campaign's fallback.
pub(crate) const FALLBACK_BLOCK: u16 = u16::MAX;

/// One profile's answer: the rule's decision or its own error, or why the
/// host cannot read the row (an invalid decision).
pub(crate) type Row = Result<Result<Decision, RuleError>, String>;

/// The rows of `decisions`, which must be one per profile of a batch of
/// `profiles`; `Err` when the answer as a whole does not fit the batch.
pub(crate) fn rows(
    decisions: &Decisions,
    profiles: usize,
    campaign: &Campaign,
    segments: &[String],
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
        .map(|row| row_of(row, decisions, campaign, segments))
        .collect())
}

fn row_of(
    row: &types::DecisionRow,
    decisions: &Decisions,
    campaign: &Campaign,
    segments: &[String],
) -> Row {
    let note = text(&decisions.text, row.note)?;
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
    let mut decision = Decision {
        segments: segment_ids(row.segments, segments)?,
        reasons: slice(&decisions.reasons, row.reasons, "reasons")?
            .iter()
            .map(|span| text(&decisions.text, *span).map(String::from))
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
