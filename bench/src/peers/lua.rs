//! The reference pack as Lua 5.4 (mlua): one Lua state and one compiled
//! function; each profile becomes a Lua table (the usual way to hand data to
//! Lua), the campaign's recommendation blocks a set built once.

use mailrules::Campaign;
use mailrules::profile::Profile;
use mlua::{Function, Lua, Table};

use super::PlainDecision;

/// The script, as shipped in `bench/rules/`.
pub const SCRIPT: &str = include_str!("../../rules/seed_segments.lua");

/// A loaded script ready to decide for many profiles.
pub struct LuaRule {
    lua: Lua,
    decide: Function,
    campaign: Table,
    now: i64,
}

impl LuaRule {
    /// Loads the script for `campaign` at time `now`.
    pub fn new(campaign: &Campaign, now: i64) -> anyhow::Result<Self> {
        let lua = Lua::new();
        let decide: Function = lua
            .load(SCRIPT)
            .set_name("seed_segments.lua")
            .eval()
            .map_err(lua_error)?;
        let blocks = lua.create_table().map_err(lua_error)?;
        for slot in &campaign.slots {
            if slot.name == "recommendations" {
                for block in &slot.blocks {
                    blocks.raw_set(block.id.as_str(), true).map_err(lua_error)?;
                }
            }
        }
        let table = lua.create_table().map_err(lua_error)?;
        table.raw_set("rec_blocks", blocks).map_err(lua_error)?;
        Ok(LuaRule {
            lua,
            decide,
            campaign: table,
            now,
        })
    }

    /// Runs the script for one profile.
    pub fn decide(&self, profile: &Profile) -> anyhow::Result<PlainDecision> {
        let table = self.profile_table(profile).map_err(lua_error)?;
        let decision: Table = self
            .decide
            .call((table, &self.campaign, self.now))
            .map_err(lua_error)?;
        plain(&decision).map_err(lua_error)
    }

    fn profile_table(&self, p: &Profile) -> mlua::Result<Table> {
        let lua = &self.lua;
        let t = lua.create_table_with_capacity(0, 16)?;
        t.raw_set("subscribed_at", p.subscribed_at)?;
        t.raw_set("orders_count", p.orders.count)?;
        t.raw_set("total_spent_cents", p.orders.total_spent_cents)?;
        t.raw_set("orders_90d", p.orders.orders_90d)?;
        t.raw_set("last_order_at", p.orders.last_order_at)?;
        t.raw_set(
            "order_categories",
            lua.create_sequence_from(p.orders.categories.iter().map(String::as_str))?,
        )?;
        t.raw_set("last_open_at", p.engagement.last_open_at)?;
        t.raw_set("last_click_at", p.engagement.last_click_at)?;
        t.raw_set("last_visit_at", p.behavior.last_visit_at)?;
        t.raw_set(
            "viewed_categories",
            lua.create_sequence_from(p.behavior.viewed_categories.iter().map(String::as_str))?,
        )?;
        let products = lua.create_table_with_capacity(p.behavior.viewed_products.len(), 0)?;
        for (i, v) in p.behavior.viewed_products.iter().enumerate() {
            let product = lua.create_table_with_capacity(0, 2)?;
            product.raw_set("price_cents", v.price_cents)?;
            product.raw_set("viewed_at", v.viewed_at)?;
            products.raw_set(i + 1, product)?;
        }
        t.raw_set("viewed_products", products)?;
        if let Some(cart) = &p.behavior.cart {
            let c = lua.create_table_with_capacity(0, 2)?;
            let items = lua.create_table_with_capacity(cart.items.len(), 0)?;
            for (i, item) in cart.items.iter().enumerate() {
                let entry = lua.create_table_with_capacity(0, 2)?;
                entry.raw_set("sku", item.sku.as_str())?;
                entry.raw_set("quantity", item.quantity)?;
                items.raw_set(i + 1, entry)?;
            }
            c.raw_set("items", items)?;
            c.raw_set("updated_at", cart.updated_at)?;
            t.raw_set("cart", c)?;
        }
        Ok(t)
    }
}

fn plain(decision: &Table) -> mlua::Result<PlainDecision> {
    let blocks = decision
        .get::<Vec<Table>>("blocks")?
        .iter()
        .map(|pair| Ok((pair.get::<String>(1)?, pair.get::<String>(2)?)))
        .collect::<mlua::Result<_>>()?;
    Ok(PlainDecision {
        segments: decision.get("segments")?,
        subject: decision.get("subject")?,
        preheader: decision.get("preheader")?,
        blocks,
        suppress: decision.get("suppress")?,
        reasons: decision.get("reasons")?,
    })
}

fn lua_error(error: mlua::Error) -> anyhow::Error {
    anyhow::anyhow!("lua: {error}")
}
