use std::fs::OpenOptions;
use std::io::Write;

use super::format::{FILE_HEADER_BYTES, encode};
use super::*;

fn recipient(id: &str, fate: Fate) -> Entry {
    Entry::Recipient(RecipientEntry {
        profile_id: id.into(),
        fate,
        status: "ok".into(),
        segments: vec!["vip".into()],
        subject: Some("s".into()),
        preheader: Some("p".into()),
        blocks: vec![("hero".into(), "h".into())],
        message_id: Some(format!("<{id}@x>")),
        reply: Some("250 ok".into()),
        reason: None,
        input: None,
        scheduled_at: None,
        schedule: None,
        ab_split: None,
        tracked: None,
    })
}

fn header(campaign: &str) -> Entry {
    header_with(campaign, "00", 0)
}

fn header_with(campaign: &str, rule: &str, now: i64) -> Entry {
    Entry::Started {
        campaign_id: campaign.into(),
        rule_sha256: rule.into(),
        now,
        campaign_sha256: Some("cc".into()),
    }
}

/// A journal of campaign `c` with recipients `r0`..`r{n-1}`, delivered;
/// returns the byte offset where each record starts (the header first).
fn journal_of(path: &Path, n: usize) -> Vec<u64> {
    let (mut writer, _) = JournalWriter::open(path, header("c")).unwrap();
    for i in 0..n {
        writer
            .append(&recipient(&format!("r{i}"), Fate::Delivered))
            .unwrap();
    }
    writer.sync().unwrap();
    drop(writer);
    let mut offsets = vec![FILE_HEADER_BYTES];
    let mut at = FILE_HEADER_BYTES;
    at += encode(&header("c")).unwrap().len() as u64;
    for i in 0..n {
        offsets.push(at);
        at += encode(&recipient(&format!("r{i}"), Fate::Delivered))
            .unwrap()
            .len() as u64;
    }
    assert_eq!(std::fs::metadata(path).unwrap().len(), at);
    offsets
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_reopened_journal_knows_who_is_done_and_cuts_a_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    {
        let (mut writer, history) = JournalWriter::open(&path, header("c")).unwrap();
        assert!(history.recipients.is_empty());
        writer.append(&recipient("a", Fate::Delivered)).unwrap();
        writer.append(&recipient("b", Fate::Deferred)).unwrap();
        writer.sync().unwrap();
    }
    // A crash in the middle of a record: its frame, half its payload.
    let torn = encode(&recipient("c", Fate::Delivered)).unwrap();
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&torn[..torn.len() / 2]).unwrap();
    drop(file);
    let (mut writer, history) = JournalWriter::open(&path, header("c")).unwrap();
    assert_eq!(history.truncated_bytes, (torn.len() / 2) as u64);
    assert!(history.is_done("a"));
    assert!(!history.is_done("b"), "deferred recipients are tried again");
    assert!(!history.is_done("c"));
    writer.append(&recipient("b", Fate::Delivered)).unwrap();
    writer.sync().unwrap();
    drop(writer);
    let (entries, _, torn) = read(&path).unwrap();
    assert_eq!(torn, 0);
    assert_eq!(entries.len(), 4);
}

#[test]
fn a_last_record_with_a_bad_checksum_or_a_zero_filled_tail_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let offsets = journal_of(&path, 3);
    let length = std::fs::metadata(&path).unwrap().len();
    // The last payload's final byte.
    flip_byte(&path, length - 1);
    let (entries, valid, torn) = read(&path).unwrap();
    assert_eq!(
        (entries.len(), valid, torn),
        (3, offsets[3], length - offsets[3])
    );
    // Zeros where a crash extended the file before writing it.
    let path = dir.path().join("k");
    journal_of(&path, 3);
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[0; 100]).unwrap();
    drop(file);
    let (entries, valid, torn) = read(&path).unwrap();
    assert_eq!((entries.len(), valid, torn), (4, length, 100));
}

