//! The heap: `embedded-alloc`'s linked-list allocator over an arena outside the linked
//! RAM (so `size` reports only what the program itself needs), counting its high-water mark.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// mps2-an386's 16 MiB PSRAM; the virt board's DRAM above the linked 8 MiB.
#[cfg(target_arch = "arm")]
const ARENA: (usize, usize) = (0x2100_0000, 16 << 20);
#[cfg(target_arch = "riscv32")]
const ARENA: (usize, usize) = (0x8100_0000, 16 << 20);

/// The allocator, with the arena bytes in use (block sizes as the allocator rounds them)
/// and the most ever in use since [`reset_peak`].
pub struct CountingHeap {
    heap: LlffHeap,
    peak: AtomicUsize,
}

#[global_allocator]
static HEAP: CountingHeap = CountingHeap {
    heap: LlffHeap::empty(),
    peak: AtomicUsize::new(0),
};

// SAFETY: every call goes to LlffHeap, a GlobalAlloc; the counter only observes.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let block = unsafe { self.heap.alloc(layout) };
        self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

/// Hands the arena to the allocator. Call once, first thing in `main`.
pub fn init() {
    // SAFETY: the arena is RAM that nothing else uses (outside the linker's memory map), and
    // this runs once before any allocation.
    unsafe { HEAP.heap.init(ARENA.0, ARENA.1) }
}

/// Arena bytes in use now.
pub fn used() -> usize {
    HEAP.heap.used()
}

/// The most arena bytes in use since the last [`reset_peak`] (or since [`init`]).
pub fn peak() -> usize {
    HEAP.peak.load(Ordering::Relaxed)
}

/// Starts a new high-water mark from what is in use now.
pub fn reset_peak() {
    HEAP.peak.store(used(), Ordering::Relaxed);
}
