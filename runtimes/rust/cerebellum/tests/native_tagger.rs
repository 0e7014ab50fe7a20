//! The native BiLSTM evaluator on small hand-made graphs: the forge's form and a
//! `MatMul` + `Add` variant run natively and agree with a plain float64 LSTM written
//! here from the ONNX operator definitions (and with tract); graphs the evaluator does
//! not implement are left to tract.

mod common;

use cerebellum::{Evaluator, Limits, Model, TextTagger};
use common::{int_attribute, model, node, tensor, value_info, Rng};
use tract_onnx::pb;

const INPUT: usize = 3; // embedding width
const HIDDEN: usize = 2;
const TAGS: usize = common::TAGS.len();
const ROWS: usize = common::UNITS.len();

/// Weights as ONNX stores them: W [2, 4H, E], R [2, 4H, H], B [2, 8H] (gates i, o, f, c),
/// the linear layer as `[2H, tags]` (y · W + bias).
struct Weights {
    embedding: Vec<f32>,
    w: Vec<f32>,
    r: Vec<f32>,
    b: Vec<f32>,
    linear: Vec<f32>,
    bias: Vec<f32>,
}

fn weights(seed: u64) -> Weights {
    let mut rng = Rng(seed);
    let mut values = |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| (rng.below(20_001) as f32 / 10_000.0 - 1.0) * scale)
            .collect()
    };
    Weights {
        embedding: values(ROWS * INPUT, 2.0),
        w: values(2 * 4 * HIDDEN * INPUT, 1.5),
        r: values(2 * 4 * HIDDEN * HIDDEN, 1.5),
        b: values(2 * 8 * HIDDEN, 1.0),
        linear: values(2 * HIDDEN * TAGS, 2.0),
        bias: values(TAGS, 1.0),
    }
}

