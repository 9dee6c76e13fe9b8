//! The allocator of 0.2 components: talc, over an arena in the module's
//! own zero-initialised memory first, then over pages from `memory.grow`.
//!
//! Why not the standard library's: on `wasm32-unknown-unknown` it grows
//! linear memory for its very first allocation, and every fresh sandbox
//! then pays for the host making new pages accessible (an `mprotect` and a
//! TLB shootdown on every core) and for taking them back afterwards:
//! measured, most of the cost of a fresh sandbox. The arena lies inside the
//! memory the component starts with, so a rule that stays within it never
//! grows memory at all.

use core::alloc::Layout;
use core::mem::MaybeUninit;

use talc::base::Talc;
use talc::base::binning::Binning;
use talc::cell::TalcSyncCell;
use talc::source::Source;
use talc::wasm::WasmBinning;

/// Bytes of the arena: a batch of 64 profiles of the reference pack fits
/// (a 1 MiB arena measured slower: a larger initial memory costs every
/// fresh sandbox); larger batches grow memory as they need.
const ARENA_BYTES: usize = 256 << 10;

/// A WebAssembly page.
const PAGE_BYTES: usize = 65_536;

static mut ARENA: [MaybeUninit<u8>; ARENA_BYTES] = [MaybeUninit::uninit(); ARENA_BYTES];

/// Where the next heap comes from: the arena, once, then `memory.grow`.
#[derive(Debug)]
pub struct ArenaThenGrow {
    arena: Option<*mut u8>,
}

// SAFETY: `acquire` touches no allocator other than the `talc` it is given.
unsafe impl Source for ArenaThenGrow {
    fn acquire<B: Binning>(talc: &mut Talc<Self, B>, layout: Layout) -> Result<(), ()> {
        if let Some(arena) = talc.source.arena.take() {
            // SAFETY: the arena is this allocator's alone, claimed once.
            return unsafe { talc.claim(arena, ARENA_BYTES) }
                .map(drop)
                .ok_or(());
        }
        // Enough for the allocation with room for the heap's own metadata.
        let pages = (layout.size() + layout.align() + PAGE_BYTES).div_ceil(PAGE_BYTES);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return Err(());
        }
        // SAFETY: the pages were just added to linear memory, and nothing
        // else uses them.
        unsafe { talc.claim((previous * PAGE_BYTES) as *mut u8, pages * PAGE_BYTES) }
            .map(drop)
            .ok_or(())
    }
}

#[global_allocator]
static ALLOCATOR: TalcSyncCell<ArenaThenGrow, WasmBinning> =
    TalcSyncCell::new_wasm(ArenaThenGrow {
        arena: Some(&raw mut ARENA as *mut u8),
    });
