//! The rules of many tenants, loaded once and shared: every version a
//! tenant uploaded, keyed by (tenant, version), and which version serves
//! each tenant (the active one, and a canary taking a share of
//! recipients). Activating swaps the tenant's routing atomically; an
//! evaluation that took a [`Routing`] snapshot finishes on the versions it
//! began with.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::bucket;
use crate::rule::LoadedRule;

/// A tenant's rule version, loaded.
#[derive(Clone)]
pub struct Version {
    /// The version's name, as the tenant uploaded it.
    pub name: String,
    /// The compiled rule.
    pub rule: LoadedRule,
}

/// A candidate version serving a share of recipients before it is active.
#[derive(Clone)]
pub struct Canary {
    /// The candidate.
    pub version: Version,
    /// Percentage of recipients (1–99) it serves.
    pub percent: u8,
}

/// Which versions serve one tenant: a consistent snapshot.
#[derive(Clone, Default)]
pub struct Routing {
    /// The active version, if any was activated.
    pub active: Option<Version>,
    /// The canary, if one is set.
    pub canary: Option<Canary>,
}

/// The salt of the canary bucket, so that canary membership is
/// independent of the campaign's A/B splits.
const CANARY_SALT: &str = "mailrules-canary";

impl Routing {
    /// The version that serves `recipient` in `campaign`: the canary for
    /// the recipients whose stable (campaign, recipient) bucket falls in its
    /// percentage, the active version for the rest. `None` when the tenant
    /// has no active version and the recipient is not a canary's.
    pub fn version_for(&self, campaign: &str, recipient: &str) -> Option<&Version> {
        if let Some(canary) = &self.canary
            && in_canary(campaign, recipient, canary.percent)
        {
            return Some(&canary.version);
        }
        self.active.as_ref()
    }
}

/// Whether `recipient` of `campaign` falls in a canary of `percent`.
pub fn in_canary(campaign: &str, recipient: &str, percent: u8) -> bool {
    let bucket = bucket::ab_bucket(campaign, recipient, CANARY_SALT);
    bucket < u32::from(percent.min(100)) * (bucket::BUCKETS / 100)
}

/// Why the registry refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No such version was loaded for the tenant.
    #[error("tenant {tenant} has no rule version {version}")]
    UnknownVersion {
        /// The tenant.
        tenant: String,
        /// The version asked for.
        version: String,
    },
    /// A canary percentage outside 1–99.
    #[error("a canary serves 1 to 99 percent of recipients, not {0}")]
    Percent(u8),
}

/// Every loaded rule version of every tenant, and each tenant's routing.
/// Shared between threads (`Arc<RuleRegistry>`); every method takes `&self`.
#[derive(Default)]
pub struct RuleRegistry {
    versions: RwLock<HashMap<(String, String), LoadedRule>>,
    routing: RwLock<HashMap<String, Arc<Routing>>>,
}

impl RuleRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a loaded version of `tenant`'s rule. It serves no
    /// one until activated or made a canary.
    pub fn insert(&self, tenant: &str, version: &str, rule: LoadedRule) {
        write(&self.versions).insert((tenant.to_string(), version.to_string()), rule);
    }

    /// A loaded version.
    pub fn get(&self, tenant: &str, version: &str) -> Option<Version> {
        read(&self.versions)
            .get(&(tenant.to_string(), version.to_string()))
            .map(|rule| Version {
                name: version.to_string(),
                rule: rule.clone(),
            })
    }

    /// The versions loaded for `tenant`, sorted by name.
    pub fn versions(&self, tenant: &str) -> Vec<String> {
        let mut names: Vec<String> = read(&self.versions)
            .keys()
            .filter(|(t, _)| t == tenant)
            .map(|(_, v)| v.clone())
            .collect();
        names.sort();
        names
    }

    /// A snapshot of which versions serve `tenant`. Evaluations keep it for
    /// their whole run, so a later activation does not change them.
    pub fn routing(&self, tenant: &str) -> Arc<Routing> {
        read(&self.routing).get(tenant).cloned().unwrap_or_default()
    }

    /// Makes `version` the one that serves `tenant` (also for rolling back
    /// to an earlier version). A canary of that same version ends; another
    /// canary stays.
    pub fn activate(&self, tenant: &str, version: &str) -> Result<(), RegistryError> {
        let loaded = self.loaded(tenant, version)?;
        self.update(tenant, |routing| {
            if routing
                .canary
                .as_ref()
                .is_some_and(|canary| canary.version.name == version)
            {
                routing.canary = None;
            }
            routing.active = Some(loaded);
        });
        Ok(())
    }

    /// Lets `version` serve `percent` percent of `tenant`'s recipients.
    pub fn set_canary(
        &self,
        tenant: &str,
        version: &str,
        percent: u8,
    ) -> Result<(), RegistryError> {
        if !(1..=99).contains(&percent) {
            return Err(RegistryError::Percent(percent));
        }
        let loaded = self.loaded(tenant, version)?;
        self.update(tenant, |routing| {
            routing.canary = Some(Canary {
                version: loaded,
                percent,
            })
        });
        Ok(())
    }

    /// Ends `tenant`'s canary, if any.
    pub fn clear_canary(&self, tenant: &str) {
        self.update(tenant, |routing| routing.canary = None);
    }

    fn loaded(&self, tenant: &str, version: &str) -> Result<Version, RegistryError> {
        self.get(tenant, version)
            .ok_or_else(|| RegistryError::UnknownVersion {
                tenant: tenant.to_string(),
                version: version.to_string(),
            })
    }

    fn update(&self, tenant: &str, change: impl FnOnce(&mut Routing)) {
        let mut routes = write(&self.routing);
        let mut routing = routes
            .get(tenant)
            .map(|current| Routing::clone(current))
            .unwrap_or_default();
        change(&mut routing);
        routes.insert(tenant.to_string(), Arc::new(routing));
    }
}

/// A poisoned lock only means another thread panicked while holding it;
/// the maps stay consistent (every change is a single insert).
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_membership_is_stable_and_close_to_its_percentage() {
        let members = (0..10_000)
            .filter(|i| in_canary("spring", &format!("p-{i}"), 10))
            .count();
        assert!((900..=1100).contains(&members), "{members}");
        assert_eq!(
            in_canary("spring", "p-1", 10),
            in_canary("spring", "p-1", 10)
        );
        assert!((0..1000).all(|i| !in_canary("spring", &format!("p-{i}"), 0)));
        // A larger canary keeps every recipient of a smaller one.
        assert!(
            (0..1000)
                .map(|i| format!("p-{i}"))
                .filter(|p| in_canary("spring", p, 5))
                .all(|p| in_canary("spring", &p, 20))
        );
    }

    #[test]
    fn unknown_versions_and_bad_percentages_are_refused() {
        let registry = RuleRegistry::new();
        assert_eq!(
            registry.activate("acme", "v1").unwrap_err(),
            RegistryError::UnknownVersion {
                tenant: "acme".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            registry.set_canary("acme", "v1", 100).unwrap_err(),
            RegistryError::Percent(100)
        );
        assert!(registry.routing("acme").active.is_none());
    }
}
