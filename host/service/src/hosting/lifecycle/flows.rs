//! Flows of a tenant: put (checked, with the file and line of a problem),
//! list, delete, and their runs.

use mailrules::lifecycle::flow::{Flow, MAX_FLOW_BYTES};
use serde::Serialize;

use super::super::{Hosting, HostingError};
use crate::ids::validate_campaign_id;
use crate::store::{FlowRun, RunState};

/// Most flows a tenant may have.
pub const MAX_FLOWS: usize = 100;
/// Most runs one listing returns.
pub const MAX_LISTED_RUNS: usize = 1000;

/// A flow as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FlowView {
    /// The flow's name.
    pub name: String,
    /// The campaign it sends.
    pub campaign: String,
    /// Whether it was new (on put).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
    /// Its TOML.
    pub toml: String,
}

impl Hosting {
    /// Creates or replaces the tenant's flow `name`. Its campaign must
    /// exist and be sendable (have a `[message]`).
    pub fn put_flow(&self, tenant: &str, name: &str, text: &str) -> Result<FlowView, HostingError> {
        validate_campaign_id(name)?;
        self.tenant_settings(tenant)?;
        if text.len() > MAX_FLOW_BYTES {
            return Err(HostingError::TooLarge {
                message: format!(
                    "the flow is {} bytes, over the {MAX_FLOW_BYTES}-byte limit",
                    text.len()
                ),
            });
        }
        let flow = Flow::parse(text, name).map_err(|e| HostingError::Unprocessable {
            code: "invalid-flow",
            message: e.to_string(),
        })?;
        let campaign = self
            .campaign(tenant, &flow.campaign)
            .map_err(|_| HostingError::Unprocessable {
                code: "invalid-flow",
                message: format!(
                    "{name}.toml: campaign `{}` does not exist: upload it first (PUT /v1/tenants/{tenant}/campaigns/{})",
                    flow.campaign, flow.campaign
                ),
            })?;
        if campaign.message.is_none() {
            return Err(HostingError::Unprocessable {
                code: "invalid-flow",
                message: format!(
                    "{name}.toml: campaign `{}` has no [message] table, so it cannot be sent",
                    flow.campaign
                ),
            });
        }
        let existing = self.store.flows(tenant)?;
        if existing.len() >= MAX_FLOWS && !existing.iter().any(|f| f.name == name) {
            return Err(HostingError::Conflict {
                code: "quota",
                message: format!("tenant `{tenant}` has {MAX_FLOWS} flows, the most allowed"),
            });
        }
        let created = self.store.put_flow(tenant, name, text)?;
        Ok(FlowView {
            name: name.to_string(),
            campaign: flow.campaign,
            created: Some(created),
            toml: text.to_string(),
        })
    }

    /// The tenant's flows.
    pub fn flows(&self, tenant: &str) -> Result<Vec<FlowView>, HostingError> {
        self.tenant_settings(tenant)?;
        Ok(self
            .store
            .flows(tenant)?
            .into_iter()
            .map(|record| FlowView {
                campaign: Flow::parse(&record.toml, &record.name)
                    .map(|f| f.campaign)
                    .unwrap_or_default(),
                name: record.name,
                created: None,
                toml: record.toml,
            })
            .collect())
    }

    /// Deletes a flow; its waiting runs are cancelled.
    pub fn delete_flow(&self, tenant: &str, name: &str) -> Result<(), HostingError> {
        self.tenant_settings(tenant)?;
        if self.store.delete_flow(tenant, name)? {
            Ok(())
        } else {
            Err(HostingError::NotFound {
                what: "flow",
                id: name.to_string(),
            })
        }
    }

    /// The tenant's flow runs (of one flow, or all), newest first, with
    /// when each is or was due and why, optionally only those in `state`.
    pub fn flow_runs(
        &self,
        tenant: &str,
        flow: Option<&str>,
        state: Option<RunState>,
    ) -> Result<Vec<FlowRun>, HostingError> {
        self.tenant_settings(tenant)?;
        Ok(self.store.runs(tenant, flow, state, MAX_LISTED_RUNS)?)
    }
}
