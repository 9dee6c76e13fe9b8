//! A deterministic generator of large, varied profile sets: realistic
//! purchase histories, times that land exactly on and one second off every
//! window boundary of the reference pack, future times, missing and null
//! sections, missing or refused consent, and hostile names.

use serde_json::{Value, json};

/// A small, fast, seeded PRNG (xorshift64*), so every run sees the same set.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const DAY: i64 = 86_400;
/// Window lengths of the reference pack, in days.
const BOUNDARIES: [i64; 8] = [1, 7, 30, 60, 90, 180, 365, 0];
const CATEGORIES: [&str; 11] = [
    "outdoor",
    "fashion",
    "electronics",
    "home",
    "beauty",
    "books",
    "music",
    "garden",
    "toys",
    "groceries",
    "pets",
];
const BROWSED: [&str; 8] = [
    "sale",
    "clearance",
    "outdoor",
    "fashion",
    "electronics",
    "garden",
    "beauty",
    "toys",
];
const NAMES: [&str; 14] = [
    "Anna",
    "José",
    "Zoë",
    "李小龙",
    "O'Brien",
    "Mallory\r\nBcc: victim@example.com",
    "Eve\nX-Injected: yes",
    "=?utf-8?q?encoded?=",
    "Null\u{0000}Byte",
    "<script>alert(1)</script>",
    "🌲 Forest",
    "",
    "   ",
    "Bartholomew-Maximilian",
];

/// A time `now - seconds_ago` as RFC 3339.
fn at(now: i64, seconds_ago: i64) -> Value {
    let t = chrono::DateTime::from_timestamp(now - seconds_ago, 0).expect("in range");
    Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A time in the past (sometimes the future), biased towards window
/// boundaries: exactly on one, or a second either side.
fn time_ago(rng: &mut Rng, now: i64) -> Value {
    let seconds = match rng.below(10) {
        0..=3 => {
            let days = *rng.pick(&BOUNDARIES);
            days * DAY + *rng.pick(&[-1i64, 0, 1])
        }
        4 => -(rng.below(20) as i64 * DAY + 1),
        5..=7 => rng.below(120 * DAY as u64) as i64,
        _ => rng.below(900 * DAY as u64) as i64,
    };
    at(now, seconds)
}

fn maybe_time(rng: &mut Rng, now: i64, percent: u64) -> Value {
    if rng.chance(percent) {
        time_ago(rng, now)
    } else {
        Value::Null
    }
}

fn categories(rng: &mut Rng, from: &[&str], max: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for _ in 0..rng.below(max + 1) {
        let c = rng.pick(from).to_string();
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// `count` profiles from `seed`, with campaign time `now`.
pub fn profiles(count: usize, seed: u64, now: i64) -> Vec<Value> {
    let mut rng = Rng::new(seed);
    (0..count).map(|i| profile(&mut rng, i, now)).collect()
}

fn profile(rng: &mut Rng, index: usize, now: i64) -> Value {
    let id = format!("gen-{index:06}");
    let mut p = json!({ "id": id, "email": format!("{id}@example.com") });
    let obj = p.as_object_mut().expect("object");
    match rng.below(20) {
        0 => {}
        1 => {
            obj.insert(
                "consent".into(),
                json!({ "email_marketing": false, "tracking": true }),
            );
        }
        _ => {
            obj.insert(
                "consent".into(),
                json!({ "email_marketing": true, "tracking": rng.chance(50) }),
            );
        }
    }
    if rng.chance(85) {
        let name = rng.pick(&NAMES);
        obj.insert("first_name".into(), json!(name));
    } else if rng.chance(50) {
        obj.insert("first_name".into(), Value::Null);
    }
    if rng.chance(50) {
        obj.insert("last_name".into(), json!("Smith\r\nSubject: hijacked"));
    }
    obj.insert("subscribed_at".into(), maybe_time(rng, now, 90));

    let count = match rng.below(20) {
        0..=5 => 0,
        6..=10 => 1,
        11..=16 => 2 + rng.below(4),
        _ => 6 + rng.below(35),
    };
    if count > 0 || rng.chance(50) {
        let last = if count > 0 {
            time_ago(rng, now)
        } else {
            Value::Null
        };
        obj.insert(
            "orders".into(),
            json!({
                "count": count,
                "total_spent_cents": count * (500 + rng.below(40_000)),
                "currency": "EUR",
                "first_order_at": if count > 0 { at(now, 1000 * DAY) } else { Value::Null },
                "last_order_at": last,
                "orders_90d": if count > 0 { rng.below(count.min(5) + 1) } else { 0 },
                "categories": categories(rng, &CATEGORIES, 3),
            }),
        );
    }
    if rng.chance(85) {
        obj.insert(
            "engagement".into(),
            json!({
                "last_open_at": maybe_time(rng, now, 70),
                "last_click_at": maybe_time(rng, now, 45),
                "opens_30d": rng.below(12),
                "clicks_30d": rng.below(5),
                "emails_received_30d": rng.below(15),
            }),
        );
    }
    if rng.chance(80) {
        let products: Vec<Value> = (0..rng.below(4))
            .map(|k| {
                json!({
                    "sku": format!("SKU-{k}"),
                    "category": rng.pick(&CATEGORIES),
                    "price_cents": *rng.pick(&[9_999u64, 10_000, 10_001, 2_500, 25_000, 150_000]),
                    "viewed_at": time_ago(rng, now),
                })
            })
            .collect();
        let cart = if rng.chance(35) {
            let items: Vec<Value> = (0..rng.below(4))
                .map(|k| {
                    json!({
                        "sku": format!("CART-{k}"),
                        "name": "Item \"quoted\"",
                        "category": rng.pick(&CATEGORIES),
                        "price_cents": 1_000 + rng.below(20_000),
                        "quantity": 1 + rng.below(3),
                    })
                })
                .collect();
            let updated = if rng.chance(60) {
                at(now, rng.below(2 * DAY as u64) as i64 - 3600)
            } else {
                time_ago(rng, now)
            };
            json!({ "items": items, "updated_at": updated })
        } else {
            Value::Null
        };
        obj.insert(
            "behavior".into(),
            json!({
                "last_visit_at": maybe_time(rng, now, 60),
                "viewed_categories": categories(rng, &BROWSED, 3),
                "viewed_products": products,
                "cart": cart,
            }),
        );
    }
    if rng.chance(30) {
        obj.insert("tags".into(), json!(["newsletter", "x\r\nBcc: y@z"]));
    }
    if rng.chance(30) {
        obj.insert(
            "attributes".into(),
            json!({ "tier": rng.pick(&["gold", "silver"]), "points": rng.below(10_000) }),
        );
    }
    p
}

/// Writes `count` profiles from `seed` as JSON Lines, generated in slices of
/// 10,000 so memory stays small for millions; ids are `gen-<8 digits>` and
/// unique across slices.
pub fn write_jsonl(
    out: &mut impl std::io::Write,
    count: usize,
    seed: u64,
    now: i64,
) -> std::io::Result<()> {
    let mut written = 0;
    let mut round = 0u64;
    while written < count {
        let n = (count - written).min(10_000);
        for (i, mut profile) in profiles(n, seed.wrapping_add(round), now)
            .into_iter()
            .enumerate()
        {
            profile["id"] = json!(format!("gen-{:08}", written + i));
            profile["email"] = json!(format!("gen-{:08}@example.com", written + i));
            serde_json::to_writer(&mut *out, &profile)?;
            out.write_all(b"\n")?;
        }
        written += n;
        round += 1;
    }
    out.flush()
}
