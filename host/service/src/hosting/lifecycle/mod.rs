//! Lifecycle email in the service: profiles and events in, profiles
//! derived from them, flows triggered by events and segment entries, and
//! [`Hosting::tick`](super::Hosting::tick), which sends what is due — at
//! most once per flow, customer and trigger, within frequency caps, at the
//! recipient's local send time.

mod compact;
mod flows;
mod ingest;
mod rfm_cache;
mod tick;

pub use flows::FlowView;
pub use ingest::{EventsPosted, ProfilesPosted};
pub(crate) use rfm_cache::RfmCache;
pub use rfm_cache::RfmScores;
pub(crate) use tick::CONTINUATION;
pub use tick::TickReport;
