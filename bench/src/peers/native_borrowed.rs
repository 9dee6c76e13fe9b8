//! The reference pack written natively against the host's parsed profile and
//! campaign by reference: the same rules as `seed_segments::decide`, with no
//! clone, no string built and no allocation per profile. Its decision is
//! compact (a segment bitset, indices into the campaign's lists, reason
//! enums); [`CompactDecision::to_plain`] spells it out as the pack's string
//! decision, which the tests hold equal to the pack's own on every profile.
//!
//! Whatever a profile needs to look up in the campaign is found once per
//! campaign, in a [`CampaignLookup`].

use mailrules::Campaign;
use mailrules::campaign::Slot;
use mailrules::profile::{Profile, Timestamp};
use mailrules_sdk::within_days;

use super::PlainDecision;

/// Price from which a viewed product counts as a high-value view (100.00).
const HIGH_VALUE_VIEW_CENTS: i64 = 10_000;
/// Lifetime spend above which a customer can be high-value-loyal (500.00).
const HIGH_VALUE_SPEND_CENTS: i64 = 50_000;
/// Slot that shows the variant's hero block.
pub const HERO_SLOT: &str = "hero";
/// Slot that shows product recommendations.
pub const RECOMMENDATIONS_SLOT: &str = "recommendations";
/// The block recommended when no category has one.
const BESTSELLERS: &str = "rec-bestsellers";
/// The only suppression reason of the pack.
pub const SUNSET: &str = "sunset";

/// A segment of the pack; its position is its bit in a [`SegmentSet`], in
/// the pack's documented order (`Segments::ids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Segment {
    /// `new-subscriber`
    NewSubscriber,
    /// `recent-buyer`
    RecentBuyer,
    /// `repeat-buyer`
    RepeatBuyer,
    /// `lapsed-customer`
    LapsedCustomer,
    /// `high-value-loyal`
    HighValueLoyal,
    /// `active`
    Active,
    /// `inactive`
    Inactive,
    /// `dormant`
    Dormant,
    /// `cart-abandoner`
    CartAbandoner,
    /// `browser-at-risk`
    BrowserAtRisk,
    /// `bargain-hunter`
    BargainHunter,
}

impl Segment {
    /// Every segment, in bit order.
    pub const ALL: [Segment; 11] = [
        Segment::NewSubscriber,
        Segment::RecentBuyer,
        Segment::RepeatBuyer,
        Segment::LapsedCustomer,
        Segment::HighValueLoyal,
        Segment::Active,
        Segment::Inactive,
        Segment::Dormant,
        Segment::CartAbandoner,
        Segment::BrowserAtRisk,
        Segment::BargainHunter,
    ];

    /// The segment's id.
    pub fn id(self) -> &'static str {
        match self {
            Segment::NewSubscriber => "new-subscriber",
            Segment::RecentBuyer => "recent-buyer",
            Segment::RepeatBuyer => "repeat-buyer",
            Segment::LapsedCustomer => "lapsed-customer",
            Segment::HighValueLoyal => "high-value-loyal",
            Segment::Active => "active",
            Segment::Inactive => "inactive",
            Segment::Dormant => "dormant",
            Segment::CartAbandoner => "cart-abandoner",
            Segment::BrowserAtRisk => "browser-at-risk",
            Segment::BargainHunter => "bargain-hunter",
        }
    }

    /// The segment's bit in a [`SegmentSet`].
    pub const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// Segments as a bitset: bit `i` is [`Segment::ALL`]`[i]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentSet(pub u16);

impl SegmentSet {
    /// Whether `segment` is in the set.
    pub fn contains(self, segment: Segment) -> bool {
        self.0 & segment.bit() != 0
    }

    /// How many segments are in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The segments in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Segment> {
        Segment::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Their ids, in order.
    pub fn ids(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(Segment::id)
    }
}

