//! `mailrules-bench`: runs the benchmarks side by side and writes the tables
//! into `BENCHMARKS.md`. Run it with `scripts/bench.sh`, which builds
//! everything it needs and starts nothing that outlives it.

use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, ValueEnum};
use mailrules_bench::fixture::Fixture;
use mailrules_bench::report::{Table, write_between_markers};
use mailrules_bench::sections::{
    contracts, delivery, end_to_end, evaluation, feedback, isolation, lifecycle, load,
    noisy_neighbour, scaling,
};

/// Benchmarks of mailrules: rule evaluation against native code and script
/// peers, isolation and load costs, scaling, delivery end to end, a noisy
/// neighbour, lifecycle (event ingestion, profile derivation), feedback
/// (signed links in messages, link tokens, KPIs), `mailrules eval` end to
/// end against the same command with the rule compiled in, and the same pack
/// on both contract versions.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Sections to run [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// Generated profiles for the in-process sections (1–3).
    #[arg(long, default_value_t = 5_000)]
    profiles: usize,
    /// Interleaved rounds per measurement; each path keeps its best.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Input sizes for the scaling section.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 100_000, 1_000_000])]
    scale: Vec<usize>,
    /// Input sizes for the end-to-end section (`mailrules eval` against
    /// `native-eval`).
    #[arg(long, value_delimiter = ',', default_values_t = [10_000, 100_000, 1_000_000])]
    end_to_end_scale: Vec<usize>,
    /// Recipients for the delivery section.
    #[arg(long, default_value_t = 30_000)]
    recipients: usize,
    /// Where generated inputs, journals and spools go (kept between runs).
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// Run only the evaluation paths whose name contains this text (for
    /// profiling one path with perf or callgrind).
    #[arg(long, value_name = "TEXT")]
    path_filter: Option<String>,
    /// Write the tables into this Markdown file, between its result markers.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
    /// The command line to record in the report [default: this one].
    #[arg(long, hide = true)]
    command: Option<String>,
}

/// A part of the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    /// 1. Rule evaluation per profile: native, WASM, Rhai, Lua.
    Eval,
    /// 2. Isolation: pooling, fuel, epochs, fresh or batched.
    Isolation,
    /// 3. Compile vs cached load.
    Load,
    /// 4. Scaling of `mailrules eval` from 1k to 1M profiles.
    Scaling,
    /// 5. `mailrules send` to smtp-sink against transport-only and peers.
    Delivery,
    /// 6. A tenant's throughput with a neighbour whose rule loops.
    NoisyNeighbour,
    /// 7–8. Event ingestion, and derived against pre-computed profiles.
    Lifecycle,
    /// 9–10. Feedback links in messages, link tokens, KPIs.
    Feedback,
    /// 11. `mailrules eval` against the pack compiled in (`native-eval`).
    EndToEnd,
    /// 12. The same pack on contract 0.1 and 0.2.
    Contracts,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let command = args
        .command
        .clone()
        .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" "));
    let fixture = Fixture::new(args.profiles)?;
    let mut tables: Vec<Table> = Vec::new();
    let show = |table: Table, tables: &mut Vec<Table>| {
        println!("{}", table.markdown());
        tables.push(table);
    };
    if wanted(Section::Eval) {
        show(
            evaluation::run(&fixture, args.rounds, args.path_filter.as_deref())?,
            &mut tables,
        );
    }
    if wanted(Section::Isolation) {
        show(isolation::run(&fixture, args.rounds)?, &mut tables);
    }
    if wanted(Section::Load) {
        show(load::run(&fixture, args.rounds)?, &mut tables);
    }
    if wanted(Section::Scaling) {
        show(
            scaling::run(&fixture, &args.scale, &args.work_dir)?,
            &mut tables,
        );
    }
    if wanted(Section::Delivery) {
        show(
            delivery::run(&fixture, args.recipients, &args.work_dir)?,
            &mut tables,
        );
    }
    if wanted(Section::NoisyNeighbour) {
        show(noisy_neighbour::run(&fixture, args.rounds)?, &mut tables);
    }
    if wanted(Section::Lifecycle) {
        for table in lifecycle::run(fixture.now, args.rounds)? {
            show(table, &mut tables);
        }
    }
    if wanted(Section::Feedback) {
        for table in feedback::run(&fixture, args.rounds)? {
            show(table, &mut tables);
        }
    }
    if wanted(Section::EndToEnd) {
        show(
            end_to_end::run(
                &fixture,
                &args.end_to_end_scale,
                args.rounds,
                &args.work_dir,
            )?,
            &mut tables,
        );
    }
    if wanted(Section::Contracts) {
        show(contracts::run(&fixture, args.rounds)?, &mut tables);
    }
    if let Some(path) = &args.write {
        let mut text = format!(
            "## Results\n\n{}\n",
            mailrules_bench::machine::describe(&command)
        );
        for table in &tables {
            text.push_str(&table.markdown());
            text.push('\n');
        }
        write_between_markers(path, &text)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
