//! Same input, same output: two runs, and runs on one or two threads, print
//! the same bytes, fuel and logs included.

use mailrules_integration::{generator, mailrules_bin, now, root, rule, write_jsonl};

fn eval(profiles: &std::path::Path, jobs: &str) -> Vec<u8> {
    let output = std::process::Command::new(mailrules_bin())
        .args(["eval", "--explain", "--quiet", "--no-cache", "--jobs", jobs])
        .arg("--rules")
        .arg(rule("seed-segments"))
        .arg("--campaign")
        .arg(root().join("examples/campaign.toml"))
        .arg("--profiles")
        .arg(profiles)
        .output()
        .expect("mailrules runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn runs_are_identical_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("profiles.jsonl");
    write_jsonl(&path, &generator::profiles(2_000, 7, now()));
    let first = eval(&path, "1");
    let second = eval(&path, "2");
    let third = eval(&path, "2");
    assert_eq!(first.iter().filter(|&&b| b == b'\n').count(), 2_000);
    assert!(
        first == second && second == third,
        "outputs differ between runs"
    );
}
