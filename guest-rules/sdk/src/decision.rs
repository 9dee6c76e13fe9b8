//! Conveniences for building a [`Decision`].

use crate::{Decision, Id, SlotChoice};

impl Decision {
    /// A decision with the given subject and preheader variants and nothing
    /// else (ids are `&'static str` or `String`, see [`Id`]): no segments, no blocks (the host fills unset slots from the
    /// campaign's fallback), no reasons.
    pub fn new(subject: impl Into<Id>, preheader: impl Into<Id>) -> Self {
        Decision {
            subject: subject.into(),
            preheader: preheader.into(),
            ..Decision::default()
        }
    }

    /// A decision to send nothing to this recipient, with a reason code.
    pub fn suppressed(reason: impl Into<Id>) -> Self {
        Decision {
            suppress: Some(reason.into()),
            ..Decision::default()
        }
    }

    /// Adds the recipient to a segment.
    pub fn add_segment(&mut self, segment: impl Into<Id>) {
        self.segments.push(segment.into());
    }

    /// Whether the recipient was put in `segment`.
    pub fn in_segment(&self, segment: &str) -> bool {
        self.segments.iter().any(|s| s == segment)
    }

    /// Sets the subject and preheader variants.
    pub fn choose(&mut self, subject: impl Into<Id>, preheader: impl Into<Id>) {
        self.subject = subject.into();
        self.preheader = preheader.into();
    }

    /// Puts `block` into `slot`, replacing an earlier choice for that slot.
    pub fn set_block(&mut self, slot: impl Into<Id>, block: impl Into<Id>) {
        let slot = slot.into();
        let block = block.into();
        match self.blocks.iter_mut().find(|choice| choice.slot == slot) {
            Some(choice) => choice.block = block,
            None => self.blocks.push(SlotChoice { slot, block }),
        }
    }

    /// Records a short code that explains the decision.
    pub fn add_reason(&mut self, reason: impl Into<Id>) {
        self.reasons.push(reason.into());
    }
}
