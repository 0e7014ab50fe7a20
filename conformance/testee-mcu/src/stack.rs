//! Peak stack use by painting: fill a window below the current stack pointer with a
//! pattern, run, then find the deepest word that changed.

const PATTERN: u32 = 0xA5A5_5A5A;

/// A painted window of `bytes` below the stack pointer at [`Painted::new`].
#[derive(Debug)]
pub struct Painted {
    top: usize,
    bottom: usize,
}

fn stack_pointer() -> usize {
    let marker = 0u8;
    core::ptr::addr_of!(marker) as usize
}

impl Painted {
    /// Paints `bytes` below the caller's frame (with a little room for this function's own).
    #[inline(never)]
    pub fn new(bytes: usize) -> Painted {
        let top = (stack_pointer() - 256) & !3;
        let bottom = top - bytes;
        let mut at = bottom;
        while at < top {
            // SAFETY: free stack below the live frames (the linked RAM region holds megabytes
            // of stack); nothing owns it until a deeper call grows into it.
            unsafe { core::ptr::write_volatile(at as *mut u32, PATTERN) };
            at += 4;
        }
        Painted { top, bottom }
    }

    /// Bytes of the window used since it was painted (the window's size if all of it was).
    pub fn used(&self) -> usize {
        let mut at = self.bottom;
        // SAFETY: reads of the painted window (see `new`).
        while at < self.top && unsafe { core::ptr::read_volatile(at as *const u32) } == PATTERN {
            at += 4;
        }
        self.top - at
    }
}
