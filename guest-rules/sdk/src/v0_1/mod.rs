//! Contract 0.1: the profile and campaign are resource handles, one
//! `decide` call per recipient. The views read through host calls; the
//! SDK's types are converted at the boundary.

#[allow(missing_docs)]
pub mod bindings;

pub use bindings::mailrules::rules::types::{Campaign, Profile};
use bindings::mailrules::rules::{host, types};

use crate::view::{CampaignView, ProfileView};
use crate::{
    Cart, CartItem, Consent, Decision, Engagement, OrderStats, RuleError, Timestamp, ViewedProduct,
};

impl ProfileView for Profile {
    fn id(&self) -> String {
        Profile::id(self)
    }
    fn email(&self) -> String {
        Profile::email(self)
    }
    fn first_name(&self) -> Option<String> {
        Profile::first_name(self)
    }
    fn last_name(&self) -> Option<String> {
        Profile::last_name(self)
    }
    fn locale(&self) -> Option<String> {
        Profile::locale(self)
    }
    fn timezone(&self) -> Option<String> {
        Profile::timezone(self)
    }
    fn country(&self) -> Option<String> {
        Profile::country(self)
    }
    fn birth_date(&self) -> Option<String> {
        Profile::birth_date(self)
    }
    fn subscribed_at(&self) -> Option<Timestamp> {
        Profile::subscribed_at(self)
    }
    fn consent(&self) -> Consent {
        let c = Profile::consent(self);
        Consent {
            email_marketing: c.email_marketing,
            tracking: c.tracking,
        }
    }
    fn orders(&self) -> OrderStats {
        let o = Profile::orders(self);
        OrderStats {
            count: o.count,
            total_spent_cents: o.total_spent_cents,
            first_order_at: o.first_order_at,
            last_order_at: o.last_order_at,
            orders_90d: o.orders_90d,
        }
    }
    fn currency(&self) -> Option<String> {
        Profile::currency(self)
    }
    fn order_categories(&self) -> Vec<String> {
        Profile::order_categories(self)
    }
    fn engagement(&self) -> Engagement {
        let e = Profile::engagement(self);
        Engagement {
            last_open_at: e.last_open_at,
            last_click_at: e.last_click_at,
            opens_30d: e.opens_30d,
            clicks_30d: e.clicks_30d,
            emails_received_30d: e.emails_received_30d,
        }
    }
    fn last_visit_at(&self) -> Option<Timestamp> {
        Profile::last_visit_at(self)
    }
    fn viewed_categories(&self) -> Vec<String> {
        Profile::viewed_categories(self)
    }
    fn has_viewed_category(&self, category: &str) -> bool {
        Profile::has_viewed_category(self, category)
    }
    fn viewed_products(&self) -> Vec<ViewedProduct> {
        Profile::viewed_products(self)
            .into_iter()
            .map(|p| ViewedProduct {
                sku: p.sku,
                category: p.category,
                price_cents: p.price_cents,
                viewed_at: p.viewed_at,
            })
            .collect()
    }
    fn cart(&self) -> Option<Cart> {
        Profile::cart(self).map(|cart| Cart {
            items: cart
                .items
                .into_iter()
                .map(|item| CartItem {
                    sku: item.sku,
                    name: item.name,
                    category: item.category,
                    price_cents: item.price_cents,
                    quantity: item.quantity,
                })
                .collect(),
            updated_at: cart.updated_at,
        })
    }
    fn tags(&self) -> Vec<String> {
        Profile::tags(self)
    }
    fn has_tag(&self, tag: &str) -> bool {
        Profile::has_tag(self, tag)
    }
    fn attributes(&self) -> Vec<u8> {
        Profile::attributes(self)
    }
}

impl CampaignView for Campaign {
    fn id(&self) -> String {
        Campaign::id(self)
    }
    fn now(&self) -> Timestamp {
        Campaign::now(self)
    }
    fn subject_variants(&self) -> Vec<String> {
        Campaign::subject_variants(self)
    }
    fn preheader_variants(&self) -> Vec<String> {
        Campaign::preheader_variants(self)
    }
    fn slots(&self) -> Vec<String> {
        Campaign::slots(self)
    }
    fn blocks(&self, slot: &str) -> Vec<String> {
        Campaign::blocks(self, slot)
    }
    fn has_subject(&self, id: &str) -> bool {
        Campaign::has_subject(self, id)
    }
    fn has_preheader(&self, id: &str) -> bool {
        Campaign::has_preheader(self, id)
    }
    fn has_block(&self, slot: &str, block: &str) -> bool {
        Campaign::has_block(self, slot, block)
    }
}

/// The contract's form of a rule's answer.
#[doc(hidden)]
pub fn to_wit(answer: Result<Decision, RuleError>) -> Result<types::Decision, types::RuleError> {
    match answer {
        Ok(d) => Ok(types::Decision {
            segments: d.segments.into_iter().map(Into::into).collect(),
            subject: d.subject.into(),
            preheader: d.preheader.into(),
            blocks: d
                .blocks
                .into_iter()
                .map(|c| types::SlotChoice {
                    slot: c.slot.into(),
                    block: c.block.into(),
                })
                .collect(),
            suppress: d.suppress.map(Into::into),
            reasons: d.reasons.into_iter().map(Into::into).collect(),
        }),
        Err(e) => Err(types::RuleError {
            code: wit_error_code(e.code),
            message: e.message,
        }),
    }
}

contract_glue!();

/// Exports a rule as the component's 0.1 `rule` interface.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_rule {
    ($rule:ty) => {
        const _: () = {
            struct MailrulesExport;

            impl $crate::v0_1::bindings::exports::mailrules::rules::rule::Guest for MailrulesExport {
                fn decide(
                    profile: &$crate::v0_1::Profile,
                    campaign: &$crate::v0_1::Campaign,
                ) -> ::core::result::Result<
                    $crate::v0_1::bindings::mailrules::rules::types::Decision,
                    $crate::v0_1::bindings::mailrules::rules::types::RuleError,
                > {
                    $crate::v0_1::to_wit(<$rule as $crate::Rule>::decide(profile, campaign))
                }
            }

            $crate::v0_1::bindings::export_component!(MailrulesExport with_types_in $crate::v0_1::bindings);
        };
    };
}
