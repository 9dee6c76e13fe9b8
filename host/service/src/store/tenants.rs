//! Tenants and their API tokens.

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;

use super::{Store, now, parse_json};
use crate::StoreError;
use crate::ids::validate_tenant_id;
use crate::tokens::{hash_token, new_token, tokens_match};

/// A tenant as stored (without its token, which is never stored).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantRecord {
    /// The tenant's id.
    pub id: String,
    /// The tenant's limits, as given when it was created (JSON).
    pub limits: serde_json::Value,
    /// When the tenant was created (RFC 3339, UTC).
    pub created_at: String,
}

impl Store {
    /// Creates a tenant and returns its API token. The token is shown this
    /// once: the store keeps only its SHA-256.
    ///
    /// [`StoreError::AlreadyExists`] if the id is taken.
    pub fn create_tenant(
        &self,
        id: &str,
        limits: &serde_json::Value,
    ) -> Result<String, StoreError> {
        validate_tenant_id(id)?;
        let token = new_token();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists = tx
            .query_row("SELECT 1 FROM tenants WHERE id = ?1", [id], |_| Ok(()))
            .optional()?
            .is_some();
        if exists {
            return Err(StoreError::AlreadyExists {
                what: "tenant",
                id: id.to_owned(),
            });
        }
        tx.execute(
            "INSERT INTO tenants (id, token_hash, limits, created_at) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![id, hash_token(&token).as_slice(), limits.to_string(), now()],
        )?;
        tx.commit()?;
        Ok(token)
    }

    /// The tenant a token belongs to, or `None` if it belongs to none.
    pub fn authenticate(&self, token: &str) -> Result<Option<String>, StoreError> {
        let hash = hash_token(token);
        let found: Option<(String, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT id, token_hash FROM tenants WHERE token_hash = ?1",
                [hash.as_slice()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        // The lookup compared hashes in SQL; confirm in constant time.
        Ok(found.and_then(|(id, stored)| tokens_match(token, &stored).then_some(id)))
    }

    /// The tenant with this id, if any.
    pub fn tenant(&self, id: &str) -> Result<Option<TenantRecord>, StoreError> {
        let raw = self
            .conn()
            .query_row(
                "SELECT id, limits, created_at FROM tenants WHERE id = ?1",
                [id],
                raw_tenant,
            )
            .optional()?;
        raw.map(RawTenant::parse).transpose()
    }

    /// All tenants, by id.
    pub fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let raw: Vec<RawTenant> = {
            let conn = self.conn();
            let mut stmt =
                conn.prepare("SELECT id, limits, created_at FROM tenants ORDER BY id")?;
            stmt.query_map([], raw_tenant)?.collect::<Result<_, _>>()?
        };
        raw.into_iter().map(RawTenant::parse).collect()
    }
}

/// A tenant row before its JSON is parsed.
struct RawTenant {
    id: String,
    limits: String,
    created_at: String,
}

fn raw_tenant(row: &Row<'_>) -> rusqlite::Result<RawTenant> {
    Ok(RawTenant {
        id: row.get(0)?,
        limits: row.get(1)?,
        created_at: row.get(2)?,
    })
}

impl RawTenant {
    fn parse(self) -> Result<TenantRecord, StoreError> {
        Ok(TenantRecord {
            limits: parse_json("tenants", "limits", &self.limits)?,
            id: self.id,
            created_at: self.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::test_support;

    #[test]
    fn create_and_read() {
        let (_dir, store) = test_support::store();
        let limits = json!({"max_profiles": 1000, "fuel": 5_000_000});
        let token = store.create_tenant("acme", &limits).unwrap();
        assert!(token.starts_with("mrt_"));
        let record = store.tenant("acme").unwrap().unwrap();
        assert_eq!(record.id, "acme");
        assert_eq!(record.limits, limits);
        chrono::DateTime::parse_from_rfc3339(&record.created_at).unwrap();
        assert!(record.created_at.ends_with('Z'));
        assert_eq!(store.tenant("globex").unwrap(), None);
    }

    #[test]
    fn duplicate_is_refused() {
        let (_dir, store) = test_support::store();
        store.create_tenant("acme", &json!({})).unwrap();
        let err = store.create_tenant("acme", &json!({"x": 1})).unwrap_err();
        assert!(
            matches!(err, StoreError::AlreadyExists { what: "tenant", ref id } if id == "acme"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "tenant `acme` already exists");
        // The first tenant's limits are untouched.
        assert_eq!(store.tenant("acme").unwrap().unwrap().limits, json!({}));
    }

    #[test]
    fn invalid_id_is_refused() {
        let (_dir, store) = test_support::store();
        assert!(matches!(
            store.create_tenant("Acme", &json!({})),
            Err(StoreError::InvalidId {
                what: "tenant id",
                ..
            })
        ));
        assert!(store.tenants().unwrap().is_empty());
    }

    #[test]
    fn authentication() {
        let (_dir, store) = test_support::store();
        let acme = store.create_tenant("acme", &json!({})).unwrap();
        let globex = store.create_tenant("globex", &json!({})).unwrap();
        assert_ne!(acme, globex);
        assert_eq!(store.authenticate(&acme).unwrap().as_deref(), Some("acme"));
        assert_eq!(
            store.authenticate(&globex).unwrap().as_deref(),
            Some("globex")
        );
        assert_eq!(store.authenticate("").unwrap(), None);
        assert_eq!(store.authenticate("mrt_nope").unwrap(), None);
        assert_eq!(store.authenticate(&acme.to_uppercase()).unwrap(), None);
    }

    #[test]
    fn tokens_are_not_stored_in_clear() {
        let (dir, store) = test_support::store();
        let token = store.create_tenant("acme", &json!({})).unwrap();
        let stored: Vec<u8> = store
            .conn()
            .query_row("SELECT token_hash FROM tenants", [], |row| row.get(0))
            .unwrap();
        assert_eq!(stored, hash_token(&token));
        drop(store);
        // Nowhere in the database files either.
        let hex_part = token.strip_prefix("mrt_").unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(!text.contains(hex_part), "{}", path.display());
            }
        }
    }

    #[test]
    fn list_is_sorted() {
        let (_dir, store) = test_support::store();
        for id in ["zeta", "acme", "m1"] {
            store.create_tenant(id, &json!({"id": id})).unwrap();
        }
        let ids: Vec<_> = store
            .tenants()
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.limits))
            .collect();
        assert_eq!(
            ids,
            [
                ("acme".to_owned(), json!({"id": "acme"})),
                ("m1".to_owned(), json!({"id": "m1"})),
                ("zeta".to_owned(), json!({"id": "zeta"})),
            ]
        );
    }
}
