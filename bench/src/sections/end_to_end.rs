//! `mailrules eval` end to end against `native-eval`, the same command with
//! the reference pack compiled in: CPU and wall time over the same inputs,
//! and what reading and parsing them costs alone.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::child::{Finished, run_measured};
use crate::fixture::Fixture;
use crate::measure::{count, ratio};
use crate::report::Table;
use crate::sections::scaling::input;

/// Sizes from which a single round is timed (a million profiles take
/// `mailrules eval` about ten seconds or more).
const ONE_ROUND_FROM: usize = 1_000_000;

/// The commands run on one input.
struct Commands<'a> {
    fixture: &'a Fixture,
    profiles: &'a Path,
}

/// The same profiles as `jsonl`, as a stream of MessagePack maps next to
/// it (`.msgpack`: both commands pick the format by extension); written
/// once and kept.
fn messagepack(jsonl: &Path) -> anyhow::Result<std::path::PathBuf> {
    use std::io::Write;
    let path = jsonl.with_extension("msgpack");
    if !path.is_file() {
        let partial = path.with_extension("partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&partial)?);
        for line in BufReader::new(std::fs::File::open(jsonl)?).lines() {
            let value: serde_json::Value = serde_json::from_str(&line?)?;
            out.write_all(&rmp_serde::to_vec_named(&value)?)?;
        }
        out.flush()?;
        drop(out);
        std::fs::rename(&partial, &path)?;
    }
    Ok(path)
}

impl Commands<'_> {
    /// `mailrules eval` with its defaults, the pack built for contract 0.1
    /// or 0.2.
    fn eval(&self, v0_2: bool) -> Command {
        let rule = if v0_2 {
            &self.fixture.rule_v0_2_path
        } else {
            &self.fixture.rule_path
        };
        let mut command = Command::new(Fixture::mailrules_bin());
        command
            .arg("eval")
            .arg("--rules")
            .arg(rule)
            .arg("--campaign")
            .arg(&self.fixture.campaign_path)
            .arg("--profiles")
            .arg(self.profiles)
            .arg("--quiet");
        command
    }

    /// `native-eval`, optionally parsing only.
    fn native(&self, parse_only: bool) -> Command {
        let mut command = Command::new(Fixture::native_eval_bin());
        command
            .arg("--campaign")
            .arg(&self.fixture.campaign_path)
            .arg("--profiles")
            .arg(self.profiles);
        if parse_only {
            command.arg("--parse-only");
        }
        command
    }
}

/// Runs both commands with their output piped here and checks that they
/// print the same lines; returns how many.
fn same_lines(mut a: Command, mut b: Command) -> anyhow::Result<u64> {
    let spawn = |command: &mut Command| -> anyhow::Result<Child> {
        Ok(command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?)
    };
    let mut children = [spawn(&mut a)?, spawn(&mut b)?];
    let mut outputs = children
        .each_mut()
        .map(|c| BufReader::with_capacity(1 << 20, c.stdout.take().expect("piped")));
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut lines = 0u64;
    let compared = loop {
        left.clear();
        right.clear();
        let n = outputs[0].read_until(b'\n', &mut left)?;
        let m = outputs[1].read_until(b'\n', &mut right)?;
        if left != right {
            let shown = |line: &[u8]| String::from_utf8_lossy(line).trim_end().to_string();
            break Err(anyhow::anyhow!(
                "line {} differs:\n  mailrules eval: {}\n  native-eval:    {}",
                lines + 1,
                shown(&left),
                shown(&right)
            ));
        }
        if n == 0 && m == 0 {
            break Ok(lines);
        }
        lines += 1;
    };
    drop(outputs);
    if compared.is_err() {
        for child in &mut children {
            let _ = child.kill();
        }
    }
    for child in &mut children {
        let status = child.wait()?;
        if compared.is_ok() {
            anyhow::ensure!(status.success(), "a command failed: {status}");
        }
    }
    compared
}

/// The best CPU and wall times of one command over the rounds, and its
/// largest peak memory.
#[derive(Debug, Clone, Copy)]
struct Best {
    cpu: Duration,
    wall: Duration,
    rss: u64,
}

impl Best {
    fn new() -> Self {
        Best {
            cpu: Duration::MAX,
            wall: Duration::MAX,
            rss: 0,
        }
    }

    fn keep(&mut self, run: Finished) {
        self.cpu = self.cpu.min(run.cpu);
        self.wall = self.wall.min(run.elapsed);
        self.rss = self.rss.max(run.peak_rss);
    }
}

