//! Lays a batch of profiles out the way `decide-batch` takes it: every
//! string in one byte buffer, everything else flat rows that refer to it.
//! Only the fields the rule declared are filled.

use crate::campaign::Campaign;
use crate::profile::Profile;

use super::types::{
    Batch, CampaignInfo, Cart, CartItem, Consent, Engagement, Field, OrderStats, ProfileRow, Range,
    Slot, Span, ViewedProduct,
};

/// The campaign part of every batch of one evaluator, laid out once.
#[derive(Clone)]
pub(crate) struct CampaignLayout {
    text: Vec<u8>,
    strings: Vec<Span>,
    info: CampaignInfo,
}

impl CampaignLayout {
    /// Lays out `campaign` as rules see it at time `now`.
    pub(crate) fn new(campaign: &Campaign, now: i64) -> Self {
        let mut out = Buffers::default();
        let id = out.span(&campaign.id);
        let subjects = out.strings(campaign.subjects.iter().map(|v| v.id.as_str()));
        let preheaders = out.strings(campaign.preheaders.iter().map(|v| v.id.as_str()));
        let slots = campaign
            .slots
            .iter()
            .map(|slot| Slot {
                name: out.span(&slot.name),
                blocks: out.strings(slot.blocks.iter().map(|b| b.id.as_str())),
            })
            .collect();
        CampaignLayout {
            text: out.text,
            strings: out.strings,
            info: CampaignInfo {
                id,
                now,
                subjects,
                preheaders,
                slots,
            },
        }
    }
}

#[derive(Default)]
struct Buffers {
    text: Vec<u8>,
    strings: Vec<Span>,
}

impl Buffers {
    fn span(&mut self, text: &str) -> Span {
        self.bytes(text.as_bytes())
    }

    fn bytes(&mut self, bytes: &[u8]) -> Span {
        let span = Span {
            start: self.text.len() as u32,
            len: bytes.len() as u32,
        };
        self.text.extend_from_slice(bytes);
        span
    }

    fn optional(&mut self, text: &Option<String>) -> Option<Span> {
        text.as_deref().map(|text| self.span(text))
    }

    fn strings<'a>(&mut self, items: impl Iterator<Item = &'a str>) -> Range {
        let start = self.strings.len() as u32;
        for item in items {
            let span = self.span(item);
            self.strings.push(span);
        }
        Range {
            start,
            len: self.strings.len() as u32 - start,
        }
    }
}

/// Canonical ABI sizes of the list elements, for [`BatchBuilder::guest_bytes`]
/// (checked against wasmtime's layout in the tests).
const SPAN_BYTES: usize = 8;
const VIEWED_PRODUCT_BYTES: usize = 32;
const CART_ITEM_BYTES: usize = 40;
const PROFILE_ROW_BYTES: usize = 312;

const EMPTY_SPAN: Span = Span { start: 0, len: 0 };
const EMPTY_RANGE: Range = Range { start: 0, len: 0 };

/// A batch being filled, one profile at a time.
pub(crate) struct BatchBuilder {
    fields: Field,
    buffers: Buffers,
    viewed_products: Vec<ViewedProduct>,
    cart_items: Vec<CartItem>,
    campaign: CampaignInfo,
    profiles: Vec<ProfileRow>,
}

impl BatchBuilder {
    /// An empty batch of `layout`'s campaign, for a rule that reads
    /// `fields`.
    pub(crate) fn new(layout: &CampaignLayout, fields: Field) -> Self {
        BatchBuilder {
            fields,
            buffers: Buffers {
                text: layout.text.clone(),
                strings: layout.strings.clone(),
            },
            viewed_products: Vec::new(),
            cart_items: Vec::new(),
            campaign: layout.info.clone(),
            profiles: Vec::new(),
        }
    }

    /// Bytes the batch so far takes in the rule's memory: its text and
    /// every row of its lists, in their canonical ABI sizes.
    pub(crate) fn guest_bytes(&self) -> usize {
        self.buffers.text.len()
            + self.buffers.strings.len() * SPAN_BYTES
            + self.viewed_products.len() * VIEWED_PRODUCT_BYTES
            + self.cart_items.len() * CART_ITEM_BYTES
            + self.profiles.len() * PROFILE_ROW_BYTES
    }

