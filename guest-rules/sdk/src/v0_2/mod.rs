//! Contract 0.2: the host sends a whole batch of profiles in one call, as
//! flat rows over one text buffer, with only the fields the rule declared.
//! [`BatchProfile`] and [`BatchCampaign`] implement the views over it in
//! place, and the rule's [`Decision`]s go back as indices.

#[cfg(target_arch = "wasm32")]
mod allocator;
#[allow(missing_docs)]
pub mod bindings;

use bindings::exports::mailrules::rules::rule::{Batch, Decisions, Description};
use bindings::mailrules::rules::host;
use bindings::mailrules::rules::types::{self, DecisionRow, ProfileRow, Range, Span, Verdict};

use crate::view::{CampaignView, ProfileView};
use crate::{
    Cart, CartItem, Consent, Decision, Engagement, ErrorCode, Field, OrderStats, Rule, RuleError,
    Timestamp, ViewedProduct,
};

/// The block index that leaves a slot to the campaign's fallback.
const FALLBACK_BLOCK: u16 = u16::MAX;

fn bytes(batch: &Batch, span: Span) -> &[u8] {
    let start = span.start as usize;
    batch
        .text
        .get(start..start + span.len as usize)
        .unwrap_or_default()
}

/// A span as text; comparisons use [`bytes`] and skip the UTF-8 check.
fn text(batch: &Batch, span: Span) -> &str {
    core::str::from_utf8(bytes(batch, span)).unwrap_or_default()
}

fn strings(batch: &Batch, range: Range) -> &[Span] {
    let start = range.start as usize;
    batch
        .strings
        .get(start..start + range.len as usize)
        .unwrap_or_default()
}

fn rows<T>(list: &[T], range: Range) -> &[T] {
    let start = range.start as usize;
    list.get(start..start + range.len as usize)
        .unwrap_or_default()
}

/// One profile of a batch, read in place.
pub struct BatchProfile<'a> {
    batch: &'a Batch,
    row: &'a ProfileRow,
    fields: u32,
}

#[cold]
#[inline(never)]
fn undeclared(field: Field) -> ! {
    panic!("the rule reads {field:?}, which it does not declare in Rule::FIELDS")
}

impl<'a> BatchProfile<'a> {
    fn need(&self, field: Field) {
        if self.fields & field.bit() == 0 {
            undeclared(field);
        }
    }

    fn string(&self, field: Field, span: Span) -> String {
        self.need(field);
        text(self.batch, span).to_string()
    }

    fn optional(&self, field: Field, span: Option<Span>) -> Option<String> {
        self.need(field);
        span.map(|span| text(self.batch, span).to_string())
    }

    fn list(&self, field: Field, range: Range) -> Vec<String> {
        self.need(field);
        strings(self.batch, range)
            .iter()
            .map(|span| text(self.batch, *span).to_string())
            .collect()
    }

    fn find<T>(
        &self,
        field: Field,
        range: Range,
        mut f: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        self.need(field);
        strings(self.batch, range)
            .iter()
            .find_map(|span| f(text(self.batch, *span)))
    }

    fn contains(&self, field: Field, range: Range, wanted: &str) -> bool {
        self.need(field);
        strings(self.batch, range)
            .iter()
            .any(|span| bytes(self.batch, *span) == wanted.as_bytes())
    }
}

