//! Rule versions: upload (validate, precompile, record facts), list,
//! activate (also to roll back), canary, and loading on demand.

use std::path::Path;
use std::sync::Arc;

use mailrules::campaign::Campaign;
use mailrules::limits::{RequestedLimits, resolve_within};
use mailrules::rule_facts::{forbidden_field, fuel_on_extremes, profile_fields};

use mailrules::registry::Version;
use mailrules::rule::LoadedRule;
use serde::{Deserialize, Serialize};

use super::{Hosting, HostingError};
use crate::ids::validate_rule_version;
use crate::store::{ActivationRecord, EventRecord, RuleVersionRecord};

/// What is learnt about a rule version when it is uploaded, before any
/// customer data flows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleFacts {
    /// The `mailrules:rules` version it was built against.
    pub world_version: String,
    /// Size of the component in bytes.
    pub size: usize,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Milliseconds to compile it (or load it from the compilation cache).
    pub compile_ms: f64,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// The profile fields it can read: what it declares (contract 0.2), or
    /// the getters its imports name (0.1).
    pub profile_fields: Vec<String>,
    /// The segment ids it declares it may assign (contract 0.2; absent for
    /// 0.1 rules, whose segments are known only from their decisions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_segments: Option<Vec<String>>,
    /// Fuel on the most expensive of the largest profiles the host accepts
    /// (`None` when it ran into its deadline), under the default limits
    /// (within the tenant's ceiling): a budget known before any customer
    /// data flows.
    pub max_profile_fuel: Option<u64>,
    /// How that evaluation ended (`ok`, `out-of-fuel`, …).
    pub max_profile_outcome: String,
    /// Which largest profile it was (the field that got the byte budget).
    pub max_profile_shape: String,
    /// Fuel on the smallest profile.
    pub min_profile_fuel: Option<u64>,
}

/// The campaign the upload-time fuel figures are measured with: one
/// subject, one preheader, no blocks. A rule's cost depends on the
/// profile far more than on the campaign; the figures are comparable
/// across versions and tenants because the campaign is always this one.
const FACTS_CAMPAIGN: &str = r#"
id = "upload-facts"
now = "2026-01-01T00:00:00Z"

[[subject]]
id = "default"
text = "-"

[[preheader]]
id = "default"
text = "-"

[fallback]
subject = "default"
preheader = "default"
blocks = {}
"#;

/// The answer to an upload.
#[derive(Debug, Clone, Serialize)]
pub struct UploadedRule {
    /// The tenant.
    pub tenant: String,
    /// The version's name.
    pub version: String,
    /// What was learnt about it.
    pub facts: RuleFacts,
}

/// A tenant's rule versions and which serve.
#[derive(Debug, Clone, Serialize)]
pub struct RulesView {
    /// The active version.
    pub active: Option<String>,
    /// The canary and its percentage.
    pub canary: Option<CanaryView>,
    /// Every version, oldest first.
    pub versions: Vec<RuleVersionRecord>,
    /// Activations, oldest first.
    pub activations: Vec<ActivationRecord>,
    /// Recent events (breaker trips, activations), newest first.
    pub events: Vec<EventRecord>,
}

/// A canary as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CanaryView {
    /// The candidate version.
    pub version: String,
    /// Percentage of recipients it serves.
    pub percent: u8,
}

/// Events listed with a tenant's rules.
const EVENTS_LISTED: usize = 50;

impl Hosting {
    /// Validates and precompiles a component (everything `mailrules check`
    /// does), stores it by SHA-256 and records the version with its facts.
    /// Versions are immutable: uploading a name twice is a conflict.
    pub fn upload_rule(
        &self,
        tenant: &str,
        version: &str,
        bytes: &[u8],
    ) -> Result<UploadedRule, HostingError> {
        validate_rule_version(version)?;
        let settings = self.tenant_settings(tenant)?;
        if self.store.rule_version(tenant, version)?.is_some() {
            return Err(HostingError::Conflict {
                code: "already-exists",
                message: format!(
                    "rule version `{version}` already exists; versions are immutable, upload under a new name"
                ),
            });
        }
        let existing = self.store.rule_versions(tenant)?.len();
        if existing >= self.config.caps.max_rule_versions {
            return Err(HostingError::Conflict {
                code: "quota",
                message: format!(
                    "tenant `{tenant}` has {existing} rule versions, the most allowed"
                ),
            });
        }
        let max = self.config.operator.max_component_bytes;
        if bytes.len() > max {
            return Err(HostingError::TooLarge {
                message: format!(
                    "the component is {} bytes, over the {max}-byte limit",
                    bytes.len()
                ),
            });
        }
        let name = Path::new(version);
        let rule = LoadedRule::from_bytes(&self.engine, bytes, name, Some(&self.cache_dir()))
            .map_err(|error| HostingError::Unprocessable {
                code: "invalid-rule",
                message: error.to_string(),
            })?;
        if let Some(field) = forbidden_field(&self.engine, &rule, &settings.forbidden_fields) {
            return Err(HostingError::Unprocessable {
                code: "forbidden-field",
                message: format!(
                    "the rule reads the profile field `{field}`, which this tenant's rules may not read"
                ),
            });
        }
        let facts = self.facts(tenant, &rule)?;
        let sha256 = self.store.put_component(bytes)?;
        let stored = serde_json::to_value(&facts)
            .map_err(|e| HostingError::Internal(format!("rule facts: {e}")))?;
        self.store
            .insert_rule_version(tenant, version, &sha256, &stored)?;
        self.registry.insert(tenant, version, rule);
        tracing::info!(tenant, version, sha256, "rule version uploaded");
        Ok(UploadedRule {
            tenant: tenant.to_string(),
            version: version.to_string(),
            facts,
        })
    }

