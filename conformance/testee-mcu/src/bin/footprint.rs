//! A classifier or tagger firmware with its bundle in flash (`MCU_BUNDLE=dir` at build time),
//! as an application would ship it, measuring what the README's footprint table reports: the
//! heap the loaded model keeps and needs at its peak, the stack, and emulated instructions to
//! load it, per call (`predict_with`, `tag_with`) and per character of the texts. Prints one line of `key=value` fields; run it under
//! `-icount shift=0` for the instruction counts (conformance/mcu.sh footprint).

#![no_std]
#![no_main]

extern crate alloc;

use core::fmt::Write;
use core::hint::black_box;

use cerebellum_core::{Bundle, Limits, Scratch, TaggerScratch};
use cerebellum_testee_core::{from_bundle, Loaded};
use cerebellum_testee_mcu::semihosting::{exit, Console};
use cerebellum_testee_mcu::{counter, heap, stack};

static PREPROCESSOR: &[u8] = include_bytes!(env!("FOOTPRINT_PREPROCESSOR"));
static MODEL: &[u8] = include_bytes!(env!("FOOTPRINT_MODEL"));
const BUNDLE: &str = env!("FOOTPRINT_BUNDLE");

/// Queries of the kinds the built-in bundles answer (English and Chinese, short and long).
const TEXTS: [&str; 8] = [
    "what's the weather like tomorrow",
    "set an alarm for 7am",
    "sure, go ahead",
    "wait, can I undo that?",
    "the hotel was not bad at all",
    "你今天吃饭了吗",
    "帮我把灯关了",
    "oh great, my train is late again and nobody told us why",
];
/// Rounds over [`TEXTS`]: enough calls that the counter's resolution does not matter.
const ROUNDS: usize = 25;
/// Rounds for a tagger, whose calls cost a hundred times more.
const TAGGER_ROUNDS: usize = 3;
const STACK_WINDOW: usize = 64 << 10;
/// The microcontroller tier's limits, but as many weights as 1 MiB of int8 holds: the
/// built-in tagger (378,960 elements, its embedding tables int8) is for boards with
/// external RAM and goes past the tier's 250,000, which bound the RAM of float32 weights.
const LIMITS: Limits = Limits {
    max_initializer_elements: 1 << 20,
    ..Limits::MICROCONTROLLER
};

#[cfg_attr(target_arch = "arm", cortex_m_rt::entry)]
#[cfg_attr(target_arch = "riscv32", riscv_rt::entry)]
fn main() -> ! {
    heap::init();
    counter::start();
    let mut out = Console::stdout();
    if PREPROCESSOR.is_empty() {
        let _ = writeln!(
            Console::stderr(),
            "footprint: no bundle embedded (build with MCU_BUNDLE=dir)"
        );
        exit(2)
    }
    let per_count = counter::calibrate().unwrap_or(f64::NAN);
    let painted = stack::Painted::new(STACK_WINDOW);
    let baseline = heap::used(); // the console's buffers
    heap::reset_peak();

    let start = counter::raw();
    let bundle = Bundle::parse(PREPROCESSOR, MODEL, &LIMITS);
    // The parsed preprocessor alone (vocabulary, character table, weights still as ONNX bytes).
    let parsed = heap::used() - baseline;
    let loaded = bundle
        .map_err(|e| cerebellum_testee_core::core_failure(&e))
        .and_then(from_bundle);
    let load_counts = counter::raw() - start;
    let (kept, load_peak) = (heap::used() - baseline, heap::peak() - baseline);
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(failure) => {
            let _ = writeln!(
                Console::stderr(),
                "footprint: {BUNDLE} does not load: {}",
                failure.message
            );
            exit(1)
        }
    };

    heap::reset_peak();
    let (kind, rounds) = match &loaded {
        Loaded::Classifier(_) => ("classifier", ROUNDS),
        _ => ("tagger", TAGGER_ROUNDS),
    };
    let (mut scratch, mut tagger_scratch) = (Scratch::default(), TaggerScratch::default());
    let (mut calls, mut chars) = (0u64, 0u64);
    let start = counter::raw();
    for _ in 0..rounds {
        for text in TEXTS {
            match &loaded {
                Loaded::Classifier(classifier) => {
                    let _ = black_box(classifier.predict_with(black_box(text), &mut scratch));
                }
                Loaded::Tagger(tagger) => {
                    let _ = black_box(tagger.tag_with(black_box(text), &mut tagger_scratch));
                }
                _ => {}
            }
            calls += 1;
            chars += text.chars().count() as u64;
        }
    }
    let call_counts = counter::raw() - start;
    let call_peak = heap::peak() - baseline;
    let instructions = |counts: u64| (counts as f64 * per_count) as u64;
    // Per call for a classifier (its cost hardly depends on the length), per character for a
    // tagger (one BiLSTM step per unit).
    let per_call = instructions(call_counts) / calls;
    let per_char = instructions(call_counts) / chars.max(1);
    let _ = writeln!(
        out,
        "footprint bundle={BUNDLE} kind={kind} flash_bundle={} heap_parsed={parsed} heap_kept={kept} \
         heap_peak_load={load_peak} \
         heap_peak_calls={call_peak} stack_peak={} load_instructions={} call_instructions={per_call} \
         char_instructions={per_char} chars_per_call={} instructions_per_count={per_count:.3}",
        PREPROCESSOR.len() + MODEL.len(),
        painted.used(),
        instructions(load_counts),
        chars / calls,
    );
    drop(black_box(loaded));
    exit(0)
}
