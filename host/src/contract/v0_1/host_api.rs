//! The host side of the `mailrules:rules` imports: the `profile` and
//! `campaign` getters, `host.log` and `host.ab-bucket`.
//!
//! Every getter reads the store's current profile or campaign; the resource
//! handle itself carries nothing (it is always a borrow the host lent).

use wasmtime::component::Resource;

use super::{host, types};
use crate::profile;
use crate::sandbox::{CampaignHandle, ProfileHandle, SandboxState};

fn consent(c: &profile::Consent) -> types::Consent {
    types::Consent {
        email_marketing: c.email_marketing,
        tracking: c.tracking,
    }
}

impl types::Host for SandboxState {}

impl types::HostProfile for SandboxState {
    fn id(&mut self, _: Resource<ProfileHandle>) -> String {
        self.profile.id.clone()
    }

    fn email(&mut self, _: Resource<ProfileHandle>) -> String {
        self.profile.email.clone()
    }

    fn first_name(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.first_name.clone()
    }

    fn last_name(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.last_name.clone()
    }

    fn locale(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.locale.clone()
    }

    fn timezone(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.timezone.clone()
    }

    fn country(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.country.clone()
    }

    fn birth_date(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.birth_date.clone()
    }

    fn subscribed_at(&mut self, _: Resource<ProfileHandle>) -> Option<i64> {
        self.profile.subscribed_at
    }

    fn consent(&mut self, _: Resource<ProfileHandle>) -> types::Consent {
        consent(&self.profile.consent)
    }

    fn orders(&mut self, _: Resource<ProfileHandle>) -> types::OrderStats {
        let o = &self.profile.orders;
        types::OrderStats {
            count: o.count,
            total_spent_cents: o.total_spent_cents,
            first_order_at: o.first_order_at,
            last_order_at: o.last_order_at,
            orders_90d: o.orders_90d,
        }
    }

    fn currency(&mut self, _: Resource<ProfileHandle>) -> Option<String> {
        self.profile.orders.currency.clone()
    }

    fn order_categories(&mut self, _: Resource<ProfileHandle>) -> Vec<String> {
        self.profile.orders.categories.clone()
    }

    fn engagement(&mut self, _: Resource<ProfileHandle>) -> types::Engagement {
        let e = &self.profile.engagement;
        types::Engagement {
            last_open_at: e.last_open_at,
            last_click_at: e.last_click_at,
            opens_30d: e.opens_30d,
            clicks_30d: e.clicks_30d,
            emails_received_30d: e.emails_received_30d,
        }
    }

    fn last_visit_at(&mut self, _: Resource<ProfileHandle>) -> Option<i64> {
        self.profile.behavior.last_visit_at
    }

    fn viewed_categories(&mut self, _: Resource<ProfileHandle>) -> Vec<String> {
        self.profile.behavior.viewed_categories.clone()
    }

    fn has_viewed_category(&mut self, _: Resource<ProfileHandle>, category: String) -> bool {
        self.profile.behavior.viewed_categories.contains(&category)
    }

    fn viewed_products(&mut self, _: Resource<ProfileHandle>) -> Vec<types::ViewedProduct> {
        self.profile
            .behavior
            .viewed_products
            .iter()
            .map(|p| types::ViewedProduct {
                sku: p.sku.clone(),
                category: p.category.clone(),
                price_cents: p.price_cents,
                viewed_at: p.viewed_at,
            })
            .collect()
    }

    fn cart(&mut self, _: Resource<ProfileHandle>) -> Option<types::Cart> {
        self.profile.behavior.cart.as_ref().map(|cart| types::Cart {
            items: cart
                .items
                .iter()
                .map(|item| types::CartItem {
                    sku: item.sku.clone(),
                    name: item.name.clone(),
                    category: item.category.clone(),
                    price_cents: item.price_cents,
                    quantity: item.quantity,
                })
                .collect(),
            updated_at: cart.updated_at,
        })
    }

    fn tags(&mut self, _: Resource<ProfileHandle>) -> Vec<String> {
        self.profile.tags.clone()
    }

    fn has_tag(&mut self, _: Resource<ProfileHandle>, tag: String) -> bool {
        self.profile.tags.contains(&tag)
    }

    fn attributes(&mut self, _: Resource<ProfileHandle>) -> Vec<u8> {
        self.profile.attributes.clone()
    }

    fn drop(&mut self, _: Resource<ProfileHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl types::HostCampaign for SandboxState {
    fn id(&mut self, _: Resource<CampaignHandle>) -> String {
        self.campaign.id.clone()
    }

    fn now(&mut self, _: Resource<CampaignHandle>) -> i64 {
        self.now
    }

    fn subject_variants(&mut self, _: Resource<CampaignHandle>) -> Vec<String> {
        self.campaign
            .subjects
            .iter()
            .map(|v| v.id.clone())
            .collect()
    }

    fn preheader_variants(&mut self, _: Resource<CampaignHandle>) -> Vec<String> {
        self.campaign
            .preheaders
            .iter()
            .map(|v| v.id.clone())
            .collect()
    }

    fn slots(&mut self, _: Resource<CampaignHandle>) -> Vec<String> {
        self.campaign.slots.iter().map(|s| s.name.clone()).collect()
    }

    fn blocks(&mut self, _: Resource<CampaignHandle>, slot: String) -> Vec<String> {
        self.campaign
            .slot(&slot)
            .map(|s| s.blocks.iter().map(|b| b.id.clone()).collect())
            .unwrap_or_default()
    }

    fn has_subject(&mut self, _: Resource<CampaignHandle>, id: String) -> bool {
        self.campaign.has_subject(&id)
    }

    fn has_preheader(&mut self, _: Resource<CampaignHandle>, id: String) -> bool {
        self.campaign.has_preheader(&id)
    }

    fn has_block(&mut self, _: Resource<CampaignHandle>, slot: String, block: String) -> bool {
        self.campaign.has_block(&slot, &block)
    }

    fn drop(&mut self, _: Resource<CampaignHandle>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl host::Host for SandboxState {
    fn log(&mut self, level: host::LogLevel, message: String) {
        let level = match level {
            host::LogLevel::Debug => "debug",
            host::LogLevel::Info => "info",
            host::LogLevel::Warn => "warn",
        };
        self.log.guest_line(level, &message);
    }

    fn ab_bucket(&mut self, salt: String) -> u32 {
        crate::bucket::ab_bucket(&self.campaign.id, &self.profile.id, &salt)
    }
}
