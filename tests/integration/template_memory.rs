//! Campaign templates cannot make the host big: every construct that could
//! build a value without bound is refused when the campaign is loaded, with
//! its line, or bounded at render for the recipient whose data reaches the
//! bound; the worst allowed template stays within the documented bound.
//! The host runs with a data-memory limit, so a template that escaped the
//! bounds would abort it rather than the machine.

use std::process::{Command, Output};

use mailrules::render::templates::RENDER_MEMORY_BOUND;
use mailrules_integration::{mailrules_bin, root, rule};

/// Memory (brk and private writable mappings) the host may use in these
/// tests: far more than a bounded render needs, far less than the attacks.
const DATA_LIMIT: u64 = 1 << 30;

/// The example campaign with its text layout's first line replaced by
/// `line`, in `dir`; the line of the campaign file `line` is on.
fn campaign_with_layout_line(dir: &std::path::Path, line: &str) -> (std::path::PathBuf, usize) {
    let text = std::fs::read_to_string(root().join("examples/campaign.toml")).unwrap();
    let from = "text_layout = \"\"\"\nHi {{ first_name | default(\"there\") }},";
    assert_eq!(text.matches(from).count(), 1);
    let to = format!("text_layout = \"\"\"\n{line}");
    let text = text.replace(from, &to);
    let at = text[..text.find(&to).unwrap()].matches('\n').count() + 2;
    let path = dir.join("campaign.toml");
    std::fs::write(&path, text).unwrap();
    (path, at)
}

/// `mailrules preview` of `profile` in `profiles`.
fn preview(
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
    profile: &str,
) -> Command {
    preview_in(
        Command::new(mailrules_bin()),
        dir,
        campaign,
        profiles,
        profile,
    )
}

/// `mailrules preview` with the data limit (which leaves no room for the
/// WebAssembly engine's pools: for campaigns refused before it starts).
fn preview_limited(
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
    profile: &str,
) -> Command {
    let mut prlimit = Command::new("prlimit");
    prlimit
        .arg(format!("--data={DATA_LIMIT}"))
        .arg(mailrules_bin());
    preview_in(prlimit, dir, campaign, profiles, profile)
}

fn preview_in(
    mut command: Command,
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
    profile: &str,
) -> Command {
    let path = dir.join("profiles.jsonl");
    mailrules_integration::write_jsonl(&path, profiles);
    command
        .args(["preview", "--cache-dir"])
        .arg(dir.join("cache"))
        .arg("--rules")
        .arg(rule("seed-segments"))
        .arg("--campaign")
        .arg(campaign)
        .arg("--profiles")
        .arg(&path)
        .args(["--profile", profile])
        .current_dir(dir);
    command
}

fn consenting(id: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "email": format!("{id}@example.com"),
        "first_name": "Ann",
        "consent": { "email_marketing": true },
        "subscribed_at": "2026-11-10T12:00:00Z",
        "engagement": { "last_open_at": "2026-11-20T08:00:00Z", "opens_30d": 3 },
    })
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const ONLY: &str = "campaign templates may use only text, `{{ … }}`, `if` and `for`";
const TIMES: &str = "`*` needs a number on both sides (a number, or `| int`, `| float`, `| length` of a value): strings and lists are not repeated";
const LARGE_PROBE: &str = "(rendering for the probe recipient with large lists)";

