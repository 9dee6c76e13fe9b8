//! Lifecycle email: customer events and the profiles derived from them,
//! triggered flows, frequency caps and send times in the recipient's own
//! time zone.
//!
//! Everything here is plain data and pure functions of it (time is always a
//! parameter), so the hosting service's scheduler and the batch commands
//! share one implementation.
//!
//! - [`timing`]: durations, send-time slots ([`timing::SendAt`]) and quiet
//!   hours in a time zone, across daylight saving changes;
//! - [`frequency`]: caps on how often one recipient gets messages;
//! - [`pacing`]: when one message goes, given all of the above.

/// `TryFrom<String>` (through `FromStr`) and `From<_> for String` (through
/// `Display`) for a type serde reads and writes as a string, with
/// `#[serde(try_from = "String", into = "String")]`.
macro_rules! string_conversions {
    ($type:ty) => {
        impl TryFrom<String> for $type {
            type Error = String;

            fn try_from(text: String) -> Result<Self, String> {
                text.parse()
            }
        }

        impl From<$type> for String {
            fn from(value: $type) -> String {
                value.to_string()
            }
        }
    };
}

pub mod derive;
pub mod events;
pub mod flow;
pub mod frequency;
pub mod pacing;
pub mod rfm;
pub mod timing;
