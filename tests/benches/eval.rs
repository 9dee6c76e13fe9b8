//! Per-profile cost of the reference pack: the same logic compiled natively
//! into the host, next to the real component through the host's
//! fresh-sandbox-per-evaluation path, in one run, as a ratio.
//!
//! `cargo bench -p mailrules-integration --bench eval [-- PROFILES ROUNDS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use mailrules::profile::Profile;
use mailrules::{Campaign, Evaluator, OperatorLimits, RuleEngine};
use mailrules_integration::{generator, now, root, rule};
use mailrules_sdk::{CampaignView, ProfileView};

/// The host's parsed profile seen through the SDK's view, as a native rule
/// would read it.
struct Native<'a>(&'a Profile);

impl ProfileView for Native<'_> {
    fn id(&self) -> String {
        self.0.id.clone()
    }
    fn email(&self) -> String {
        self.0.email.clone()
    }
    fn first_name(&self) -> Option<String> {
        self.0.first_name.clone()
    }
    fn last_name(&self) -> Option<String> {
        self.0.last_name.clone()
    }
    fn locale(&self) -> Option<String> {
        self.0.locale.clone()
    }
    fn timezone(&self) -> Option<String> {
        self.0.timezone.clone()
    }
    fn country(&self) -> Option<String> {
        self.0.country.clone()
    }
    fn birth_date(&self) -> Option<String> {
        self.0.birth_date.clone()
    }
    fn subscribed_at(&self) -> Option<i64> {
        self.0.subscribed_at
    }
    fn consent(&self) -> mailrules_sdk::Consent {
        mailrules_sdk::Consent {
            email_marketing: self.0.consent.email_marketing,
            tracking: self.0.consent.tracking,
        }
    }
    fn orders(&self) -> mailrules_sdk::OrderStats {
        let o = &self.0.orders;
        mailrules_sdk::OrderStats {
            count: o.count,
            total_spent_cents: o.total_spent_cents,
            first_order_at: o.first_order_at,
            last_order_at: o.last_order_at,
            orders_90d: o.orders_90d,
        }
    }
    fn currency(&self) -> Option<String> {
        self.0.orders.currency.clone()
    }
    fn order_categories(&self) -> Vec<String> {
        self.0.orders.categories.clone()
    }
    fn engagement(&self) -> mailrules_sdk::Engagement {
        let e = &self.0.engagement;
        mailrules_sdk::Engagement {
            last_open_at: e.last_open_at,
            last_click_at: e.last_click_at,
            opens_30d: e.opens_30d,
            clicks_30d: e.clicks_30d,
            emails_received_30d: e.emails_received_30d,
        }
    }
    fn last_visit_at(&self) -> Option<i64> {
        self.0.behavior.last_visit_at
    }
    fn viewed_categories(&self) -> Vec<String> {
        self.0.behavior.viewed_categories.clone()
    }
    fn has_viewed_category(&self, category: &str) -> bool {
        self.0
            .behavior
            .viewed_categories
            .iter()
            .any(|c| c == category)
    }
    fn viewed_products(&self) -> Vec<mailrules_sdk::ViewedProduct> {
        self.0
            .behavior
            .viewed_products
            .iter()
            .map(|p| mailrules_sdk::ViewedProduct {
                sku: p.sku.clone(),
                category: p.category.clone(),
                price_cents: p.price_cents,
                viewed_at: p.viewed_at,
            })
            .collect()
    }
    fn cart(&self) -> Option<mailrules_sdk::Cart> {
        self.0.behavior.cart.as_ref().map(|c| mailrules_sdk::Cart {
            items: c
                .items
                .iter()
                .map(|i| mailrules_sdk::CartItem {
                    sku: i.sku.clone(),
                    name: i.name.clone(),
                    category: i.category.clone(),
                    price_cents: i.price_cents,
                    quantity: i.quantity,
                })
                .collect(),
            updated_at: c.updated_at,
        })
    }
    fn tags(&self) -> Vec<String> {
        self.0.tags.clone()
    }
    fn has_tag(&self, tag: &str) -> bool {
        self.0.tags.iter().any(|t| t == tag)
    }
    fn attributes(&self) -> Vec<u8> {
        self.0.attributes.clone()
    }
}

struct NativeCampaign<'a> {
    campaign: &'a Campaign,
    now: i64,
}