/// The subject and preheader variant (and hero block, `hero-<variant>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Variant {
    /// `cart-reminder`
    CartReminder,
    /// `welcome`
    Welcome,
    /// `vip`
    Vip,
    /// `thank-you`
    ThankYou,
    /// `browse-reminder`
    BrowseReminder,
    /// `sale`
    Sale,
    /// `we-miss-you`
    WeMissYou,
    /// `default`
    Default,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 8] = [
        Variant::CartReminder,
        Variant::Welcome,
        Variant::Vip,
        Variant::ThankYou,
        Variant::BrowseReminder,
        Variant::Sale,
        Variant::WeMissYou,
        Variant::Default,
    ];

    /// The variant's id.
    pub fn id(self) -> &'static str {
        match self {
            Variant::CartReminder => "cart-reminder",
            Variant::Welcome => "welcome",
            Variant::Vip => "vip",
            Variant::ThankYou => "thank-you",
            Variant::BrowseReminder => "browse-reminder",
            Variant::Sale => "sale",
            Variant::WeMissYou => "we-miss-you",
            Variant::Default => "default",
        }
    }

    /// The variant's hero block id.
    pub fn hero(self) -> &'static str {
        match self {
            Variant::CartReminder => "hero-cart-reminder",
            Variant::Welcome => "hero-welcome",
            Variant::Vip => "hero-vip",
            Variant::ThankYou => "hero-thank-you",
            Variant::BrowseReminder => "hero-browse-reminder",
            Variant::Sale => "hero-sale",
            Variant::WeMissYou => "hero-we-miss-you",
            Variant::Default => "hero-default",
        }
    }
}

/// Where the recommended category came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The first purchased category with a block.
    Orders,
    /// The first browsed category with a block.
    Viewed,
    /// Neither had one: `rec-bestsellers`.
    Default,
}

impl Source {
    /// The source as written in its reason code.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Orders => "orders",
            Source::Viewed => "viewed",
            Source::Default => "default",
        }
    }
}

/// A reason code of the pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `sunset:dormant-never-engaged`
    Sunset,
    /// `variant:<variant><-<segment>`, or `<-no-segment-variant` when no
    /// segment chose it.
    Variant {
        /// The variant chosen.
        variant: Variant,
        /// The segment that chose it.
        because: Option<Segment>,
    },
    /// `rec:<category><-<source>`.
    Recommendation {
        /// The block, as an index into the recommendations slot's blocks
        /// (`None`: `rec-bestsellers`, which the campaign lacks).
        block: Option<u16>,
        /// Where its category came from.
        source: Source,
    },
}

impl Reason {
    /// The reason code as the pack writes it.
    pub fn code(self, lookup: &CampaignLookup<'_>) -> String {
        match self {
            Reason::Sunset => "sunset:dormant-never-engaged".to_string(),
            Reason::Variant { variant, because } => format!(
                "variant:{}<-{}",
                variant.id(),
                because.map_or("no-segment-variant", Segment::id)
            ),
            Reason::Recommendation { block, source } => {
                let block = lookup.recommendation_id(block);
                let category = block.strip_prefix("rec-").unwrap_or(block);
                format!("rec:{category}<-{}", source.as_str())
            }
        }
    }
}

/// One recipient's decision, in plain numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactDecision {
    /// The recipient's segments.
    pub segments: SegmentSet,
    /// Suppressed with reason [`SUNSET`]: nothing below but the reasons
    /// applies then.
    pub suppress: bool,
    /// The variant chosen.
    pub variant: Variant,
    /// The subject, as an index into the campaign's subjects (`None`: the
    /// campaign has no such variant).
    pub subject: Option<u16>,
    /// The preheader, as an index into the campaign's preheaders.
    pub preheader: Option<u16>,
    /// The hero block, as an index into the hero slot's blocks.
    pub hero: Option<u16>,
    /// The recommendations block, as an index into that slot's blocks
    /// (`None`: `rec-bestsellers`, which the campaign lacks).
    pub recommendation: Option<u16>,
    /// Where the recommended category came from.
    pub source: Source,
    /// The reason codes, in order.
    pub reasons: [Option<Reason>; 2],
}

