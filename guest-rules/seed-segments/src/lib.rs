//! # seed-segments: the reference rule pack
//!
//! Segments every recipient by lifecycle, purchases, engagement and browsing,
//! then picks the subject and preheader variant, the hero block and a
//! product-recommendation block. The rules, with `now` the campaign time and
//! `within(t, d)` meaning "t is set and now − d days ≤ t ≤ now":
//!
//! | segment | when |
//! |---|---|
//! | `new-subscriber` | within(subscribed_at, 30) and no orders |
//! | `recent-buyer` | within(last_order_at, 7) |
//! | `repeat-buyer` | 2 or more orders |
//! | `lapsed-customer` | at least one order, none within 180 days |
//! | `high-value-loyal` | spent > 500.00, 2+ orders in 90 days, opened or clicked within 90 days |
//! | `active` | opened or clicked within 30 days |
//! | `inactive` | no open, click or subscription within 60 days |
//! | `dormant` | inactive, no visit and no order within 60 days |
//! | `cart-abandoner` | a non-empty cart changed within 1 day, after the last order |
//! | `browser-at-risk` | viewed a product of 100.00+ within 30 days, no order within 30 days |
//! | `bargain-hunter` | browsed `sale` or `clearance`, no order within 30 days, opened within 30 days |
//!
//! Dormant recipients who never opened or clicked and subscribed over a year
//! ago are suppressed with reason `sunset`. Otherwise the variant is the
//! first match of cart-abandoner → `cart-reminder`, new-subscriber →
//! `welcome`, high-value-loyal → `vip`, recent-buyer → `thank-you`,
//! browser-at-risk → `browse-reminder`, bargain-hunter → `sale`, dormant or
//! inactive → `we-miss-you`, else `default`. Slot `hero` gets
//! `hero-<variant>`; slot `recommendations` gets `rec-<category>` for the
//! first purchased, then browsed, category the campaign has a block for, else
//! `rec-bestsellers`.
//!
//! The logic is written against [`ProfileView`] and [`CampaignView`], so the
//! host's benchmarks run the very same code natively.

use mailrules_sdk::{
    CampaignView, Decision, Engagement, Field, Id, OrderStats, ProfileView, RuleError, Timestamp,
    within_days,
};

/// Price from which a viewed product counts as a high-value view (100.00).
const HIGH_VALUE_VIEW_CENTS: i64 = 10_000;
/// Lifetime spend above which a customer can be high-value-loyal (500.00).
const HIGH_VALUE_SPEND_CENTS: i64 = 50_000;
/// Slot that shows the variant's hero block.
const HERO_SLOT: &str = "hero";
/// Slot that shows product recommendations.
const RECOMMENDATIONS_SLOT: &str = "recommendations";

/// Which segments a recipient is in.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Segments {
    /// Subscribed within 30 days and never ordered.
    pub new_subscriber: bool,
    /// Ordered within 7 days.
    pub recent_buyer: bool,
    /// Two or more orders.
    pub repeat_buyer: bool,
    /// Ordered before, not within 180 days.
    pub lapsed_customer: bool,
    /// Big spender, ordering and engaging.
    pub high_value_loyal: bool,
    /// Opened or clicked within 30 days.
    pub active: bool,
    /// No open, click or subscription within 60 days.
    pub inactive: bool,
    /// Inactive, and no visit or order within 60 days.
    pub dormant: bool,
    /// Left a fresh cart behind.
    pub cart_abandoner: bool,
    /// Viewed an expensive product lately without buying.
    pub browser_at_risk: bool,
    /// Browses sales, opens mail, hasn't bought lately.
    pub bargain_hunter: bool,
}

