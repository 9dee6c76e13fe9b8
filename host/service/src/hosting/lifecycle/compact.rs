//! Compaction: orders older than the longest window any derived field
//! needs are folded into one summary per customer, so deriving a profile
//! reads a bounded number of events however long the customer has been
//! around; of older visits, opens, clicks, views and carts only the latest
//! of each kind is kept.

use std::collections::BTreeSet;

use mailrules::lifecycle::derive::{ORDERS_WINDOW_DAYS, fold_old_orders, superseded_events};
use mailrules::profile::Timestamp;

use super::super::{Hosting, HostingError};

impl Hosting {
    /// Folds the tenant's orders older than 90 days before `now` into
    /// per-customer summaries and deletes those events and the older ones
    /// no field needs (see [`superseded_events`]). Derived profiles are the
    /// same before and after. Returns the events removed. The tick runs it
    /// once a day per tenant.
    pub fn compact_events(&self, tenant: &str, now: Timestamp) -> Result<usize, HostingError> {
        self.tenant_settings(tenant)?;
        let horizon = now - ORDERS_WINDOW_DAYS * 86_400;
        let mut removed = 0;
        for customer in self.store.customers(tenant)? {
            let events = self.store.customer_events(tenant, &customer)?;
            if !events.iter().any(|e| e.at < horizon) {
                continue;
            }
            let mut summary = self
                .store
                .order_summary(tenant, &customer)?
                .unwrap_or_default();
            let mut folded: BTreeSet<String> = fold_old_orders(&mut summary, &events, now)
                .into_iter()
                .collect();
            folded.extend(superseded_events(&events, horizon));
            removed += folded.len();
            self.store
                .compact_customer(tenant, &customer, &summary, &folded, horizon)?;
        }
        Ok(removed)
    }
}

impl Hosting {
    /// Compacts the tenant when its last compaction is a day or more old.
    pub(super) fn compact_when_due(
        &self,
        tenant: &str,
        now: Timestamp,
    ) -> Result<(), HostingError> {
        let horizon = now - ORDERS_WINDOW_DAYS * 86_400;
        let last = self.store.compaction_horizon(tenant)?;
        if last.is_none_or(|last| horizon - last >= 86_400) {
            let removed = self.compact_events(tenant, now)?;
            if removed > 0 {
                tracing::info!(tenant, removed, "events compacted");
            }
            // Recorded even when nothing was old enough, so the next run
            // is a day away.
            self.store.mark_compacted(tenant, horizon)?;
        }
        Ok(())
    }
}
