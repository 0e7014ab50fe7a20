//! The `cerebellum-testee` binary end to end, on synthetic bundles written to
//! a temporary directory: answers, faults, exit codes.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use cerebellum_testee::proto::{response, Request, Response};
use cerebellum_testee::{kind, read_message, write_message};

fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cerebellum-testee"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the testee starts");
    let mut stdin = child.stdin.take().expect("stdin");
    // The testee may exit before reading everything (bad arguments).
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("the testee ends")
}

fn requests(items: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (bundle, text) in items {
        let request = Request {
            bundle: (*bundle).to_owned(),
            text: (*text).to_owned(),
        };
        write_message(&mut out, &request).expect("framed");
    }
    out
}

fn responses(stdout: &[u8]) -> Vec<Response> {
    let mut reader = stdout;
    let mut out = Vec::new();
    while let Some(response) = read_message::<Response>(&mut reader).expect("well-framed responses") {
        out.push(response);
    }
    out
}

#[test]
fn answers_every_request_in_order() {
    let dir = common::temp_dir("binary");
    let (classifier, tagger) = (dir.join("classifier"), dir.join("tagger"));
    common::write_bundle(&classifier, &common::bundle());
    common::write_bundle(&tagger, &common::tagger_bundle());
    let (classifier, tagger) = (classifier.to_str().expect("utf-8"), tagger.to_str().expect("utf-8"));
    let missing = dir.join("missing");
    let input = requests(&[
        (classifier, "what?"),
        (tagger, "ab a"),
        (missing.to_str().expect("utf-8"), "x"),
        (classifier, "hello\0"),
        (tagger, ""),
    ]);
    let output = run(&[], &input);
    assert!(output.status.success(), "{output:?}");
    let answers = responses(&output.stdout);
    assert_eq!(answers.len(), 5);
    let label = |r: &Response| match &r.result {
        Some(response::Result::Outcome(o)) => o.label.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(label(&answers[0]), "Question");
    assert_eq!(label(&answers[3]), "Statement");
    match &answers[1].result {
        Some(response::Result::Outcome(o)) => assert_eq!(o.tags, [1, 2, 0, 1]),
        other => panic!("{other:?}"),
    }
    match &answers[2].result {
        Some(response::Result::Failure(f)) => assert_eq!(f.kind, kind::NOT_FOUND),
        other => panic!("{other:?}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_lowercase_fault_changes_offsets() {
    let dir = common::temp_dir("fault");
    let tagger = dir.join("tagger");
    common::write_bundle(&tagger, &common::tagger_bundle());
    let tagger = tagger.to_str().expect("utf-8");
    // "İ" lower-cases to two code points, shifting everything after it.
    let input = requests(&[(tagger, "İ ab")]);
    let entity_starts = |args: &[&str]| {
        let output = run(args, &input);
        assert!(output.status.success(), "{output:?}");
        match &responses(&output.stdout)[0].result {
            Some(response::Result::Outcome(o)) => o.entities.iter().map(|e| e.start).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(entity_starts(&[]), [2]);
    assert_eq!(entity_starts(&["--fault", "lowercase"]), [3]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_input_exits_cleanly() {
    let output = run(&[], &[]);
    assert!(output.status.success(), "{output:?}");
    assert!(output.stdout.is_empty());
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["--fault"][..], &["--fault", "uppercase"], &["--verbose"]] {
        let output = run(args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("usage"), "{output:?}");
    }
}

#[test]
fn malformed_input_exits_2_after_answering_what_came_before() {
    let mut input = requests(&[("/nonexistent", "x")]);
    input.extend_from_slice(&[7, 1, 2]); // a 7-byte frame cut after 2 bytes
    let output = run(&[], &input);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(responses(&output.stdout).len(), 1);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("truncated"),
        "{output:?}"
    );

    let mut input = Vec::new();
    cerebellum_testee::write_frame(&mut input, &[0xff, 0xff]).expect("framed");
    let output = run(&[], &input);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("malformed"),
        "{output:?}"
    );

    let output = run(&[], &[0xff, 0xff, 0xff, 0xff, 0x0f]); // u32::MAX as a varint
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("exceeds"),
        "{output:?}"
    );

    let output = run(&[], &[0xff; 11]); // a varint running past ten bytes
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("malformed frame length"),
        "{output:?}"
    );
}
