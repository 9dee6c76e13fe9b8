//! The binary starts and explains itself. (Its presence also makes cargo
//! build the `mailrules` binary for the workspace's integration tests.)

#[test]
fn help_lists_the_subcommands() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mailrules"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("check") && help.contains("eval"), "{help}");
}

#[test]
fn eval_help_explains_every_option() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mailrules"))
        .args(["eval", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--rules",
        "--campaign",
        "--profiles",
        "--now",
        "--explain",
        "--jobs",
        "--max-fuel",
        "--cache-dir",
    ] {
        assert!(help.contains(option), "eval --help lacks {option}");
    }
}
