//! What a report was measured on: processor, kernel, toolchain and the
//! versions of everything compared.

use std::process::Command;

/// Facts about this machine and build, as Markdown list items.
pub fn describe(command: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(|| "unknown".into(), |kb| format!("{} GiB", kb >> 20));
    let rustc = output("rustc", &["-V"]);
    let postfix = output("postconf", &["-h", "mail_version"]);
    let python = output("python3", &["-V"]);
    format!(
        "- command: `{command}`\n\
         - machine: {cpu}, {cores} CPUs available, {memory} RAM, Linux {kernel}\n\
         - toolchain: {rustc}, release profile\n\
         - engines: wasmtime {} (Cranelift), Rhai {}, Lua 5.4 via mlua {}\n\
         - mail: lettre {} (TLS/AUTH relays), Postfix {postfix} smtp-sink/smtp-source, {python}\n",
        env!("MAILRULES_BENCH_WASMTIME_VERSION"),
        env!("MAILRULES_BENCH_RHAI_VERSION"),
        env!("MAILRULES_BENCH_MLUA_VERSION"),
        env!("MAILRULES_BENCH_LETTRE_VERSION"),
    )
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text).trim().to_string()
        })
        .unwrap_or_else(|| "not installed".into())
}