#[test]
fn every_memory_attack_is_refused_at_load_with_its_line() {
    let doubling = format!(
        "{{% set a = \"x\" %}}{}{{{{ a | length }}}}",
        "{% set a = a ~ a %}".repeat(35)
    );
    let set = format!("`set` is not allowed: {ONLY}");
    let attacks: Vec<(&str, String, String)> = vec![
        ("doubling with set", doubling, set.clone()),
        (
            "doubling a namespace in a loop",
            "{% set ns = namespace(s=\"x\") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}".into(),
            set,
        ),
        (
            "nested loops over computed lists",
            "{% for a in [first_name ~ first_name] %}{% for b in [a ~ a] %}{% for c in [b ~ b] %}{{ c | length }}{% endfor %}{% endfor %}{% endfor %}".into(),
            "a loop may iterate only a merge field (`profile.tags`, a loop variable, …) or `range(…)`, not a computed value".into(),
        ),
        (
            "a recursive macro doubling its argument",
            "{% macro m(s, n) %}{% if n %}{{ m(s ~ s, n - 1) }}{% else %}{{ s | length }}{% endif %}{% endmacro %}{{ m('x', 40) }}".into(),
            format!("`macro` is not allowed: {ONLY}"),
        ),
        ("string repetition", "{{ ('x' * 10**9) | length }}".into(), TIMES.into()),
        (
            "100 MB repetitions in a loop",
            "{% for i in range(10) %}{{ ('x' * 99999999) | length }}{% endfor %}".into(),
            TIMES.into(),
        ),
        (
            "a filter binding before `*`",
            "{{ 70000002.0*2 | title }}{{ 70000002.0*2 | title }}{{ 70000002.0*2 | title }}{{ 70000002.0*2 | title }}".into(),
            TIMES.into(),
        ),
        (
            "list repetition",
            "{{ ([0] * 1000000000) | join | length }}".into(),
            TIMES.into(),
        ),
        (
            "indent by a number",
            "{{ 'abc' | indent(1000000000, true) | length }}".into(),
            "unknown filter `indent`: campaign templates may use abs, bool, capitalize, count, d, default, e, escape, first, float, int, join, last, length, lower, max, min, replace, round, safe, string, title, trim, upper, urlencode".into(),
        ),
        (
            "quadratic replace, chained",
            "{{ first_name | default('x') | replace('', profile.tags | join) | length }}".into(),
            format!("the result of `replace` would exceed 2097152 bytes {LARGE_PROBE}"),
        ),
        (
            "a join with a huge separator",
            "{{ profile.tags | join(profile.tags | join) | length }}".into(),
            format!("the result of `join` would exceed 2097152 bytes {LARGE_PROBE}"),
        ),
    ];
    for (what, line, message) in attacks {
        let dir = tempfile::tempdir().unwrap();
        let (path, at) = campaign_with_layout_line(dir.path(), &line);
        let output = preview_limited(dir.path(), &path, &[consenting("a")], "a")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{what}: {}", stderr(&output));
        let expected = format!("mailrules: {}:{at}: text_layout: {message}", path.display());
        assert!(
            stderr(&output).starts_with(&expected),
            "{what}: expected {expected}\n got {}",
            stderr(&output)
        );
    }
}

/// `mailrules preview` under `/usr/bin/time`, which reports the peak
/// resident memory of the process it starts (a process started by the test
/// itself would count the test's own memory from before its `exec`); the
/// output and that peak in bytes.
fn peak_memory(
    dir: &std::path::Path,
    campaign: &std::path::Path,
    profiles: &[serde_json::Value],
    profile: &str,
) -> (Output, u64) {
    let report = dir.join("time.txt");
    let mut time = Command::new("/usr/bin/time");
    time.args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(mailrules_bin());
    // The allocator returns freed memory at once, so the peak is what the
    // process held, not what the allocator kept cached after freeing it.
    time.env("MIMALLOC_PURGE_DELAY", "0");
    let output = preview_in(time, dir, campaign, profiles, profile)
        .output()
        .unwrap();
    let kib: u64 = std::fs::read_to_string(&report)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (output, kib * 1024)
}

#[test]
fn the_worst_allowed_template_on_a_maximal_profile_stays_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    // A profile whose text prints three times as long inside the merge
    // fields (U+0085 is two bytes, printed `\u{85}`), just under their cap.
    let mut maximal = consenting("max");
    maximal["attributes"] = serde_json::json!({ "note": "\u{85}".repeat(340_000) });
    let profiles = [consenting("a"), maximal];
    // Each line joins the printed profile three times (two `~`, the most
    // allowed) and measures it; the last ones turn it into text through
    // filters.
    let worst = format!(
        "{}{}",
        "{{ (profile ~ profile ~ profile) | length }}\n".repeat(20),
        "{{ profile.attributes.note | default('') | replace('\u{85}', '\u{85}') | length }}{{ profile | upper | length }}{{ profile | e | length }}"
    );
    let (benign, _) = campaign_with_layout_line(dir.path(), "Hi,");
    std::fs::rename(&benign, dir.path().join("benign.toml")).unwrap();
    let benign = dir.path().join("benign.toml");
    let (worst, _) = campaign_with_layout_line(dir.path(), &worst);

    // Warm the component cache, so neither measured run compiles.
    let output = preview(dir.path(), &benign, &profiles, "a")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let (output, baseline) = peak_memory(dir.path(), &benign, &profiles, "max");
    assert!(output.status.success(), "{}", stderr(&output));
    let (output, peak) = peak_memory(dir.path(), &worst, &profiles, "max");
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\n340000"),
        "the worst template did not render: {}",
        &stdout[stdout.len().saturating_sub(3000)..]
    );
    assert!(
        peak <= baseline + RENDER_MEMORY_BOUND as u64,
        "peak {peak} bytes, baseline {baseline}, bound {RENDER_MEMORY_BOUND}"
    );
    eprintln!("baseline {baseline} bytes, worst {peak} bytes");
}