impl ProfileView for BatchProfile<'_> {
    fn id(&self) -> String {
        self.string(Field::Id, self.row.id)
    }
    fn email(&self) -> String {
        self.string(Field::Email, self.row.email)
    }
    fn first_name(&self) -> Option<String> {
        self.optional(Field::FirstName, self.row.first_name)
    }
    fn last_name(&self) -> Option<String> {
        self.optional(Field::LastName, self.row.last_name)
    }
    fn locale(&self) -> Option<String> {
        self.optional(Field::Locale, self.row.locale)
    }
    fn timezone(&self) -> Option<String> {
        self.optional(Field::Timezone, self.row.timezone)
    }
    fn country(&self) -> Option<String> {
        self.optional(Field::Country, self.row.country)
    }
    fn birth_date(&self) -> Option<String> {
        self.optional(Field::BirthDate, self.row.birth_date)
    }
    fn subscribed_at(&self) -> Option<Timestamp> {
        self.need(Field::SubscribedAt);
        self.row.subscribed_at
    }
    fn consent(&self) -> Consent {
        self.need(Field::Consent);
        Consent {
            email_marketing: self.row.consent.email_marketing,
            tracking: self.row.consent.tracking,
        }
    }
    fn orders(&self) -> OrderStats {
        self.need(Field::Orders);
        let o = &self.row.orders;
        OrderStats {
            count: o.count,
            total_spent_cents: o.total_spent_cents,
            first_order_at: o.first_order_at,
            last_order_at: o.last_order_at,
            orders_90d: o.orders_90d,
        }
    }
    fn currency(&self) -> Option<String> {
        self.optional(Field::Currency, self.row.currency)
    }
    fn order_categories(&self) -> Vec<String> {
        self.list(Field::OrderCategories, self.row.order_categories)
    }
    fn engagement(&self) -> Engagement {
        self.need(Field::Engagement);
        let e = &self.row.engagement;
        Engagement {
            last_open_at: e.last_open_at,
            last_click_at: e.last_click_at,
            opens_30d: e.opens_30d,
            clicks_30d: e.clicks_30d,
            emails_received_30d: e.emails_received_30d,
        }
    }
    fn last_visit_at(&self) -> Option<Timestamp> {
        self.need(Field::LastVisitAt);
        self.row.last_visit_at
    }
    fn viewed_categories(&self) -> Vec<String> {
        self.list(Field::ViewedCategories, self.row.viewed_categories)
    }
    fn has_viewed_category(&self, category: &str) -> bool {
        self.contains(
            Field::ViewedCategories,
            self.row.viewed_categories,
            category,
        )
    }
    fn viewed_products(&self) -> Vec<ViewedProduct> {
        self.need(Field::ViewedProducts);
        rows(&self.batch.viewed_products, self.row.viewed_products)
            .iter()
            .map(|p| ViewedProduct {
                sku: text(self.batch, p.sku).to_string(),
                category: text(self.batch, p.category).to_string(),
                price_cents: p.price_cents,
                viewed_at: p.viewed_at,
            })
            .collect()
    }
    fn cart(&self) -> Option<Cart> {
        self.need(Field::Cart);
        self.row.cart.map(|cart| Cart {
            items: rows(&self.batch.cart_items, cart.items)
                .iter()
                .map(|item| CartItem {
                    sku: text(self.batch, item.sku).to_string(),
                    name: text(self.batch, item.name).to_string(),
                    category: text(self.batch, item.category).to_string(),
                    price_cents: item.price_cents,
                    quantity: item.quantity,
                })
                .collect(),
            updated_at: cart.updated_at,
        })
    }
    fn find_order_category<T>(&self, f: impl FnMut(&str) -> Option<T>) -> Option<T> {
        self.find(Field::OrderCategories, self.row.order_categories, f)
    }
    fn find_viewed_category<T>(&self, f: impl FnMut(&str) -> Option<T>) -> Option<T> {
        self.find(Field::ViewedCategories, self.row.viewed_categories, f)
    }
    fn any_viewed_product(&self, mut f: impl FnMut(i64, Timestamp) -> bool) -> bool {
        self.need(Field::ViewedProducts);
        rows(&self.batch.viewed_products, self.row.viewed_products)
            .iter()
            .any(|p| f(p.price_cents, p.viewed_at))
    }
    fn cart_summary(&self) -> Option<(usize, Timestamp)> {
        self.need(Field::Cart);
        self.row
            .cart
            .map(|cart| (cart.items.len as usize, cart.updated_at))
    }
    fn tags(&self) -> Vec<String> {
        self.list(Field::Tags, self.row.tags)
    }
    fn has_tag(&self, tag: &str) -> bool {
        self.contains(Field::Tags, self.row.tags, tag)
    }
    fn attributes(&self) -> Vec<u8> {
        self.need(Field::Attributes);
        let span = self.row.attributes;
        let start = span.start as usize;
        self.batch
            .text
            .get(start..start + span.len as usize)
            .unwrap_or_default()
            .to_vec()
    }
}

/// The campaign of a batch, read in place.
pub struct BatchCampaign<'a> {
    batch: &'a Batch,
}

impl<'a> BatchCampaign<'a> {
    fn ids(&self, range: Range) -> impl Iterator<Item = &'a str> + 'a {
        let batch = self.batch;
        strings(batch, range)
            .iter()
            .map(move |span| text(batch, *span))
    }

