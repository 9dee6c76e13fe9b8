//! A rule that misbehaves on demand, so the host's tests can prove every kind
//! of failure is contained to one recipient.
//!
//! The profile's first tag picks the behaviour:
//!
//! | tag | behaviour |
//! |---|---|
//! | `loop` | spins forever (out of fuel, or the deadline with a large fuel budget) |
//! | `recurse` | recurses without end (stack overflow) |
//! | `alloc` | allocates until memory runs out |
//! | `huge` | returns 1,000 segments of 1 KB each (1 MB of output) |
//! | `long-id` | returns a segment id of 10,000 bytes |
//! | `panic` | panics |
//! | `bad-id` | chooses a subject variant the campaign does not have |
//! | `rule-error` | reports a rule error |
//! | `log-flood` | writes 1 MiB to the log, stdout and stderr, then decides normally |
//! | `attributes` | decodes the custom attributes (`tier` required) and reports the tier |
//! | `sleep` | sleeps for an hour (the host refuses to wait) |
//! | `ambient` | reads the clock and randomness through WASI and reports them as reasons |
//! | `invent-ids` | puts the recipient in 32 segments and suppresses with a code, all made from its id (new ids for every recipient) |
//! | `impersonate` | suppresses with the host's code `no-consent` |
//! | `host-note` | decides normally but notes `fallback-block:hero` as if the host had |
//! | `busy` | computes for 20,000,000 loop iterations (well within a large fuel budget), then decides normally |
//! | `grow` | asks for 1 GiB more linear memory, reports what `memory.grow` returned (`grow:-1` when refused), then decides normally |
//! | `random` | reads 8 bytes of WASI randomness directly and reports them as `random:<u64>` |
//! | `undeclared` | reads the address, which it does not declare (contract 0.2 traps), and reports its length as `email-length:<n>` |
//! | anything else | decides normally: segment `well-behaved`, variant `default` |

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use mailrules_sdk::prelude::*;

/// The rule.
pub struct Misbehaving;

/// The custom attributes the `attributes` behaviour expects.
#[derive(serde::Deserialize)]
struct Attributes {
    tier: String,
}

impl Rule for Misbehaving {
    const FIELDS: &'static [Field] = &[Field::Id, Field::Tags, Field::Attributes];
    const SEGMENTS: &'static [&'static str] = &["well-behaved"];

    fn decide(
        profile: &impl ProfileView,
        campaign: &impl CampaignView,
    ) -> Result<Decision, RuleError> {
        let tags = profile.tags();
        let mut decision = normal_decision(campaign);
        match tags.first().map(String::as_str).unwrap_or("") {
            "loop" => spin(),
            "recurse" => {
                decision.add_reason(format!("depth:{}", recurse(black_box(1))));
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(Vec::with_capacity(4 << 20)));
                }
            }
            "huge" => {
                let padding = "x".repeat(1_000);
                decision.segments = (0..1_000)
                    .map(|i| format!("segment-{i}-{padding}").into())
                    .collect();
            }
            "long-id" => decision.add_segment("x".repeat(10_000)),
            "panic" => panic!("deliberate panic for profile {}", profile.id()),
            "bad-id" => decision.choose("no-such-variant", "default"),
            "rule-error" => {
                return Err(RuleError {
                    code: ErrorCode::MissingData,
                    message: "profile has no loyalty tier".to_string(),
                });
            }
            "log-flood" => {
                let line = "flood ".repeat(170);
                for _ in 0..1_000 {
                    log(LogLevel::Info, &line);
                    println!("{line}");
                    eprintln!("{line}");
                }
            }
            "attributes" => {
                let attributes: Attributes = decode_attributes(&profile.attributes())?;
                decision.add_reason(format!("tier:{}", attributes.tier));
            }
            "invent-ids" => {
                let id = fnv1a(profile.id().as_bytes());
                decision.segments = (0..32).map(|i| format!("s-{id:016x}-{i}").into()).collect();
                decision.suppress = Some(format!("c-{id:016x}").into());
            }
            "impersonate" => decision.suppress = Some("no-consent".into()),
            "host-note" => decision.add_reason("fallback-block:hero"),
            "sleep" => std::thread::sleep(std::time::Duration::from_secs(3_600)),
            "ambient" => {
                let since_epoch = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                decision.add_reason(format!("clock:{since_epoch}"));
                let random: u64 =
                    std::collections::hash_map::RandomState::new().hash_one(profile.id());
                decision.add_reason(format!("random:{random}"));
                decision.add_reason(format!("bucket:{}", ab_bucket("subject-test")));
            }
            "busy" => {
                decision.add_reason(format!("busy:{}", busy(BUSY_ITERATIONS)));
            }
            "grow" => {
                decision.add_reason(format!("grow:{}", grow(GROW_PAGES)));
            }
            "random" => decision.add_reason(format!("random:{}", random_u64())),
            "undeclared" => {
                decision.add_reason(format!("email-length:{}", profile.email().len()));
            }
            _ => {}
        }
        Ok(decision)
    }
}

