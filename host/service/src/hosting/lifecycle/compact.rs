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
    /// per-customer summaries and deletes those events. Events older than
    /// the horizon are refused from then on. Returns the events removed.
    pub fn compact_events(&self, tenant: &str, now: Timestamp) -> Result<usize, HostingError> {
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
