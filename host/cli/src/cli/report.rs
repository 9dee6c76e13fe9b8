//! `mailrules report`: totals of a campaign journal by fate, status,
//! segment and variant.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mailrules::counts::BoundedCounts;
use mailrules::journal::{Entry, Fate, RecipientEntry, read};
use mailrules::summary::section;
use std::io::Write;

/// Unreadable input records listed one by one; the rest are counted.
const MAX_UNREADABLE_LISTED: usize = 100;

/// Arguments of `mailrules report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign journal written by `mailrules send`.
    #[arg(value_name = "JOURNAL")]
    journal: PathBuf,
}

/// Prints the totals.
pub fn run(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (entries, _, torn) = read(&args.journal)?;
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
    let mut fates: BTreeMap<String, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    // Segment ids and suppression codes are the rule's inventions: bounded.
    let mut segments = BoundedCounts::default();
    let mut subjects = BoundedCounts::default();
    let mut preheaders = BoundedCounts::default();
    let mut reasons = BoundedCounts::default();
    for r in latest.values().chain(&unreadable) {
        *fates.entry(r.fate.as_str().to_string()).or_insert(0) += 1;
        *statuses.entry(r.status.clone()).or_insert(0) += 1;
        for s in &r.segments {
            segments.add(s);
        }
        if let Some(s) = &r.subject {
            subjects.add(s);
        }
        if let Some(reason) = &r.reason {
            let code = if r.fate == Fate::Error {
                "input-error"
            } else {
                reason.split(':').next().unwrap_or(reason)
            };
            reasons.add(&format!("{}: {code}", r.fate.as_str()));
        }
        if let Some(p) = &r.preheader {
            preheaders.add(p);
        }
    }
    let mut out = String::new();
    out.push_str(&format!(
        "campaign    {}\n",
        campaign.as_deref().unwrap_or("(no header)")
    ));
    out.push_str(&format!(
        "recipients  {}\n",
        latest.len() + unreadable.len()
    ));
    if torn > 0 {
        out.push_str(&format!(
            "torn bytes  {torn} (an interrupted write at the end; `send` cuts it when resuming)\n"
        ));
    }
    for (title, counts) in [("fate", &fates), ("status", &statuses)] {
        section(&mut out, title, counts.iter().map(|(k, v)| (k.clone(), *v)));
    }
    for (title, counts) in [
        ("segment", &segments),
        ("subject", &subjects),
        ("preheader", &preheaders),
        ("reason", &reasons),
    ] {
        section(&mut out, title, counts.rows());
    }
    if !unreadable.is_empty() {
        out.push_str("\nunreadable input records\n");
        for r in unreadable.iter().take(MAX_UNREADABLE_LISTED) {
            let reason = r.reason.as_deref().unwrap_or("unreadable record");
            match &r.input {
                Some(input) if !reason.starts_with(input.as_str()) => {
                    out.push_str(&format!("  {input}: {reason}\n"));
                }
                _ => out.push_str(&format!("  {reason}\n")),
            }
        }
        if unreadable.len() > MAX_UNREADABLE_LISTED {
            out.push_str(&format!(
                "  … and {} more\n",
                unreadable.len() - MAX_UNREADABLE_LISTED
            ));
        }
    }
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}
