//! Writes a large, varied profile set as JSON Lines to stdout: the same
//! generator the integration tests check the reference pack against.
//!
//! `cargo run --release -p mailrules-integration --example generate_profiles -- COUNT [SEED] > profiles.jsonl`

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    mailrules_integration::generator::write_jsonl(
        &mut out,
        count,
        seed,
        mailrules_integration::now(),
    )
}
