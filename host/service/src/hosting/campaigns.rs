//! Campaigns: upload (parsed and checked like `mailrules` does, with the
//! file and line of any problem), and the parsed campaign for evaluation.

use std::path::PathBuf;
use std::sync::Arc;

use mailrules::campaign::Campaign;
use mailrules::limits::resolve_within;
use mailrules::render::Renderer;
use serde::Serialize;

use super::{Hosting, HostingError, lock};
use crate::ids::validate_campaign_id;

/// The answer to a campaign upload.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    /// The campaign's id.
    pub id: String,
    /// Whether it was new (rather than replacing one).
    pub created: bool,
    /// The limits its evaluations run under.
    pub limits: serde_json::Value,
    /// Requests of its `[limits]` above the tenant's ceiling, lowered.
    pub warnings: Vec<String>,
}

impl Hosting {
    /// Creates or replaces a campaign. The TOML is checked as `mailrules`
    /// checks a campaign file (templates included); its `id` must be the
    /// one in the URL.
    pub fn put_campaign(
        &self,
        tenant: &str,
        id: &str,
        text: &str,
    ) -> Result<CampaignView, HostingError> {
        validate_campaign_id(id)?;
        let ceiling = self.tenant_ceiling(tenant)?;
        if text.len() > self.config.caps.max_campaign_bytes {
            return Err(HostingError::TooLarge {
                message: format!(
                    "the campaign is {} bytes, over the {}-byte limit",
                    text.len(),
                    self.config.caps.max_campaign_bytes
                ),
            });
        }
        let campaign = parse(id, text)?;
        if campaign.id != id {
            return Err(HostingError::Unprocessable {
                code: "invalid-campaign",
                message: format!(
                    "{id}.toml: the campaign's id is `{}` but it is uploaded as `{id}`; they must match",
                    campaign.id
                ),
            });
        }
        if campaign.message.is_some() {
            let now = campaign
                .now
                .unwrap_or_else(|| chrono::Utc::now().timestamp());
            Renderer::new(&campaign, now, None).map_err(|error| HostingError::Unprocessable {
                code: "invalid-campaign",
                message: error.to_string(),
            })?;
        }
        let known = self.store.campaign_ids(tenant)?;
        if !known.iter().any(|c| c == id) && known.len() >= self.config.caps.max_campaigns {
            return Err(HostingError::Conflict {
                code: "quota",
                message: format!(
                    "tenant `{tenant}` has {} campaigns, the most allowed",
                    known.len()
                ),
            });
        }
        let (limits, clamped) = resolve_within(&campaign.limits, &ceiling);
        let created = self.store.put_campaign(tenant, id, text)?;
        lock(&self.campaigns).insert((tenant.to_string(), id.to_string()), Arc::new(campaign));
        Ok(CampaignView {
            id: id.to_string(),
            created,
            limits: super::tenants::limits_json(&limits),
            warnings: clamped
                .iter()
                .map(|c| {
                    format!(
                        "[limits] {} = {} is above the tenant's ceiling; using {}",
                        c.name, c.requested, c.granted
                    )
                })
                .collect(),
        })
    }

    /// The parsed campaign.
    pub fn campaign(&self, tenant: &str, id: &str) -> Result<Arc<Campaign>, HostingError> {
        let key = (tenant.to_string(), id.to_string());
        if let Some(campaign) = lock(&self.campaigns).get(&key) {
            return Ok(campaign.clone());
        }
        let text = self
            .store
            .campaign(tenant, id)?
            .ok_or_else(|| HostingError::NotFound {
                what: "campaign",
                id: id.to_string(),
            })?;
        let campaign = Arc::new(parse(id, &text)?);
        lock(&self.campaigns).insert(key, campaign.clone());
        Ok(campaign)
    }

    /// The ids of the tenant's campaigns.
    pub fn campaign_ids(&self, tenant: &str) -> Result<Vec<String>, HostingError> {
        self.tenant_settings(tenant)?;
        Ok(self.store.campaign_ids(tenant)?)
    }

    /// The campaign's TOML as uploaded.
    pub fn campaign_text(&self, tenant: &str, id: &str) -> Result<String, HostingError> {
        self.store
            .campaign(tenant, id)?
            .ok_or_else(|| HostingError::NotFound {
                what: "campaign",
                id: id.to_string(),
            })
    }
}

/// Parses a campaign; problems name `<id>.toml` and the line.
fn parse(id: &str, text: &str) -> Result<Campaign, HostingError> {
    Campaign::parse(text, &PathBuf::from(format!("{id}.toml"))).map_err(|error| {
        HostingError::Unprocessable {
            code: "invalid-campaign",
            message: error.to_string(),
        }
    })
}
