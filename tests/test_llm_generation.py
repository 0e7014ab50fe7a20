"""Generating data with LLM providers, against the fake server on 127.0.0.1 (tests/fake_llm.py).

Real clients over real sockets: google-genai for Gemini, httpx for the
OpenAI-compatible API. Faults come from the server: 429 with Retry-After,
500, hangs past the timeout, truncated JSON, wrong labels, duplicates.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from forge.blueprint import load_blueprint
from forge.files import read_jsonl
from forge.pipeline import BuildOptions, build
from forge.providers import ProviderError
from forge.textnorm import dedupe_key
from forge.workspace import Workspace

from .fake_llm import FakeLLM, Faults, default_sigint

KEYS = ("AIzaSyFAKE-first-key-000000000000001", "AIzaSyFAKE-second-key-00000000000002", "AIzaSyFAKE-third-key-0003")
FAULTY = Faults(
    rate_429=0.08,
    rate_500=0.07,
    rate_hang=0.05,
    rate_truncated=0.05,
    rate_wrong_labels=0.05,
    rate_duplicates=0.05,
    retry_after="1",
    hang_seconds=3.0,
)  # 35% of responses are faulty

BLUEPRINT = """
[blueprint]
kind = "classification"
trainer = "tfidf_linear"
seed = 7

[generate]
{provider}
rows = 500
items_per_request = 10
concurrency = 4
timeout = 1.0          # the fake's hangs last 3 s
backoff_base = 0.05
backoff_cap = 0.4
error_cooldown = 0.05
max_attempts = 20

[refine]
min_chars = 1
max_chars = 300

[train]
ngram_range = [1, 1]
C = [1.0]

