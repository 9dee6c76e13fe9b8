//! Running a rule over profiles through the library, as `mailrules eval`
//! does, and collecting the outcomes.

use std::path::Path;
use std::sync::Arc;

use mailrules::campaign::Campaign;
use mailrules::engine::RuleEngine;
use mailrules::evaluate::Evaluator;
use mailrules::limits::OperatorLimits;
use mailrules::outcome::Outcome;
use mailrules::profile_reader::{ProfileFormat, ProfileReader};
use mailrules::rule::LoadedRule;
use mailrules_integration::root;

/// The example campaign.
pub fn example_campaign() -> Campaign {
    Campaign::load(&root().join("examples/campaign.toml")).expect("the example campaign is valid")
}

/// The example campaign with extra TOML appended to its `[limits]` or
/// `[failure]` tables replaced.
pub fn campaign_with(replace: &[(&str, &str)]) -> Campaign {
    let mut text =
        std::fs::read_to_string(root().join("examples/campaign.toml")).expect("readable");
    for (from, to) in replace {
        assert!(text.contains(from), "example campaign has no `{from}`");
        text = text.replace(from, to);
    }
    Campaign::parse(&text, Path::new("test-campaign.toml")).expect("valid campaign")
}

/// Evaluates `rule` for every JSONL profile in `profiles`, on `jobs` threads.
pub fn evaluate(
    rule: &Path,
    campaign: Campaign,
    profiles: &[serde_json::Value],
    jobs: usize,
) -> Vec<Outcome> {
    let mut input = Vec::new();
    for p in profiles {
        input.extend(p.to_string().bytes());
        input.push(b'\n');
    }
    evaluate_bytes(rule, campaign, input, ProfileFormat::JsonLines, jobs)
}

/// Evaluates `rule` for every profile in `input`.
pub fn evaluate_bytes(
    rule: &Path,
    campaign: Campaign,
    input: Vec<u8>,
    format: ProfileFormat,
    jobs: usize,
) -> Vec<Outcome> {
    evaluate_batched(rule, campaign, input, format, jobs, 1)
}

/// Evaluates `rule` for every profile in `input`, one instance serving up
/// to `reuse` consecutive recipients.
pub fn evaluate_batched(
    rule: &Path,
    campaign: Campaign,
    input: Vec<u8>,
    format: ProfileFormat,
    jobs: usize,
    reuse: u64,
) -> Vec<Outcome> {
    evaluate_with(rule, campaign, input, format, jobs, |e| e.with_reuse(reuse))
}

/// Evaluates `rule` for every profile in `input` on `jobs` threads, a 0.2
/// rule deciding `batch` profiles per call.
pub fn evaluate_in_batches(
    rule: &Path,
    campaign: Campaign,
    input: Vec<u8>,
    jobs: usize,
    batch: usize,
) -> Vec<Outcome> {
    evaluate_with(rule, campaign, input, ProfileFormat::JsonLines, jobs, |e| {
        e.with_batch(batch)
    })
}

/// Evaluates `rule` for every profile in `input` with an evaluator set up
/// by `configure`.
fn evaluate_with(
    rule: &Path,
    campaign: Campaign,
    input: Vec<u8>,
    format: ProfileFormat,
    jobs: usize,
    configure: impl FnOnce(Evaluator) -> Evaluator,
) -> Vec<Outcome> {
    let engine = RuleEngine::new(OperatorLimits::default()).expect("engine");
    let loaded = LoadedRule::load(&engine, rule, None).expect("rule loads");
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let now = campaign.now.expect("test campaigns set now");
    let evaluator = configure(Evaluator::new(
        &engine,
        &loaded,
        Arc::new(campaign),
        limits,
        now,
    ));
    let reader = ProfileReader::new(std::io::Cursor::new(input), format);
    let mut outcomes = Vec::new();
    mailrules::run::run(&evaluator, reader, jobs, |processed| {
        outcomes.push(processed.outcome);
        Ok::<(), ()>(())
    })
    .expect("collecting never fails");
    outcomes
}

/// Profiles as JSONL bytes.
pub fn jsonl(profiles: &[serde_json::Value]) -> Vec<u8> {
    let mut input = Vec::new();
    for p in profiles {
        input.extend(p.to_string().bytes());
        input.push(b'\n');
    }
    input
}

/// The outcome as `mailrules eval` prints it without `--explain`.
pub fn as_printed(outcome: &Outcome) -> serde_json::Value {
    let mut outcome = outcome.clone();
    outcome.reasons = None;
    outcome.fuel = None;
    outcome.log = None;
    outcome.input = None;
    serde_json::to_value(outcome).expect("outcomes serialize")
}

/// A well-behaved profile with consent and the given tags.
pub fn tagged(id: &str, tag: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "email": format!("{id}@example.com"),
        "consent": { "email_marketing": true },
        "tags": [tag],
    })
}

/// `mailrules send` of the reference pack and the example campaign for
/// `profiles`, journaling to `journal`; add the transport and options.
pub fn send_command(profiles: &Path, journal: &Path) -> std::process::Command {
    send_campaign_command(&root().join("examples/campaign.toml"), profiles, journal)
}

/// `mailrules send` of the reference pack and `campaign` for `profiles`,
/// journaling to `journal`; add the transport and options.
pub fn send_campaign_command(
    campaign: &Path,
    profiles: &Path,
    journal: &Path,
) -> std::process::Command {
    let mut command = std::process::Command::new(mailrules_integration::mailrules_bin());
    command
        .args(["send", "--no-cache", "--rules"])
        .arg(mailrules_integration::rule("seed-segments"))
        .arg("--campaign")
        .arg(campaign)
        .arg("--profiles")
        .arg(profiles)
        .arg("--journal")
        .arg(journal);
    command
}

/// Writes `profiles` into `dir/profiles.jsonl` with every address moved to
/// `<profile id>@domain`, and returns the file.
pub fn addressed_to(
    dir: &Path,
    domain: &str,
    mut profiles: Vec<serde_json::Value>,
) -> std::path::PathBuf {
    for p in &mut profiles {
        p["email"] = serde_json::json!(format!(
            "{}@{domain}",
            p["id"].as_str().expect("profiles have ids")
        ));
    }
    let path = dir.join("profiles.jsonl");
    mailrules_integration::write_jsonl(&path, &profiles);
    path
}

/// Serialises the tests whose outcome depends on getting a CPU in time (a
/// deadline of a few ms, or threads that load one CPU on purpose), so they
/// do not starve one another.
pub fn cpu_heavy() -> std::sync::MutexGuard<'static, ()> {
    static CPU_HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CPU_HEAVY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