impl Segments {
    /// Segment ids in their documented order.
    pub fn ids(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.new_subscriber, "new-subscriber"),
            (self.recent_buyer, "recent-buyer"),
            (self.repeat_buyer, "repeat-buyer"),
            (self.lapsed_customer, "lapsed-customer"),
            (self.high_value_loyal, "high-value-loyal"),
            (self.active, "active"),
            (self.inactive, "inactive"),
            (self.dormant, "dormant"),
            (self.cart_abandoner, "cart-abandoner"),
            (self.browser_at_risk, "browser-at-risk"),
            (self.bargain_hunter, "bargain-hunter"),
        ]
        .into_iter()
        .filter_map(|(member, id)| member.then_some(id))
    }

    /// The subject and preheader variant, with the segment that chose it.
    pub fn variant(&self) -> (&'static str, &'static str) {
        if self.cart_abandoner {
            ("cart-reminder", "cart-abandoner")
        } else if self.new_subscriber {
            ("welcome", "new-subscriber")
        } else if self.high_value_loyal {
            ("vip", "high-value-loyal")
        } else if self.recent_buyer {
            ("thank-you", "recent-buyer")
        } else if self.browser_at_risk {
            ("browse-reminder", "browser-at-risk")
        } else if self.bargain_hunter {
            ("sale", "bargain-hunter")
        } else if self.dormant {
            ("we-miss-you", "dormant")
        } else if self.inactive {
            ("we-miss-you", "inactive")
        } else {
            ("default", "no-segment-variant")
        }
    }
}

/// The profile fields both the segments and the sunset check use, read
/// from the host once.
struct Basics {
    orders: OrderStats,
    engagement: Engagement,
    subscribed_at: Option<Timestamp>,
}

impl Basics {
    fn read(profile: &impl ProfileView) -> Basics {
        Basics {
            orders: profile.orders(),
            engagement: profile.engagement(),
            subscribed_at: profile.subscribed_at(),
        }
    }
}

/// Works out the segments of one profile at time `now`.
pub fn segments(profile: &impl ProfileView, now: Timestamp) -> Segments {
    segments_of(profile, &Basics::read(profile), now)
}

fn segments_of(profile: &impl ProfileView, basics: &Basics, now: Timestamp) -> Segments {
    let within = |t: Option<Timestamp>, days: i64| within_days(t, now, days);
    let Basics {
        orders,
        engagement,
        subscribed_at,
    } = basics;
    let subscribed_at = *subscribed_at;
    let last_order_at = orders.last_order_at;
    let opened_or_clicked =
        |days| within(engagement.last_open_at, days) || within(engagement.last_click_at, days);

    let inactive = !opened_or_clicked(60) && !within(subscribed_at, 60);
    let dormant = inactive && !within(profile.last_visit_at(), 60) && !within(last_order_at, 60);
    let ordered_within_30 = within(last_order_at, 30);

    let cart_abandoner = profile.cart_summary().is_some_and(|(items, updated_at)| {
        items > 0
            && within(Some(updated_at), 1)
            && last_order_at.is_none_or(|ordered| ordered < updated_at)
    });
    let browser_at_risk = !ordered_within_30
        && profile.any_viewed_product(|price_cents, viewed_at| {
            price_cents >= HIGH_VALUE_VIEW_CENTS && within(Some(viewed_at), 30)
        });
    let bargain_hunter = !ordered_within_30
        && within(engagement.last_open_at, 30)
        && (profile.has_viewed_category("sale") || profile.has_viewed_category("clearance"));

    Segments {
        new_subscriber: within(subscribed_at, 30) && orders.count == 0,
        recent_buyer: within(last_order_at, 7),
        repeat_buyer: orders.count >= 2,
        lapsed_customer: orders.count >= 1 && !within(last_order_at, 180),
        high_value_loyal: orders.total_spent_cents > HIGH_VALUE_SPEND_CENTS
            && orders.orders_90d >= 2
            && opened_or_clicked(90),
        active: opened_or_clicked(30),
        inactive,
        dormant,
        cart_abandoner,
        browser_at_risk,
        bargain_hunter,
    }
}

/// The full decision for one recipient.
pub fn decide(
    profile: &impl ProfileView,
    campaign: &impl CampaignView,
) -> Result<Decision, RuleError> {
    let now = campaign.now();
    let basics = Basics::read(profile);
    let segments = segments_of(profile, &basics, now);
    let mut decision = Decision::new("", "");
    decision.segments = segments.ids().map(Into::into).collect();

    let engagement = &basics.engagement;
    let never_engaged = engagement.last_open_at.is_none() && engagement.last_click_at.is_none();
    if segments.dormant && never_engaged && !within_days(basics.subscribed_at, now, 365) {
        decision.suppress = Some("sunset".into());
        decision.add_reason("sunset:dormant-never-engaged");
        return Ok(decision);
    }

    let (variant, because) = segments.variant();
    decision.choose(variant, variant);
    decision.add_reason(variant_reason(variant, because));
    decision.set_block(HERO_SLOT, hero_block(variant));

    let (block, source) = recommendation(profile, campaign);
    decision.set_block(RECOMMENDATIONS_SLOT, block);
    decision.add_reason(source);
    Ok(decision)
}

