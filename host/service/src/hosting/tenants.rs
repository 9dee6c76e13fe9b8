//! Tenants: creation (by the operator), their settings and the ceiling
//! their limits give every campaign.

use mailrules::lifecycle::frequency::FrequencyCaps;
use mailrules::lifecycle::timing::QuietHours;
use mailrules::limits::{Limits, RequestedLimits};
use serde::{Deserialize, Serialize};

use super::{Hosting, HostingError, lock};

/// What the operator sets for a tenant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSettings {
    /// The tenant's ceilings, within the operator's (absent fields: the
    /// operator's maximum).
    #[serde(default)]
    pub limits: RequestedLimits,
    /// The SMTP relay its sends go through (`smtp://…`, `smtps://…`);
    /// without one, sends go to a Maildir under the data directory.
    #[serde(default)]
    pub relay: Option<String>,
    /// The IANA time zone of recipients whose profile names none (UTC
    /// when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Frequency caps on every message of the tenant (a campaign's
    /// `[frequency]` adds to them).
    #[serde(default)]
    pub frequency: FrequencyCaps,
    /// Quiet hours in the recipient's zone, for campaigns that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// Profile fields the tenant's rules may not read (`email`,
    /// `birth-date`, …, as contract 0.2 names them): a rule that declares
    /// one (0.2) or imports its getter (0.1) is refused at upload, naming
    /// the field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_fields: Vec<String>,
}

/// A tenant just created: its token is shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedTenant {
    /// The tenant's id.
    pub id: String,
    /// Its API token; only a hash is stored.
    pub token: String,
    /// The limits it was given, after the operator's ceilings.
    pub limits: serde_json::Value,
    /// Requests above the operator's ceilings, lowered.
    pub warnings: Vec<String>,
}

impl Hosting {
    /// Creates a tenant and returns its token (the only time it is shown).
    pub fn create_tenant(
        &self,
        id: &str,
        settings: TenantSettings,
    ) -> Result<CreatedTenant, HostingError> {
        if let Some(relay) = &settings.relay
            && !(relay.starts_with("smtp://") || relay.starts_with("smtps://"))
        {
            return Err(HostingError::bad_request(
                "invalid-relay",
                format!("relay {relay:?}: expected an smtp:// or smtps:// URL"),
            ));
        }
        if let Some(zone) = &settings.timezone
            && zone.parse::<chrono_tz::Tz>().is_err()
        {
            return Err(HostingError::bad_request(
                "invalid-timezone",
                format!("timezone {zone:?}: not an IANA time zone (e.g. Europe/Berlin)"),
            ));
        }
        if let Some(field) = settings.forbidden_fields.iter().find(|field| {
            !mailrules::contract::v0_2::FIELDS
                .iter()
                .any(|(name, _)| name == field)
        }) {
            let known: Vec<&str> = mailrules::contract::v0_2::FIELDS
                .iter()
                .map(|(name, _)| *name)
                .collect();
            return Err(HostingError::bad_request(
                "invalid-field",
                format!(
                    "forbidden_fields: {field:?} is not a profile field (one of {})",
                    known.join(", ")
                ),
            ));
        }
        let (ceiling, clamped) = self.config.operator.tenant_ceiling(&settings.limits);
        let stored = serde_json::to_value(&settings)
            .map_err(|e| HostingError::Internal(format!("tenant settings: {e}")))?;
        let token = self.store.create_tenant(id, &stored)?;
        lock(&self.tenants).insert(id.to_string(), settings);
        Ok(CreatedTenant {
            id: id.to_string(),
            token,
            limits: limits_json(&ceiling),
            warnings: clamped
                .iter()
                .map(|c| {
                    format!(
                        "limits.{} = {} is above the operator's maximum; using {}",
                        c.name, c.requested, c.granted
                    )
                })
                .collect(),
        })
    }

    /// The tenant a token belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Option<String>, HostingError> {
        Ok(self.store.authenticate(token)?)
    }

    /// The tenant's settings.
    pub fn tenant_settings(&self, tenant: &str) -> Result<TenantSettings, HostingError> {
        if let Some(settings) = lock(&self.tenants).get(tenant) {
            return Ok(settings.clone());
        }
        let record = self
            .store
            .tenant(tenant)?
            .ok_or_else(|| HostingError::NotFound {
                what: "tenant",
                id: tenant.to_string(),
            })?;
        let settings: TenantSettings = serde_json::from_value(record.limits)
            .map_err(|e| HostingError::Internal(format!("tenant {tenant}: settings: {e}")))?;
        lock(&self.tenants).insert(tenant.to_string(), settings.clone());
        Ok(settings)
    }

    /// The most any campaign of `tenant` may get.
    pub fn tenant_ceiling(&self, tenant: &str) -> Result<Limits, HostingError> {
        let settings = self.tenant_settings(tenant)?;
        Ok(self.config.operator.tenant_ceiling(&settings.limits).0)
    }
}

/// Limits as the API shows them.
pub(crate) fn limits_json(limits: &Limits) -> serde_json::Value {
    serde_json::json!({
        "fuel": limits.fuel,
        "timeout_ms": limits.timeout.as_millis() as u64,
        "memory_mib": limits.memory_bytes >> 20,
        "max_segments": limits.max_segments,
        "max_id_bytes": limits.max_id_bytes,
        "max_reasons": limits.max_reasons,
        "max_log_bytes": limits.max_log_bytes,
    })
}