use std::hash::BuildHasher;

fn normal_decision(campaign: &impl CampaignView) -> Decision {
    let mut decision = Decision::new("default", "default");
    decision.add_segment("well-behaved");
    for slot in campaign.slots() {
        if let Some(block) = campaign.blocks(&slot).into_iter().next() {
            decision.set_block(slot, block);
        }
    }
    decision
}

/// FNV-1a: a stable 64-bit hash, so ids made from it are the same on every
/// run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Recursion that keeps nothing in linear memory (no address-taken
/// locals), so it exhausts the engine's native wasm stack, not the guest's
/// shadow stack.
#[inline(never)]
fn recurse(start: u64) -> u64 {
    let depth = DEPTH.fetch_add(1, Ordering::Relaxed) + start;
    if depth == u64::MAX {
        return 0;
    }
    // Not a tail call, and not an accumulator the optimizer could fold.
    recurse(start).rotate_left((depth & 31) as u32) ^ depth
}

/// Loop iterations of the `busy` behaviour: about 100 million units of fuel.
const BUSY_ITERATIONS: u64 = 20_000_000;

/// Computation that takes CPU time but ends, with a result the optimizer
/// cannot predict.
#[inline(never)]
fn busy(iterations: u64) -> u64 {
    let mut state = black_box(0x9e37_79b9_7f4a_7c15u64);
    for i in 0..black_box(iterations) {
        state = black_box(state.rotate_left(5) ^ i);
    }
    state & 0xff
}

/// Pages (64 KiB each) the `grow` behaviour asks for: 1 GiB.
const GROW_PAGES: usize = 16_384;

/// What `memory.grow` returns: the old size in pages, or -1 when refused.
fn grow(pages: usize) -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        let old = core::arch::wasm32::memory_grow(0, black_box(pages));
        if old == usize::MAX { -1 } else { old as i64 }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = pages;
        -1
    }
}

#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    /// WASI's `random_get`: fills `len` bytes at `buf` from the host's
    /// random source.
    fn random_get(buf: *mut u8, len: usize) -> u16;
}

/// Eight bytes straight from the host's WASI random source, with no caching
/// in the guest's standard library.
fn random_u64() -> u64 {
    #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
    {
        let mut bytes = [0u8; 8];
        // SAFETY: `bytes` is a live, writable buffer of exactly the given
        // length.
        unsafe {
            random_get(bytes.as_mut_ptr(), bytes.len());
        }
        u64::from_le_bytes(bytes)
    }
    #[cfg(not(all(target_arch = "wasm32", target_os = "wasi")))]
    {
        0
    }
}

static DEPTH: AtomicU64 = AtomicU64::new(0);

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mailrules_sdk::export_rule!(Misbehaving);
