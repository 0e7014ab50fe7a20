//! What a classifier costs in RAM (issue #12: a classifier firmware within 256 KB), counted by
//! a global allocator: the carried character table stays in static memory, and neither the
//! load nor the loaded classifier holds an expanded copy of the bundle.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cerebellum_core::{Bundle, Limits, Scratch, TextClassifier};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PREPROCESSOR: &[u8] = include_bytes!("../bundles/tiny_is_question/preprocessor.bin");
const MODEL: &[u8] = include_bytes!("../bundles/tiny_is_question/model.onnx");

/// The only test in this binary: nothing else allocates while it counts.
#[test]
fn a_classifier_naming_the_carried_table_costs_no_ram_for_it() {
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let bundle = Bundle::parse(PREPROCESSOR, MODEL, &Limits::MICROCONTROLLER).expect("parses");
    let parsed = CURRENT.load(Ordering::SeqCst) - before;
    let classifier = TextClassifier::new(bundle).expect("loads");
    let kept = CURRENT.load(Ordering::SeqCst) - before;
    let load_peak = PEAK.load(Ordering::SeqCst) - before;
    let mut scratch = Scratch::default();
    assert_eq!(
        classifier
            .predict_with("what time is it?", &mut scratch)
            .expect("classifies"),
        "Question"
    );
    // The carried table alone is 7,400 folds: decoded into the heap it took hundreds of KB.
    // An 8-term bundle now needs a few KB, at any moment.
    assert!(parsed < 4 << 10, "parsed bundle: {parsed} bytes");
    assert!(kept < 8 << 10, "loaded classifier: {kept} bytes");
    assert!(load_peak < 16 << 10, "peak while loading: {load_peak} bytes");
}
