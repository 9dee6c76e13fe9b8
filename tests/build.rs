//! Builds every guest in `guest-rules/` from source, as wasm32-wasip2
//! components, with `scripts/build-rules.sh`, and tells the tests where they
//! are (`MAILRULES_TEST_RULES`). No `.wasm` is checked in.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("rules");
    for watched in [
        "guest-rules",
        "wit",
        "scripts/build-rules.sh",
        "Cargo.lock",
        ".cargo/config.toml",
        "tools/componentize",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let status = Command::new("bash")
        .arg(root.join("scripts/build-rules.sh"))
        .arg(&out)
        // The guests are built by a nested cargo for another target; the
        // flags of this build do not apply to them.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .status()
        .expect("running scripts/build-rules.sh");
    assert!(status.success(), "building the guest rules failed");
    println!("cargo:rustc-env=MAILRULES_TEST_RULES={}", out.display());
}