[tasks.mood]
labels = ["Positive", "Negative", "Neutral"]
description = "The tone of a message to an assistant."
constitution = "constitution/mood.md"
"""


def write_blueprint(root: Path, provider: str = "", extra: str = "") -> Workspace:
    folder = root / "blueprints" / "mood"
    (folder / "constitution").mkdir(parents=True)
    (folder / "blueprint.toml").write_text(BLUEPRINT.format(provider=provider) + extra, encoding="utf-8")
    (folder / "constitution" / "mood.md").write_text(
        "# Mood\n\nLabel the tone of each message: Positive, Negative or Neutral.\n", encoding="utf-8"
    )
    return Workspace(root)


def raw_rows(workspace: Workspace) -> list[dict]:
    return read_jsonl(workspace.raw("mood"))


def assert_exact_unique(rows: list[dict], count: int) -> None:
    assert len(rows) == count
    assert len({dedupe_key(r["text"]) for r in rows}) == count, "duplicate rows were written"
    assert all(r["label"] in ("Positive", "Negative", "Neutral") for r in rows)
    assert all(r["request_id"] for r in rows)


def assert_no_secret_anywhere(root: Path, *texts: str) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for key in KEYS:
                assert key.encode() not in data, f"an API key was written into {path}"
    for text in texts:
        for key in KEYS:
            assert key not in text, "an API key was printed"


def gemini_env(server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEYS", ",".join(KEYS))
    monkeypatch.setenv("GEMINI_BASE_URL", server.url)


def test_gemini_fills_exactly_the_target_through_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    workspace = write_blueprint(tmp_path)  # no provider in the blueprint: GEMINI_API_KEYS picks gemini
    with FakeLLM(FAULTY, seed=3, valid_keys=KEYS) as server:
        gemini_env(server, monkeypatch)
        build(load_blueprint("mood", workspace.blueprints), workspace, BuildOptions(steps=("generate",)))
        stats = dict(server.stats)
        keys_used = {r.key_id for r in server.requests}
    faulty = sum(n for outcome, n in stats.items() if outcome != "ok")
    assert faulty / sum(stats.values()) >= 0.3, stats
    assert all(stats.get(kind) for kind in ("429", "500", "hang", "truncated", "wrong_labels", "duplicates")), stats
    assert keys_used == {0, 1, 2}  # every key did work
    assert_exact_unique(raw_rows(workspace), 500)

    usage = json.loads(workspace.raw("mood").with_suffix(".usage.json").read_text())["runs"][-1]
    assert usage["provider"] == "gemini" and usage["rows_after"] == 500
    assert usage["outcomes"]["rate_limited"] and usage["outcomes"]["timeout"] and usage["outcomes"]["malformed"]
    assert usage["items_rejected"] and usage["duplicates"] and usage["input_tokens"] > 0
    assert set(usage["keys"]) == {"key#1", "key#2", "key#3"}
    out = capfd.readouterr()
    assert_no_secret_anywhere(tmp_path, out.out, out.err)


def test_openai_compatible_server_builds_a_model_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    workspace = write_blueprint(tmp_path, provider='provider = "openai"')
    key = KEYS[0]
    with FakeLLM(FAULTY, seed=5, valid_keys=[key]) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        monkeypatch.setenv("OPENAI_API_KEY", key)
        monkeypatch.delenv("GEMINI_API_KEYS", raising=False)
        build(load_blueprint("mood", workspace.blueprints), workspace, BuildOptions(rows=300))
        assert {r.api for r in server.requests} == {"openai"}
    assert_exact_unique(raw_rows(workspace), 300)
    report = (workspace.processed("mood") / "quality_report.md").read_text()
    assert "## Generation" in report and "openai" in report
    assert (workspace.model("mood") / "model.onnx").exists()
    out = capfd.readouterr()
    assert_no_secret_anywhere(tmp_path, out.out, out.err)


def test_prompts_vary_and_carry_the_constitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace = write_blueprint(tmp_path)
    with FakeLLM(seed=1) as server:
        gemini_env(server, monkeypatch)
        build(load_blueprint("mood", workspace.blueprints), workspace, BuildOptions(steps=("generate",), rows=200))
        prompts = [r.prompt for r in server.requests]
        schema = server.requests[0].schema
    assert len(prompts) >= 20
    assert len(set(prompts)) == len(prompts), "two requests sent the same prompt"
    assert all("Label the tone of each message" in p for p in prompts)
    assert sum("do not repeat" in p for p in prompts) >= len(prompts) - 4  # all but the first wave
    assert schema["properties"]["items"]["items"]["properties"]["label"]["enum"] == ["Positive", "Negative", "Neutral"]


def test_a_killed_run_resumes_to_the_same_count_without_losing_rows(tmp_path: Path) -> None:
    write_blueprint(tmp_path)
    workspace = Workspace(tmp_path)
    raw = workspace.raw("mood")
    faults = Faults(rate_429=0.1, rate_500=0.1, rate_hang=0.1, rate_truncated=0.05, retry_after="1", hang_seconds=2)
    with FakeLLM(faults, seed=11, items_per_response=4, valid_keys=KEYS) as server:
        env = {**os.environ, "GEMINI_API_KEYS": ",".join(KEYS), "GEMINI_BASE_URL": server.url}
        forge = str(Path(sys.executable).parent / "forge")
        command = [forge, "build", "-b", "mood", "--steps", "generate", "--root", str(tmp_path)]
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not raw.exists() or raw.read_bytes().count(b"\n") < 120):
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        before = raw.read_bytes()
        assert 120 <= before.count(b"\n") < 500, "the run was not interrupted midway"
        with raw.open("ab") as fh:  # a write cut short by the crash
            fh.write(b'{"label": "Positive", "request_id": "x", "text": "half a ro')
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout + second.stderr
    after = raw.read_bytes()
    assert after.startswith(before), "rows written before the crash changed"
    assert "torn last line" in second.stdout + second.stderr
    assert_exact_unique(read_jsonl(raw), 500)
    usage = json.loads(raw.with_suffix(".usage.json").read_text())["runs"]
    assert usage[-1]["rows_before"] == before.count(b"\n") and usage[-1]["rows_after"] == 500
    assert_no_secret_anywhere(tmp_path, second.stdout, second.stderr)


def test_ctrl_c_keeps_the_rows_and_says_how_to_resume(tmp_path: Path) -> None:
    write_blueprint(tmp_path)
    raw = Workspace(tmp_path).raw("mood")
    with FakeLLM(Faults(rate_hang=0.2, hang_seconds=2), seed=12, items_per_response=3) as server:
        env = {**os.environ, "GEMINI_API_KEYS": KEYS[0], "GEMINI_BASE_URL": server.url}
        forge = str(Path(sys.executable).parent / "forge")
        command = [forge, "build", "-b", "mood", "--steps", "generate", "--root", str(tmp_path)]
        run = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not raw.exists() or raw.read_bytes().count(b"\n") < 30):
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 130, output
    assert "run the same command to resume" in output and "Traceback" not in output
    kept = read_jsonl(raw)
    assert 30 <= len(kept) < 500
    usage = json.loads(raw.with_suffix(".usage.json").read_text())["runs"][-1]
    assert usage["rows_after"] == len(kept)


def test_an_interrupt_inside_an_append_still_reports_the_rows_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race the subprocess test above can only hit by luck: Ctrl-C after the rows are
    # written but before the journal has counted them.
    workspace = write_blueprint(tmp_path)
    real_fsync, calls = os.fsync, []

    def fsync_then_interrupt(fd: int) -> None:
        real_fsync(fd)
        calls.append(fd)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("forge.providers.journal.os.fsync", fsync_then_interrupt)
    with FakeLLM(seed=3) as server:
        gemini_env(server, monkeypatch)
        with pytest.raises(KeyboardInterrupt):
            build(load_blueprint("mood", workspace.blueprints), workspace, BuildOptions(steps=("generate",)))
    kept = raw_rows(workspace)
    assert kept
    usage = json.loads(workspace.raw("mood").with_suffix(".usage.json").read_text())["runs"][-1]
    assert usage["rows_after"] == len(kept)


def test_budget_stops_the_run_keeps_the_rows_and_a_rerun_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = write_blueprint(tmp_path, extra="")
    blueprint_path = workspace.blueprints / "mood" / "blueprint.toml"
    blueprint_path.write_text(blueprint_path.read_text().replace("max_attempts = 20", "max_requests = 5"))
    with FakeLLM(seed=2) as server:
        gemini_env(server, monkeypatch)
        options = BuildOptions(steps=("generate",), rows=100)
        with pytest.raises(ProviderError, match="budget of 5 requests"):
            build(load_blueprint("mood", workspace.blueprints), workspace, options)
        assert len(raw_rows(workspace)) == 50
        build(load_blueprint("mood", workspace.blueprints), workspace, options)  # a new run, a new budget
        assert_exact_unique(raw_rows(workspace), 100)
        build(load_blueprint("mood", workspace.blueprints), workspace, options)  # nothing left to do
        assert server.stats["ok"] == 10


def test_refused_keys_end_the_run_with_a_message_that_names_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = write_blueprint(tmp_path)
    with FakeLLM(seed=4, valid_keys=["AIzaSyFAKE-the-only-good-key"]) as server:
        gemini_env(server, monkeypatch)
        with pytest.raises(ProviderError, match="every API key was refused") as caught:
            build(load_blueprint("mood", workspace.blueprints), workspace, BuildOptions(steps=("generate",)))
    message = str(caught.value)
    assert "key#1" in message and all(key not in message for key in KEYS)
    assert not workspace.raw("mood").exists() or not raw_rows(workspace)


def test_dotenv_keys_select_gemini_and_offline_stays_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forge.providers import default_provider
    from forge.providers.secrets import environment

    monkeypatch.delenv("GEMINI_API_KEYS", raising=False)
    assert default_provider(environment(tmp_path)) == "offline"
    (tmp_path / ".env").write_text(f'# keys\nexport GEMINI_API_KEYS="{KEYS[0]}, {KEYS[1]}"\n', encoding="utf-8")
    env = environment(tmp_path)
    assert default_provider(env) == "gemini"
    assert env["GEMINI_API_KEYS"] == f"{KEYS[0]}, {KEYS[1]}"


def test_tagging_rows_are_validated_bio_and_refine_into_spans(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "blueprints" / "places"
    folder.mkdir(parents=True)
    (folder / "blueprint.toml").write_text(
        """
