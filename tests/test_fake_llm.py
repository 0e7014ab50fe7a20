"""The fake LLM server, driven by the real google-genai SDK and by httpx (OpenAI shape).

google-genai builds its client on httpx2 when that is installed (as google-genai 3.x
requires), so its timeouts raise httpx2 exceptions, which are not httpx ones.
Without HttpOptions.retry_options it never retries: each call is one HTTP request.
"""

from __future__ import annotations

import collections
import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from forge.providers.schema import response_schema

from .fake_llm import (
    FakeLLM,
    Faults,
    ItemSpec,
    RecordedRequest,
    default_sigint,
    item_spec,
    jaccard,
    labels_in_prompt,
    shingles,
)

LABELS = ("Question", "Statement", "Command")
# The schemas the providers really send (forge/providers/schema.py).
CLASSIFY = response_schema("classification", LABELS)
TAG = response_schema("tagging", ("PER", "LOC", "ORG"))
TAGS = TAG["properties"]["items"]["items"]["properties"]["tags"]["items"]["enum"]
KEY = "test-key-not-secret"
KEY_HEADER = {"x-goog-api-key": KEY}
TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException,)
try:  # google-genai's default backend
    import httpx2

    TIMEOUTS += (httpx2.TimeoutException,)
except ImportError:
    pass


# ---------------------------------------------------------------- helpers
# Plain-HTTP clients: verify=False only skips loading CA certificates (60 ms a client).
HTTP = httpx.Client(timeout=5, verify=False)


@pytest.fixture(scope="module", autouse=True)
def _close_http() -> Iterator[None]:
    yield
    HTTP.close()


def gemini(server: FakeLLM, key: str = KEY, timeout_ms: int = 5000) -> genai.Client:
    # No retry_options: google-genai then makes exactly one attempt per call.
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=server.url, timeout=timeout_ms))


def ask_gemini(client: genai.Client, schema: dict[str, Any] = CLASSIFY, openapi: bool = False) -> Any:
    config = types.GenerateContentConfig(
        system_instruction="You write training data.",
        temperature=0.9,
        response_mime_type="application/json",
        **({"response_schema": schema} if openapi else {"response_json_schema": schema}),
    )
    return client.models.generate_content(model="gemini-test", contents="Write 10 examples.", config=config)


def ask_openai(
    server: FakeLLM, schema: dict[str, Any] | None = CLASSIFY, key: str | None = KEY, prompt: str = "Write examples."
) -> httpx.Response:
    response_format: dict[str, Any] = (
        {"type": "json_schema", "json_schema": {"name": "items", "schema": schema, "strict": True}}
        if schema
        else {"type": "json_object"}
    )
    body = {
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "You write training data."}, {"role": "user", "content": prompt}],
        "response_format": response_format,
        "temperature": 0.9,
    }
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return HTTP.post(f"{server.openai_base_url}/chat/completions", json=body, headers=headers)


def conforms(value: Any, schema: dict[str, Any]) -> bool:
    """The JSON-schema subset used here; types compared case-insensitively (Gemini's OpenAPI "OBJECT")."""
    kind = str(schema.get("type", "")).lower()
    checks = {"object": dict, "array": list, "string": str}
    if kind in checks and not isinstance(value, checks[kind]):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        props = schema.get("properties", {})
        return all(k in value for k in schema.get("required", [])) and all(
            conforms(v, props[k]) for k, v in value.items() if k in props
        )
    if kind == "array":
        return all(conforms(v, schema.get("items", {})) for v in value)
    return True


