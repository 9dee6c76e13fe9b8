//! The data a rule reads and returns, the same whichever contract version
//! the rule is built for.

/// Seconds since 1970-01-01T00:00:00Z.
pub type Timestamp = i64;

/// What the recipient agreed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// Agreed to receive marketing email.
    pub email_marketing: bool,
    /// Agreed to open and click tracking.
    pub tracking: bool,
}

/// Purchase history counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderStats {
    /// Number of orders ever placed.
    pub count: u32,
    /// Lifetime spend, in the smallest unit of the currency.
    pub total_spent_cents: i64,
    /// Time of the first order, if any.
    pub first_order_at: Option<Timestamp>,
    /// Time of the most recent order, if any.
    pub last_order_at: Option<Timestamp>,
    /// Orders placed in the last 90 days.
    pub orders_90d: u32,
}

/// Email engagement counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Engagement {
    /// Time of the last open, if any.
    pub last_open_at: Option<Timestamp>,
    /// Time of the last click, if any.
    pub last_click_at: Option<Timestamp>,
    /// Opens in the last 30 days.
    pub opens_30d: u32,
    /// Clicks in the last 30 days.
    pub clicks_30d: u32,
    /// Emails received in the last 30 days.
    pub emails_received_30d: u32,
}

/// A product the recipient looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewedProduct {
    /// Stock keeping unit.
    pub sku: String,
    /// Category of the product.
    pub category: String,
    /// Price in cents.
    pub price_cents: i64,
    /// When it was viewed.
    pub viewed_at: Timestamp,
}

/// One line of the recipient's cart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CartItem {
    /// Stock keeping unit.
    pub sku: String,
    /// Product name.
    pub name: String,
    /// Category of the product.
    pub category: String,
    /// Unit price in cents.
    pub price_cents: i64,
    /// Number of units.
    pub quantity: u32,
}

/// The recipient's open cart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    /// Items in the cart; may be empty.
    pub items: Vec<CartItem>,
    /// When the cart last changed.
    pub updated_at: Timestamp,
}

/// An id or code in a decision: a `&'static str` costs no allocation, a
/// `String` made at run time works as well (`"vip".into()`,
/// `format!("rec-{category}").into()`).
pub type Id = std::borrow::Cow<'static, str>;

/// The block chosen for one content slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotChoice {
    /// A slot name of the campaign.
    pub slot: Id,
    /// A block id that may fill it.
    pub block: Id,
}

/// What a rule decided for one recipient. See [`crate::decision`] for the
/// builder methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Segment ids the recipient belongs to. Under contract 0.2 each must
    /// be one of the rule's [`crate::Rule::SEGMENTS`].
    pub segments: Vec<Id>,
    /// Chosen subject variant id.
    pub subject: Id,
    /// Chosen preheader variant id.
    pub preheader: Id,
    /// One block per slot; a slot left out gets the campaign's fallback.
    pub blocks: Vec<SlotChoice>,
    /// A short reason code to send nothing to this recipient.
    pub suppress: Option<Id>,
    /// Short codes that explain the decision.
    pub reasons: Vec<Id>,
}

/// Why a rule could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The profile lacks data the rule needs.
    MissingData,
    /// The custom attributes did not decode into what the rule expects.
    InvalidAttributes,
    /// The campaign does not offer what the rule needs.
    UnsupportedCampaign,
    /// Anything else.
    Internal,
}

/// A rule's own, expected failure: the recipient gets the campaign's
/// fallback (or is skipped, as the campaign says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// What kind of failure.
    pub code: ErrorCode,
    /// Details for the operator.
    pub message: String,
}

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Fine detail.
    Debug,
    /// Normal information.
    Info,
    /// Something looks wrong.
    Warn,
}

/// A profile field a rule declares it reads ([`crate::Rule::FIELDS`]).
/// Under contract 0.2 the host sends only declared fields, and reading
/// another one traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// [`crate::ProfileView::id`].
    Id,
    /// [`crate::ProfileView::email`].
    Email,
    /// [`crate::ProfileView::first_name`].
    FirstName,
    /// [`crate::ProfileView::last_name`].
    LastName,
    /// [`crate::ProfileView::locale`].
    Locale,
    /// [`crate::ProfileView::timezone`].
    Timezone,
    /// [`crate::ProfileView::country`].
    Country,
    /// [`crate::ProfileView::birth_date`].
    BirthDate,
    /// [`crate::ProfileView::subscribed_at`].
    SubscribedAt,
    /// [`crate::ProfileView::consent`].
    Consent,
    /// [`crate::ProfileView::orders`].
    Orders,
    /// [`crate::ProfileView::currency`].
    Currency,
    /// [`crate::ProfileView::order_categories`].
    OrderCategories,
    /// [`crate::ProfileView::engagement`].
    Engagement,
    /// [`crate::ProfileView::last_visit_at`].
    LastVisitAt,
    /// [`crate::ProfileView::viewed_categories`] and
    /// [`crate::ProfileView::has_viewed_category`].
    ViewedCategories,
    /// [`crate::ProfileView::viewed_products`].
    ViewedProducts,
    /// [`crate::ProfileView::cart`].
    Cart,
    /// [`crate::ProfileView::tags`] and [`crate::ProfileView::has_tag`].
    Tags,
    /// [`crate::ProfileView::attributes`].
    Attributes,
}

impl Field {
    /// The field's bit in a set of fields (its position in the contract).
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The set of `fields` as bits.
    pub const fn set(fields: &[Field]) -> u32 {
        let mut bits = 0;
        let mut i = 0;
        while i < fields.len() {
            bits |= fields[i].bit();
            i += 1;
        }
        bits
    }
}
