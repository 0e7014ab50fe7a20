//! The smallest useful app: classify each line of stdin with one bundle.
//!
//! ```text
//! cargo build --profile release-small --no-default-features -p cerebellum --example classify
//! printf 'what time is it\nturn off the lights\n' | classify models/is_question
//! ```
//!
//! Without the default `tract` feature the binary holds no ONNX engine: it runs
//! classifiers whose graph is the forge's linear model, natively.

use std::io::{BufRead, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(directory) = std::env::args().nth(1) else {
        eprintln!("usage: classify BUNDLE_DIR < lines");
        return ExitCode::from(2);
    };
    let model = match cerebellum::load(&directory) {
        Ok(model) => model,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(classifier) = model.as_classifier() else {
        eprintln!("{directory} is not a classification bundle");
        return ExitCode::FAILURE;
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let answer = line.map_err(|e| e.to_string()).and_then(|text| {
            let label = classifier.predict(&text).map_err(|e| e.to_string())?;
            Ok(format!("{label}\t{text}"))
        });
        match answer {
            Ok(row) => {
                if writeln!(out, "{row}").is_err() {
                    return ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
