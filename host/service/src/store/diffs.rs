//! The latest shadow diff of each tenant, for its page.

use rusqlite::{OptionalExtension, params};

use super::{Store, require_tenant};
use crate::StoreError;

/// The latest shadow diff of a tenant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct LastDiff {
    /// The campaign it ran on.
    pub campaign: String,
    /// The active version then.
    pub active: String,
    /// The candidate version.
    pub candidate: String,
    /// When (RFC 3339).
    pub at: String,
    /// The report, as `POST …/diff` answered it.
    #[schema(value_type = Object)]
    pub report: serde_json::Value,
}

impl Store {
    /// Keeps `diff` as the tenant's latest shadow diff.
    pub fn put_last_diff(&self, tenant: &str, diff: &LastDiff) -> Result<(), StoreError> {
        let conn = self.conn();
        require_tenant(&conn, tenant)?;
        conn.execute(
            "INSERT INTO last_diffs (tenant, campaign, active, candidate, at, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant) DO UPDATE SET campaign = excluded.campaign,
                 active = excluded.active, candidate = excluded.candidate,
                 at = excluded.at, report = excluded.report",
            params![
                tenant,
                diff.campaign,
                diff.active,
                diff.candidate,
                diff.at,
                diff.report.to_string()
            ],
        )?;
        Ok(())
    }

    /// The tenant's latest shadow diff, if it ran one.
    pub fn last_diff(&self, tenant: &str) -> Result<Option<LastDiff>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT campaign, active, candidate, at, report FROM last_diffs WHERE tenant = ?1",
                [tenant],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, String>(4)?,
                    ))
                },
            )
            .optional()?;
        row.map(|(campaign, active, candidate, at, report)| {
            Ok(LastDiff {
                campaign,
                active,
                candidate,
                at,
                report: super::parse_json("last_diffs", "report", &report)?,
            })
        })
        .transpose()
    }
}
