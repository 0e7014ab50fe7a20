//! `cerebellum_rs`: the Rust engine for the Python `cerebellum` package.
//!
//! Thin by design: every method forwards to the `cerebellum` crate, releases
//! the GIL while it runs, and maps errors onto the Python package's own
//! exception classes (`cerebellum.errors`). Users reach it through
//! `cerebellum.load(path, backend="rust")`, which wraps these objects in the
//! same API as the Python engine.

use std::path::PathBuf;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

fn to_py_err(py: Python<'_>, error: cerebellum::Error) -> PyErr {
    use cerebellum::Error as E;
    let (class, args): (&str, (String, String)) = match &error {
        E::NotFound { path, problem } => ("BundleNotFoundError", (path.display().to_string(), problem.clone())),
        E::Corrupt { path, problem } => ("BundleCorruptError", (path.display().to_string(), problem.clone())),
        E::Integrity { path, problem } => ("BundleIntegrityError", (path.display().to_string(), problem.clone())),
        E::Mismatch { path, problem } => ("BundleMismatchError", (path.display().to_string(), problem.clone())),
        E::Limit { path, problem } => ("BundleLimitError", (path.display().to_string(), problem.clone())),
        E::Unsupported { path, problem } => ("BundleVersionError", (path.display().to_string(), problem.clone())),
        E::Version { path, .. } => {
            let full = error.to_string();
            let prefix = format!("{}: ", path.display());
            (
                "BundleVersionError",
                (path.display().to_string(), full.trim_start_matches(&prefix).to_owned()),
            )
        }
        // `Error` is non-exhaustive: kinds beyond the bundle errors are runtime errors.
        _ => return PyRuntimeError::new_err(error.to_string()),
    };
    match py.import("cerebellum.errors").and_then(|m| m.getattr(class)) {
        Ok(exception) => match exception.call1(args) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        },
        Err(e) => e,
    }
}

fn model_error(py: Python<'_>, error: cerebellum::Error) -> PyErr {
    match error {
        cerebellum::Error::Inference(_) | cerebellum::Error::NonFinite(_) => {
            match py
                .import("cerebellum.errors")
                .and_then(|m| m.getattr("CerebellumError"))
            {
                Ok(class) => match class.call1((error.to_string(),)) {
                    Ok(instance) => PyErr::from_value(instance),
                    Err(e) => e,
                },
                Err(e) => e,
            }
        }
        other => to_py_err(py, other),
    }
}

type Tokens = Vec<(String, usize, usize)>;
type Rows = Vec<Vec<f32>>;

fn tokens(list: Vec<cerebellum::Token>) -> Tokens {
    list.into_iter().map(|t| (t.text, t.start, t.end)).collect()
}

/// A text classification bundle on the Rust engine.
#[pyclass(frozen, module = "cerebellum_rs")]
struct Classifier {
    inner: cerebellum::TextClassifier,
}

#[pymethods]
impl Classifier {
    #[getter]
    fn task(&self) -> &str {
        self.inner.task()
    }

    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    /// "native-float32", "native-float16", "native-int8" or "tract".
    #[getter]
    fn evaluator(&self) -> &'static str {
        match self.inner.native_weights() {
            Some(cerebellum::WeightFormat::Float32) => "native-float32",
            Some(cerebellum::WeightFormat::Float16) => "native-float16",
            Some(cerebellum::WeightFormat::Int8) => "native-int8",
            None => "tract",
        }
    }

    /// The serialized preprocessor (parse it with the Python schema).
    fn preprocessor_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.preprocessor_bytes())
    }

    fn tokenize(&self, py: Python<'_>, text: &str) -> Tokens {
        py.detach(|| tokens(self.inner.tokenize(text)))
    }

    fn terms(&self, py: Python<'_>, text: &str) -> Vec<String> {
        py.detach(|| self.inner.terms(text))
    }

    /// (indices, values) of the TF-IDF vector.
    fn vectorize(&self, py: Python<'_>, text: &str) -> (Vec<i64>, Vec<f32>) {
        py.detach(|| {
            let v = self.inner.vectorize(text);
            (v.indices, v.values)
        })
    }

    fn predict_proba(&self, py: Python<'_>, text: &str) -> PyResult<Vec<f32>> {
        py.detach(|| self.inner.predict_proba(text))
            .map_err(|e| model_error(py, e))
    }

    fn decision_function(&self, py: Python<'_>, text: &str) -> PyResult<Vec<f32>> {
        py.detach(|| self.inner.decision_function(text))
            .map_err(|e| model_error(py, e))
    }

    /// (probabilities, logits), one row per text.
    fn scores_batch(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<(Rows, Rows)> {
        py.detach(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            self.inner.scores_batch(&refs).map(|s| (s.probabilities, s.logits))
        })
        .map_err(|e| model_error(py, e))
    }

    fn predict(&self, py: Python<'_>, text: &str) -> PyResult<String> {
        py.detach(|| self.inner.predict(text).map(str::to_owned))
            .map_err(|e| model_error(py, e))
    }

    /// (label index, scores in label order, defer) of one text.
    fn classify(&self, py: Python<'_>, text: &str) -> PyResult<(usize, Vec<f32>, bool)> {
        py.detach(|| self.inner.classify(text))
            .map(|c| (c.label_index, c.scores, c.defer))
            .map_err(|e| model_error(py, e))
    }

    /// The defer rule as ("top_score" or "margin", threshold), or None.
    #[getter]
    fn defer_rule(&self) -> Option<(&'static str, f32)> {
        self.inner.defer_rule().map(|rule| {
            let measure = match rule.measure {
                cerebellum::DeferMeasure::TopScore => "top_score",
                cerebellum::DeferMeasure::Margin => "margin",
                _ => "unknown", // refused by the Python side: it cannot apply a measure it does not know
            };
            (measure, rule.threshold)
        })
    }
}

