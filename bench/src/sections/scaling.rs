//! Scaling: `mailrules eval` over growing generated inputs, streaming, for
//! time and peak memory.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::child::run_measured;
use crate::fixture::Fixture;
use crate::measure::{count, ratio};
use crate::report::Table;

/// A generated input of `size` profiles in `dir`, made once and kept.
pub fn input(dir: &Path, size: usize, now: i64) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("profiles-{size}.jsonl"));
    if !path.is_file() {
        let partial = path.with_extension("partial");
        let mut out = BufWriter::new(File::create(&partial)?);
        mailrules_integration::generator::write_jsonl(&mut out, size, 7, now)?;
        drop(out);
        std::fs::rename(&partial, &path)?;
    }
    Ok(path)
}

/// Runs `mailrules eval` on each size, in increasing order.
pub fn run(fixture: &Fixture, sizes: &[usize], work: &Path) -> anyhow::Result<Table> {
    std::fs::create_dir_all(work)?;
    let bin = Fixture::mailrules_bin();
    anyhow::ensure!(bin.is_file(), "{} is not built", bin.display());
    let mut table = Table::new(
        "4. Scaling through `mailrules eval`",
        &format!(
            "Generated profiles (JSON Lines, about 5% without consent) through the CLI, \
             streaming, decisions to /dev/null, default settings (fresh sandbox per \
             profile, one evaluation thread per CPU). Peak memory is the process's \
             maximum resident set (`VmHWM`, read while it runs); the last column compares it to the \
             {} row.",
            count(sizes.get(1).copied().unwrap_or(sizes[0]) as f64)
        ),
        &[
            "profiles",
            "input MB",
            "seconds",
            "µs/profile",
            "profiles/s",
            "peak RSS MB",
            "RSS ÷ reference",
        ],
    );
    let mut reference_rss = None;
    for (i, &size) in sizes.iter().enumerate() {
        let path = input(work, size, fixture.now)?;
        let finished = run_measured(
            Command::new(&bin)
                .arg("eval")
                .arg("--rules")
                .arg(&fixture.rule_path)
                .arg("--campaign")
                .arg(&fixture.campaign_path)
                .arg("--profiles")
                .arg(&path)
                .arg("--quiet")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        anyhow::ensure!(finished.success, "mailrules eval failed on {size} profiles");
        let rss = finished.peak_rss as f64 / (1 << 20) as f64;
        if i <= 1 {
            reference_rss = Some(rss);
        }
        let seconds = finished.elapsed.as_secs_f64();
        table.row(vec![
            count(size as f64),
            format!("{:.0}", std::fs::metadata(&path)?.len() as f64 / 1e6),
            format!("{seconds:.2}"),
            format!("{:.2}", seconds * 1e6 / size as f64),
            count(size as f64 / seconds),
            format!("{rss:.1}"),
            ratio(rss, reference_rss.unwrap_or(rss)),
        ]);
    }
    Ok(table)
}