#[test]
fn damage_before_the_last_record_is_an_error_naming_the_record_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let offsets = journal_of(&path, 10);
    // A byte inside the payload of the fourth recipient (record 5).
    flip_byte(&path, offsets[4] + 20);
    let before = std::fs::read(&path).unwrap();
    let error = JournalWriter::open(&path, header("c")).err().unwrap();
    match &error {
        JournalError::Damaged { record, offset, .. } => {
            assert_eq!((*record, *offset), (5, offsets[4]));
        }
        other => panic!("{other}"),
    }
    assert!(
        error.to_string().contains(&format!(
            "record 5 at byte {} is damaged (its checksum does not match)",
            offsets[4]
        )),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was cut");
    // A damaged length is no torn tail either.
    flip_byte(&path, offsets[4] + 20);
    flip_byte(&path, offsets[7] + 2);
    assert!(matches!(
        read(&path),
        Err(JournalError::Damaged { record: 8, .. })
    ));
}

#[test]
fn repair_keeps_every_intact_record_and_sets_the_damaged_ones_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let offsets = journal_of(&path, 10);
    let original = std::fs::read(&path).unwrap();
    // Inside the reply (`250 ok`) of r3: the payload still decodes.
    flip_byte(&path, offsets[5] - 18);
    let damaged_copy = std::fs::read(&path).unwrap();
    let repaired = repair(&path).unwrap();
    assert_eq!(repaired.kept, 10, "the header and 9 of 10 recipients");
    assert_eq!(
        repaired.damaged,
        vec![DamagedRange {
            offset: offsets[4],
            length: offsets[5] - offsets[4],
            probable_recipients: vec!["r3".into()],
        }]
    );
    assert_eq!(
        std::fs::read(repaired.set_aside.unwrap()).unwrap(),
        damaged_copy[offsets[4] as usize..offsets[5] as usize]
    );
    assert_eq!(
        std::fs::read(repaired.backup.unwrap()).unwrap(),
        damaged_copy
    );
    let (entries, _, torn) = read(&path).unwrap();
    assert_eq!((entries.len(), torn), (10, 0));
    let (_, history) = JournalWriter::open(&path, header("c")).unwrap();
    assert!(history.is_done("r2") && history.is_done("r4"));
    assert!(
        !history.is_done("r3"),
        "the damaged record's recipient is unknown"
    );
    // An intact journal is left alone.
    let intact = dir.path().join("intact");
    std::fs::write(&intact, &original).unwrap();
    let repaired = repair(&intact).unwrap();
    assert_eq!((repaired.kept, repaired.backup), (11, None));
}

#[test]
fn a_journal_without_checksums_is_refused_and_repair_converts_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old");
    let mut old = Vec::new();
    for entry in [header("c"), recipient("a", Fate::Delivered)] {
        let payload = rmp_serde::to_vec_named(&entry).unwrap();
        old.extend((payload.len() as u32).to_le_bytes());
        old.extend(payload);
    }
    std::fs::write(&path, &old).unwrap();
    assert!(matches!(
        JournalWriter::open(&path, header("c")),
        Err(JournalError::OldFormat { .. })
    ));
    let repaired = repair(&path).unwrap();
    assert!(repaired.converted);
    assert_eq!((repaired.kept, repaired.damaged.len()), (2, 0));
    let (_, history) = JournalWriter::open(&path, header("c")).unwrap();
    assert!(history.is_done("a"));
}

#[test]
fn a_journal_of_another_campaign_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    drop(JournalWriter::open(&path, header("c")).unwrap());
    assert!(matches!(
        JournalWriter::open(&path, header("d")),
        Err(JournalError::OtherCampaign { .. })
    ));
}

#[test]
fn an_open_journal_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let (writer, _) = JournalWriter::open(&path, header("c")).unwrap();
    assert!(matches!(
        JournalWriter::open(&path, header("c")),
        Err(JournalError::InUse { .. })
    ));
    assert!(matches!(repair(&path), Err(JournalError::InUse { .. })));
    drop(writer);
    assert!(JournalWriter::open(&path, header("c")).is_ok());
}