/// What a profile needs from a campaign, found once per campaign.
#[derive(Debug, Clone)]
pub struct CampaignLookup<'c> {
    /// The campaign.
    pub campaign: &'c Campaign,
    /// Campaign time.
    pub now: Timestamp,
    subject: [Option<u16>; 8],
    preheader: [Option<u16>; 8],
    hero: [Option<u16>; 8],
    hero_slot: Option<&'c Slot>,
    recommendations_slot: Option<&'c Slot>,
    /// `(category, block index)` for every block `rec-<category>` of the
    /// recommendations slot, first of each id.
    categories: Vec<(&'c str, u16)>,
    bestsellers: Option<u16>,
}

/// Position of the first of `ids` equal to `id`.
fn position<'a>(mut ids: impl Iterator<Item = &'a str>, id: &str) -> Option<u16> {
    ids.position(|candidate| candidate == id)
        .map(|i| u16::try_from(i).expect("fewer than 65,536 candidates"))
}

impl<'c> CampaignLookup<'c> {
    /// The lookups for `campaign` at time `now`.
    pub fn new(campaign: &'c Campaign, now: Timestamp) -> Self {
        let hero_slot = campaign.slot(HERO_SLOT);
        let recommendations_slot = campaign.slot(RECOMMENDATIONS_SLOT);
        let blocks = |slot: Option<&'c Slot>| {
            slot.into_iter()
                .flat_map(|s| s.blocks.iter().map(|b| b.id.as_str()))
        };
        let mut categories: Vec<(&'c str, u16)> = Vec::new();
        for (i, block) in blocks(recommendations_slot).enumerate() {
            if let Some(category) = block.strip_prefix("rec-")
                && !categories.iter().any(|(c, _)| *c == category)
            {
                categories.push((category, i as u16));
            }
        }
        CampaignLookup {
            campaign,
            now,
            subject: Variant::ALL
                .map(|v| position(campaign.subjects.iter().map(|s| s.id.as_str()), v.id())),
            preheader: Variant::ALL
                .map(|v| position(campaign.preheaders.iter().map(|s| s.id.as_str()), v.id())),
            hero: Variant::ALL.map(|v| position(blocks(hero_slot), v.hero())),
            hero_slot,
            recommendations_slot,
            categories,
            bestsellers: position(blocks(recommendations_slot), BESTSELLERS),
        }
    }

    /// The block `rec-<category>` of the recommendations slot, if any.
    fn category_block(&self, category: &str) -> Option<u16> {
        self.categories
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, block)| *block)
    }

    /// The block `rec-bestsellers` of the recommendations slot, if any.
    pub fn bestsellers(&self) -> Option<u16> {
        self.bestsellers
    }

    /// A decision that sends: `variant`, chosen by `because`, and the
    /// recommendations block `recommendation` from `source`.
    pub fn sending(
        &self,
        segments: SegmentSet,
        variant: Variant,
        because: Option<Segment>,
        recommendation: Option<u16>,
        source: Source,
    ) -> CompactDecision {
        let v = variant as usize;
        CompactDecision {
            segments,
            suppress: false,
            variant,
            subject: self.subject[v],
            preheader: self.preheader[v],
            hero: self.hero[v],
            recommendation,
            source,
            reasons: [
                Some(Reason::Variant { variant, because }),
                Some(Reason::Recommendation {
                    block: recommendation,
                    source,
                }),
            ],
        }
    }

    /// The subject id of a decision.
    pub fn subject_id(&self, decision: &CompactDecision) -> &'c str {
        decision.subject.map_or(decision.variant.id(), |i| {
            self.campaign.subjects[usize::from(i)].id.as_str()
        })
    }

    /// The preheader id of a decision.
    pub fn preheader_id(&self, decision: &CompactDecision) -> &'c str {
        decision.preheader.map_or(decision.variant.id(), |i| {
            self.campaign.preheaders[usize::from(i)].id.as_str()
        })
    }

    /// The hero block id of a decision.
    pub fn hero_id(&self, decision: &CompactDecision) -> &'c str {
        match (decision.hero, self.hero_slot) {
            (Some(i), Some(slot)) => slot.blocks[usize::from(i)].id.as_str(),
            _ => decision.variant.hero(),
        }
    }

    /// The recommendations block id of an index into that slot.
    pub fn recommendation_id(&self, block: Option<u16>) -> &'c str {
        match (block, self.recommendations_slot) {
            (Some(i), Some(slot)) => slot.blocks[usize::from(i)].id.as_str(),
            _ => BESTSELLERS,
        }
    }
}

