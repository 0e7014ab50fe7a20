"""Single-query latency: the cerebellum runtime against the scikit-learn pipeline it was trained as.

Run with `make bench` (or `pytest tests/benchmarks --benchmark-only`) to print the figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import cerebellum

QUERY = "what's the weather like tomorrow"
QUERY_ZH = "明天北京会下雨吗"


def sklearn_pipeline(workspace: Path, task: str, model: cerebellum.TextClassifier):
    """The trained estimator and vectorizer, rebuilt from the forge's build artifacts."""
    with np.load(workspace / "build" / task / "trained.npz", allow_pickle=False) as data:
        vocabulary, idf, coef, intercept = (data[k] for k in ("vocabulary", "idf", "coef", "intercept"))
    vectorizer = TfidfVectorizer(analyzer=model.tokenizer.terms, vocabulary=[str(t) for t in vocabulary])
    vectorizer.idf_ = idf
    estimator = LogisticRegression()
    estimator.classes_, estimator.coef_, estimator.intercept_ = np.arange(len(model.labels)), coef, intercept
    return make_pipeline(vectorizer, estimator)


@pytest.fixture(scope="module")
def is_question(builtin_workspace: Path) -> cerebellum.TextClassifier:
    return cerebellum.load(builtin_workspace / "models" / "is_question")


@pytest.mark.benchmark(group="classify-short-query")
@pytest.mark.parametrize("query", [QUERY, QUERY_ZH])
def test_cerebellum_predict(benchmark, is_question: cerebellum.TextClassifier, query: str) -> None:
    label = benchmark(is_question.predict, query)
    assert label == "Question"


@pytest.mark.benchmark(group="classify-short-query")
@pytest.mark.parametrize("query", [QUERY, QUERY_ZH])
def test_sklearn_pipeline_predict(benchmark, builtin_workspace: Path, is_question, query: str) -> None:
    pipeline = sklearn_pipeline(builtin_workspace, "is_question", is_question)
    index = benchmark(lambda: int(pipeline.predict([query])[0]))
    assert is_question.labels[index] == is_question.predict(query)


@pytest.mark.benchmark(group="vectorize")
def test_cerebellum_vectorize(benchmark, is_question: cerebellum.TextClassifier) -> None:
    vector = benchmark(is_question.vectorize, QUERY)
    assert len(vector) > 0


@pytest.mark.benchmark(group="load")
def test_cerebellum_load(benchmark, builtin_workspace: Path) -> None:
    model = benchmark(cerebellum.load, builtin_workspace / "models" / "is_question")
    assert model.labels == ("Question", "Statement")
