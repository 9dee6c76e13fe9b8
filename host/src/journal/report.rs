//! Totals of a campaign journal by fate, status, segment, variant and
//! reason: what `mailrules report` prints and the service answers as JSON.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::{Entry, Fate, JournalError, RecipientEntry, read};
use crate::counts::BoundedCounts;

/// Unreadable input records listed one by one; the rest are counted.
pub const MAX_UNREADABLE_LISTED: usize = 100;

/// One unreadable input record.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    /// Where in the input it was (`line 12`, `record 3`), when known.
    pub input: Option<String>,
    /// Why it could not be read.
    pub reason: String,
}

/// The totals of a journal: each recipient counted once, by its latest
/// entry.
#[derive(Debug, Clone, Serialize)]
pub struct JournalReport {
    /// The campaign of the journal's latest header.
    pub campaign: Option<String>,
    /// Recipients (and unreadable records) in the journal.
    pub recipients: u64,
    /// Bytes of a record torn by a crash at the end.
    pub torn_bytes: u64,
    /// Recipients per fate.
    pub fates: BTreeMap<String, u64>,
    /// Recipients per status of the decision.
    pub statuses: BTreeMap<String, u64>,
    /// Members per segment (bounded: segment ids are the rule's).
    pub segments: BoundedCounts,
    /// Recipients per subject variant.
    pub subjects: BoundedCounts,
    /// Recipients per preheader variant.
    pub preheaders: BoundedCounts,
    /// Recipients per `fate: reason code`.
    pub reasons: BoundedCounts,
    /// Unreadable input records, the first [`MAX_UNREADABLE_LISTED`].
    pub unreadable: Vec<Unreadable>,
    /// Unreadable input records in all.
    pub unreadable_total: u64,
}

impl JournalReport {
    /// Reads the journal at `path` and totals it.
    pub fn read(path: &Path) -> Result<JournalReport, JournalError> {
        let (entries, _, torn) = read(path)?;
        Ok(Self::from_entries(entries, torn))
    }

    /// Totals `entries`.
    pub fn from_entries(entries: Vec<Entry>, torn_bytes: u64) -> JournalReport {
        let mut latest: HashMap<String, RecipientEntry> = HashMap::new();
        // Unreadable input records have no usable profile id: each counts on
        // its own, once per input position (a resumed run records them again).
        let mut unreadable: Vec<RecipientEntry> = Vec::new();
        let mut unreadable_at: HashMap<String, usize> = HashMap::new();
        let mut campaign = None;
        for entry in entries {
            match entry {
                Entry::Started { campaign_id, .. } => campaign = Some(campaign_id),
                Entry::Recipient(r) if r.fate == Fate::Error => {
                    let at = r
                        .input
                        .clone()
                        .or_else(|| r.reason.clone())
                        .unwrap_or_default();
                    match unreadable_at.get(&at) {
                        Some(&i) => unreadable[i] = r,
                        None => {
                            unreadable_at.insert(at, unreadable.len());
                            unreadable.push(r);
                        }
                    }
                }
                Entry::Recipient(r) => {
                    latest.insert(r.profile_id.clone(), r);
                }
            }
        }
        let mut report = JournalReport {
            campaign,
            recipients: (latest.len() + unreadable.len()) as u64,
            torn_bytes,
            fates: BTreeMap::new(),
            statuses: BTreeMap::new(),
            segments: BoundedCounts::default(),
            subjects: BoundedCounts::default(),
            preheaders: BoundedCounts::default(),
            reasons: BoundedCounts::default(),
            unreadable: Vec::new(),
            unreadable_total: unreadable.len() as u64,
        };
        for r in latest.values().chain(&unreadable) {
            *report.fates.entry(r.fate.as_str().to_string()).or_insert(0) += 1;
            *report.statuses.entry(r.status.clone()).or_insert(0) += 1;
            for s in &r.segments {
                report.segments.add(s);
            }
            if let Some(s) = &r.subject {
                report.subjects.add(s);
            }
            if let Some(p) = &r.preheader {
                report.preheaders.add(p);
            }
            if let Some(reason) = &r.reason {
                let code = if r.fate == Fate::Error {
                    "input-error"
                } else {
                    reason.split(':').next().unwrap_or(reason)
                };
                report.reasons.add(&format!("{}: {code}", r.fate.as_str()));
            }
        }
        report.unreadable = unreadable
            .into_iter()
            .take(MAX_UNREADABLE_LISTED)
            .map(|r| Unreadable {
                input: r.input,
                reason: r.reason.unwrap_or_else(|| "unreadable record".into()),
            })
            .collect();
        report
    }

    /// Recipients with `fate`.
    pub fn fate(&self, fate: Fate) -> u64 {
        self.fates.get(fate.as_str()).copied().unwrap_or(0)
    }
}