    fn contains(&self, range: Range, id: &str) -> bool {
        let batch = self.batch;
        strings(batch, range)
            .iter()
            .any(|span| bytes(batch, *span) == id.as_bytes())
    }

    fn slot(&self, name: &str) -> Option<&'a types::Slot> {
        let batch = self.batch;
        batch
            .campaign
            .slots
            .iter()
            .find(|slot| bytes(batch, slot.name) == name.as_bytes())
    }
}

impl CampaignView for BatchCampaign<'_> {
    fn id(&self) -> String {
        text(self.batch, self.batch.campaign.id).to_string()
    }
    fn now(&self) -> Timestamp {
        self.batch.campaign.now
    }
    fn subject_variants(&self) -> Vec<String> {
        self.ids(self.batch.campaign.subjects)
            .map(String::from)
            .collect()
    }
    fn preheader_variants(&self) -> Vec<String> {
        self.ids(self.batch.campaign.preheaders)
            .map(String::from)
            .collect()
    }
    fn slots(&self) -> Vec<String> {
        let batch = self.batch;
        batch
            .campaign
            .slots
            .iter()
            .map(|slot| text(batch, slot.name).to_string())
            .collect()
    }
    fn blocks(&self, slot: &str) -> Vec<String> {
        self.slot(slot)
            .map(|slot| self.ids(slot.blocks).map(String::from).collect())
            .unwrap_or_default()
    }
    fn has_subject(&self, id: &str) -> bool {
        self.contains(self.batch.campaign.subjects, id)
    }
    fn has_preheader(&self, id: &str) -> bool {
        self.contains(self.batch.campaign.preheaders, id)
    }
    fn has_block(&self, slot: &str, block: &str) -> bool {
        self.slot(slot)
            .is_some_and(|slot| self.contains(slot.blocks, block))
    }
}

/// The campaign's ids as bytes, looked up once per batch.
struct Lookup<'a> {
    subjects: Vec<&'a [u8]>,
    preheaders: Vec<&'a [u8]>,
    slots: Vec<(&'a [u8], Vec<&'a [u8]>)>,
}

impl<'a> Lookup<'a> {
    fn new(batch: &'a Batch) -> Self {
        let ids = |range: Range| -> Vec<&'a [u8]> {
            strings(batch, range)
                .iter()
                .map(|span| bytes(batch, *span))
                .collect()
        };
        Lookup {
            subjects: ids(batch.campaign.subjects),
            preheaders: ids(batch.campaign.preheaders),
            slots: batch
                .campaign
                .slots
                .iter()
                .map(|slot| (bytes(batch, slot.name), ids(slot.blocks)))
                .collect(),
        }
    }
}

/// The index of `id` in `ids`; `None` also past index 65,534 (65,535 marks
/// a slot left to its fallback).
fn position(ids: &[&[u8]], id: &str) -> Option<u16> {
    ids.iter()
        .position(|candidate| *candidate == id.as_bytes())
        .and_then(|i| u16::try_from(i).ok())
        .filter(|&i| i != FALLBACK_BLOCK)
}

/// Turns decisions into rows of indices.
struct Encoder<'a> {
    lookup: Lookup<'a>,
    segments: &'static [&'static str],
    out: Decisions,
}

fn span_of(text: &mut String, value: &str) -> Span {
    let span = Span {
        start: text.len() as u32,
        len: value.len() as u32,
    };
    text.push_str(value);
    span
}

const NO_RANGE: Range = Range { start: 0, len: 0 };

