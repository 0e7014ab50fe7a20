//! Single-query latency of a classifier bundle, one `predict` call per text.
//!
//! ```text
//! cargo build --release -p cerebellum --example latency
//! latency BUNDLE_DIR TEXTS_FILE [--tract] [--passes N]
//! ```
//!
//! Reads one text per line, loads the bundle (the native linear evaluator by
//! default, tract with `--tract`), warms up on every text once, then times every
//! `predict` call over several passes and prints one JSON line:
//! `{"p50_us":..,"p99_us":..,"mean_us":..,"texts":N,"passes":P,"labels":[..]}`
//! with the label predicted for each text, in input order.

use std::error::Error;
use std::time::Instant;

const DEFAULT_PASSES: usize = 5;

struct Args {
    bundle: String,
    texts: String,
    tract: bool,
    passes: usize,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut positional = Vec::new();
    let mut tract = false;
    let mut passes = DEFAULT_PASSES;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tract" => tract = true,
            "--passes" => {
                let value = args.next().ok_or("--passes needs a number")?;
                passes = value.parse::<usize>()?.max(1);
            }
            _ => positional.push(arg),
        }
    }
    let [bundle, texts] = <[String; 2]>::try_from(positional)
        .map_err(|_| "usage: latency BUNDLE_DIR TEXTS_FILE [--tract] [--passes N]")?;
    Ok(Args {
        bundle,
        texts,
        tract,
        passes,
    })
}

/// The value at quantile `q` of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let content = std::fs::read_to_string(&args.texts)?;
    let texts: Vec<&str> = content.lines().collect();
    let evaluator = if args.tract {
        cerebellum::Evaluator::Tract
    } else {
        cerebellum::Evaluator::Auto
    };
    let model = cerebellum::load_with(&args.bundle, &cerebellum::Limits::default(), evaluator)?;
    let classifier = model.as_classifier().ok_or("not a text classification bundle")?;

    let mut labels = Vec::with_capacity(texts.len());
    for text in &texts {
        labels.push(classifier.predict(text)?.to_owned());
    }
    let mut micros = Vec::with_capacity(texts.len() * args.passes);
    for _ in 0..args.passes {
        for text in &texts {
            let start = Instant::now();
            let label = classifier.predict(text)?;
            micros.push(start.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(label);
        }
    }
    let mean = if micros.is_empty() {
        0.0
    } else {
        micros.iter().sum::<f64>() / micros.len() as f64
    };
    micros.sort_by(f64::total_cmp);
    // Written by hand to keep the documented key order (serde_json sorts a json! object's keys).
    println!(
        "{{\"p50_us\":{},\"p99_us\":{},\"mean_us\":{},\"texts\":{},\"passes\":{},\"evaluator\":\"{}\",\"labels\":{}}}",
        quantile(&micros, 0.5),
        quantile(&micros, 0.99),
        mean,
        texts.len(),
        args.passes,
        if args.tract { "tract" } else { "native" },
        serde_json::to_string(&labels)?,
    );
    Ok(())
}
