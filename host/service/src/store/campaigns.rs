//! Campaign definitions (TOML text, stored as given; the service parses it).

use rusqlite::{OptionalExtension, params};

use super::{Store, now, require_tenant};
use crate::StoreError;
use crate::ids::validate_campaign_id;

impl Store {
    /// Creates or replaces the tenant's campaign `id`; returns `true` if it
    /// was created.
    pub fn put_campaign(&self, tenant: &str, id: &str, toml: &str) -> Result<bool, StoreError> {
        validate_campaign_id(id)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        require_tenant(&tx, tenant)?;
        let existed = tx
            .query_row(
                "SELECT 1 FROM campaigns WHERE tenant = ?1 AND id = ?2",
                [tenant, id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        tx.execute(
            "INSERT INTO campaigns (tenant, id, toml, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant, id) DO UPDATE SET
                 toml = excluded.toml, updated_at = excluded.updated_at",
            params![tenant, id, toml, now()],
        )?;
        tx.commit()?;
        Ok(!existed)
    }

    /// The TOML of the tenant's campaign `id`, if it exists.
    pub fn campaign(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT toml FROM campaigns WHERE tenant = ?1 AND id = ?2",
                [tenant, id],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// The ids of the tenant's campaigns, sorted.
    pub fn campaign_ids(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT id FROM campaigns WHERE tenant = ?1 ORDER BY id")?;
        let ids = stmt
            .query_map([tenant], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support;

    #[test]
    fn create_replace_read() {
        let (_dir, store) = test_support::store_with_tenants();
        assert!(store.put_campaign("acme", "spring", "a = 1\n").unwrap());
        assert_eq!(
            store.campaign("acme", "spring").unwrap().as_deref(),
            Some("a = 1\n")
        );
        assert!(!store.put_campaign("acme", "spring", "a = 2\n").unwrap());
        assert_eq!(
            store.campaign("acme", "spring").unwrap().as_deref(),
            Some("a = 2\n")
        );
        assert!(store.put_campaign("acme", "autumn", "").unwrap());
        assert_eq!(store.campaign_ids("acme").unwrap(), ["autumn", "spring"]);
        assert_eq!(store.campaign("acme", "winter").unwrap(), None);
    }

    #[test]
    fn needs_tenant_and_valid_id() {
        let (_dir, store) = test_support::store_with_tenants();
        assert!(matches!(
            store.put_campaign("initech", "spring", ""),
            Err(StoreError::NotFound { what: "tenant", .. })
        ));
        assert!(matches!(
            store.put_campaign("acme", "Spring", ""),
            Err(StoreError::InvalidId {
                what: "campaign id",
                ..
            })
        ));
        assert!(store.campaign_ids("initech").unwrap().is_empty());
    }
}