/// The pack's decision for `profile`, reading it by reference and
/// allocating nothing.
pub fn decide(profile: &Profile, lookup: &CampaignLookup<'_>) -> CompactDecision {
    let now = lookup.now;
    let within = |t: Option<Timestamp>, days: i64| within_days(t, now, days);
    let orders = &profile.orders;
    let engagement = &profile.engagement;
    let behavior = &profile.behavior;
    let subscribed_at = profile.subscribed_at;
    let last_order_at = orders.last_order_at;
    let opened_or_clicked =
        |days| within(engagement.last_open_at, days) || within(engagement.last_click_at, days);

    let inactive = !opened_or_clicked(60) && !within(subscribed_at, 60);
    let dormant = inactive && !within(behavior.last_visit_at, 60) && !within(last_order_at, 60);
    let ordered_within_30 = within(last_order_at, 30);
    let cart_abandoner = behavior.cart.as_ref().is_some_and(|cart| {
        !cart.items.is_empty()
            && within(Some(cart.updated_at), 1)
            && last_order_at.is_none_or(|ordered| ordered < cart.updated_at)
    });
    let browser_at_risk = !ordered_within_30
        && behavior.viewed_products.iter().any(|product| {
            product.price_cents >= HIGH_VALUE_VIEW_CENTS && within(Some(product.viewed_at), 30)
        });
    let bargain_hunter = !ordered_within_30
        && within(engagement.last_open_at, 30)
        && behavior
            .viewed_categories
            .iter()
            .any(|c| c == "sale" || c == "clearance");

    let mut bits = 0u16;
    for (member, segment) in [
        (
            within(subscribed_at, 30) && orders.count == 0,
            Segment::NewSubscriber,
        ),
        (within(last_order_at, 7), Segment::RecentBuyer),
        (orders.count >= 2, Segment::RepeatBuyer),
        (
            orders.count >= 1 && !within(last_order_at, 180),
            Segment::LapsedCustomer,
        ),
        (
            orders.total_spent_cents > HIGH_VALUE_SPEND_CENTS
                && orders.orders_90d >= 2
                && opened_or_clicked(90),
            Segment::HighValueLoyal,
        ),
        (opened_or_clicked(30), Segment::Active),
        (inactive, Segment::Inactive),
        (dormant, Segment::Dormant),
        (cart_abandoner, Segment::CartAbandoner),
        (browser_at_risk, Segment::BrowserAtRisk),
        (bargain_hunter, Segment::BargainHunter),
    ] {
        if member {
            bits |= segment.bit();
        }
    }
    let segments = SegmentSet(bits);

    let never_engaged = engagement.last_open_at.is_none() && engagement.last_click_at.is_none();
    if dormant && never_engaged && !within(subscribed_at, 365) {
        return CompactDecision::sunset(segments);
    }

    let (variant, because) = variant_of(segments);
    let found = |categories: &[String]| {
        categories
            .iter()
            .find_map(|category| lookup.category_block(category))
    };
    let (recommendation, source) = match found(&orders.categories) {
        Some(block) => (Some(block), Source::Orders),
        None => match found(&behavior.viewed_categories) {
            Some(block) => (Some(block), Source::Viewed),
            None => (lookup.bestsellers, Source::Default),
        },
    };
    lookup.sending(segments, variant, because, recommendation, source)
}

/// The variant and the segment that chose it: the first match of the
/// pack's order.
fn variant_of(segments: SegmentSet) -> (Variant, Option<Segment>) {
    [
        (Segment::CartAbandoner, Variant::CartReminder),
        (Segment::NewSubscriber, Variant::Welcome),
        (Segment::HighValueLoyal, Variant::Vip),
        (Segment::RecentBuyer, Variant::ThankYou),
        (Segment::BrowserAtRisk, Variant::BrowseReminder),
        (Segment::BargainHunter, Variant::Sale),
        (Segment::Dormant, Variant::WeMissYou),
        (Segment::Inactive, Variant::WeMissYou),
    ]
    .into_iter()
    .find(|(segment, _)| segments.contains(*segment))
    .map_or((Variant::Default, None), |(segment, variant)| {
        (variant, Some(segment))
    })
}