    /// Everything known about a loaded rule before it sees customer data.
    fn facts(&self, tenant: &str, rule: &LoadedRule) -> Result<RuleFacts, HostingError> {
        let campaign = Campaign::parse(FACTS_CAMPAIGN, Path::new("upload-facts.toml"))
            .map_err(|e| HostingError::Internal(format!("the facts campaign: {e}")))?;
        let now = campaign.now.unwrap_or_default();
        // The default limits (within the tenant's ceiling): what a
        // campaign that asks for nothing gets.
        let (limits, _) =
            resolve_within(&RequestedLimits::default(), &self.tenant_ceiling(tenant)?);
        let fuel = fuel_on_extremes(&self.engine, rule, Arc::new(campaign), limits, now);
        Ok(RuleFacts {
            world_version: rule.info.world_version.clone(),
            size: rule.info.size,
            sha256: rule.info.sha256.clone(),
            compile_ms: rule.info.load_time.as_secs_f64() * 1000.0,
            imports: rule.info.imports.clone(),
            profile_fields: profile_fields(&self.engine, rule),
            declared_segments: rule.info.declared_segments.clone(),
            max_profile_fuel: fuel.max_profile,
            max_profile_outcome: fuel.max_profile_outcome,
            max_profile_shape: fuel.max_profile_shape.to_string(),
            min_profile_fuel: fuel.min_profile,
        })
    }

    /// The tenant's versions, the active one and the canary.
    pub fn rules(&self, tenant: &str) -> Result<RulesView, HostingError> {
        self.tenant_settings(tenant)?;
        let state = self.store.rule_state(tenant)?;
        Ok(RulesView {
            active: state.active,
            canary: state
                .canary
                .map(|(version, percent)| CanaryView { version, percent }),
            versions: self.store.rule_versions(tenant)?,
            activations: self.store.activations(tenant)?,
            events: self.store.events(tenant, EVENTS_LISTED)?,
        })
    }

    /// Makes `version` the one that serves the tenant, durably and then in
    /// memory; evaluations in flight finish on the version they began
    /// with. Activating an earlier version rolls back.
    pub fn activate(&self, tenant: &str, version: &str) -> Result<RulesView, HostingError> {
        self.loaded(tenant, version)?;
        self.store.activate(tenant, version)?;
        self.registry
            .activate(tenant, version)
            .map_err(|e| HostingError::Internal(e.to_string()))?;
        self.store
            .record_event(tenant, Some(version), "activated", "")?;
        tracing::info!(tenant, version, "rule version activated");
        self.rules(tenant)
    }

    /// Lets `version` serve `percent` percent of the tenant's recipients,
    /// chosen by the stable (campaign, recipient) bucket.
    pub fn set_canary(
        &self,
        tenant: &str,
        version: &str,
        percent: u8,
    ) -> Result<RulesView, HostingError> {
        self.loaded(tenant, version)?;
        self.store.set_canary(tenant, version, percent)?;
        self.registry
            .set_canary(tenant, version, percent)
            .map_err(|e| HostingError::bad_request("invalid-value", e.to_string()))?;
        self.store.record_event(
            tenant,
            Some(version),
            "canary",
            &format!("{percent}% of recipients"),
        )?;
        self.rules(tenant)
    }

    /// Ends the tenant's canary.
    pub fn clear_canary(&self, tenant: &str) -> Result<RulesView, HostingError> {
        self.tenant_settings(tenant)?;
        self.store.clear_canary(tenant)?;
        self.registry.clear_canary(tenant);
        self.rules(tenant)
    }

    /// A version of the tenant's rule, compiled, loading it from the store
    /// (through the compilation cache) when this process has not yet.
    pub fn loaded(&self, tenant: &str, version: &str) -> Result<Version, HostingError> {
        if let Some(loaded) = self.registry.get(tenant, version) {
            return Ok(loaded);
        }
        let record =
            self.store
                .rule_version(tenant, version)?
                .ok_or_else(|| HostingError::NotFound {
                    what: "rule version",
                    id: version.to_string(),
                })?;
        let bytes = self.store.component(&record.sha256)?;
        let rule = LoadedRule::from_bytes(
            &self.engine,
            &bytes,
            Path::new(version),
            Some(&self.cache_dir()),
        )
        .map_err(|e| HostingError::Internal(format!("{tenant}/{version}: {e}")))?;
        self.registry.insert(tenant, version, rule);
        self.registry
            .get(tenant, version)
            .ok_or_else(|| HostingError::Internal("a loaded rule vanished".into()))
    }

    /// The lines a rule version logged lately.
    pub fn rule_logs(
        &self,
        tenant: &str,
        version: &str,
    ) -> Result<Vec<crate::guest_logs::LogLine>, HostingError> {
        if self.store.rule_version(tenant, version)?.is_none() {
            return Err(HostingError::NotFound {
                what: "rule version",
                id: version.to_string(),
            });
        }
        Ok(self.logs.lines(tenant, version))
    }

    /// Loads every tenant's active and canary versions into the registry
    /// (at start-up).
    pub(super) fn load_routing(&self) -> Result<(), HostingError> {
        for tenant in self.store.tenants()? {
            let state = self.store.rule_state(&tenant.id)?;
            if let Some(active) = &state.active {
                self.loaded(&tenant.id, active)?;
                self.registry
                    .activate(&tenant.id, active)
                    .map_err(|e| HostingError::Internal(e.to_string()))?;
            }
            if let Some((canary, percent)) = &state.canary {
                self.loaded(&tenant.id, canary)?;
                self.registry
                    .set_canary(&tenant.id, canary, *percent)
                    .map_err(|e| HostingError::Internal(e.to_string()))?;
            }
        }
        Ok(())
    }
}
