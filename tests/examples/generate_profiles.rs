//! Writes a large, varied profile set as JSON Lines to stdout: the same
//! generator the integration tests check the reference pack against.
//!
//! `cargo run --release -p mailrules-integration --example generate_profiles -- COUNT [SEED] > profiles.jsonl`

use std::io::Write;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let now = mailrules_integration::now();
    // Generate in slices so memory stays small for millions of profiles.
    let mut written = 0;
    let mut round = 0u64;
    while written < count {
        let n = (count - written).min(10_000);
        for (i, mut profile) in
            mailrules_integration::generator::profiles(n, seed.wrapping_add(round), now)
                .into_iter()
                .enumerate()
        {
            profile["id"] = serde_json::json!(format!("gen-{:08}", written + i));
            profile["email"] = serde_json::json!(format!("gen-{:08}@example.com", written + i));
            serde_json::to_writer(&mut out, &profile)?;
            out.write_all(b"\n")?;
        }
        written += n;
        round += 1;
    }
    out.flush()
}
