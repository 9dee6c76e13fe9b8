//! The `mailrules` command line, run as a user would.

use std::process::{Command, Output};

use mailrules_integration::{mailrules_bin, read_jsonl, root, rule};

fn mailrules(args: &[&str]) -> Output {
    Command::new(mailrules_bin())
        .args(args)
        .current_dir(root())
        .output()
        .expect("mailrules runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn eval_prints_the_expected_decisions_and_a_summary() {
    let rules = rule("seed-segments");
    let output = mailrules(&[
        "eval",
        "--no-cache",
        "--rules",
        rules.to_str().unwrap(),
        "--campaign",
        "examples/campaign.toml",
        "--profiles",
        "examples/profiles.jsonl",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let got: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        got,
        read_jsonl(&root().join("tests/expected/example-decisions.jsonl"))
    );
    let stderr = text(&output.stderr);
    for needle in [
        "recipients  24",
        "cart-abandoner",
        "suppressed: sunset",
        "latency p50",
        "fuel p50",
    ] {
        assert!(
            stderr.contains(needle),
            "summary lacks `{needle}`:\n{stderr}"
        );
    }
}

#[test]
fn eval_reads_profiles_from_stdin() {
    let rules = rule("seed-segments");
    let mut child = Command::new(mailrules_bin())
        .args([
            "eval",
            "--quiet",
            "--no-cache",
            "--campaign",
            "examples/campaign.toml",
            "--profiles",
            "-",
            "--rules",
        ])
        .arg(rules)
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"id\":\"s\",\"email\":\"s@example.com\",\"subscribed_at\":\"2026-11-20T00:00:00Z\",\"consent\":{\"email_marketing\":true}}\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["profile_id"], "s");
    assert_eq!(line["status"], "ok");
}

#[test]
fn check_describes_a_valid_rule_and_refuses_a_forbidden_one() {
    let ok = mailrules(&[
        "check",
        "--no-cache",
        rule("seed-segments").to_str().unwrap(),
    ]);
    assert!(ok.status.success());
    let stdout = text(&ok.stdout);
    assert!(
        stdout.contains("world    mailrules:rules@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("compiled in"), "{stdout}");
    let bad = mailrules(&[
        "check",
        "--no-cache",
        rule("forbidden-import").to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("forbidden import `wasi:sockets/"),
        "{}",
        text(&bad.stderr)
    );
}

#[test]
fn check_names_the_fields_read_and_with_a_campaign_the_fuel_on_extremes() {
    let seed = rule("seed-segments");
    let plain = mailrules(&["check", "--no-cache", seed.to_str().unwrap()]);
    assert!(plain.status.success());
    let stdout = text(&plain.stdout);
    assert!(
        stdout.contains(
            "\nreads    9 profile fields (getters imported): cart, engagement, has-viewed-category, last-visit-at, \
             order-categories, orders, subscribed-at, viewed-categories, viewed-products\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("fuel "), "{stdout}");
    let measured = mailrules(&[
        "check",
        "--no-cache",
        seed.to_str().unwrap(),
        "--campaign",
        "examples/campaign.toml",
    ]);
    assert!(measured.status.success());
    let stdout = text(&measured.stdout);
    let tail: Vec<&str> = stdout.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "fuel     smallest profile: 5344 of 10000000 units, suppressed",
            "fuel     largest profile (order-categories): 10000000 of 10000000 units, out-of-fuel",
        ]
    );
}

#[test]
fn a_broken_campaign_is_reported_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = dir.path().join("broken.toml");
    let text_in = std::fs::read_to_string(root().join("examples/campaign.toml"))
        .unwrap()
        .replace(
            "subject = \"default\"\npreheader",
            "subject = \"missing\"\npreheader",
        );
    std::fs::write(&campaign, &text_in).unwrap();
    let line = text_in
        .lines()
        .position(|l| l == "subject = \"missing\"")
        .unwrap()
        + 1;
    let output = mailrules(&[
        "eval",
        "--rules",
        rule("seed-segments").to_str().unwrap(),
        "--campaign",
        campaign.to_str().unwrap(),
        "--profiles",
        "examples/profiles.jsonl",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("broken.toml:{line}: fallback subject `missing`")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn unreadable_profiles_are_named_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("p.jsonl");
    std::fs::write(
        &profiles,
        "{\"id\":\"a\",\"email\":\"a@example.com\"}\n{oops\n",
    )
    .unwrap();
    let output = mailrules(&[
        "eval",
        "--no-cache",
        "--rules",
        rule("seed-segments").to_str().unwrap(),
        "--campaign",
        "examples/campaign.toml",
        "--profiles",
        profiles.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(4), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("1 input records could not be read"),
        "{}",
        text(&output.stderr)
    );
    assert!(
        text(&output.stderr).contains("p.jsonl: line 2:"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(text(&output.stdout).lines().count(), 2);
}