def item_problem(item: Any) -> str:
    """Why an item is unusable for training ("" when it is fine): what the refiner would drop."""
    if "tokens" in item or "tags" in item:
        tokens, tags = item.get("tokens"), item.get("tags")
        if not isinstance(tokens, list) or not isinstance(tags, list) or not tokens:
            return "missing or malformed tokens/tags"
        if len(tokens) != len(tags):
            return "unequal length"
        if any(tag not in TAGS for tag in tags):
            return "tag outside the enum"
        for before, tag in zip(["O", *tags], tags, strict=False):
            if tag.startswith("I-") and before[2:] != tag[2:]:
                return f"{tag} after {before}"
        return "" if all(isinstance(t, str) and t.strip() for t in tokens) else "empty token"
    text, label = item.get("text"), item.get("label")
    if not isinstance(text, str) or not isinstance(label, str):
        return "missing or non-string text/label"
    if label not in LABELS:
        return "label outside the enum"
    return "" if text.strip() else "empty text"


def items_of(text: str) -> list[dict[str, Any]]:
    return json.loads(text)["items"]


def near_pairs(texts: list[str], threshold: float) -> list[tuple[str, str]]:
    """Pairs with character-3-gram Jaccard >= threshold, found by prefix filtering (exact, and fast).

    Under one global order of the grams (rarest first), two sets that similar must share
    one of the first len - ceil(threshold * len) + 1 grams of each.
    """
    sets = [shingles(text) for text in texts]
    frequency = collections.Counter(gram for grams in sets for gram in grams)
    index: dict[str, list[int]] = collections.defaultdict(list)
    pairs = []
    for i, grams in enumerate(sets):
        prefix = sorted(grams, key=lambda g: (frequency[g], g))[: len(grams) - math.ceil(threshold * len(grams)) + 1]
        candidates = {j for gram in prefix for j in index[gram]}
        pairs += [(texts[j], texts[i]) for j in sorted(candidates) if jaccard(sets[j], grams) >= threshold]
        for gram in prefix:
            index[gram].append(i)
    return pairs


def key_free(requests: list[RecordedRequest], *keys: str) -> bool:
    dump = repr(requests) + "".join(json.dumps(r.body) + r.prompt for r in requests)
    return not any(key in dump for key in keys)


# ---------------------------------------------------------------- normal answers
def test_gemini_json_schema_answer_validates_and_is_recorded() -> None:
    with FakeLLM(seed=1) as server:
        response = ask_gemini(gemini(server))
    document = json.loads(response.text)
    assert conforms(document, CLASSIFY) and len(document["items"]) == 10
    assert all(item_problem(item) == "" for item in document["items"])
    assert 4 <= min(len(item["text"].split()) for item in document["items"])
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.total_token_count > 0
    [request] = server.requests
    assert (request.api, request.model, request.outcome, request.key_id) == ("gemini", "gemini-test", "ok", None)
    assert request.prompt == "You write training data.\nWrite 10 examples."
    assert request.schema == CLASSIFY  # sent as is, under generationConfig.responseJsonSchema
    assert request.body["generationConfig"]["responseJsonSchema"] == CLASSIFY
    assert request.body["generationConfig"]["responseMimeType"] == "application/json"
    assert server.stats == {"ok": 1} and not server.errors


def test_gemini_response_schema_upper_case_tagging() -> None:
    with FakeLLM(seed=2) as server:
        response = ask_gemini(gemini(server), TAG, openapi=True)
    sent = server.requests[0].schema
    assert sent is not None and sent["type"] == "OBJECT"  # google-genai converts response_schema to OpenAPI types
    items = items_of(response.text)
    assert len(items) == 10 and conforms({"items": items}, TAG)
    assert all(item_problem(item) == "" for item in items)
    assert any(tag != "O" for item in items for tag in item["tags"])


