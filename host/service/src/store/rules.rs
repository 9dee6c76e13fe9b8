//! Rule versions (immutable uploads of a compiled rule), which one is
//! active, the canary, and the activation history.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Store, now, parse_json, require_tenant};
use crate::StoreError;
use crate::ids::{validate_rule_version, validate_sha256_hex};

/// One uploaded version of a tenant's rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVersionRecord {
    /// The version's name, chosen by the tenant.
    pub version: String,
    /// The SHA-256 (lowercase hex) of its component file.
    pub sha256: String,
    /// What was learnt about the rule when it was uploaded (JSON).
    pub facts: serde_json::Value,
    /// When it was uploaded (RFC 3339, UTC).
    pub uploaded_at: String,
}

/// Which versions of a tenant's rule receive traffic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleState {
    /// The version that runs, if one has been activated.
    pub active: Option<String>,
    /// A version that runs for this percentage (1 to 99) of profiles
    /// instead of the active one.
    pub canary: Option<(String, u8)>,
}

/// One entry of a tenant's activation history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivationRecord {
    /// The version that became active.
    pub version: String,
    /// When (RFC 3339, UTC).
    pub at: String,
}

impl Store {
    /// Records an uploaded rule version whose component is already stored
    /// (see [`Store::put_component`]). Versions are immutable:
    /// [`StoreError::AlreadyExists`] if the name is taken, even with the
    /// same component.
    pub fn insert_rule_version(
        &self,
        tenant: &str,
        version: &str,
        sha256: &str,
        facts: &serde_json::Value,
    ) -> Result<(), StoreError> {
        validate_rule_version(version)?;
        validate_sha256_hex(sha256)?;
        if !self.has_component(sha256)? {
            return Err(StoreError::NotFound {
                what: "component",
                id: sha256.to_owned(),
            });
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        if version_exists(&tx, tenant, version)? {
            return Err(StoreError::AlreadyExists {
                what: "rule version",
                id: version.to_owned(),
            });
        }
        tx.execute(
            "INSERT INTO rule_versions (tenant, version, sha256, facts, uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![tenant, version, sha256, facts.to_string(), now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The tenant's rule versions, oldest upload first.
    pub fn rule_versions(&self, tenant: &str) -> Result<Vec<RuleVersionRecord>, StoreError> {
        let raw: Vec<RawVersion> = {
            let conn = self.conn();
            let mut stmt = conn.prepare(
                "SELECT version, sha256, facts, uploaded_at FROM rule_versions
                 WHERE tenant = ?1 ORDER BY uploaded_at, version",
            )?;
            stmt.query_map([tenant], raw_version)?
                .collect::<Result<_, _>>()?
        };
        raw.into_iter().map(RawVersion::parse).collect()
    }

    /// One of the tenant's rule versions, if it exists.
    pub fn rule_version(
        &self,
        tenant: &str,
        version: &str,
    ) -> Result<Option<RuleVersionRecord>, StoreError> {
        let raw = self
            .conn()
            .query_row(
                "SELECT version, sha256, facts, uploaded_at FROM rule_versions
                 WHERE tenant = ?1 AND version = ?2",
                [tenant, version],
                raw_version,
            )
            .optional()?;
        raw.map(RawVersion::parse).transpose()
    }

    /// Makes `version` the tenant's active version, in one transaction:
    /// the version must exist; if it was the canary, the canary is cleared;
    /// the activation is appended to the history.
    pub fn activate(&self, tenant: &str, version: &str) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        require_version(&tx, tenant, version)?;
        tx.execute(
            "INSERT INTO tenant_rules (tenant, active_version) VALUES (?1, ?2)
             ON CONFLICT (tenant) DO UPDATE SET
                 active_version = excluded.active_version,
                 canary_percent = CASE WHEN canary_version = excluded.active_version
                                       THEN NULL ELSE canary_percent END,
                 canary_version = CASE WHEN canary_version = excluded.active_version
                                       THEN NULL ELSE canary_version END",
            [tenant, version],
        )?;
        tx.execute(
            "INSERT INTO activations (tenant, version, at) VALUES (?1, ?2, ?3)",
            params![tenant, version, now()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Sends `percent` (1 to 99) of the tenant's profiles to `version`
    /// instead of the active version, replacing any canary.
    ///
    /// The version must exist and must not be the active one, and there
    /// must be an active version ([`StoreError::Conflict`] otherwise).
    pub fn set_canary(&self, tenant: &str, version: &str, percent: u8) -> Result<(), StoreError> {
        if !(1..=99).contains(&percent) {
            return Err(StoreError::InvalidValue {
                what: "canary percentage",
                reason: format!("{percent} is not between 1 and 99"),
            });
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        require_version(&tx, tenant, version)?;
        match active_version(&tx, tenant)? {
            None => {
                return Err(StoreError::Conflict(format!(
                    "tenant `{tenant}` has no active rule version to run a canary against"
                )));
            }
            Some(active) if active == version => {
                return Err(StoreError::Conflict(format!(
                    "rule version `{version}` is already the active version"
                )));
            }
            Some(_) => {}
        }
        tx.execute(
            "UPDATE tenant_rules SET canary_version = ?2, canary_percent = ?3 WHERE tenant = ?1",
            params![tenant, version, percent],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Stops the tenant's canary, if any; returns whether there was one.
    pub fn clear_canary(&self, tenant: &str) -> Result<bool, StoreError> {
        let conn = self.conn();
        require_tenant(&conn, tenant)?;
        let changed = conn.execute(
            "UPDATE tenant_rules SET canary_version = NULL, canary_percent = NULL
             WHERE tenant = ?1 AND canary_version IS NOT NULL",
            [tenant],
        )?;
        Ok(changed > 0)
    }

    /// Which of the tenant's versions are active and in canary (nothing for
    /// a tenant that never activated one, or does not exist).
    pub fn rule_state(&self, tenant: &str) -> Result<RuleState, StoreError> {
        let row: Option<(Option<String>, Option<String>, Option<i64>)> = self
            .conn()
            .query_row(
                "SELECT active_version, canary_version, canary_percent
                 FROM tenant_rules WHERE tenant = ?1",
                [tenant],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((active, canary_version, canary_percent)) = row else {
            return Ok(RuleState::default());
        };
        let canary = match (canary_version, canary_percent) {
            (Some(version), Some(percent)) => {
                let percent = u8::try_from(percent).map_err(|_| {
                    StoreError::Corrupt(format!("tenant_rules.canary_percent is {percent}"))
                })?;
                Some((version, percent))
            }
            _ => None,
        };
        Ok(RuleState { active, canary })
    }

    /// The tenant's activation history, oldest first.
    pub fn activations(&self, tenant: &str) -> Result<Vec<ActivationRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT version, at FROM activations WHERE tenant = ?1 ORDER BY id")?;
        let history = stmt
            .query_map([tenant], |row| {
                Ok(ActivationRecord {
                    version: row.get(0)?,
                    at: row.get(1)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(history)
    }
}

fn version_exists(conn: &Connection, tenant: &str, version: &str) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM rule_versions WHERE tenant = ?1 AND version = ?2",
            [tenant, version],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn require_version(conn: &Connection, tenant: &str, version: &str) -> Result<(), StoreError> {
    if version_exists(conn, tenant, version)? {
        Ok(())
    } else {
        Err(StoreError::NotFound {
            what: "rule version",
            id: version.to_owned(),
        })
    }
}

fn active_version(conn: &Connection, tenant: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT active_version FROM tenant_rules WHERE tenant = ?1",
            [tenant],
            |row| row.get(0),
        )
        .optional()?
        .flatten())
}

/// A rule version row before its JSON is parsed.
struct RawVersion {
    version: String,
    sha256: String,
    facts: String,
    uploaded_at: String,
}

fn raw_version(row: &Row<'_>) -> rusqlite::Result<RawVersion> {
    Ok(RawVersion {
        version: row.get(0)?,
        sha256: row.get(1)?,
        facts: row.get(2)?,
        uploaded_at: row.get(3)?,
    })
}

impl RawVersion {
    fn parse(self) -> Result<RuleVersionRecord, StoreError> {
        Ok(RuleVersionRecord {
            facts: parse_json("rule_versions", "facts", &self.facts)?,
            version: self.version,
            sha256: self.sha256,
            uploaded_at: self.uploaded_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::test_support::{self, add_version};

    fn state(active: Option<&str>, canary: Option<(&str, u8)>) -> RuleState {
        RuleState {
            active: active.map(str::to_owned),
            canary: canary.map(|(v, p)| (v.to_owned(), p)),
        }
    }

    #[test]
    fn insert_and_read() {
        let (_dir, store) = test_support::store_with_tenants();
        let sha = store.put_component(b"rule one").unwrap();
        let facts = json!({"exports": ["segment"], "fuel": 12});
        store
            .insert_rule_version("acme", "v1", &sha, &facts)
            .unwrap();
        let record = store.rule_version("acme", "v1").unwrap().unwrap();
        assert_eq!(record.version, "v1");
        assert_eq!(record.sha256, sha);
        assert_eq!(record.facts, facts);
        chrono::DateTime::parse_from_rfc3339(&record.uploaded_at).unwrap();
        assert_eq!(store.rule_versions("acme").unwrap(), [record]);
        assert_eq!(store.rule_version("acme", "v2").unwrap(), None);
    }

    #[test]
    fn versions_are_immutable() {
        let (_dir, store) = test_support::store_with_tenants();
        let sha = add_version(&store, "acme", "v1");
        let other = store.put_component(b"another").unwrap();
        for sha in [&sha, &other] {
            let err = store
                .insert_rule_version("acme", "v1", sha, &json!({}))
                .unwrap_err();
            assert_eq!(err.to_string(), "rule version `v1` already exists");
        }
        assert_eq!(
            store.rule_version("acme", "v1").unwrap().unwrap().sha256,
            sha
        );
    }

    #[test]
    fn insert_needs_tenant_component_and_valid_names() {
        let (_dir, store) = test_support::store_with_tenants();
        let sha = store.put_component(b"rule").unwrap();
        let err = store
            .insert_rule_version("initech", "v1", &sha, &json!({}))
            .unwrap_err();
        assert_eq!(err.to_string(), "tenant `initech` not found");
        let missing = "0".repeat(64);
        let err = store
            .insert_rule_version("acme", "v1", &missing, &json!({}))
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::NotFound {
                what: "component",
                ..
            }
        ));
        assert!(matches!(
            store.insert_rule_version("acme", "V1", &sha, &json!({})),
            Err(StoreError::InvalidId {
                what: "rule version",
                ..
            })
        ));
        assert!(matches!(
            store.insert_rule_version("acme", "v1", "abc", &json!({})),
            Err(StoreError::InvalidId {
                what: "component sha256",
                ..
            })
        ));
        assert!(store.rule_versions("acme").unwrap().is_empty());
    }

    #[test]
    fn activation_and_canary() {
        let (_dir, store) = test_support::store_with_tenants();
        add_version(&store, "acme", "v1");
        add_version(&store, "acme", "v2");
        add_version(&store, "acme", "v3");
        assert_eq!(store.rule_state("acme").unwrap(), state(None, None));

        // No canary without an active version.
        let err = store.set_canary("acme", "v2", 10).unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        store.activate("acme", "v1").unwrap();
        assert_eq!(store.rule_state("acme").unwrap(), state(Some("v1"), None));

        store.set_canary("acme", "v2", 10).unwrap();
        assert_eq!(
            store.rule_state("acme").unwrap(),
            state(Some("v1"), Some(("v2", 10)))
        );
        // Replacing the canary.
        store.set_canary("acme", "v3", 25).unwrap();
        assert_eq!(
            store.rule_state("acme").unwrap(),
            state(Some("v1"), Some(("v3", 25)))
        );
        // The active version cannot be its own canary.
        assert!(matches!(
            store.set_canary("acme", "v1", 5),
            Err(StoreError::Conflict(_))
        ));
        // Percentages outside 1..=99.
        for percent in [0, 100, 255] {
            let err = store.set_canary("acme", "v2", percent).unwrap_err();
            assert!(matches!(err, StoreError::InvalidValue { .. }), "{err:?}");
        }
        // Activating another version keeps the canary.
        store.activate("acme", "v2").unwrap();
        assert_eq!(
            store.rule_state("acme").unwrap(),
            state(Some("v2"), Some(("v3", 25)))
        );
        // Activating the canary clears it.
        store.activate("acme", "v3").unwrap();
        assert_eq!(store.rule_state("acme").unwrap(), state(Some("v3"), None));

        store.set_canary("acme", "v1", 50).unwrap();
        assert!(store.clear_canary("acme").unwrap());
        assert!(!store.clear_canary("acme").unwrap());
        assert_eq!(store.rule_state("acme").unwrap(), state(Some("v3"), None));

        let history: Vec<_> = store
            .activations("acme")
            .unwrap()
            .into_iter()
            .map(|a| a.version)
            .collect();
        assert_eq!(history, ["v1", "v2", "v3"]);
    }

    #[test]
    fn activating_unknown_version_changes_nothing() {
        let (_dir, store) = test_support::store_with_tenants();
        add_version(&store, "acme", "v1");
        store.activate("acme", "v1").unwrap();
        let err = store.activate("acme", "v9").unwrap_err();
        assert_eq!(err.to_string(), "rule version `v9` not found");
        assert!(matches!(
            store.set_canary("acme", "v9", 5),
            Err(StoreError::NotFound {
                what: "rule version",
                ..
            })
        ));
        assert_eq!(store.rule_state("acme").unwrap(), state(Some("v1"), None));
        assert_eq!(store.activations("acme").unwrap().len(), 1);
        assert!(matches!(
            store.activate("initech", "v1"),
            Err(StoreError::NotFound { what: "tenant", .. })
        ));
        assert!(matches!(
            store.clear_canary("initech"),
            Err(StoreError::NotFound { what: "tenant", .. })
        ));
    }

    #[test]
    fn versions_of_another_tenant_cannot_be_activated() {
        let (_dir, store) = test_support::store_with_tenants();
        add_version(&store, "globex", "v1");
        add_version(&store, "acme", "a1");
        assert!(matches!(
            store.activate("acme", "v1"),
            Err(StoreError::NotFound {
                what: "rule version",
                ..
            })
        ));
        store.activate("acme", "a1").unwrap();
        assert!(matches!(
            store.set_canary("acme", "v1", 10),
            Err(StoreError::NotFound {
                what: "rule version",
                ..
            })
        ));
        assert_eq!(store.rule_state("globex").unwrap(), state(None, None));
    }
}