    /// Adds `profile`, with only the declared fields filled.
    pub(crate) fn push(&mut self, profile: &Profile) {
        let has = |field: Field| self.fields.contains(field);
        let (want_id, want_email) = (has(Field::ID), has(Field::EMAIL));
        let names = [
            (has(Field::FIRST_NAME), &profile.first_name),
            (has(Field::LAST_NAME), &profile.last_name),
            (has(Field::LOCALE), &profile.locale),
            (has(Field::TIMEZONE), &profile.timezone),
            (has(Field::COUNTRY), &profile.country),
            (has(Field::BIRTH_DATE), &profile.birth_date),
            (has(Field::CURRENCY), &profile.orders.currency),
        ];
        let out = &mut self.buffers;
        let id = if want_id {
            out.span(&profile.id)
        } else {
            EMPTY_SPAN
        };
        let email = if want_email {
            out.span(&profile.email)
        } else {
            EMPTY_SPAN
        };
        let [
            first_name,
            last_name,
            locale,
            timezone,
            country,
            birth_date,
            currency,
        ] = names.map(|(wanted, text)| if wanted { out.optional(text) } else { None });
        let list = |out: &mut Buffers, wanted: bool, items: &[String]| {
            if wanted {
                out.strings(items.iter().map(String::as_str))
            } else {
                EMPTY_RANGE
            }
        };
        let order_categories = list(
            out,
            has(Field::ORDER_CATEGORIES),
            &profile.orders.categories,
        );
        let behavior = &profile.behavior;
        let viewed_categories = list(
            out,
            has(Field::VIEWED_CATEGORIES),
            &behavior.viewed_categories,
        );
        let tags = list(out, has(Field::TAGS), &profile.tags);
        let viewed_products = if has(Field::VIEWED_PRODUCTS) {
            let start = self.viewed_products.len() as u32;
            for product in &behavior.viewed_products {
                let row = ViewedProduct {
                    sku: out.span(&product.sku),
                    category: out.span(&product.category),
                    price_cents: product.price_cents,
                    viewed_at: product.viewed_at,
                };
                self.viewed_products.push(row);
            }
            Range {
                start,
                len: self.viewed_products.len() as u32 - start,
            }
        } else {
            EMPTY_RANGE
        };
        let cart = match (&behavior.cart, has(Field::CART)) {
            (Some(cart), true) => {
                let start = self.cart_items.len() as u32;
                for item in &cart.items {
                    let row = CartItem {
                        sku: out.span(&item.sku),
                        name: out.span(&item.name),
                        category: out.span(&item.category),
                        price_cents: item.price_cents,
                        quantity: item.quantity,
                    };
                    self.cart_items.push(row);
                }
                Some(Cart {
                    items: Range {
                        start,
                        len: self.cart_items.len() as u32 - start,
                    },
                    updated_at: cart.updated_at,
                })
            }
            _ => None,
        };
        let attributes = if has(Field::ATTRIBUTES) {
            out.bytes(&profile.attributes)
        } else {
            EMPTY_SPAN
        };
        let orders = &profile.orders;
        let engagement = &profile.engagement;
        self.profiles.push(ProfileRow {
            id,
            email,
            first_name,
            last_name,
            locale,
            timezone,
            country,
            birth_date,
            subscribed_at: profile.subscribed_at.filter(|_| has(Field::SUBSCRIBED_AT)),
            consent: if has(Field::CONSENT) {
                Consent {
                    email_marketing: profile.consent.email_marketing,
                    tracking: profile.consent.tracking,
                }
            } else {
                Consent {
                    email_marketing: false,
                    tracking: false,
                }
            },
            orders: if has(Field::ORDERS) {
                OrderStats {
                    count: orders.count,
                    total_spent_cents: orders.total_spent_cents,
                    first_order_at: orders.first_order_at,
                    last_order_at: orders.last_order_at,
                    orders_90d: orders.orders_90d,
                }
            } else {
                OrderStats {
                    count: 0,
                    total_spent_cents: 0,
                    first_order_at: None,
                    last_order_at: None,
                    orders_90d: 0,
                }
            },
            currency,
            order_categories,
            engagement: if has(Field::ENGAGEMENT) {
                Engagement {
                    last_open_at: engagement.last_open_at,
                    last_click_at: engagement.last_click_at,
                    opens_30d: engagement.opens_30d,
                    clicks_30d: engagement.clicks_30d,
                    emails_received_30d: engagement.emails_received_30d,
                }
            } else {
                Engagement {
                    last_open_at: None,
                    last_click_at: None,
                    opens_30d: 0,
                    clicks_30d: 0,
                    emails_received_30d: 0,
                }
            },
            last_visit_at: behavior.last_visit_at.filter(|_| has(Field::LAST_VISIT_AT)),
            viewed_categories,
            viewed_products,
            cart,
            tags,
            attributes,
        });
    }

