//! The shadow diff over the API: the active version and a candidate on the
//! same profiles, and what would change.

use mailrules::diff::DiffReport;
use mailrules::evaluate::Evaluator;
use mailrules::profile_reader::ProfileRecord;

use super::{Hosting, HostingError};

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
        mailrules::diff::run_fair(
            &active,
            &candidate,
            records.into_iter(),
            &self.scheduler,
            tenant,
        )
        .map_err(|e| HostingError::Internal(e.to_string()))
    }
}
