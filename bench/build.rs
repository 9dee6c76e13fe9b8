//! Records the versions of the engines under comparison, read from the
//! workspace's Cargo.lock, so every report names what it measured.

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    println!("cargo::rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    for name in ["wasmtime", "rhai", "mlua", "lettre"] {
        let version = locked_version(&text, name).unwrap_or_else(|| "unknown".into());
        let key = format!("MAILRULES_BENCH_{}_VERSION", name.to_uppercase());
        println!("cargo::rustc-env={key}={version}");
    }
}

fn locked_version(lock: &str, name: &str) -> Option<String> {
    let header = format!("name = \"{name}\"\nversion = \"");
    let start = lock.find(&header)? + header.len();
    let end = start + lock[start..].find('"')?;
    Some(lock[start..end].to_string())
}
