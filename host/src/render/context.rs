//! The merge fields templates see. Undefined names are errors (a misspelt
//! field fails the campaign at load); optional fields are always defined,
//! as `none` when the profile has no value: `none` prints as nothing, and
//! `default(...)` replaces it.
//!
//! | field | value |
//! |---|---|
//! | `first_name`, `last_name` | the profile's names, header-safe; `none` when empty, so `{{ first_name \| default('friend') }}` works |
//! | `profile` | `id`, `email`, `locale`, `country`, `timezone`, `tags`, `attributes` (the custom attributes as a map) |
//! | `campaign` | `id` |
//! | `segments` | the recipient's segment ids |
//! | `subject_variant`, `preheader_variant` | the chosen variant ids |
//! | `selected_blocks` | the chosen block id of every slot, by slot name (`selected_blocks.recommendations`) |
//! | `subject`, `preheader`, `blocks.<slot>`, `unsubscribe_url` | the rendered pieces, in layouts |

use std::collections::BTreeMap;

use serde::Serialize;

use super::headers::{MAX_NAME_CHARS, header_text};
use crate::outcome::Outcome;
use crate::profile::Profile;

/// Profile fields for templates.
#[derive(Debug, Serialize)]
pub struct ProfileFields<'a> {
    id: &'a str,
    email: &'a str,
    locale: Option<&'a str>,
    country: Option<&'a str>,
    timezone: Option<&'a str>,
    tags: &'a [String],
    attributes: serde_json::Value,
}

/// Campaign fields for templates.
#[derive(Debug, Serialize)]
pub struct CampaignFields<'a> {
    id: &'a str,
}

/// Everything a template may use.
#[derive(Debug, Serialize)]
pub struct MergeFields<'a> {
    first_name: Option<String>,
    last_name: Option<String>,
    profile: ProfileFields<'a>,
    campaign: CampaignFields<'a>,
    segments: &'a [String],
    subject_variant: &'a str,
    preheader_variant: &'a str,
    selected_blocks: BTreeMap<&'a str, &'a str>,
    /// Rendered subject (layouts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Rendered preheader (layouts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preheader: Option<String>,
    /// Rendered blocks by slot (layouts only; marked safe in HTML).
    pub blocks: BTreeMap<String, minijinja::Value>,
    /// Rendered unsubscribe URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
}

fn name(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(|n| header_text(n, MAX_NAME_CHARS))
        .filter(|n| !n.is_empty())
}

impl<'a> MergeFields<'a> {
    /// The fields for one recipient whose outcome sends a message.
    pub fn new(campaign_id: &'a str, profile: &'a Profile, outcome: &'a Outcome) -> Self {
        let selected_blocks = outcome
            .blocks
            .as_ref()
            .map(|b| {
                b.0.iter()
                    .map(|(slot, block)| (slot.as_str(), block.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        MergeFields {
            first_name: name(&profile.first_name),
            last_name: name(&profile.last_name),
            profile: ProfileFields {
                id: &profile.id,
                email: &profile.email,
                locale: profile.locale.as_deref(),
                country: profile.country.as_deref(),
                timezone: profile.timezone.as_deref(),
                tags: &profile.tags,
                attributes: rmp_serde::from_slice(&profile.attributes)
                    .unwrap_or(serde_json::Value::Null),
            },
            campaign: CampaignFields { id: campaign_id },
            segments: &outcome.segments,
            subject_variant: outcome.subject.as_deref().unwrap_or_default(),
            preheader_variant: outcome.preheader.as_deref().unwrap_or_default(),
            selected_blocks,
            subject: None,
            preheader: None,
            blocks: BTreeMap::new(),
            unsubscribe_url: None,
        }
    }

    /// The display name for the To header: first and last name, or none.
    pub fn display_name(&self) -> Option<String> {
        let joined = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        (!joined.is_empty()).then(|| header_text(&joined, MAX_NAME_CHARS))
    }
}
