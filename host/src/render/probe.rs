//! Probe recipients: every template of a campaign is rendered for each of
//! them when the campaign is loaded, so a template error (an unknown
//! filter, a misspelt merge field, a loop that runs out of fuel or writes
//! too much) stops the campaign before anything is sent.
//!
//! | probe | what it has |
//! |---|---|
//! | `every optional field present` | names, locale, country, time zone, tags, attributes, segments |
//! | `every optional field absent` | only `id` and `email` |
//! | `large lists` | names at their longest, 2,000 tags and 256 segments of 64 characters, 1,000 attributes |

use super::{
    MergeFields, RenderError, Renderer, SetupError, block_template, preheader_template,
    subject_template,
};
use crate::campaign::Campaign;
use crate::outcome::{Blocks, Outcome, Status};
use crate::profile::Profile;

/// A probe recipient and the decision it is rendered with.
pub struct Probe {
    /// What the probe is, for messages.
    pub name: &'static str,
    /// The profile.
    pub profile: Profile,
    /// The campaign's fallback selection, with segments.
    pub outcome: Outcome,
}

fn long_id(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:0>58}")
}

/// The probes for `campaign`.
pub fn probes(campaign: &Campaign) -> Vec<Probe> {
    let full = serde_json::json!({
        "id": "probe-full",
        "email": "probe-full@example.com",
        "first_name": "Probe",
        "last_name": "Recipient",
        "locale": "en-US",
        "country": "US",
        "timezone": "America/New_York",
        "tags": ["probe"],
        "attributes": { "probe": true },
    });
    let empty = serde_json::json!({ "id": "probe-empty", "email": "probe-empty@example.com" });
    let attributes: serde_json::Map<String, serde_json::Value> = (0..1000)
        .map(|i| (long_id("a", i), serde_json::json!(long_id("v", i))))
        .collect();
    let large = serde_json::json!({
        "id": "probe-large",
        "email": "probe-large@example.com",
        "first_name": "N".repeat(100),
        "last_name": "N".repeat(100),
        "locale": "en-US",
        "country": "US",
        "timezone": "America/New_York",
        "tags": (0..2000).map(|i| long_id("t", i)).collect::<Vec<_>>(),
        "attributes": attributes,
    });
    [
        (
            "with every optional field present",
            full,
            vec!["probe".to_string()],
        ),
        ("with every optional field absent", empty, Vec::new()),
        (
            "with large lists",
            large,
            (0..256).map(|i| long_id("s", i)).collect(),
        ),
    ]
    .into_iter()
    .filter_map(|(name, json, segments)| {
        // The probes are fixed, valid profiles.
        let profile: Profile = serde_json::from_value(json).ok()?;
        let mut outcome = Outcome::without_message(profile.id.clone(), Status::Ok, String::new());
        outcome.reason = None;
        outcome.segments = segments;
        outcome.subject = Some(campaign.fallback.subject.clone());
        outcome.preheader = Some(campaign.fallback.preheader.clone());
        outcome.blocks = Some(Blocks(campaign.fallback.blocks.clone()));
        Some(Probe {
            name,
            profile,
            outcome,
        })
    })
    .collect()
}

impl Renderer {
    /// Renders every template for every probe recipient.
    pub(super) fn render_probes(&self, campaign: &Campaign) -> Result<(), SetupError> {
        for probe in probes(campaign) {
            let failed = |error: RenderError| {
                let (what, message) = match error {
                    RenderError::Template { what, message }
                    | RenderError::TooLarge { what, message } => (what, message),
                    other => (self.path.clone(), other.to_string()),
                };
                SetupError::Probe {
                    what,
                    message,
                    probe: probe.name,
                }
            };
            self.render_message(&probe.profile, &probe.outcome)
                .map_err(failed)?;
            let fields = MergeFields::new(&self.campaign_id, &probe.profile, &probe.outcome);
            let values = minijinja::Value::from_serialize(&fields);
            let mut names: Vec<String> = campaign
                .subjects
                .iter()
                .map(|v| subject_template(&v.id))
                .collect();
            names.extend(
                campaign
                    .preheaders
                    .iter()
                    .map(|v| preheader_template(&v.id)),
            );
            for slot in &campaign.slots {
                for block in &slot.blocks {
                    names.push(block_template(&slot.name, &block.id, "html"));
                    names.push(block_template(&slot.name, &block.id, "txt"));
                }
            }
            for name in names {
                self.render(&name, &values).map_err(failed)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_is_a_valid_profile_with_the_fallback_selection() {
        let campaign = Campaign::load(std::path::Path::new("../examples/campaign.toml")).unwrap();
        let probes = probes(&campaign);
        let names: Vec<&str> = probes.iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "with every optional field present",
                "with every optional field absent",
                "with large lists"
            ]
        );
        let large = &probes[2];
        assert_eq!(large.profile.tags.len(), 2000);
        assert_eq!(large.outcome.segments.len(), 256);
        assert!(large.outcome.status.sends());
        assert_eq!(large.outcome.subject.as_deref(), Some("default"));
        assert_eq!(probes[1].profile.first_name, None);
    }
}