fn string_attribute(name: &str, value: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 3,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn ints_attribute(name: &str, values: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 7,
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn float_attribute(name: &str, value: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 1,
        f: value,
        ..Default::default()
    }
}

fn strings_attribute(name: &str, values: &[&str]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: 8,
        strings: values.iter().map(|v| v.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

/// Which emission graph to build.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Form {
    /// What torch and onnxsim export today: Transposes and Reshapes around the LSTM, then Gemm.
    Forge,
    /// Squeeze instead of Transpose + Reshape after the LSTM, `MatMul` + `Add` (bias first), explicit
    /// default activations, weights as `raw_data`.
    MatMulAdd,
    /// The forge's form with an LSTM `clip` attribute: not implemented natively.
    Clipped,
    /// The forge's form with the forward direction only: not implemented natively.
    Forward,
}

fn graph(w: &Weights, form: Form) -> Vec<u8> {
    let h = HIDDEN as i64;
    let direction = if form == Form::Forward {
        "forward"
    } else {
        "bidirectional"
    };
    let directions = if form == Form::Forward { 1 } else { 2 };
    let mut lstm_attributes = vec![
        string_attribute("direction", direction),
        int_attribute("hidden_size", h),
    ];
    match form {
        Form::Clipped => lstm_attributes.push(float_attribute("clip", 100.0)),
        Form::MatMulAdd => lstm_attributes.push(strings_attribute(
            "activations",
            &["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Tanh"],
        )),
        _ => {}
    }
    let take = |v: &[f32]| v[..v.len() / 2 * directions].to_vec();
    let raw = |mut t: pb::TensorProto| {
        if form == Form::MatMulAdd {
            t.raw_data = t.float_data.iter().flat_map(|v| v.to_le_bytes()).collect();
            t.float_data.clear();
        }
        t
    };
    let dirs = directions as i64;
    let mut initializer = vec![
        raw(tensor(
            "embedding.weight",
            &[ROWS as i64, INPUT as i64],
            &w.embedding,
            &[],
        )),
        raw(tensor("W", &[dirs, 4 * h, INPUT as i64], &take(&w.w), &[])),
        raw(tensor("R", &[dirs, 4 * h, h], &take(&w.r), &[])),
        raw(tensor("B", &[dirs, 8 * h], &take(&w.b), &[])),
        raw(tensor("linear.weight", &[2 * h, TAGS as i64], &w.linear, &[])),
        raw(tensor("linear.bias", &[TAGS as i64], &w.bias, &[])),
    ];
    if form == Form::Forward {
        // one direction feeds only the first H rows of the linear layer
        initializer[4] = tensor("linear.weight", &[h, TAGS as i64], &w.linear[..HIDDEN * TAGS], &[]);
    }
    let mut nodes = vec![
        node("Gather", &["embedding.weight", "ids"], &["rows"], vec![]),
        node(
            "Transpose",
            &["rows"],
            &["steps"],
            vec![ints_attribute("perm", &[1, 0, 2])],
        ),
        node("LSTM", &["steps", "W", "R", "B"], &["Y", "Y_h", "Y_c"], lstm_attributes),
    ];
    let width = h * dirs;
    match form {
        Form::MatMulAdd => {
            // [n, 2, 1, H] -> Transpose [n, 1, 2, H] -> Reshape [1, n, 2H] -> MatMul -> Add -> [1, n, T]
            nodes.push(node(
                "Transpose",
                &["Y"],
                &["Yt"],
                vec![ints_attribute("perm", &[0, 2, 1, 3])],
            ));
            nodes.push(node("Reshape", &["Yt", "shape_1n"], &["hidden"], vec![]));
            nodes.push(node("MatMul", &["hidden", "linear.weight"], &["product"], vec![]));
            nodes.push(node("Add", &["linear.bias", "product"], &["emissions"], vec![]));
            initializer.push(tensor("shape_1n", &[3], &[], &[1, -1, width]));
        }
        _ => {
            nodes.push(node(
                "Transpose",
                &["Y"],
                &["Yt"],
                vec![ints_attribute("perm", &[0, 2, 1, 3])],
            ));
            nodes.push(node("Reshape", &["Yt", "shape_00"], &["Yr"], vec![]));
            nodes.push(node(
                "Transpose",
                &["Yr"],
                &["Yb"],
                vec![ints_attribute("perm", &[1, 0, 2])],
            ));
            nodes.push(node("Reshape", &["Yb", "shape_rows"], &["hidden"], vec![]));
            nodes.push(node(
                "Gemm",
                &["hidden", "linear.weight", "linear.bias"],
                &["scores"],
                vec![float_attribute("alpha", 1.0), int_attribute("transB", 0)],
            ));
            nodes.push(node("Reshape", &["scores", "shape_out"], &["emissions"], vec![]));
            initializer.push(tensor("shape_00", &[3], &[], &[0, 0, -1]));
            initializer.push(tensor("shape_rows", &[2], &[], &[-1, width]));
            initializer.push(tensor("shape_out", &[3], &[], &[1, -1, TAGS as i64]));
        }
    }
    model(pb::GraphProto {
        name: "lstm_tagger".into(),
        node: nodes,
        initializer,
        input: vec![value_info("ids", 7, &["1", "n"])],
        output: vec![value_info("emissions", 1, &["1", "n", "3"])],
        ..Default::default()
    })
}

fn tagger(form: Form, evaluator: Evaluator) -> TextTagger {
    let (pre, onnx) = common::tagger_bundle_with(graph(&weights(42), form));
    match cerebellum::load_bytes_with(&pre, &onnx, &Limits::default(), evaluator).expect("the bundle loads") {
        Model::Tagger(t) => t,
        Model::Classifier(_) => panic!("expected a tagger"),
    }
}

fn evaluator_of(tagger: &TextTagger) -> String {
    let debug = format!("{tagger:?}");
    let start = debug
        .find("evaluator: \"")
        .expect("the Debug output names the evaluator")
        + 12;
    debug[start..].split('"').next().unwrap_or_default().to_owned()
}

/// The ONNX LSTM (bidirectional, default activations) and linear layer in float64, step by
/// step from the operator definitions: `it = σ(Xt·Wiᵀ + Ht-1·Riᵀ + Wbi + Rbi)` and so on.
#[allow(clippy::needless_range_loop)]
fn plain_emissions(w: &Weights, ids: &[i64]) -> Vec<f64> {
    let (e, h, n) = (INPUT, HIDDEN, ids.len());
    let sigmoid = |x: f64| 1.0 / (1.0 + (-x).exp());
    let at = |v: &[f32], i: usize| f64::from(v[i]);
    let mut y = vec![vec![0.0f64; 2 * h]; n];
    for d in 0..2 {
        let (mut hs, mut cs) = (vec![0.0f64; h], vec![0.0f64; h]);
        let order: Vec<usize> = if d == 0 {
            (0..n).collect()
        } else {
            (0..n).rev().collect()
        };
        for t in order {
            let x = &w.embedding[ids[t] as usize * e..(ids[t] as usize + 1) * e];
            // gate blocks in ONNX order: 0 = i, 1 = o, 2 = f, 3 = c
            let gate = |block: usize, j: usize| -> f64 {
                let row = d * 4 * h + block * h + j;
                let mut sum = at(&w.b, d * 8 * h + block * h + j) + at(&w.b, d * 8 * h + 4 * h + block * h + j);
                for k in 0..e {
                    sum += f64::from(x[k]) * at(&w.w, row * e + k);
                }
                for k in 0..h {
                    sum += hs[k] * at(&w.r, row * h + k);
                }
                sum
            };
            let gates: Vec<[f64; 4]> = (0..h)
                .map(|j| [gate(0, j), gate(1, j), gate(2, j), gate(3, j)])
                .collect();
            for (j, [i, o, f, c]) in gates.into_iter().enumerate() {
                cs[j] = sigmoid(f) * cs[j] + sigmoid(i) * c.tanh();
                hs[j] = sigmoid(o) * cs[j].tanh();
                y[t][d * h + j] = hs[j];
            }
        }
    }
    y.iter()
        .flat_map(|row| {
            (0..TAGS)
                .map(move |j| at(&w.bias, j) + (0..2 * h).map(|k| row[k] * at(&w.linear, k * TAGS + j)).sum::<f64>())
        })
        .collect()
}

const TEXTS: [&str; 6] = ["a", "ab", "xx ab, abb a", "bbbbbbbbbbbbbbbbbbbbbbbba", "b a b a", "İab"];

#[test]
fn the_forges_form_and_a_matmul_form_run_natively_as_the_operators_define() {
    let w = weights(42);
    for form in [Form::Forge, Form::MatMulAdd] {
        let native = tagger(form, Evaluator::Auto);
        let tract = tagger(form, Evaluator::Tract);
        assert_eq!(evaluator_of(&native), "native BiLSTM", "{form:?}");
        assert_eq!(evaluator_of(&tract), "tract", "{form:?}");
        for text in TEXTS {
            let ids = native.encode(text);
            let got = native.emissions(text).expect("native emissions");
            let plain = plain_emissions(&w, &ids);
            assert_eq!(got.len(), plain.len());
            for (g, p) in got.iter().zip(&plain) {
                assert!((f64::from(*g) - p).abs() < 1e-5, "{form:?} {text:?}: {g} vs {p}");
            }
            let by_tract = tract.emissions(text).expect("tract emissions");
            for (g, t) in got.iter().zip(&by_tract) {
                assert!((g - t).abs() < 1e-5, "{form:?} {text:?}: {g} vs tract {t}");
            }
            assert_eq!(native.tag_ids(text).unwrap(), tract.tag_ids(text).unwrap());
        }
        assert_eq!(native.emissions("").unwrap(), Vec::<f32>::new());
    }
}

#[test]
fn graphs_beyond_the_native_evaluator_are_left_to_tract() {
    for form in [Form::Clipped, Form::Forward] {
        let t = tagger(form, Evaluator::Auto);
        assert_eq!(evaluator_of(&t), "tract", "{form:?}");
        assert_eq!(t.emissions("ab").unwrap().len(), 2 * TAGS);
    }
    // A clip far above the values changes nothing: tract's answer is the native one.
    let clipped = tagger(Form::Clipped, Evaluator::Auto);
    let native = tagger(Form::Forge, Evaluator::Auto);
    for text in TEXTS {
        let (a, b) = (clipped.emissions(text).unwrap(), native.emissions(text).unwrap());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5), "{text:?}");
    }
    // The synthetic tagger's graph (one Gather) is no BiLSTM either.
    let (pre, onnx) = common::tagger_bundle();
    let model = cerebellum::load_bytes(&pre, &onnx).unwrap();
    assert_eq!(evaluator_of(model.as_tagger().unwrap()), "tract");
}