impl CompactDecision {
    /// The pack's suppression of a dormant recipient who never engaged.
    pub fn sunset(segments: SegmentSet) -> Self {
        CompactDecision {
            segments,
            suppress: true,
            variant: Variant::Default,
            subject: None,
            preheader: None,
            hero: None,
            recommendation: None,
            source: Source::Default,
            reasons: [Some(Reason::Sunset), None],
        }
    }

    /// The decision spelled out as the pack's string decision.
    pub fn to_plain(&self, lookup: &CampaignLookup<'_>) -> PlainDecision {
        let reasons = self
            .reasons
            .iter()
            .flatten()
            .map(|r| r.code(lookup))
            .collect();
        let segments = self.segments.ids().map(String::from).collect();
        if self.suppress {
            return PlainDecision {
                segments,
                subject: String::new(),
                preheader: String::new(),
                blocks: Vec::new(),
                suppress: Some(SUNSET.to_string()),
                reasons,
            };
        }
        PlainDecision {
            segments,
            subject: lookup.subject_id(self).to_string(),
            preheader: lookup.preheader_id(self).to_string(),
            blocks: vec![
                (HERO_SLOT.to_string(), lookup.hero_id(self).to_string()),
                (
                    RECOMMENDATIONS_SLOT.to_string(),
                    lookup.recommendation_id(self.recommendation).to_string(),
                ),
            ],
            suppress: None,
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::Fixture;
    use crate::peers::native::{Native, NativeCampaign};

    fn pack(profile: &Profile, campaign: &Campaign, now: Timestamp) -> PlainDecision {
        seed_segments::decide(&Native(profile), &NativeCampaign { campaign, now })
            .expect("the pack never fails")
            .into()
    }

    const DAY: i64 = 86_400;

    /// A consenting profile with nothing else set.
    fn bare(id: &str) -> Profile {
        serde_json::from_value(serde_json::json!({
            "id": id, "email": format!("{id}@x.y"),
            "consent": {"email_marketing": true},
        }))
        .unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Hand-made profiles for the cases the generator may miss.
    fn edge_profiles(now: Timestamp) -> Vec<(&'static str, Profile)> {
        let mut sunset = bare("sunset");
        sunset.subscribed_at = Some(now - 400 * DAY);

        let mut cart = bare("cart");
        cart.subscribed_at = Some(now - 100 * DAY);
        cart.orders.count = 3;
        cart.orders.last_order_at = Some(now - 20 * DAY);
        cart.orders.categories = strings(&["garden", "books"]);
        cart.engagement.last_open_at = Some(now - 2 * DAY);
        cart.behavior.viewed_categories = strings(&["sale"]);
        cart.behavior.cart = Some(mailrules::profile::Cart {
            items: vec![mailrules::profile::CartItem {
                sku: "A".into(),
                name: String::new(),
                category: "garden".into(),
                price_cents: 100,
                quantity: 1,
            }],
            updated_at: now - 3_600,
        });

        let mut no_categories = bare("no-categories");
        no_categories.subscribed_at = Some(now - 10 * DAY);

        let mut browsed = bare("browsed");
        browsed.orders.count = 1;
        browsed.orders.last_order_at = Some(now - 3 * DAY);
        browsed.orders.categories = strings(&["garden", ""]);
        browsed.behavior.viewed_categories = strings(&["clearance", "music"]);
        browsed.behavior.viewed_products = vec![mailrules::profile::ViewedProduct {
            sku: "P".into(),
            category: "music".into(),
            price_cents: 10_000,
            viewed_at: now - DAY,
        }];

        vec![
            ("sunset", sunset),
            ("cart abandoner", cart),
            ("no categories", no_categories),
            ("categories without blocks, then a browsed one", browsed),
        ]
    }

    #[test]
    fn every_fixture_profile_gets_the_packs_decision() {
        let fixture = Fixture::new(5_000).unwrap();
        let lookup = CampaignLookup::new(&fixture.campaign, fixture.now);
        for profile in &fixture.profiles {
            let compact = decide(profile, &lookup);
            assert_eq!(
                compact.to_plain(&lookup),
                pack(profile, &fixture.campaign, fixture.now),
                "{}",
                profile.id
            );
        }
        assert_eq!(fixture.profiles.len(), 4_505);
    }

    /// Counts the allocations of the current thread.
    struct Counting;

    thread_local! {
        static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    // SAFETY: every call is passed on to the system allocator unchanged.
    unsafe impl std::alloc::GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            unsafe { std::alloc::System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
            unsafe { std::alloc::System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            unsafe { std::alloc::System.realloc(ptr, layout, size) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    fn allocations() -> u64 {
        ALLOCATIONS.with(|n| n.get())
    }

    #[test]
    fn deciding_allocates_nothing() {
        let fixture = Fixture::new(2_000).unwrap();
        let lookup = CampaignLookup::new(&fixture.campaign, fixture.now);
        let before = allocations();
        let segments: usize = fixture
            .profiles
            .iter()
            .map(|p| std::hint::black_box(decide(p, &lookup)).segments.len())
            .sum();
        assert_eq!(allocations(), before);
        // The counter sees the cloning baseline's allocations.
        let view = NativeCampaign {
            campaign: &fixture.campaign,
            now: fixture.now,
        };
        let before = allocations();
        let cloned: usize = fixture
            .profiles
            .iter()
            .map(|p| {
                seed_segments::decide(&Native(p), &view)
                    .unwrap()
                    .segments
                    .len()
            })
            .sum();
        assert!(allocations() - before > fixture.profiles.len() as u64);
        assert_eq!(segments, cloned);
    }

    #[test]
    fn hand_made_profiles_get_the_packs_decision() {
        let fixture = Fixture::new(0).unwrap();
        let lookup = CampaignLookup::new(&fixture.campaign, fixture.now);
        let decisions: Vec<(&str, CompactDecision)> = edge_profiles(fixture.now)
            .into_iter()
            .map(|(name, profile)| {
                let compact = decide(&profile, &lookup);
                assert_eq!(
                    compact.to_plain(&lookup),
                    pack(&profile, &fixture.campaign, fixture.now),
                    "{name}"
                );
                (name, compact)
            })
            .collect();
        let [sunset, cart, bare, browsed] = [0, 1, 2, 3].map(|i| decisions[i].1);
        assert!(sunset.suppress);
        assert_eq!(
            sunset.segments.ids().collect::<Vec<_>>(),
            ["inactive", "dormant"]
        );
        assert_eq!(sunset.reasons, [Some(Reason::Sunset), None]);
        assert_eq!(
            cart.to_plain(&lookup).blocks[1],
            ("recommendations".into(), "rec-books".into())
        );
        assert_eq!(cart.variant, Variant::CartReminder);
        assert_eq!(cart.subject, Some(0));
        assert_eq!(cart.source, Source::Orders);
        assert_eq!(bare.variant, Variant::Welcome);
        assert_eq!(bare.source, Source::Default);
        assert_eq!(bare.recommendation, Some(7));
        assert_eq!(browsed.variant, Variant::ThankYou);
        assert_eq!(browsed.source, Source::Viewed);
        assert_eq!(
            browsed.to_plain(&lookup).reasons,
            ["variant:thank-you<-recent-buyer", "rec:music<-viewed"]
        );
    }

    #[test]
    fn a_campaign_without_the_chosen_ids_gets_them_spelled_out() {
        let fixture = Fixture::new(600).unwrap();
        let mut campaign = (*fixture.campaign).clone();
        campaign.subjects.retain(|s| s.id != "welcome");
        campaign.slots.retain(|s| s.name != "recommendations");
        let lookup = CampaignLookup::new(&campaign, fixture.now);
        let mut welcomed = 0;
        for profile in &fixture.profiles {
            let compact = decide(profile, &lookup);
            welcomed += usize::from(compact.variant == Variant::Welcome);
            assert_eq!(
                compact.to_plain(&lookup),
                pack(profile, &campaign, fixture.now),
                "{}",
                profile.id
            );
        }
        assert!(welcomed > 0);
    }
}