/// The reason code `variant:<variant><-<segment>`, spelled out for every
/// pair [`Segments::variant`] returns (no allocation).
fn variant_reason(variant: &'static str, because: &'static str) -> Id {
    let known = match (variant, because) {
        ("cart-reminder", "cart-abandoner") => "variant:cart-reminder<-cart-abandoner",
        ("welcome", "new-subscriber") => "variant:welcome<-new-subscriber",
        ("vip", "high-value-loyal") => "variant:vip<-high-value-loyal",
        ("thank-you", "recent-buyer") => "variant:thank-you<-recent-buyer",
        ("browse-reminder", "browser-at-risk") => "variant:browse-reminder<-browser-at-risk",
        ("sale", "bargain-hunter") => "variant:sale<-bargain-hunter",
        ("we-miss-you", "dormant") => "variant:we-miss-you<-dormant",
        ("we-miss-you", "inactive") => "variant:we-miss-you<-inactive",
        ("default", "no-segment-variant") => "variant:default<-no-segment-variant",
        _ => return format!("variant:{variant}<-{because}").into(),
    };
    known.into()
}

/// The hero block of a variant, `hero-<variant>` (no allocation).
fn hero_block(variant: &'static str) -> Id {
    let known = match variant {
        "cart-reminder" => "hero-cart-reminder",
        "welcome" => "hero-welcome",
        "vip" => "hero-vip",
        "thank-you" => "hero-thank-you",
        "browse-reminder" => "hero-browse-reminder",
        "sale" => "hero-sale",
        "we-miss-you" => "hero-we-miss-you",
        "default" => "hero-default",
        _ => return format!("hero-{variant}").into(),
    };
    known.into()
}

/// The recommendation block and a reason code saying where it came from.
fn recommendation(profile: &impl ProfileView, campaign: &impl CampaignView) -> (Id, Id) {
    // One buffer for every `rec-<category>` tried.
    let mut block = String::with_capacity(32);
    let mut found = |category: &str, source: &str| {
        block.clear();
        block.push_str("rec-");
        block.push_str(category);
        campaign.has_block(RECOMMENDATIONS_SLOT, &block).then(|| {
            let mut reason = String::with_capacity(category.len() + source.len() + 6);
            reason.push_str("rec:");
            reason.push_str(category);
            reason.push_str("<-");
            reason.push_str(source);
            (Id::from(block.clone()), Id::from(reason))
        })
    };
    profile
        .find_order_category(|category| found(category, "orders"))
        .or_else(|| profile.find_viewed_category(|category| found(category, "viewed")))
        .unwrap_or(("rec-bestsellers".into(), "rec:bestsellers<-default".into()))
}

/// The rule as exported to the host.
pub struct SeedSegments;

impl mailrules_sdk::Rule for SeedSegments {
    const FIELDS: &'static [Field] = &[
        Field::SubscribedAt,
        Field::Orders,
        Field::OrderCategories,
        Field::Engagement,
        Field::LastVisitAt,
        Field::ViewedCategories,
        Field::ViewedProducts,
        Field::Cart,
    ];

    const SEGMENTS: &'static [&'static str] = &[
        "new-subscriber",
        "recent-buyer",
        "repeat-buyer",
        "lapsed-customer",
        "high-value-loyal",
        "active",
        "inactive",
        "dormant",
        "cart-abandoner",
        "browser-at-risk",
        "bargain-hunter",
    ];

    fn decide(
        profile: &impl ProfileView,
        campaign: &impl CampaignView,
    ) -> Result<Decision, RuleError> {
        decide(profile, campaign)
    }
}

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mailrules_sdk::export_rule!(SeedSegments);
