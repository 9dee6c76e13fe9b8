//! A relay that refuses everyone: when the first recipients of a run are
//! all refused permanently with the same reply (`550 relay access denied`),
//! the relay is at fault, not the recipients. Their failures are held back
//! until that is decided; if the limit is reached they are recorded as
//! deferred instead, and sending stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::journal::{Entry, Fate};

/// Watches the permanent refusals at the start of a run.
pub(crate) struct SameRefusals {
    limit: usize,
    /// False once the start of the run is decided (cheap check).
    watching: AtomicBool,
    state: Mutex<Opening>,
}

#[derive(Default)]
struct Opening {
    /// The refusal every held record shares, addresses left out.
    reply: Option<String>,
    /// Failed records not yet handed to the journal.
    held: Vec<Entry>,
    /// The reply, once the limit was reached.
    tripped: Option<String>,
}

/// What makes two refusals "the same": the command and the reply code with
/// its enhanced status code (`RCPT TO: 550 5.7.1`), not the free text after
/// them, which large providers fill with a per-transaction id and the
/// recipient's address. A reply without a code is compared whole, addresses
/// left out.
fn refusal_key(reply: &str) -> String {
    let words: Vec<&str> = reply.split_whitespace().collect();
    let is_code = |w: &str| w.len() == 3 && w.bytes().all(|b| b.is_ascii_digit());
    let is_enhanced = |w: &str| {
        let parts: Vec<&str> = w.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match words.iter().position(|w| is_code(w)) {
        Some(at) => {
            let end = if words.get(at + 1).is_some_and(|w| is_enhanced(w)) {
                at + 2
            } else {
                at + 1
            };
            words[..end].join(" ")
        }
        None => words
            .into_iter()
            .filter(|word| !word.contains('@'))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

fn with_fate(entry: Entry, fate: Fate) -> (Fate, Entry) {
    match entry {
        Entry::Recipient(mut r) => {
            r.fate = fate;
            (fate, Entry::Recipient(r))
        }
        other => (fate, other),
    }
}

impl SameRefusals {
    /// Trips after `limit` refusals alike from the start; 0 never trips.
    pub(crate) fn new(limit: usize) -> Self {
        SameRefusals {
            limit,
            watching: AtomicBool::new(limit > 0),
            state: Mutex::new(Opening::default()),
        }
    }

    /// The shared reply, once the limit was reached.
    pub(crate) fn tripped(&self) -> Option<String> {
        if self.watching.load(Ordering::Relaxed) {
            return None;
        }
        self.lock().tripped.clone()
    }

    /// How many refusals alike trip it.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Opening> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permanent refusal with `reply` for the (failed) `entry`: returns
    /// the records to journal now, which may be none (held) or, when this
    /// refusal reaches the limit, every held one as deferred.
    pub(crate) fn refused(&self, reply: &str, entry: Entry) -> Vec<(Fate, Entry)> {
        if !self.watching.load(Ordering::Relaxed) {
            return vec![(Fate::Failed, entry)];
        }
        let mut opening = self.lock();
        if opening.tripped.is_some() || !self.watching.load(Ordering::Relaxed) {
            return vec![(Fate::Failed, entry)];
        }
        let key = refusal_key(reply);
        if opening.reply.as_ref().is_some_and(|held| *held != key) {
            // Different refusals: the recipients' own.
            self.watching.store(false, Ordering::Relaxed);
            let mut records: Vec<_> = std::mem::take(&mut opening.held)
                .into_iter()
                .map(|e| (Fate::Failed, e))
                .collect();
            records.push((Fate::Failed, entry));
            return records;
        }
        opening.reply = Some(key);
        opening.held.push(entry);
        if opening.held.len() < self.limit {
            return Vec::new();
        }
        opening.tripped = Some(reply.to_owned());
        self.watching.store(false, Ordering::Relaxed);
        std::mem::take(&mut opening.held)
            .into_iter()
            .map(|e| with_fate(e, Fate::Deferred))
            .collect()
    }

    /// A delivery decides the start of the run (the relay accepts mail):
    /// returns the held records, failed. Temporary failures decide nothing
    /// (greylisting, too many connections) and must not call this.
    pub(crate) fn other(&self) -> Vec<(Fate, Entry)> {
        if !self.watching.load(Ordering::Relaxed) {
            return Vec::new();
        }
        self.watching.store(false, Ordering::Relaxed);
        self.release()
    }

    /// At the end of the run: the held records (fewer than the limit), failed.
    pub(crate) fn finish(&self) -> Vec<(Fate, Entry)> {
        self.watching.store(false, Ordering::Relaxed);
        self.release()
    }

    fn release(&self) -> Vec<(Fate, Entry)> {
        std::mem::take(&mut self.lock().held)
            .into_iter()
            .map(|e| (Fate::Failed, e))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::RecipientEntry;

    fn failed(id: &str) -> Entry {
        Entry::Recipient(RecipientEntry {
            profile_id: id.into(),
            fate: Fate::Failed,
            status: "ok".into(),
            segments: Vec::new(),
            subject: None,
            preheader: None,
            blocks: Vec::new(),
            message_id: None,
            reply: None,
            reason: None,
            input: None,
            scheduled_at: None,
            schedule: None,
            ab_split: None,
            tracked: None,
        })
    }

    fn fates(records: &[(Fate, Entry)]) -> Vec<(Fate, String)> {
        records
            .iter()
            .map(|(fate, e)| match e {
                Entry::Recipient(r) => {
                    assert_eq!(r.fate, *fate);
                    (*fate, r.profile_id.clone())
                }
                Entry::Started { .. } => panic!("a header"),
            })
            .collect()
    }

    #[test]
    fn the_same_refusal_of_the_first_recipients_defers_them_all() {
        let watch = SameRefusals::new(3);
        let reply = |to: &str| format!("RCPT TO: 550 5.7.1 <{to}>: Relay access denied");
        assert!(watch.refused(&reply("a@x.test"), failed("a")).is_empty());
        assert!(watch.refused(&reply("b@y.test"), failed("b")).is_empty());
        assert_eq!(watch.tripped(), None);
        let records = watch.refused(&reply("c@z.test"), failed("c"));
        assert_eq!(
            fates(&records),
            [
                (Fate::Deferred, "a".into()),
                (Fate::Deferred, "b".into()),
                (Fate::Deferred, "c".into())
            ]
        );
        assert_eq!(watch.tripped(), Some(reply("c@z.test")));
    }

    #[test]
    fn a_delivery_or_another_refusal_releases_the_held_failures() {
        let watch = SameRefusals::new(3);
        assert!(watch.refused("550 no such user", failed("a")).is_empty());
        assert_eq!(fates(&watch.other()), [(Fate::Failed, "a".into())]);
        assert_eq!(
            fates(&watch.refused("550 no such user", failed("b"))),
            [(Fate::Failed, "b".into())],
            "watching ends with the first delivery"
        );

        let watch = SameRefusals::new(3);
        assert!(watch.refused("550 no such user", failed("a")).is_empty());
        assert_eq!(
            fates(&watch.refused("552 mailbox full", failed("b"))),
            [(Fate::Failed, "a".into()), (Fate::Failed, "b".into())]
        );
        assert_eq!(watch.tripped(), None);

        let watch = SameRefusals::new(3);
        assert!(watch.refused("550 no such user", failed("a")).is_empty());
        assert_eq!(fates(&watch.finish()), [(Fate::Failed, "a".into())]);

        let off = SameRefusals::new(0);
        assert_eq!(
            fates(&off.refused("550 denied", failed("a"))),
            [(Fate::Failed, "a".into())]
        );
    }

    #[test]
    fn refusals_alike_but_for_a_transaction_id_are_the_same() {
        assert_eq!(
            refusal_key("RCPT TO: 550 5.7.1 <x@y.test>: denied [AB12CD] q1-gsmtp"),
            "RCPT TO: 550 5.7.1"
        );
        assert_eq!(refusal_key("550 no such user"), "550");
        assert_ne!(
            refusal_key("550 no such user"),
            refusal_key("552 mailbox full")
        );
        let watch = SameRefusals::new(3);
        for (i, id) in ["a1-gsmtp", "b2-gsmtp"].into_iter().enumerate() {
            let reply = format!("RCPT TO: 550 5.7.1 Denied by policy {id}");
            assert!(watch.refused(&reply, failed(&format!("r{i}"))).is_empty());
        }
        let records = watch.refused("RCPT TO: 550 5.7.1 Denied by policy c3-gsmtp", failed("r2"));
        assert_eq!(
            fates(&records),
            [
                (Fate::Deferred, "r0".into()),
                (Fate::Deferred, "r1".into()),
                (Fate::Deferred, "r2".into())
            ]
        );
    }
}
