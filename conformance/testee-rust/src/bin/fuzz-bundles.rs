//! A deterministic mutation fuzzer for bundle loading, classify and tag.
//!
//! Seeds are golden files (`conformance/golden/*.golden.pb`, which carry
//! their bundles). Each case mutates one seed and loads it through the Rust
//! API under `catch_unwind`; a bundle that loads must answer a few texts or
//! refuse them with a typed error. Half of the mutations re-sign the
//! checksums, so that they reach the parsers and the engine rather than stop
//! at the integrity check. The run is reproducible from `--seed`: the same
//! seed and files give the same cases. It prints counts by outcome, the
//! rate and the peak resident memory, and exits non-zero on any panic.
//!
//! ```text
//! cargo run --release -p cerebellum-testee --bin fuzz-bundles -- --count 1000000 conformance/golden/*.golden.pb
//! ```

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use cerebellum_testee::bundle_proto as proto;
use cerebellum_testee::proto::GoldenFile;
use prost::Message;
use sha2::{Digest, Sha256};

const TEXTS: [&str; 6] = [
    "",
    "hello world?",
    "帮我约李经理周五见面",
    "ǅİß\u{0301}\u{200d}",
    "a\u{0}b",
    "  \t\n",
];

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

struct Seed {
    name: String,
    preprocessor: Vec<u8>,
    model: Vec<u8>,
    inner: proto::Preprocessor,
}

fn mutate_bytes(data: &mut Vec<u8>, rng: &mut Rng) {
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        if data.is_empty() {
            data.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(data.len());
        match rng.below(7) {
            0 => data[at] ^= 1 << rng.below(8),
            1 => data[at] = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)],
            2 => data.truncate(at),
            3 => {
                let len = 1 + rng.below(64);
                let from = rng.below(data.len());
                let chunk: Vec<u8> = data[from..(from + len).min(data.len())].to_vec();
                data.splice(at..at, chunk);
            }
            4 => {
                let end = (at + 1 + rng.below(32)).min(data.len());
                data.drain(at..end);
            }
            5 => {
                // A varint that claims a huge length.
                data.splice(at..at, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
            }
            _ => data[at] = rng.next() as u8,
        }
    }
}

/// Semantic edits of the parsed preprocessor: lengths and values the checks must catch.
fn mutate_fields(pre: &mut proto::Preprocessor, rng: &mut Rng) {
    match rng.below(12) {
        0 => {
            pre.labels.pop();
        }
        1 => pre.labels.push(String::new()),
        2 => {
            if let Some(t) = pre.tfidf.as_mut() {
                t.idf.truncate(rng.below(t.idf.len() + 1));
            }
        }
        3 => {
            if let Some(t) = pre.tfidf.as_mut() {
                let at = rng.below(t.idf.len().max(1));
                if let Some(v) = t.idf.get_mut(at) {
                    *v = [f32::NAN, f32::INFINITY, -1.0, 0.0][rng.below(4)];
                }
            }
        }
        4 => {
            if let Some(t) = pre.tfidf.as_mut() {
                t.vocabulary.truncate(rng.below(t.vocabulary.len() + 1));
            }
        }
        5 => {
            if let Some(o) = pre.onnx.as_mut() {
                o.num_features = rng.next() as u32;
            }
        }
        6 => {
            if let Some(t) = pre.tagger.as_mut() {
                t.transitions.truncate(rng.below(t.transitions.len() + 1));
            }
        }
        7 => {
            if let Some(t) = pre.tagger.as_mut() {
                t.unknown_id = rng.next() as u32;
            }
        }
        8 => {
            if let Some(c) = pre.char_table.as_mut() {
                let at = rng.below(c.fold_from_delta.len().max(1));
                if let Some(v) = c.fold_from_delta.get_mut(at) {
                    *v = rng.next() as u32;
                }
            }
        }
        9 => {
            if let Some(c) = pre.char_table.as_mut() {
                c.fold_to_len.truncate(rng.below(c.fold_to_len.len() + 1));
            }
        }
        10 => {
            if let Some(t) = pre.tokenizer.as_mut() {
                t.ngram_min = rng.next() as u32 % 8;
                t.ngram_max = rng.next() as u32 % 8;
            }
        }
        _ => pre.kind = rng.below(4) as i32,
    }
}

fn wrap(payload: Vec<u8>) -> Vec<u8> {
    proto::PreprocessorFile {
        magic: cerebellum::MAGIC.into(),
        format_version: cerebellum::FORMAT_VERSION,
        preprocessor_sha256: Sha256::digest(&payload).to_vec(),
        preprocessor: payload,
    }
    .encode_to_vec()
}

