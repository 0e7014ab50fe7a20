//! Per-thread scratch buffers for the core's `*_with` calls, so that a query through the
//! std API allocates nothing but its answer.

use std::cell::RefCell;
use std::thread::LocalKey;

/// `f` with this thread's buffers in `key`, or with fresh ones when those are in use (a
/// nested call) or gone (the thread is exiting).
pub(crate) fn with_thread_scratch<S: Default, T>(
    key: &'static LocalKey<RefCell<S>>,
    mut f: impl FnMut(&mut S) -> T,
) -> T {
    key.try_with(|cell| cell.try_borrow_mut().ok().map(|mut scratch| f(&mut scratch)))
        .ok()
        .flatten()
        .unwrap_or_else(|| f(&mut S::default()))
}