impl CampaignView for NativeCampaign<'_> {
    fn id(&self) -> String {
        self.campaign.id.clone()
    }
    fn now(&self) -> i64 {
        self.now
    }
    fn subject_variants(&self) -> Vec<String> {
        self.campaign
            .subjects
            .iter()
            .map(|v| v.id.clone())
            .collect()
    }
    fn preheader_variants(&self) -> Vec<String> {
        self.campaign
            .preheaders
            .iter()
            .map(|v| v.id.clone())
            .collect()
    }
    fn slots(&self) -> Vec<String> {
        self.campaign.slots.iter().map(|s| s.name.clone()).collect()
    }
    fn blocks(&self, slot: &str) -> Vec<String> {
        self.campaign
            .slot(slot)
            .map(|s| s.blocks.iter().map(|b| b.id.clone()).collect())
            .unwrap_or_default()
    }
    fn has_subject(&self, id: &str) -> bool {
        self.campaign.has_subject(id)
    }
    fn has_preheader(&self, id: &str) -> bool {
        self.campaign.has_preheader(id)
    }
    fn has_block(&self, slot: &str, block: &str) -> bool {
        self.campaign.has_block(slot, block)
    }
}

fn per_profile(elapsed: Duration, evaluations: usize) -> f64 {
    elapsed.as_nanos() as f64 / evaluations as f64
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);

    let campaign =
        Campaign::load(&root().join("examples/campaign.toml")).expect("example campaign");
    let now = now();
    let profiles: Vec<Arc<Profile>> = generator::profiles(count, 42, now)
        .into_iter()
        .map(|v| Arc::new(serde_json::from_value::<Profile>(v).expect("generated profiles parse")))
        .filter(|p| p.consent.email_marketing)
        .collect();
    let engine = RuleEngine::new(OperatorLimits::default()).expect("engine");
    let loaded = mailrules::LoadedRule::load(&engine, &rule("seed-segments"), None).expect("rule");
    let (limits, _) = engine.operator_limits().resolve(&campaign.limits);
    let evaluator = Evaluator::new(&engine, &loaded, Arc::new(campaign.clone()), limits, now);
    let batched = Evaluator::new(
        &engine,
        &loaded,
        Arc::new(campaign.clone()),
        evaluator.limits().clone(),
        now,
    )
    .with_reuse(64);
    let view = NativeCampaign {
        campaign: &campaign,
        now,
    };

    println!(
        "reference pack on {} consenting profiles, best of {rounds} rounds",
        profiles.len()
    );
    let mut native_best = f64::MAX;
    let mut wasm_best = f64::MAX;
    let mut batch_best = f64::MAX;
    let mut checksum = 0usize;
    for _ in 0..rounds {
        let started = Instant::now();
        for p in &profiles {
            let decision = seed_segments::decide(&Native(p), &view).expect("native decides");
            checksum += decision.segments.len();
        }
        native_best = native_best.min(per_profile(started.elapsed(), profiles.len()));

        let started = Instant::now();
        for p in &profiles {
            let evaluation = evaluator.evaluate(p.clone());
            checksum += evaluation.result.map(|d| d.segments.len()).unwrap_or(0);
        }
        wasm_best = wasm_best.min(per_profile(started.elapsed(), profiles.len()));

        let started = Instant::now();
        let mut session = batched.session();
        for (index, p) in profiles.iter().enumerate() {
            let evaluation = session.evaluate(index as u64, p.clone());
            checksum += evaluation.result.map(|d| d.segments.len()).unwrap_or(0);
        }
        batch_best = batch_best.min(per_profile(started.elapsed(), profiles.len()));
    }
    println!("{:<48} {:>12} {:>8}", "path", "ns/profile", "ratio");
    println!(
        "{:<48} {:>12.0} {:>8.1}",
        "native Rust (same logic, compiled into host)", native_best, 1.0
    );
    println!(
        "{:<48} {:>12.0} {:>8.1}",
        "WASM component, fresh sandbox per evaluation",
        wasm_best,
        wasm_best / native_best
    );
    println!(
        "{:<48} {:>12.0} {:>8.1}",
        "WASM component, one instance per 64 (--reuse 64)",
        batch_best,
        batch_best / native_best
    );
    println!("(checksum {checksum})");
}
