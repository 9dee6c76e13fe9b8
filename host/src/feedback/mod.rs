//! Feedback from sent mail: one-click unsubscribe, opens and clicks, and
//! the KPIs they add up to.
//!
//! - [`token`]: signed link tokens (HMAC-SHA256 with a per-tenant key);
//! - [`links`]: the unsubscribe, pixel and click links of a message, and
//!   the HTML rewriting that puts them in (only with tracking consent);
//! - [`suppressions`]: the list of customers who unsubscribed, checked
//!   before any rule runs;
//! - [`settings`]: a campaign's `[feedback]` table;
//! - [`kpis`]: KPIs per segment, variant and A/B arm from journals and
//!   events, with A/B verdicts ([`stats`]) and the holdout's lift.

pub mod kpis;
pub mod links;
pub mod settings;
pub mod stats;
pub mod suppressions;
pub mod token;
