//! Everything one evaluation's `Store` holds: the profile and campaign the
//! rule may read, the deterministic WASI, the capped log and the memory
//! limiter. A fresh one is made for every evaluation.

mod deadline;
mod log;
mod memory;
mod state;
mod wasi;

pub use deadline::{Deadline, DeadlineCheck, WALL_CLOCK_BACKSTOP, thread_cpu_time};
pub use log::CappedLog;
pub use memory::MemoryLimiter;
pub use state::SandboxState;
pub use wasi::deterministic_wasi;

/// The host type behind the WIT `profile` resource. The resource carries no
/// data of its own: it always refers to the store's current profile.
pub struct ProfileHandle;

/// The host type behind the WIT `campaign` resource; refers to the store's
/// campaign.
pub struct CampaignHandle;
