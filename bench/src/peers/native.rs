//! The reference pack compiled into the host: the SDK's views implemented
//! over the host's parsed profile and campaign, so `seed_segments::decide`
//! runs natively on exactly what the component sees through its getters.

use mailrules::Campaign;
use mailrules::profile::Profile;
use mailrules_sdk::{CampaignView, ProfileView};

/// The host's parsed profile seen through the SDK's view, as a native rule
/// would read it.
pub struct Native<'a>(pub &'a Profile);

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

/// The campaign seen through the SDK's view.
pub struct NativeCampaign<'a> {
    /// The campaign.
    pub campaign: &'a Campaign,
    /// The campaign time.
    pub now: i64,
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
