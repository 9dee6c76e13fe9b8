//! `mailrules journal`: maintenance of a campaign journal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mailrules::journal::repair;

/// Arguments of `mailrules journal`.
#[derive(Debug, Args)]
pub struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Debug, Subcommand)]
enum JournalCommand {
    /// Rewrite a damaged journal (or one in the older format without
    /// checksums) keeping every intact record. The damaged bytes go to
    /// JOURNAL.damaged and the original to JOURNAL.before-repair; the
    /// recipients whose records were damaged are unknown afterwards, so a
    /// resumed `send` sends them again.
    Repair {
        /// The campaign journal (not in use by a running `send`).
        #[arg(value_name = "JOURNAL")]
        journal: PathBuf,
    },
}

/// Runs the journal subcommand.
pub fn run(args: JournalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        JournalCommand::Repair { journal } => {
            let repaired = repair(&journal)?;
            let Some(backup) = &repaired.backup else {
                println!(
                    "{}: intact ({} records); nothing to repair",
                    journal.display(),
                    repaired.kept
                );
                return Ok(ExitCode::SUCCESS);
            };
            println!(
                "{}: kept {} records; the original is in {}",
                journal.display(),
                repaired.kept,
                backup.display()
            );
            if repaired.converted {
                println!("converted from the older format without checksums");
            }
            if let Some(set_aside) = &repaired.set_aside {
                let bytes: u64 = repaired.damaged.iter().map(|d| d.length).sum();
                println!(
                    "{} damaged stretch(es), {bytes} bytes, set aside in {}:",
                    repaired.damaged.len(),
                    set_aside.display()
                );
                for range in &repaired.damaged {
                    let who = if range.probable_recipients.is_empty() {
                        "recipients unknown".to_string()
                    } else {
                        format!("probably `{}`", range.probable_recipients.join("`, `"))
                    };
                    println!("  byte {}, {} bytes ({who})", range.offset, range.length);
                }
                println!(
                    "the recipients recorded there are no longer known: a resumed `send` sends them again"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
