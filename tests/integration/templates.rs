//! Campaign templates are tenant input: errors and runaway templates stop
//! the campaign at load with the campaign file and the line; an error only
//! some recipients' data reach stops the run with everyone not sent
//! deferred (never failed), and a rerun with the campaign fixed sends them;
//! a message too large for one recipient's data fails that recipient only.

use std::collections::HashMap;
use std::process::Output;
use std::time::{Duration, Instant};

use mailrules::journal::{Entry, Fate, RecipientEntry, read};
use mailrules_integration::root;

use crate::harness::send_campaign_command;

/// The example campaign with `replace` applied, written into `dir`; the
/// line each replacement's new text starts on.
fn campaign(dir: &std::path::Path, replace: &[(&str, &str)]) -> (std::path::PathBuf, Vec<usize>) {
    let mut text = std::fs::read_to_string(root().join("examples/campaign.toml")).unwrap();
    for (from, to) in replace {
        assert_eq!(text.matches(from).count(), 1, "`{from}` is not unique");
        text = text.replace(from, to);
    }
    let lines = replace
        .iter()
        .map(|(_, to)| text[..text.find(to).unwrap()].matches('\n').count() + 1)
        .collect();
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).unwrap();
    (path, lines)
}

fn consenting(id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut p = serde_json::json!({
        "id": id,
        "email": format!("{id}@example.com"),
        "first_name": "Ann",
        "consent": { "email_marketing": true },
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn send(
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
) -> Output {
    send_with(dir, campaign, profiles, &[])
}

fn send_allowing_changes(
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
) -> Output {
    send_with(dir, campaign, profiles, &["--allow-changed"])
}

fn send_with(
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
    extra: &[&str],
) -> Output {
    let path = dir.join("profiles.jsonl");
    mailrules_integration::write_jsonl(&path, profiles);
    send_campaign_command(campaign, &path, &dir.join("journal"))
        .args(["--fallback-only", "--connections", "1", "-j", "1"])
        .args(extra)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn delivered_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("maildir/new")).map_or(0, |d| d.count())
}

fn journal(dir: &std::path::Path) -> HashMap<String, RecipientEntry> {
    let (entries, _, _) = read(&dir.join("journal")).unwrap();
    entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Recipient(r) => Some((r.profile_id.clone(), r)),
            Entry::Started { .. } => None,
        })
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_misspelt_merge_field_fails_the_campaign_at_load_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, lines) = campaign(
        dir.path(),
        &[(
            "text = \"This Week's Picks for You\"\n\n[[preheader]]",
            "text = \"Picks for {{ frist_name }}\"\n\n[[preheader]]",
        )],
    );
    let output = send(dir.path(), &path, &[consenting("a", serde_json::json!({}))]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let expected = format!(
        "mailrules: {}:{}: subject `default`: undefined value",
        path.display(),
        lines[0]
    );
    assert!(
        stderr(&output).starts_with(&expected),
        "{}",
        stderr(&output)
    );
    assert_eq!(delivered_files(dir.path()), 0);
}

#[test]
fn an_unknown_filter_deep_in_a_multi_line_layout_is_reported_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let (path, lines) = campaign(
        dir.path(),
        &[(
            "<p>Hi {{ first_name | default(\"there\") }},</p>",
            "<p>Hi {{ first_name | shout }},</p>",
        )],
    );
    let output = send(dir.path(), &path, &[consenting("a", serde_json::json!({}))]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let expected = format!(
        "mailrules: {}:{}: html_layout: unknown filter",
        path.display(),
        lines[0]
    );
    assert!(
        stderr(&output).starts_with(&expected),
        "{}",
        stderr(&output)
    );
}