def test_openai_json_schema_and_json_object_modes() -> None:
    with FakeLLM(seed=3, items_per_response=4) as server:
        answer = ask_openai(server).json()
        prompt_with_labels = 'Label each text; labels: ["yes", "no"]'
        object_mode = ask_openai(server, schema=None, prompt=prompt_with_labels).json()
        unanswerable = ask_openai(server, schema=None)
        unknown_schema = ask_openai(server, schema={"type": "object", "properties": {"rows": {"type": "array"}}})
    assert answer["object"] == "chat.completion" and answer["model"] == "gpt-test"
    assert answer["choices"][0]["finish_reason"] == "stop"
    usage = answer["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    items = items_of(answer["choices"][0]["message"]["content"])
    assert len(items) == 4 and all(item_problem(item) == "" for item in items)
    assert {item["label"] for item in items_of(object_mode["choices"][0]["message"]["content"])} <= {"yes", "no"}
    assert unanswerable.status_code == unknown_schema.status_code == 400
    assert unanswerable.json()["error"]["type"] == "invalid_request_error"
    assert server.stats == {"ok": 2, "bad_request": 2}
    assert [r.api for r in server.requests] == ["openai"] * 4


def test_chinese_texts_and_character_tokens() -> None:
    with FakeLLM(language="zh", seed=4) as server:
        classified = items_of(ask_openai(server).json()["choices"][0]["message"]["content"])
        tagged = items_of(ask_openai(server, TAG).json()["choices"][0]["message"]["content"])
    assert all(re.search(r"[\u4e00-\u9fff]{4}", item["text"]) for item in classified)
    assert all(item_problem(item) == "" for item in classified + tagged)
    assert all(len(token) == 1 for item in tagged for token in item["tokens"])


# ---------------------------------------------------------------- faults, one kind at a time
def test_429_carries_retry_after_and_the_sdk_does_not_retry() -> None:
    with FakeLLM(Faults(rate_429=1.0, retry_after="0")) as server:
        with pytest.raises(errors.ClientError) as caught:
            ask_gemini(gemini(server))
        openai = ask_openai(server)
    error = caught.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    assert error.response.headers["Retry-After"] == "0"  # the httpx(2) response, headers and all
    assert error.details["error"]["details"][0]["retryDelay"] == "0s"
    assert openai.status_code == 429 and openai.headers["retry-after"] == "0"
    assert openai.json()["error"]["code"] == "rate_limit_exceeded"
    assert server.stats == {"429": 2}  # one request each: google-genai did not retry


def test_500_is_a_server_error() -> None:
    with FakeLLM(Faults(rate_500=1.0)) as server:
        with pytest.raises(errors.ServerError) as caught:
            ask_gemini(gemini(server))
        openai = ask_openai(server)
    assert (caught.value.code, caught.value.status) == (500, "INTERNAL")
    assert openai.status_code == 500 and openai.json()["error"]["type"] == "server_error"
    assert server.stats == {"500": 2}


def test_hang_outlasts_a_short_client_timeout_then_answers() -> None:
    started = time.monotonic()
    with FakeLLM(Faults(rate_hang=1.0, hang_seconds=3.0)) as server:
        with pytest.raises(TIMEOUTS):
            ask_gemini(gemini(server, timeout_ms=300))
    assert time.monotonic() - started < 2.0  # the client gave up, and close() cut the hang short
    with FakeLLM(Faults(rate_hang=1.0, hang_seconds=0.2)) as server:
        slow = ask_openai(server)  # a patient client gets a normal answer
    assert slow.status_code == 200 and len(items_of(slow.json()["choices"][0]["message"]["content"])) == 10
    assert server.stats == {"hang": 1} and not server.errors


def test_truncated_text_is_not_json() -> None:
    with FakeLLM(Faults(rate_truncated=1.0)) as server:
        response = ask_gemini(gemini(server))
        openai = ask_openai(server).json()
    assert response.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS
    assert response.text.startswith('{"items": [')
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert openai["choices"][0]["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(openai["choices"][0]["message"]["content"])


@pytest.mark.parametrize("schema", [CLASSIFY, TAG], ids=["labels", "tags"])
def test_wrong_labels(schema: dict[str, Any]) -> None:
    with FakeLLM(Faults(rate_wrong_labels=1.0), seed=5) as server:
        client = gemini(server)
        items = [item for _ in range(5) for item in items_of(ask_gemini(client, schema).text)]
    problems = [item_problem(item) for item in items]
    assert "label outside the enum" in problems or "tag outside the enum" in problems
    assert 5 <= sum(bool(p) for p in problems) < len(items)  # some items, at least one per response
    assert len(set(problems)) >= 3  # several kinds of damage


def test_duplicates_within_and_across_responses() -> None:
    with FakeLLM(Faults(rate_duplicates=1.0), seed=6) as server:
        client = gemini(server)
        first = [item["text"] for item in items_of(ask_gemini(client).text)]
        second = [item["text"] for item in items_of(ask_gemini(client).text)]
    assert len(set(first)) < len(first)  # repeats within the first response
    assert set(second) & set(first)  # and the second one repeats earlier items


# ---------------------------------------------------------------- keys
def test_keys_are_checked_and_recorded_only_as_indexes() -> None:
    keys = ["key-alpha-0001", "key-bravo-0002"]
    with FakeLLM(valid_keys=keys) as server:
        with pytest.raises(errors.ClientError) as caught:
            ask_gemini(gemini(server, key="key-wrong-9999"))
        ask_gemini(gemini(server, key=keys[1]))
        by_query = HTTP.post(
            f"{server.url}/v1beta/models/gemini-test:generateContent",
            params={"key": keys[0]},
            json={"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"responseJsonSchema": CLASSIFY}},
        )
        missing = HTTP.post(f"{server.url}/v1/models/gemini-test:generateContent", json={"contents": []})
        openai_wrong, openai_none = ask_openai(server, key="nope"), ask_openai(server, key=None)
        openai_ok = ask_openai(server, key=keys[0])
    error = caught.value
    assert (error.code, error.status) == (400, "INVALID_ARGUMENT")  # what Google sends for an unknown key
    assert error.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert by_query.status_code == 200 and missing.status_code == 403
    assert openai_wrong.status_code == openai_none.status_code == 401 and openai_ok.status_code == 200
    assert [r.key_id for r in server.requests] == [None, 1, 0, None, None, None, 0]
    assert server.stats == {"unauthorized": 4, "ok": 3}
    assert key_free(server.requests, *keys, "key-wrong-9999") and not any(k in repr(server) for k in keys)


# ---------------------------------------------------------------- a mixed plan
def run_plan(seed: int, requests: int = 200) -> tuple[list[str], list[dict[str, Any]], FakeLLM]:
    outcomes, delivered = [], []
    with FakeLLM(Faults.spread(0.3, retry_after="0", hang_seconds=0.0), seed=seed) as server:
        with httpx.Client(base_url=server.url, timeout=5, verify=False) as client:
            for i in range(requests):
                schema = CLASSIFY if i % 2 else TAG
                body = {"contents": [{"parts": [{"text": "go"}]}], "generationConfig": {"responseJsonSchema": schema}}
                answer = client.post("/v1beta/models/gemini-test:generateContent", json=body, headers=KEY_HEADER)
                outcomes.append(server.requests[-1].outcome)
                if outcomes[-1] in ("ok", "hang"):
                    delivered += items_of(answer.json()["candidates"][0]["content"]["parts"][0]["text"])
    return outcomes, delivered, server


def test_mixed_plan_serves_its_share_deterministically() -> None:
    outcomes, delivered, server = run_plan(seed=7)
    faults = sum(outcome != "ok" for outcome in outcomes)
    assert 40 <= faults <= 80, server.stats  # 30 % of 200 = 60
    assert set(server.stats) == {"ok", "429", "500", "hang", "truncated", "wrong_labels", "duplicates"}
    assert not server.errors
    assert run_plan(seed=7, requests=100)[0] == outcomes[:100]  # same seed, same plan
    assert run_plan(seed=8, requests=50)[0] != outcomes[:50]

    # Normal items never repeat a text, nor come near one (the refiner would drop them).
    texts = [item.get("text") or " ".join(item["tokens"]) for item in delivered]
    assert len({t.casefold() for t in texts}) == len(texts) > 1000
    assert not near_pairs(texts, 0.9)


def serve_in_threads(threads: int) -> tuple[collections.Counter[str], list[str], list[str]]:
    """40 requests from ``threads`` clients at once: (stats, texts of the answers, server errors)."""
    body = {"contents": [{"parts": [{"text": "go"}]}], "generationConfig": {"responseJsonSchema": CLASSIFY}}

    def client_texts(_: int) -> list[str]:
        with httpx.Client(base_url=server.url, timeout=5, verify=False) as client:
            answers = [client.post("/v1beta/models/m:generateContent", json=body) for _ in range(40 // threads)]
        texts = [a.json()["candidates"][0]["content"]["parts"][0]["text"] for a in answers if a.status_code == 200]
        return [item["text"] for text in texts for item in items_of(text)]

    with FakeLLM(Faults(rate_500=0.2), seed=9) as server:
        with ThreadPoolExecutor(threads) as pool:
            texts = [text for batch in pool.map(client_texts, range(threads)) for text in batch]
    return server.stats, texts, server.errors


def test_concurrent_clients_get_the_same_draws() -> None:
    stats, texts, errors_ = serve_in_threads(4)
    assert sum(stats.values()) == 40 and not errors_
    assert len(set(texts)) == len(texts) == 10 * stats["ok"]
    sequential_stats, sequential_texts, _ = serve_in_threads(1)
    assert stats == sequential_stats and set(texts) == set(sequential_texts)  # only who got what may differ


def test_schemas_with_refs_and_nullable_enums() -> None:
    schema = {
        "$defs": {
            "Item": {
                "properties": {"text": {"type": "string"}, "label": {"anyOf": [{"enum": ["a", "b"]}, {"type": "null"}]}}
            }
        },
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}},
    }
    assert item_spec(schema) == ItemSpec("classification", ("a", "b"))
    assert item_spec({"properties": {"items": {"items": {"properties": {"text": {}, "label": {}}}}}}) is None
    assert labels_in_prompt("Use one of these labels: Question, Statement.") == ("Question", "Statement")


# ---------------------------------------------------------------- robustness
def test_bad_input_and_handler_bugs_do_not_stop_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeLLM() as server:
        garbage = HTTP.post(f"{server.url}/v1beta/models/m:generateContent", content=b"{not json")
        unknown = HTTP.get(f"{server.url}/v1beta/models")

        def broken(*args: Any) -> Any:
            raise RuntimeError("boom")

        monkeypatch.setattr(server, "_text", broken)
        bug = ask_openai(server)
        monkeypatch.undo()
        after = ask_openai(server)
    assert (garbage.status_code, unknown.status_code, bug.status_code, after.status_code) == (400, 404, 500, 200)
    assert garbage.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert server.errors == ["RuntimeError: boom"]


def test_fault_rates_are_validated() -> None:
    assert Faults.spread(0.3).total == pytest.approx(0.3)
    with pytest.raises(ValueError):
        Faults(rate_429=0.6, rate_500=0.6)
    with pytest.raises(ValueError):
        Faults(rate_hang=-0.1)


def test_standalone_server() -> None:
    script = Path(__file__).with_name("fake_llm.py")
    command = [sys.executable, str(script), "--port", "0", "--fault-rate", "0.3", "--hang-seconds", "0"]
    # Ctrl-C must reach the server even when this suite runs with SIGINT ignored (a background job)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[1]
        assert process.stdout.readline().split()[1] == url + "/v1"
        body = {"contents": [{"parts": [{"text": "go"}]}], "generationConfig": {"responseJsonSchema": CLASSIFY}}
        answer = HTTP.post(f"{url}/v1beta/models/m:generateContent", json=body, timeout=10)
        assert answer.status_code in (200, 429, 500)
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        output = process.communicate(timeout=30)[0]  # generous: a loaded machine is slow to exit
    assert "served:" in output