impl Encoder<'_> {
    fn push(&mut self, answer: Result<Decision, RuleError>) {
        let row = match answer {
            Ok(decision) => self.decided(&decision),
            Err(error) => Err(error),
        };
        let row = row.unwrap_or_else(|error| DecisionRow {
            verdict: Verdict::Failed,
            segments: 0,
            subject: 0,
            preheader: 0,
            blocks: NO_RANGE,
            reasons: NO_RANGE,
            note: span_of(&mut self.out.text, &error.message),
            error: wit_error_code(error.code),
        });
        self.out.rows.push(row);
    }

    fn decided(&mut self, decision: &Decision) -> Result<DecisionRow, RuleError> {
        let wrong = |message: String| RuleError {
            code: ErrorCode::Internal,
            message,
        };
        let mut segments = 0u64;
        for segment in &decision.segments {
            let bit = self
                .segments
                .iter()
                .position(|declared| *declared == segment)
                .ok_or_else(|| wrong(format!("segment `{segment}` is not in Rule::SEGMENTS")))?;
            segments |= 1 << bit;
        }
        let (mut subject, mut preheader, mut blocks) = (0, 0, NO_RANGE);
        if decision.suppress.is_none() {
            let lookup = &self.lookup;
            subject = position(&lookup.subjects, &decision.subject)
                .ok_or_else(|| wrong(format!("subject `{}` is not a variant", decision.subject)))?;
            preheader = position(&lookup.preheaders, &decision.preheader).ok_or_else(|| {
                wrong(format!(
                    "preheader `{}` is not a variant",
                    decision.preheader
                ))
            })?;
            if !decision.blocks.is_empty() {
                let start = self.out.blocks.len();
                self.out
                    .blocks
                    .resize(start + lookup.slots.len(), FALLBACK_BLOCK);
                for choice in &decision.blocks {
                    let slot = lookup
                        .slots
                        .iter()
                        .position(|(name, _)| *name == choice.slot.as_bytes())
                        .ok_or_else(|| {
                            wrong(format!("slot `{}` is not in the campaign", choice.slot))
                        })?;
                    self.out.blocks[start + slot] = position(&lookup.slots[slot].1, &choice.block)
                        .ok_or_else(|| {
                            wrong(format!(
                                "block `{}` may not fill slot `{}`",
                                choice.block, choice.slot
                            ))
                        })?;
                }
                blocks = Range {
                    start: start as u32,
                    len: lookup.slots.len() as u32,
                };
            }
        }
        let start = self.out.reasons.len() as u32;
        for reason in &decision.reasons {
            let span = span_of(&mut self.out.text, reason);
            self.out.reasons.push(span);
        }
        let reasons = Range {
            start,
            len: decision.reasons.len() as u32,
        };
        let (verdict, note) = match &decision.suppress {
            Some(code) => (Verdict::Suppressed, span_of(&mut self.out.text, code)),
            None => (Verdict::Decided, Span { start: 0, len: 0 }),
        };
        Ok(DecisionRow {
            verdict,
            segments,
            subject,
            preheader,
            blocks,
            reasons,
            note,
            error: types::ErrorCode::Internal,
        })
    }
}

/// What `describe` returns for `R`.
#[doc(hidden)]
pub fn describe<R: Rule>() -> Description {
    Description {
        fields: types::Field::from_bits_retain(Field::set(R::FIELDS)),
        segments: R::SEGMENTS.iter().map(|s| s.to_string()).collect(),
    }
}

/// What `decide-batch` returns for `R`: `R::decide` for every profile of
/// the batch, each after `host.begin`.
#[doc(hidden)]
pub fn decide_batch<R: Rule>(batch: Batch) -> Decisions {
    let fields = Field::set(R::FIELDS);
    let mut encoder = Encoder {
        lookup: Lookup::new(&batch),
        segments: R::SEGMENTS,
        out: Decisions {
            rows: Vec::with_capacity(batch.profiles.len()),
            blocks: Vec::new(),
            reasons: Vec::new(),
            text: String::new(),
        },
    };
    for (index, row) in batch.profiles.iter().enumerate() {
        host::begin(index as u32);
        let profile = BatchProfile {
            batch: &batch,
            row,
            fields,
        };
        let campaign = BatchCampaign { batch: &batch };
        encoder.push(R::decide(&profile, &campaign));
    }
    encoder.out
}

contract_glue!();

/// Exports a rule as the component's 0.2 `rule` interface.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_rule {
    ($rule:ty) => {
        const _: () = {
            struct MailrulesExport;

            impl $crate::v0_2::bindings::exports::mailrules::rules::rule::Guest for MailrulesExport {
                fn describe() -> $crate::v0_2::bindings::exports::mailrules::rules::rule::Description {
                    $crate::v0_2::describe::<$rule>()
                }

                fn decide_batch(
                    batch: $crate::v0_2::bindings::exports::mailrules::rules::rule::Batch,
                ) -> $crate::v0_2::bindings::exports::mailrules::rules::rule::Decisions {
                    $crate::v0_2::decide_batch::<$rule>(batch)
                }
            }

            $crate::v0_2::bindings::export_component!(MailrulesExport with_types_in $crate::v0_2::bindings);
        };
    };
}