#[test]
fn runaway_loops_fail_the_campaign_at_load_within_seconds() {
    for (what, layout_line) in [
        (
            "loops over ranges",
            "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
        ),
        (
            "loops over the profile's tags",
            "{% for a in profile.tags %}{% for b in profile.tags %}{% if a == b %}={% endif %}{% endfor %}{% endfor %}",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let (path, lines) = campaign(
            dir.path(),
            &[(
                "text_layout = \"\"\"\nHi {{ first_name | default(\"there\") }},",
                &format!("text_layout = \"\"\"\nHi,\n{layout_line}"),
            )],
        );
        let started = Instant::now();
        let output = send(dir.path(), &path, &[consenting("a", serde_json::json!({}))]);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what}: {:?}",
            started.elapsed()
        );
        assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
        let expected = format!(
            "mailrules: {}:{}: text_layout: the template needs more than 1000000 steps (template fuel)",
            path.display(),
            lines[0] + 2
        );
        assert!(
            stderr(&output).starts_with(&expected),
            "{what}: {}",
            stderr(&output)
        );
        assert_eq!(delivered_files(dir.path()), 0);
    }
}

#[test]
fn an_error_only_some_data_reach_defers_those_recipients_and_a_fixed_rerun_sends_them() {
    let dir = tempfile::tempdir().unwrap();
    let hero = "html = \"<h1>This Week's Picks for You</h1>\"";
    let (path, lines) = campaign(
        dir.path(),
        &[(
            hero,
            "html = \"<h1>Picks</h1>{% if profile.attributes.boom is defined %}{{ 1 // profile.attributes.boom }}{% endif %}\"",
        )],
    );
    let profiles = [
        consenting("first", serde_json::json!({})),
        consenting("boom", serde_json::json!({ "attributes": { "boom": 0 } })),
        consenting("after", serde_json::json!({})),
    ];
    let output = send(dir.path(), &path, &profiles);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("a template of the campaign fails for some recipients' data"),
        "{}",
        stderr(&output)
    );
    let fates = journal(dir.path());
    // One profile's data does not stop the run: only it waits for the fix.
    assert_eq!(fates["first"].fate, Fate::Delivered);
    assert_eq!(fates["boom"].fate, Fate::Deferred);
    assert_eq!(fates["after"].fate, Fate::Delivered);
    let reason = fates["boom"].reply.as_deref().unwrap();
    let expected = format!(
        "not sent: a template of the campaign fails: {}:{}: block `hero-default` html: ",
        path.display(),
        lines[0]
    );
    assert!(reason.starts_with(&expected), "{reason}");
    assert_eq!(delivered_files(dir.path()), 2);

    // The campaign fixed, the same command sends the deferred recipients.
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("{{ 1 // profile.attributes.boom }}", ""),
    )
    .unwrap();
    // The journal started with the broken campaign: the rerun says so …
    let output = send(dir.path(), &path, &profiles);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--allow-changed"),
        "{}",
        stderr(&output)
    );
    // … and, allowed, sends the deferred recipients.
    let output = send_allowing_changes(dir.path(), &path, &profiles);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let fates = journal(dir.path());
    assert!(
        fates.values().all(|r| r.fate == Fate::Delivered),
        "{fates:?}"
    );
    assert_eq!(delivered_files(dir.path()), 3);
}

#[test]
fn a_message_too_large_for_one_recipients_data_defers_only_that_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let (path, lines) = campaign(
        dir.path(),
        &[(
            "text_layout = \"\"\"\nHi {{ first_name | default(\"there\") }},",
            "text_layout = \"\"\"\n{% for t in profile.tags %}{{ profile.attributes.note | default('') }}{% endfor %}",
        )],
    );
    let note = "n".repeat(50_000);
    let tags: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    let profiles = [
        consenting(
            "small",
            serde_json::json!({ "tags": ["a"], "attributes": { "note": "hi" } }),
        ),
        consenting(
            "huge",
            serde_json::json!({ "tags": tags, "attributes": { "note": note } }),
        ),
        consenting("after", serde_json::json!({})),
    ];
    let output = send(dir.path(), &path, &profiles);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let fates = journal(dir.path());
    assert_eq!(fates["small"].fate, Fate::Delivered);
    assert_eq!(fates["after"].fate, Fate::Delivered);
    // Deferred, not failed: a campaign fixed to render it smaller sends it.
    assert_eq!(fates["huge"].fate, Fate::Deferred);
    assert_eq!(
        fates["huge"].reply.as_deref(),
        Some(
            format!(
                "not sent: a template of the campaign fails: message-too-large: {}:{}: text_layout: the rendered text exceeds 2097152 bytes",
                path.display(),
                lines[0] + 1
            )
            .as_str()
        )
    );
}
