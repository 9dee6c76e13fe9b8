//! The shadow diff over the API: the active version and a candidate on the
//! same profiles, and what would change.

use mailrules::diff::DiffReport;
use mailrules::evaluate::Evaluator;
use mailrules::profile_reader::ProfileRecord;

use super::{Hosting, HostingError};
use crate::store::LastDiff;

impl Hosting {
    /// Runs the tenant's active version and `candidate` on `records` for the
    /// campaign and reports the differences: status from → to, segment
    /// membership gained and lost, subject / preheader / block changes, new
    /// and fixed failures by reason, fuel p50/p99 of each. Both run on the
    /// evaluation workers every tenant shares, as this tenant's work.
    pub fn diff(
        &self,
        tenant: &str,
        campaign_id: &str,
        candidate: &str,
        records: Vec<ProfileRecord>,
        now: Option<i64>,
    ) -> Result<DiffReport, HostingError> {
        let (served, campaign) = self.served(tenant, campaign_id, now)?;
        let candidate_name = candidate.to_string();
        let candidate = self.loaded(tenant, candidate)?;
        let active = &served.evaluator;
        let candidate = Evaluator::new(
            &self.engine,
            &candidate.rule,
            campaign,
            active.limits().clone(),
            active.now(),
        );
        let active = Evaluator::new(
            &self.engine,
            active.rule(),
            active.campaign().clone(),
            active.limits().clone(),
            active.now(),
        );
        let report = mailrules::diff::run_fair(
            &active,
            &candidate,
            records.into_iter(),
            &self.scheduler,
            tenant,
        )
        .map_err(|e| HostingError::Internal(e.to_string()))?;
        let last = LastDiff {
            campaign: campaign_id.to_string(),
            active: served.active.clone(),
            candidate: candidate_name,
            at: crate::store::now(),
            report: serde_json::to_value(&report)
                .map_err(|e| HostingError::Internal(e.to_string()))?,
        };
        self.store.put_last_diff(tenant, &last)?;
        Ok(report)
    }

    /// The tenant's latest shadow diff.
    pub fn last_diff(&self, tenant: &str) -> Result<LastDiff, HostingError> {
        self.tenant_settings(tenant)?;
        self.store
            .last_diff(tenant)?
            .ok_or_else(|| HostingError::NotFound {
                what: "shadow diff",
                id: tenant.to_string(),
            })
    }
}
