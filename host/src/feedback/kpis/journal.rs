//! A campaign's journals as KPIs read them: one record per recipient.

use std::collections::HashMap;

use crate::journal::{Entry, Fate};

/// The reason of a recipient in the holdout (control) group.
const HOLDOUT: &str = crate::policy::HOLDOUT;

/// One recipient record of a campaign's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The customer (profile) id.
    pub customer: String,
    /// The Message-ID, when a message was rendered.
    pub message_id: Option<String>,
    /// What happened.
    pub fate: Fate,
    /// Why the status is not ok, if so (`holdout` for the control group).
    pub reason: Option<String>,
    /// Segments.
    pub segments: Vec<String>,
    /// Subject variant.
    pub subject: Option<String>,
    /// Preheader variant.
    pub preheader: Option<String>,
    /// The A/B split that chose the subject, if one did.
    pub ab_split: Option<String>,
    /// Whether opens and clicks of the message can be seen (it carried the
    /// pixel and redirects; true when the journal does not say, as for
    /// batch sends whose tracking is the sender's own).
    pub tracked: bool,
    /// When it was sent (or decided): the record's due time, else the
    /// send's `now`.
    pub sent_at: i64,
}

impl Recipient {
    /// Whether delivery was tried: delivered, failed (refused, or its
    /// message could not be rendered), or deferred by the relay (a
    /// postponed recipient has no Message-ID yet and is not).
    pub fn was_sent(&self) -> bool {
        match self.fate {
            Fate::Delivered | Fate::Failed => true,
            Fate::Deferred => self.message_id.is_some(),
            Fate::Suppressed | Fate::Skipped | Fate::Error => false,
        }
    }

    pub(crate) fn in_holdout(&self) -> bool {
        self.reason.as_deref() == Some(HOLDOUT)
    }
}

/// The recipient records of one journal: the last record of each
/// recipient (a resumed send appends to earlier ones).
pub fn recipients_of_journal(entries: &[Entry]) -> Vec<Recipient> {
    let mut now = 0;
    let mut latest: HashMap<&str, usize> = HashMap::new();
    let mut records = Vec::new();
    for entry in entries {
        match entry {
            Entry::Started { now: started, .. } => now = *started,
            Entry::Recipient(record) if record.fate != Fate::Error => {
                let recipient = Recipient {
                    customer: record.profile_id.clone(),
                    message_id: record.message_id.clone(),
                    fate: record.fate,
                    reason: record.reason.clone(),
                    segments: record.segments.clone(),
                    subject: record.subject.clone(),
                    preheader: record.preheader.clone(),
                    ab_split: record.ab_split.clone(),
                    tracked: record.tracked.unwrap_or(true),
                    sent_at: record.scheduled_at.unwrap_or(now),
                };
                match latest.get(record.profile_id.as_str()) {
                    Some(&at) => records[at] = recipient,
                    None => {
                        latest.insert(&record.profile_id, records.len());
                        records.push(recipient);
                    }
                }
            }
            Entry::Recipient(_) => {}
        }
    }
    records
}
