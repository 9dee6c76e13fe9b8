//! The harness starts and lists its sections. (Its presence also makes
//! `cargo test --workspace` build the `mailrules-bench` binary with the
//! workspace's features, so CI and `scripts/bench.sh` need no second
//! build.)

#[test]
fn help_lists_every_section() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mailrules-bench"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for section in [
        "eval",
        "isolation",
        "load",
        "scaling",
        "delivery",
        "noisy-neighbour",
        "end-to-end",
    ] {
        assert!(help.contains(section), "{section} missing from {help}");
    }
}
