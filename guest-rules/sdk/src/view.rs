//! The profile and campaign as traits.
//!
//! A rule is written against these traits. Inside a 0.1 component they
//! are implemented over handles to data kept by the host (every call one
//! cheap host call); inside a 0.2 component over the batch the host sent
//! (every call reads it in place). The same code also runs natively over
//! any other implementation (unit tests, benchmarks against native code).

use crate::{Cart, Consent, Engagement, OrderStats, Timestamp, ViewedProduct};

/// Read access to one customer profile. See the WIT `profile` resource for
/// the meaning of every field.
pub trait ProfileView {
    /// The tenant's customer id.
    fn id(&self) -> String;
    /// The recipient's address.
    fn email(&self) -> String;
    /// Given name, if known.
    fn first_name(&self) -> Option<String>;
    /// Family name, if known.
    fn last_name(&self) -> Option<String>;
    /// BCP 47 locale, if known.
    fn locale(&self) -> Option<String>;
    /// IANA time zone, if known.
    fn timezone(&self) -> Option<String>;
    /// ISO 3166-1 alpha-2 country, if known.
    fn country(&self) -> Option<String>;
    /// Birth date as `YYYY-MM-DD`, if known.
    fn birth_date(&self) -> Option<String>;
    /// When the recipient subscribed, if known.
    fn subscribed_at(&self) -> Option<Timestamp>;
    /// Consent flags.
    fn consent(&self) -> Consent;
    /// Purchase history counters.
    fn orders(&self) -> OrderStats;
    /// Currency of the order totals, if known.
    fn currency(&self) -> Option<String>;
    /// Purchased categories, most purchased first.
    fn order_categories(&self) -> Vec<String>;
    /// Email engagement counters.
    fn engagement(&self) -> Engagement;
    /// Last site visit, if any.
    fn last_visit_at(&self) -> Option<Timestamp>;
    /// Browsed categories, most viewed first.
    fn viewed_categories(&self) -> Vec<String>;
    /// Whether the browsed categories contain `category`.
    fn has_viewed_category(&self, category: &str) -> bool;
    /// Products viewed, most recent first.
    fn viewed_products(&self) -> Vec<ViewedProduct>;
    /// The open cart, if any.
    fn cart(&self) -> Option<Cart>;
    /// The tenant's tags.
    fn tags(&self) -> Vec<String>;
    /// Whether the tags contain `tag`.
    fn has_tag(&self, tag: &str) -> bool;
    /// Custom attributes as one MessagePack map.
    fn attributes(&self) -> Vec<u8>;

    /// The first purchased category (most purchased first) for which `f`
    /// gives something. Reads in place where the implementation can (0.2);
    /// the default goes through [`ProfileView::order_categories`].
    fn find_order_category<T>(&self, mut f: impl FnMut(&str) -> Option<T>) -> Option<T> {
        self.order_categories().iter().find_map(|c| f(c))
    }

    /// The first browsed category (most viewed first) for which `f` gives
    /// something; see [`ProfileView::find_order_category`].
    fn find_viewed_category<T>(&self, mut f: impl FnMut(&str) -> Option<T>) -> Option<T> {
        self.viewed_categories().iter().find_map(|c| f(c))
    }

    /// Whether `f` holds for any viewed product, given its price in cents
    /// and when it was viewed; see [`ProfileView::find_order_category`].
    fn any_viewed_product(&self, mut f: impl FnMut(i64, Timestamp) -> bool) -> bool {
        self.viewed_products()
            .iter()
            .any(|p| f(p.price_cents, p.viewed_at))
    }

    /// The number of cart lines and when the cart last changed, if there is
    /// a cart; see [`ProfileView::find_order_category`].
    fn cart_summary(&self) -> Option<(usize, Timestamp)> {
        self.cart().map(|cart| (cart.items.len(), cart.updated_at))
    }
}

/// Read access to the campaign being sent.
pub trait CampaignView {
    /// The campaign id.
    fn id(&self) -> String;
    /// The send time: the only clock a rule sees.
    fn now(&self) -> Timestamp;
    /// Subject variant ids.
    fn subject_variants(&self) -> Vec<String>;
    /// Preheader variant ids.
    fn preheader_variants(&self) -> Vec<String>;
    /// Content slot names.
    fn slots(&self) -> Vec<String>;
    /// Block ids that may fill `slot`.
    fn blocks(&self, slot: &str) -> Vec<String>;
    /// Whether `id` is a subject variant.
    fn has_subject(&self, id: &str) -> bool;
    /// Whether `id` is a preheader variant.
    fn has_preheader(&self, id: &str) -> bool;
    /// Whether `block` may fill `slot`.
    fn has_block(&self, slot: &str, block: &str) -> bool;
}
