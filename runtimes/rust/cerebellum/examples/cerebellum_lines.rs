//! Load a bundle and classify or tag lines from stdin.
//!
//! ```text
//! cargo run --example cerebellum_lines -- models/is_question
//! cargo run --example cerebellum_lines -- models/ner_core_entity --json < texts.jsonl
//! ```
//!
//! Plain mode prints `label<TAB>scores<TAB>text` (or entities) per line. With
//! `--json`, every input line is a JSON string and every output line a JSON
//! object with what the model saw and answered (tokens, vector bits, scores,
//! tags): the form the parity tests compare with the Python runtime.

use std::io::{BufRead, Write};

use serde_json::{json, Value};

fn classify(model: &cerebellum::TextClassifier, text: &str, as_json: bool) -> Result<String, cerebellum::Error> {
    let result = model.classify(text)?;
    if !as_json {
        let scores: Vec<String> = model
            .labels()
            .iter()
            .zip(&result.scores)
            .map(|(l, s)| format!("{l}={s:.4}"))
            .collect();
        return Ok(format!("{}\t{}\t{}", result.label, scores.join(" "), text));
    }
    let vector = model.vectorize(text);
    let logits = model.decision_function(text)?;
    Ok(json!({
        "tokens": model.tokenize(text).iter().map(|t| json!([t.text, t.start, t.end])).collect::<Vec<Value>>(),
        "indices": vector.indices,
        "value_bits": vector.values.iter().map(|v| v.to_bits()).collect::<Vec<u32>>(),
        "label": result.label,
        "scores": result.scores,
        "logits": logits,
    })
    .to_string())
}

fn tag(model: &cerebellum::TextTagger, text: &str, as_json: bool) -> Result<String, cerebellum::Error> {
    let analysis = model.analyze(text)?;
    let entities = &analysis.entities;
    if !as_json {
        let found: Vec<String> = entities
            .iter()
            .map(|e| format!("{}:{}@{}-{}", e.kind, e.text, e.start, e.end))
            .collect();
        let found = if found.is_empty() {
            "-".to_owned()
        } else {
            found.join(" ")
        };
        return Ok(format!("{found}\t{text}"));
    }
    Ok(json!({
        "units": analysis.units.iter().map(|u| json!([u.text, u.start, u.end])).collect::<Vec<Value>>(),
        "ids": analysis.ids,
        "tags": analysis.path,
        "emissions": analysis.emissions,
        "entities": entities.iter().map(|e| json!([e.kind, e.start, e.end, e.text])).collect::<Vec<Value>>(),
    })
    .to_string())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let as_json = args.iter().any(|a| a == "--json");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: cerebellum_lines BUNDLE_DIR [--json] < lines");
        return std::process::ExitCode::from(2);
    };
    let model = match cerebellum::load(path) {
        Ok(model) => model,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let text = if as_json {
            match serde_json::from_str::<String>(&line) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("error: input line is not a JSON string: {e}");
                    return std::process::ExitCode::from(2);
                }
            }
        } else {
            line
        };
        let answer = match &model {
            cerebellum::Model::Classifier(c) => classify(c, &text, as_json),
            cerebellum::Model::Tagger(t) => tag(t, &text, as_json),
        };
        match answer {
            Ok(answer) => {
                if writeln!(out, "{answer}").is_err() {
                    break;
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(1);
            }
        }
    }
    std::process::ExitCode::SUCCESS
}