/// One mutated (preprocessor.bin, model.onnx) pair.
fn case(seed: &Seed, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    match rng.below(5) {
        0 => {
            let mut pre = seed.preprocessor.clone();
            mutate_bytes(&mut pre, rng);
            (pre, seed.model.clone())
        }
        1 => {
            let mut payload = seed.inner.encode_to_vec();
            mutate_bytes(&mut payload, rng);
            (wrap(payload), seed.model.clone())
        }
        2 => {
            let mut pre = seed.inner.clone();
            mutate_fields(&mut pre, rng);
            (wrap(pre.encode_to_vec()), seed.model.clone())
        }
        3 => {
            let mut model = seed.model.clone();
            mutate_bytes(&mut model, rng);
            let mut pre = seed.inner.clone();
            pre.model_sha256 = Sha256::digest(&model).to_vec();
            (wrap(pre.encode_to_vec()), model)
        }
        _ => {
            let mut model = seed.model.clone();
            mutate_bytes(&mut model, rng);
            (seed.preprocessor.clone(), model)
        }
    }
}

fn outcome(pre: &[u8], model: &[u8]) -> String {
    match cerebellum::load_bytes(pre, model) {
        Err(e) => format!("refused: {}", cerebellum_testee::error_kind(&e)),
        Ok(loaded) => {
            let mut refused = 0;
            for text in TEXTS {
                let answered = match loaded.as_classifier() {
                    Some(c) => c.classify(text).is_ok(),
                    None => loaded.as_tagger().is_some_and(|t| t.tag(text).is_ok()),
                };
                refused += usize::from(!answered);
            }
            if refused == 0 {
                "loaded, answered".into()
            } else {
                "loaded, refused some texts".into()
            }
        }
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut count: u64 = 10_000;
    let mut seed: u64 = 0x5EED;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => count = args.next().and_then(|v| v.parse().ok()).unwrap_or(count),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            "-h" | "--help" => {
                eprintln!("usage: fuzz-bundles [--count N] [--seed S] GOLDEN_FILE...");
                return;
            }
            _ => files.push(PathBuf::from(arg)),
        }
    }
    let mut seeds = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let golden = GoldenFile::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(e) = cerebellum::load_bytes(&golden.preprocessor, &golden.model) {
            panic!("{}: the seed bundle does not load: {e}", path.display());
        }
        let inner = proto::PreprocessorFile::decode(golden.preprocessor.as_slice())
            .and_then(|envelope| proto::Preprocessor::decode(envelope.preprocessor.as_slice()))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seeds.push(Seed {
            name: golden.task,
            preprocessor: golden.preprocessor,
            model: golden.model,
            inner,
        });
    }
    if seeds.is_empty() {
        eprintln!("fuzz-bundles: no golden files given");
        std::process::exit(2);
    }
    std::panic::set_hook(Box::new(|_| {})); // panics are counted, not printed
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut panics = Vec::new();
    let started = Instant::now();
    let mut rng = Rng(seed | 1);
    for i in 0..count {
        let s = &seeds[rng.below(seeds.len())];
        let (pre, model) = case(s, &mut rng);
        match catch_unwind(AssertUnwindSafe(|| outcome(&pre, &model))) {
            Ok(kind) => *outcomes.entry(kind).or_default() += 1,
            Err(_) => {
                *outcomes.entry("PANIC".into()).or_default() += 1;
                if panics.len() < 5 {
                    let dir = std::env::temp_dir().join(format!("fuzz-bundles-panic-{i}"));
                    let _ = std::fs::create_dir_all(&dir);
                    let _ = std::fs::write(dir.join(cerebellum::PREPROCESSOR_FILE), &pre);
                    let _ = std::fs::write(dir.join(cerebellum::MODEL_FILE), &model);
                    panics.push(format!("case {i} from {}: saved in {}", s.name, dir.display()));
                }
            }
        }
        if (i + 1) % 100_000 == 0 {
            eprintln!("{} cases, {:.0} s", i + 1, started.elapsed().as_secs_f64());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{count} mutated bundles from {} seeds in {seconds:.1} s ({:.0} per second); peak RSS {} KiB",
        seeds.len(),
        count as f64 / seconds.max(1e-9),
        peak_rss_kib().map_or("?".into(), |k| k.to_string())
    );
    for (kind, n) in &outcomes {
        println!("  {kind}: {n}");
    }
    for line in &panics {
        println!("  {line}");
    }
    let panicked = outcomes.get("PANIC").copied().unwrap_or(0);
    println!("{} passed, {panicked} failed", count - panicked);
    if panicked > 0 {
        std::process::exit(1);
    }
}