[blueprint]
kind = "tagging"
trainer = "bilstm_crf"

[generate]
rows = 150
items_per_request = 10
timeout = 1.0
backoff_base = 0.05
error_cooldown = 0.05

[tasks.places]
labels = ["PERS", "PROJ"]
""",
        encoding="utf-8",
    )
    workspace = Workspace(tmp_path)
    faults = Faults(rate_wrong_labels=0.3, rate_truncated=0.1, rate_duplicates=0.1)
    with FakeLLM(faults, seed=9, language="zh") as server:
        gemini_env(server, monkeypatch)
        options = BuildOptions(steps=("generate", "refine"))
        build(load_blueprint("places", workspace.blueprints), workspace, options)
        schema = server.requests[0].schema
    item = schema["properties"]["items"]["items"]["properties"]
    assert item["tags"]["items"]["enum"] == ["O", "B-PERS", "I-PERS", "B-PROJ", "I-PROJ"]
    rows = read_jsonl(workspace.raw("places"))
    assert len(rows) == 150
    for row in rows:
        assert len(row["tokens"]) == len(row["tags"])
        for previous, tag in zip(["O", *row["tags"]], row["tags"], strict=False):
            assert not tag.startswith("I-") or previous[2:] == tag[2:]
    usage = json.loads(workspace.raw("places").with_suffix(".usage.json").read_text())["runs"][-1]
    assert usage["items_rejected"], "the wrong-label fault produced nothing to reject"
    processed = read_jsonl(workspace.processed("places") / "train.jsonl")
    assert processed and all("spans" in r for r in processed)