#[test]
fn a_native_graph_still_has_to_fit_the_preprocessor() {
    // An embedding with fewer rows than the vocabulary has units: the load-time probe refuses it.
    let mut w = weights(42);
    w.embedding.truncate((ROWS - 1) * INPUT);
    let mut onnx = graph(&w, Form::Forge);
    // the graph still says ROWS rows: rewrite the embedding's dims to match the values
    {
        use prost::Message;
        let mut m = pb::ModelProto::decode(onnx.as_slice()).unwrap();
        let g = m.graph.as_mut().unwrap();
        g.initializer[0].dims = vec![(ROWS - 1) as i64, INPUT as i64];
        onnx = m.encode_to_vec();
    }
    let (pre, onnx) = common::tagger_bundle_with(onnx);
    let error = cerebellum::load_bytes(&pre, &onnx).expect_err("the probe fails");
    assert!(matches!(error, cerebellum::Error::Mismatch { .. }), "{error:?}");
    assert!(error.to_string().contains("outside the embedding"), "{error}");
}

/// `cerebellum-core/bundles/tiny_tagger/`: the forge's form with `weights(42)`, the character
/// table given by name: a tagger bundle of a few KB that the core's docs and the firmware
/// tests load. Run with CEREBELLUM_BLESS=1 to rewrite it after changing the graph.
#[test]
fn the_cores_example_tagger_is_the_forges_form() {
    let model = graph(&weights(42), Form::Forge);
    let (pre, model) = common::tagger_bundle_with(model);
    use prost::Message;
    let envelope = common::proto::PreprocessorFile::decode(pre.as_slice()).unwrap();
    let mut payload = common::proto::Preprocessor::decode(envelope.preprocessor.as_slice()).unwrap();
    payload.task = "tiny_tagger".into();
    common::char_table_by_name(&mut payload);
    let bundle = (common::wrap(&payload), model);
    let core = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cerebellum-core");
    if !core.is_dir() {
        return; // the published package, without the repository around it
    }
    let directory = core.join("bundles/tiny_tagger");
    if std::env::var_os("CEREBELLUM_BLESS").is_some() {
        common::write_bundle(&directory, &bundle);
    }
    let read = |name: &str| std::fs::read(directory.join(name)).unwrap_or_default();
    assert!(
        read(cerebellum::PREPROCESSOR_FILE) == bundle.0 && read(cerebellum::MODEL_FILE) == bundle.1,
        "{} is stale: run CEREBELLUM_BLESS=1 cargo test -p cerebellum --test native_tagger",
        directory.display()
    );
}