/// A sequence tagging bundle on the Rust engine.
#[pyclass(frozen, module = "cerebellum_rs")]
struct Tagger {
    inner: cerebellum::TextTagger,
}

#[pymethods]
impl Tagger {
    #[getter]
    fn task(&self) -> &str {
        self.inner.task()
    }

    #[getter]
    fn tags(&self) -> Vec<String> {
        self.inner.tags().to_vec()
    }

    #[getter]
    fn entity_types(&self) -> Vec<String> {
        self.inner.entity_types().to_vec()
    }

    /// "native BiLSTM" or "tract".
    #[getter]
    fn evaluator(&self) -> String {
        self.inner.evaluator().to_owned()
    }

    fn preprocessor_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.preprocessor_bytes())
    }

    fn units(&self, py: Python<'_>, text: &str) -> Tokens {
        py.detach(|| tokens(self.inner.units(text)))
    }

    fn encode(&self, py: Python<'_>, text: &str) -> Vec<i64> {
        py.detach(|| self.inner.encode(text))
    }

    /// Row-major emissions, `units x tags`.
    fn emissions(&self, py: Python<'_>, text: &str) -> PyResult<Vec<f32>> {
        py.detach(|| self.inner.emissions(text)).map_err(|e| model_error(py, e))
    }

    fn tag_ids(&self, py: Python<'_>, text: &str) -> PyResult<Vec<usize>> {
        py.detach(|| self.inner.tag_ids(text)).map_err(|e| model_error(py, e))
    }

    /// (type, start, end, text) per entity; offsets in code points.
    fn tag(&self, py: Python<'_>, text: &str) -> PyResult<Vec<(String, usize, usize, String)>> {
        py.detach(|| self.inner.tag(text))
            .map(|found| found.into_iter().map(|e| (e.kind, e.start, e.end, e.text)).collect())
            .map_err(|e| model_error(py, e))
    }
}

fn wrap(py: Python<'_>, model: cerebellum::Model) -> PyResult<Py<PyAny>> {
    Ok(match model {
        cerebellum::Model::Classifier(inner) => Bound::new(py, Classifier { inner })?.into_any().unbind(),
        cerebellum::Model::Tagger(inner) => Bound::new(py, Tagger { inner })?.into_any().unbind(),
    })
}

/// `cerebellum.Limits` as a tuple, in field order (see `cerebellum.limits`).
type LimitsTuple = (usize, usize, usize, usize, usize, u64);

fn limits(given: Option<LimitsTuple>) -> cerebellum::Limits {
    match given {
        None => cerebellum::Limits::default(),
        Some((pre, model, vocabulary, labels, table, elements)) => cerebellum::Limits {
            max_preprocessor_bytes: pre,
            max_model_bytes: model,
            max_vocabulary: vocabulary,
            max_labels: labels,
            max_char_table_entries: table,
            max_initializer_elements: elements,
        },
    }
}

/// "auto" (native when the graph allows) or "onnx" (always tract).
fn parse_evaluator(name: &str) -> PyResult<cerebellum::Evaluator> {
    match name {
        "auto" => Ok(cerebellum::Evaluator::Auto),
        "onnx" => Ok(cerebellum::Evaluator::Tract),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "evaluator must be 'auto' or 'onnx', got {other:?}"
        ))),
    }
}

/// Load the bundle in a directory.
#[pyfunction]
#[pyo3(signature = (path, limits_tuple=None, evaluator="auto"))]
fn load(py: Python<'_>, path: PathBuf, limits_tuple: Option<LimitsTuple>, evaluator: &str) -> PyResult<Py<PyAny>> {
    let limits = limits(limits_tuple);
    let evaluator = parse_evaluator(evaluator)?;
    let model = py
        .detach(|| cerebellum::load_with(&path, &limits, evaluator))
        .map_err(|e| to_py_err(py, e))?;
    wrap(py, model)
}

/// Load a bundle from the contents of its two files.
#[pyfunction]
#[pyo3(signature = (preprocessor, model, limits_tuple=None, evaluator="auto"))]
fn load_bytes(
    py: Python<'_>,
    preprocessor: &[u8],
    model: &[u8],
    limits_tuple: Option<LimitsTuple>,
    evaluator: &str,
) -> PyResult<Py<PyAny>> {
    let limits = limits(limits_tuple);
    let evaluator = parse_evaluator(evaluator)?;
    let loaded = py
        .detach(|| cerebellum::load_bytes_with(preprocessor, model, &limits, evaluator))
        .map_err(|e| to_py_err(py, e))?;
    wrap(py, loaded)
}

#[pymodule]
fn cerebellum_rs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Classifier>()?;
    m.add_class::<Tagger>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(load_bytes, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
