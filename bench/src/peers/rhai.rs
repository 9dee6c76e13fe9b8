//! The reference pack as a Rhai script: one engine and one compiled script,
//! the profile and campaign behind registered getters and methods (the way
//! the Rhai book recommends exposing host types), a fresh scope per call.

use std::sync::Arc;

use mailrules::Campaign;
use mailrules::profile::Profile;
use rhai::{AST, Array, Dynamic, Engine, Map, Scope};

use super::PlainDecision;

/// The script, as shipped in `bench/rules/`.
pub const SCRIPT: &str = include_str!("../../rules/seed_segments.rhai");

/// The profile as the script sees it.
#[derive(Clone)]
struct ProfileRef(Arc<Profile>);

/// The campaign as the script sees it.
#[derive(Clone)]
struct CampaignRef(Arc<Campaign>);

/// A compiled script ready to decide for many profiles.
pub struct RhaiRule {
    engine: Engine,
    ast: AST,
    campaign: CampaignRef,
    now: i64,
}

fn time(t: Option<i64>) -> Dynamic {
    t.map_or(Dynamic::UNIT, Dynamic::from)
}

fn strings(items: &[String]) -> Array {
    items.iter().map(|s| Dynamic::from(s.clone())).collect()
}

impl RhaiRule {
    /// Compiles the script for `campaign` at time `now`.
    pub fn new(campaign: Arc<Campaign>, now: i64) -> anyhow::Result<Self> {
        let mut engine = Engine::new();
        engine
            .register_type_with_name::<ProfileRef>("Profile")
            .register_get("subscribed_at", |p: &mut ProfileRef| {
                time(p.0.subscribed_at)
            })
            .register_get("orders_count", |p: &mut ProfileRef| {
                i64::from(p.0.orders.count)
            })
            .register_get("total_spent_cents", |p: &mut ProfileRef| {
                p.0.orders.total_spent_cents
            })
            .register_get("orders_90d", |p: &mut ProfileRef| {
                i64::from(p.0.orders.orders_90d)
            })
            .register_get("last_order_at", |p: &mut ProfileRef| {
                time(p.0.orders.last_order_at)
            })
            .register_get("order_categories", |p: &mut ProfileRef| {
                strings(&p.0.orders.categories)
            })
            .register_get("last_open_at", |p: &mut ProfileRef| {
                time(p.0.engagement.last_open_at)
            })
            .register_get("last_click_at", |p: &mut ProfileRef| {
                time(p.0.engagement.last_click_at)
            })
            .register_get("last_visit_at", |p: &mut ProfileRef| {
                time(p.0.behavior.last_visit_at)
            })
            .register_get("viewed_categories", |p: &mut ProfileRef| {
                strings(&p.0.behavior.viewed_categories)
            })
            .register_get("viewed_products", |p: &mut ProfileRef| {
                p.0.behavior
                    .viewed_products
                    .iter()
                    .map(|v| {
                        let mut product = Map::new();
                        product.insert("price_cents".into(), Dynamic::from(v.price_cents));
                        product.insert("viewed_at".into(), Dynamic::from(v.viewed_at));
                        Dynamic::from_map(product)
                    })
                    .collect::<Array>()
            })
            .register_get("cart_items", |p: &mut ProfileRef| {
                p.0.behavior
                    .cart
                    .as_ref()
                    .map_or(0, |c| c.items.len() as i64)
            })
            .register_get("cart_updated_at", |p: &mut ProfileRef| {
                time(p.0.behavior.cart.as_ref().map(|c| c.updated_at))
            })
            .register_fn("has_viewed_category", |p: &mut ProfileRef, c: &str| {
                p.0.behavior.viewed_categories.iter().any(|v| v == c)
            });
        engine
            .register_type_with_name::<CampaignRef>("Campaign")
            .register_fn(
                "has_block",
                |c: &mut CampaignRef, slot: &str, block: &str| c.0.has_block(slot, block),
            );
        let ast = engine
            .compile(SCRIPT)
            .map_err(|e| anyhow::anyhow!("seed_segments.rhai: {e}"))?;
        Ok(RhaiRule {
            engine,
            ast,
            campaign: CampaignRef(campaign),
            now,
        })
    }

    /// Runs the script for one profile.
    pub fn decide(&self, profile: &Arc<Profile>) -> anyhow::Result<PlainDecision> {
        let mut scope = Scope::new();
        let decision: Map = self
            .engine
            .call_fn(
                &mut scope,
                &self.ast,
                "decide",
                (ProfileRef(profile.clone()), self.campaign.clone(), self.now),
            )
            .map_err(|e| anyhow::anyhow!("rhai: {e}"))?;
        plain(decision)
    }
}

fn text(value: &Dynamic) -> anyhow::Result<String> {
    value
        .clone()
        .into_string()
        .map_err(|t| anyhow::anyhow!("expected a string, got {t}"))
}

fn texts(map: &Map, key: &str) -> anyhow::Result<Vec<String>> {
    let list = map
        .get(key)
        .and_then(|v| v.clone().try_cast::<Array>())
        .ok_or_else(|| anyhow::anyhow!("`{key}` is not an array"))?;
    list.iter().map(text).collect()
}

fn plain(map: Map) -> anyhow::Result<PlainDecision> {
    let field = |key: &str| {
        map.get(key)
            .ok_or_else(|| anyhow::anyhow!("no `{key}` in the decision"))
    };
    let blocks = field("blocks")?
        .clone()
        .try_cast::<Array>()
        .ok_or_else(|| anyhow::anyhow!("`blocks` is not an array"))?
        .into_iter()
        .map(|pair| {
            let pair = pair
                .try_cast::<Array>()
                .ok_or_else(|| anyhow::anyhow!("a block is not a pair"))?;
            Ok((text(&pair[0])?, text(&pair[1])?))
        })
        .collect::<anyhow::Result<_>>()?;
    let suppress = field("suppress")?;
    Ok(PlainDecision {
        segments: texts(&map, "segments")?,
        subject: text(field("subject")?)?,
        preheader: text(field("preheader")?)?,
        blocks,
        suppress: if suppress.is_unit() {
            None
        } else {
            Some(text(suppress)?)
        },
        reasons: texts(&map, "reasons")?,
    })
}