/// The core's tagger is the one the std crate wraps: the same answers, bit for bit, without
/// tract; a graph the native evaluator does not know is `Unsupported` there unless an
/// engine is given.
#[test]
fn the_core_tags_without_an_engine() {
    use cerebellum_core::{Bundle, TaggerScratch};
    let (pre, onnx) = common::tagger_bundle_with(graph(&weights(42), Form::Forge));
    let bundle = Bundle::parse(&pre, &onnx, &Limits::MICROCONTROLLER).unwrap();
    let core = cerebellum_core::TextTagger::new(bundle).expect("natively");
    assert_eq!(core.evaluator(), "native BiLSTM");
    let std_tagger = tagger(Form::Forge, Evaluator::Auto);
    let mut scratch = TaggerScratch::default();
    for text in TEXTS {
        let analysis = core.analyze_with(text, &mut scratch).unwrap();
        let reference = std_tagger.analyze(text).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&analysis.emissions), bits(&reference.emissions), "{text:?}");
        assert_eq!(analysis, reference, "{text:?}");
        assert_eq!(core.tag_with(text, &mut scratch).unwrap(), reference.entities);
        assert_eq!(core.tag_tokens(text).unwrap(), std_tagger.tag_tokens(text).unwrap());
    }

    let (pre, onnx) = common::tagger_bundle_with(graph(&weights(42), Form::Clipped));
    let bundle = Bundle::parse(&pre, &onnx, &Limits::default()).unwrap();
    match cerebellum_core::TextTagger::new(bundle) {
        Err(cerebellum_core::Error::Unsupported { file, problem }) => {
            assert_eq!(file, cerebellum_core::BundleFile::Model);
            assert!(problem.contains("no ONNX engine"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}

/// An engine stands in for graphs the native evaluator does not know; its output is checked
/// like the native one's (here: emissions that are not finite).
#[test]
fn the_core_takes_an_engine_for_other_graphs() {
    use cerebellum_core::{Bundle, TaggerEngine};
    struct Constant(f32);
    impl TaggerEngine for Constant {
        fn emissions(
            &self,
            ids: &[i64],
            _bigrams: Option<(&[i64], &[i64])>,
            _lexicon: Option<&[i64]>,
        ) -> cerebellum_core::Result<Vec<f32>> {
            Ok(vec![self.0; ids.len() * TAGS])
        }
        fn name(&self) -> &str {
            "constant"
        }
    }
    let (pre, onnx) = common::tagger_bundle();
    let load = |value: f32| {
        let bundle = Bundle::parse(&pre, &onnx, &Limits::default()).unwrap();
        cerebellum_core::TextTagger::with_engine(bundle, true, |request| {
            assert_eq!((request.ids_input, request.emissions_output), ("ids", "emissions"));
            Ok::<_, cerebellum_core::Error>(Box::new(Constant(value)) as Box<dyn TaggerEngine>)
        })
    };
    let tagger = load(0.5).unwrap();
    assert_eq!(tagger.evaluator(), "constant");
    assert!(format!("{tagger:?}").contains("evaluator: \"constant\""));
    // Ties go to the lowest tag index: all O.
    assert_eq!(tagger.tag_ids("ab a").unwrap(), vec![0; 4]);
    match load(f32::NAN) {
        Err(cerebellum_core::Error::Mismatch { file, problem }) => {
            assert_eq!(file, cerebellum_core::BundleFile::Model);
            assert!(problem.contains("non-finite"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}

/// Per-row symmetric int8, as the forge stores embedding tables: `q`, the scales, and the
/// floats `DequantizeLinear` decodes them to (`f32(q) * scale`, one rounding).
fn int8_rows(values: &[f32], width: usize) -> (Vec<i8>, Vec<f32>, Vec<f32>) {
    let (mut q, mut scales, mut decoded) = (Vec::new(), Vec::new(), Vec::new());
    for row in values.chunks_exact(width) {
        let top = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if top > 0.0 { top / 127.0 } else { 1.0 };
        for v in row {
            let level = (v / scale).round().clamp(-127.0, 127.0) as i8;
            q.push(level);
            decoded.push(f32::from(level) * scale);
        }
        scales.push(scale);
    }
    (q, scales, decoded)
}

/// The forge's form with its embedding stored as int8 and decoded by `Cast` + `Mul` in front
/// of the graph, with one scale per row (or, `per_column`, per column).
fn int8_graph(w: &Weights, per_column: bool) -> Vec<u8> {
    use prost::Message;
    let (q, scales, _) = int8_rows(&w.embedding, INPUT);
    let mut m = pb::ModelProto::decode(graph(w, Form::Forge).as_slice()).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.initializer.retain(|t| t.name != "embedding.weight");
    g.initializer.push(pb::TensorProto {
        name: "embedding.q".into(),
        dims: vec![ROWS as i64, INPUT as i64],
        data_type: 3,
        raw_data: q.iter().map(|&v| v as u8).collect(),
        ..Default::default()
    });
    let scale = match per_column {
        false => tensor("embedding.scale", &[ROWS as i64, 1], &scales, &[]),
        true => tensor("embedding.scale", &[1, INPUT as i64], &scales[..INPUT], &[]),
    };
    g.initializer.push(scale);
    let cast = node("Cast", &["embedding.q"], &["levels"], vec![int_attribute("to", 1)]);
    let mul = node("Mul", &["levels", "embedding.scale"], &["embedding.weight"], vec![]);
    g.node.splice(0..0, [cast, mul]);
    m.encode_to_vec()
}

#[test]
fn an_int8_embedding_is_decoded_once_and_runs_natively_with_the_same_bits() {
    let load = |onnx: Vec<u8>, evaluator: Evaluator| -> TextTagger {
        let (pre, onnx) = common::tagger_bundle_with(onnx);
        match cerebellum::load_bytes_with(&pre, &onnx, &Limits::default(), evaluator).expect("the bundle loads") {
            Model::Tagger(t) => t,
            Model::Classifier(_) => panic!("expected a tagger"),
        }
    };
    let (_, _, decoded) = int8_rows(&weights(42).embedding, INPUT);
    let as_floats = Weights {
        embedding: decoded,
        ..weights(42)
    };
    let int8 = load(int8_graph(&weights(42), false), Evaluator::Auto);
    let float = load(graph(&as_floats, Form::Forge), Evaluator::Auto);
    let tract = load(int8_graph(&weights(42), false), Evaluator::Tract);
    assert_eq!(evaluator_of(&int8), "native BiLSTM");
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for text in TEXTS {
        let got = int8.emissions(text).expect("native emissions");
        assert_eq!(bits(&got), bits(&float.emissions(text).unwrap()), "{text:?}");
        let plain = plain_emissions(&as_floats, &int8.encode(text));
        assert!(
            got.iter().zip(&plain).all(|(g, p)| (f64::from(*g) - p).abs() < 1e-5),
            "{text:?}"
        );
        let by_tract = tract.emissions(text).expect("tract emissions");
        assert!(got.iter().zip(&by_tract).all(|(g, t)| (g - t).abs() < 1e-5), "{text:?}");
        assert_eq!(int8.tag_ids(text).unwrap(), tract.tag_ids(text).unwrap());
    }
    // One scale per column is not how the forge stores tables: tract's job.
    let per_column = load(int8_graph(&weights(42), true), Evaluator::Auto);
    assert_eq!(evaluator_of(&per_column), "tract");
}