/// Runs `mailrules eval`, `native-eval` and `native-eval --parse-only` on
/// each size, after checking that the first two print the same lines.
pub fn run(
    fixture: &Fixture,
    sizes: &[usize],
    rounds: usize,
    work: &Path,
) -> anyhow::Result<Table> {
    std::fs::create_dir_all(work)?;
    for bin in [Fixture::mailrules_bin(), Fixture::native_eval_bin()] {
        anyhow::ensure!(bin.is_file(), "{} is not built", bin.display());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rounds = rounds.clamp(1, 3);
    let mut table = Table::new(
        "11. `mailrules eval` end to end against the pack compiled in",
        &format!(
            "The scaling section's generated inputs (JSON Lines, about 5% without consent) \
             through `mailrules eval` with its defaults ({threads} evaluation threads, a \
             reading thread; `--quiet`), once with the pack built for contract 0.1 (a fresh \
             sandbox per profile) and once for 0.2 (64 profiles per call), and through \
             `native-eval`, the \
             same command with the pack compiled in (the no-alloc native code of table 1, \
             the host's reader, consent check, decision checks and outcome lines; one \
             thread). Before timing, the two were checked to print the same lines, byte for \
             byte, on every line of every input: without `--explain` `mailrules eval` prints \
             no field that only a sandbox has (fuel, log), so none differs. \
             `native-eval --parse-only` reads and parses the input and does nothing else. \
             CPU is user + system time of the process and all its threads; best of {rounds} \
             interleaved rounds (one from {} profiles); output to /dev/null; peak memory as \
             in table 4. *÷ native* and *÷ eval* divide a row's CPU time by that of \
             `native-eval` and of `mailrules eval` (0.1) on the same input: on the parse-only rows \
             they are the share of reading and parsing. The *MessagePack* rows read the \
             same profiles as a stream of MessagePack maps (checked to print the same \
             lines); their ratios are against the JSON Lines `native-eval`.",
            count(ONE_ROUND_FROM as f64)
        ),
        &[
            "profiles",
            "command",
            "CPU s",
            "wall s",
            "CPU µs/profile",
            "profiles/s",
            "CPU ÷ native",
            "CPU ÷ eval",
            "peak RSS MB",
        ],
    );
    for &size in sizes {
        let path = input(work, size, fixture.now)?;
        let packed = messagepack(&path)?;
        let commands = Commands {
            fixture,
            profiles: &path,
        };
        let packed_commands = Commands {
            fixture,
            profiles: &packed,
        };
        for v0_2 in [false, true] {
            let lines = same_lines(commands.eval(v0_2), commands.native(false))?;
            anyhow::ensure!(lines == size as u64, "{lines} lines for {size} profiles");
        }
        let lines = same_lines(packed_commands.eval(true), commands.native(false))?;
        anyhow::ensure!(lines == size as u64, "{lines} lines for {size} profiles");
        let mut best = [Best::new(); 7];
        let rounds_here = if size >= ONE_ROUND_FROM { 1 } else { rounds };
        for _ in 0..rounds_here {
            for (i, best) in best.iter_mut().enumerate() {
                let mut command = match i {
                    0 => commands.eval(false),
                    1 => commands.eval(true),
                    2 => commands.native(false),
                    3 => commands.native(true),
                    4 => packed_commands.eval(true),
                    5 => packed_commands.native(false),
                    _ => packed_commands.native(true),
                };
                let finished =
                    run_measured(command.stdout(Stdio::null()).stderr(Stdio::inherit()))?;
                anyhow::ensure!(finished.success, "command {i} failed on {size} profiles");
                best.keep(finished);
            }
        }
        let [
            eval,
            eval_v0_2,
            native,
            parse,
            packed_eval,
            packed_native,
            packed_parse,
        ] = best;
        for (name, b) in [
            ("`mailrules eval`, contract 0.1 pack", eval),
            ("`mailrules eval`, contract 0.2 pack", eval_v0_2),
            ("`native-eval`", native),
            ("`native-eval --parse-only`", parse),
            (
                "MessagePack: `mailrules eval`, contract 0.2 pack",
                packed_eval,
            ),
            ("MessagePack: `native-eval`", packed_native),
            ("MessagePack: `native-eval --parse-only`", packed_parse),
        ] {
            let cpu = b.cpu.as_secs_f64();
            let wall = b.wall.as_secs_f64();
            table.row(vec![
                count(size as f64),
                name.to_string(),
                format!("{cpu:.2}"),
                format!("{wall:.2}"),
                format!("{:.2}", cpu * 1e6 / size as f64),
                count(size as f64 / wall),
                ratio(cpu, native.cpu.as_secs_f64()),
                ratio(cpu, eval.cpu.as_secs_f64()),
                format!("{:.1}", b.rss as f64 / (1 << 20) as f64),
            ]);
        }
    }
    Ok(table)
}