#[test]
fn a_changed_rule_or_now_is_refused_unless_allowed_and_then_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    drop(JournalWriter::open(&path, header_with("c", "00", 0)).unwrap());
    let error = JournalWriter::open(&path, header_with("c", "11", 5))
        .err()
        .unwrap();
    match &error {
        JournalError::Changed { differences, .. } => assert_eq!(
            differences,
            &vec![
                "rule (SHA-256 00 in the journal, 11 now)".to_string(),
                "`now` (0 in the journal, 5 now)".to_string(),
            ]
        ),
        other => panic!("{other}"),
    }
    let (_, history) = JournalWriter::open_with(&path, header_with("c", "11", 5), true).unwrap();
    assert_eq!(history.changed.len(), 2);
    // The new header is what later runs compare with.
    let (_, history) = JournalWriter::open(&path, header_with("c", "11", 5)).unwrap();
    assert!(history.changed.is_empty());
}

#[test]
fn files_that_are_no_current_journal_are_refused_with_what_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let refused = |bytes: &[u8]| {
        std::fs::write(&path, bytes).unwrap();
        read(&path).err().unwrap()
    };
    assert!(matches!(
        refused(b"MRJOURNL\x07"),
        JournalError::NotAJournal { .. }
    ));
    assert!(matches!(
        refused(b"MRJOURNL\x03\0\0\0"),
        JournalError::UnknownVersion { version: 3, .. }
    ));
    assert!(matches!(
        refused(b"hello, world"),
        JournalError::NotAJournal { .. }
    ));
    // A header cut short by a crash is an empty journal.
    std::fs::write(&path, b"MRJOUR").unwrap();
    assert_eq!(read(&path).unwrap(), (Vec::new(), 0, 6));
}

#[test]
fn a_recipient_record_written_before_schedules_existed_still_reads() {
    let old = serde_json::json!({
        "kind": "recipient",
        "profile_id": "r1",
        "fate": "delivered",
        "status": "ok",
        "segments": ["vip"],
        "subject": "s",
        "preheader": "p",
        "blocks": [["hero", "h"]],
        "message_id": "<r1@x>",
        "reply": "250 ok",
        "reason": null,
    });
    let payload = rmp_serde::to_vec_named(&old).unwrap();
    let entry: Entry = rmp_serde::from_slice(&payload).unwrap();
    let Entry::Recipient(recipient) = entry else {
        panic!("a recipient record");
    };
    assert_eq!(recipient.profile_id, "r1");
    assert_eq!(recipient.fate, Fate::Delivered);
    assert_eq!(
        (recipient.input, recipient.scheduled_at, recipient.schedule),
        (None, None, None)
    );
    // And a new one keeps both fields.
    let Entry::Recipient(mut new) = recipient_entry("r2") else {
        unreachable!()
    };
    new.scheduled_at = Some(1_795_510_800);
    new.schedule = Some("due".into());
    let payload = rmp_serde::to_vec_named(&Entry::Recipient(new.clone())).unwrap();
    assert_eq!(
        rmp_serde::from_slice::<Entry>(&payload).unwrap(),
        Entry::Recipient(new)
    );
}

fn recipient_entry(id: &str) -> Entry {
    recipient(id, Fate::Delivered)
}

#[test]
fn delivered_lists_each_delivered_recipient_at_its_headers_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    {
        let (mut writer, _) = JournalWriter::open(&path, header_with("c", "00", 100)).unwrap();
        writer.append(&recipient("a", Fate::Delivered)).unwrap();
        writer.append(&recipient("b", Fate::Deferred)).unwrap();
        writer.append(&recipient("c", Fate::Suppressed)).unwrap();
        writer.sync().unwrap();
    }
    {
        let (mut writer, _) =
            JournalWriter::open_with(&path, header_with("c", "00", 200), true).unwrap();
        writer.append(&recipient("b", Fate::Delivered)).unwrap();
        writer.sync().unwrap();
    }
    assert_eq!(
        delivered(&path).unwrap(),
        vec![("a".to_string(), 100), ("b".to_string(), 200)]
    );
    let missing = delivered(&dir.path().join("none")).unwrap_err().to_string();
    assert!(missing.contains("none"), "{missing}");
}