    /// The batch, ready for `decide-batch`.
    pub(crate) fn finish(self) -> Batch {
        Batch {
            text: self.buffers.text,
            strings: self.buffers.strings,
            viewed_products: self.viewed_products,
            cart_items: self.cart_items,
            campaign: self.campaign,
            profiles: self.profiles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Campaign {
        Campaign::parse(
            "id = \"c\"\n[[subject]]\nid = \"s1\"\ntext = \"-\"\n\
             [[preheader]]\nid = \"p1\"\ntext = \"-\"\n\
             [[slot]]\nname = \"hero\"\n[[slot.block]]\nid = \"hero-a\"\nhtml = \"-\"\n\
             [fallback]\nsubject = \"s1\"\npreheader = \"p1\"\nblocks = { hero = \"hero-a\" }\n",
            std::path::Path::new("c.toml"),
        )
        .expect("valid campaign")
    }

    fn profile() -> Profile {
        serde_json::from_str(
            r#"{"id": "secret-id", "email": "secret@example.com", "first_name": "Ada",
                "consent": {"email_marketing": true, "tracking": true},
                "orders": {"count": 3, "total_spent_cents": 4200, "categories": ["books"]},
                "tags": ["vip"], "behavior": {"viewed_categories": ["sale"]}}"#,
        )
        .expect("valid profile")
    }

    fn text(batch: &Batch, span: Span) -> &str {
        let start = span.start as usize;
        std::str::from_utf8(&batch.text[start..start + span.len as usize]).unwrap()
    }

    #[test]
    fn the_sizes_counted_are_the_canonical_abi_sizes() {
        use wasmtime::component::ComponentType;
        assert_eq!(Span::SIZE32, SPAN_BYTES);
        assert_eq!(ViewedProduct::SIZE32, VIEWED_PRODUCT_BYTES);
        assert_eq!(CartItem::SIZE32, CART_ITEM_BYTES);
        assert_eq!(ProfileRow::SIZE32, PROFILE_ROW_BYTES);
    }

    #[test]
    fn only_declared_fields_cross() {
        let campaign = campaign();
        let layout = CampaignLayout::new(&campaign, 1_700_000_000);
        let mut builder = BatchBuilder::new(&layout, Field::ORDERS | Field::ORDER_CATEGORIES);
        builder.push(&profile());
        let batch = builder.finish();
        let haystack = String::from_utf8_lossy(&batch.text);
        for secret in ["secret", "Ada", "vip", "sale"] {
            assert!(!haystack.contains(secret), "{secret} crossed: {haystack}");
        }
        let row = &batch.profiles[0];
        assert_eq!(row.orders.count, 3);
        assert_eq!(row.orders.total_spent_cents, 4200);
        assert_eq!((row.email.len, row.id.len), (0, 0));
        assert!(row.first_name.is_none());
        assert!(!row.consent.email_marketing);
        assert_eq!(row.tags.len, 0);
        let categories = &batch.strings[row.order_categories.start as usize..][..1];
        assert_eq!(text(&batch, categories[0]), "books");
    }

    #[test]
    fn the_campaign_is_laid_out_once_and_shared_by_every_batch() {
        let campaign = campaign();
        let layout = CampaignLayout::new(&campaign, 7);
        let mut builder = BatchBuilder::new(&layout, Field::all());
        builder.push(&profile());
        builder.push(&profile());
        let batch = builder.finish();
        assert_eq!(batch.campaign.now, 7);
        assert_eq!(text(&batch, batch.campaign.id), "c");
        let subject = batch.strings[batch.campaign.subjects.start as usize];
        assert_eq!(text(&batch, subject), "s1");
        let hero = &batch.campaign.slots[0];
        assert_eq!(text(&batch, hero.name), "hero");
        assert_eq!(
            text(&batch, batch.strings[hero.blocks.start as usize]),
            "hero-a"
        );
        assert_eq!(batch.profiles.len(), 2);
        assert_eq!(text(&batch, batch.profiles[1].email), "secret@example.com");
        assert_eq!(text(&batch, batch.profiles[1].first_name.unwrap()), "Ada");
    }
}
