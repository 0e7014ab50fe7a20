"""The pieces of LLM generation on their own: keys, the key pool, validation, the journal, prompts."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from forge.blueprint import RefineConfig, parse_blueprint
from forge.files import DataFileError
from forge.providers.journal import RawJournal
from forge.providers.keypool import KeyPool, NoUsableKeyError
from forge.providers.llm import (
    KeyRefusedError,
    RateLimitedError,
    RequestRejectedError,
    TransientError,
    error_for_status,
    retry_after_seconds,
)
from forge.providers.prompts import PromptPlanner
from forge.providers.schema import ItemValidator, MalformedAnswerError
from forge.providers.secrets import ApiKey, parse_keys, read_dotenv, redact

LIMITS = RefineConfig(min_chars=2, max_chars=40)


def test_dotenv_parsing_and_keys_that_never_print(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# comment\n\nexport A='quoted # not a comment'\nB = plain value # comment\nC=\"x\"\nnot a line\n",
        encoding="utf-8",
    )
    assert read_dotenv(env) == {"A": "quoted # not a comment", "B": "plain value", "C": "x"}
    keys = parse_keys(" k1 ,k2,, k1 ")
    assert [k.name for k in keys] == ["key#1", "key#2"]
    assert "k1" not in repr(keys) and str(keys[0]) == "key#1"
    assert redact("failed for k2 and k1", keys) == "failed for key#2 and key#1"


def test_error_statuses_map_to_what_the_run_should_do() -> None:
    assert isinstance(error_for_status(429, "slow down", 3.0), RateLimitedError)
    assert isinstance(error_for_status(401, "no"), KeyRefusedError)
    assert isinstance(error_for_status(400, "bad key", key_refused=True), KeyRefusedError)
    assert isinstance(error_for_status(400, "bad schema"), RequestRejectedError)
    assert isinstance(error_for_status(408, "timeout"), TransientError)
    assert isinstance(error_for_status(503, "busy"), TransientError)
    assert retry_after_seconds({"retry-after": "7"}, None) == 7.0
    details = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]}}
    assert retry_after_seconds({}, details) == 2.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None) is None


def test_a_429_cools_down_only_its_own_key() -> None:
    now = [0.0]
    pool = KeyPool([ApiKey(1, "a"), ApiKey(2, "b")], make_client=lambda key: key, clock=lambda: now[0])
    first = pool.acquire()
    pool.rate_limited(first, 30.0)
    second = pool.acquire()
    assert second.name != first.name  # the other key keeps working
    pool.succeeded(second)
    third = pool.acquire()
    assert third.name == second.name  # key#1 is still cooling down
    pool.succeeded(third)
    now[0] = 31.0
    assert {pool.acquire().name for _ in range(2)} == {"key#1", "key#2"}  # both ready, one request each


def test_revoked_keys_end_the_pool_and_waiting_stops_on_request() -> None:
    pool = KeyPool([ApiKey(1, "a")], make_client=lambda key: key)
    state = pool.acquire()
    pool.revoke(state, "400 API_KEY_INVALID")
    with pytest.raises(NoUsableKeyError, match="key#1: 400 API_KEY_INVALID"):
        pool.acquire()
    cooling = KeyPool([ApiKey(1, "a")], make_client=lambda key: key)
    cooling.rate_limited(cooling.acquire(), 3600)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    with pytest.raises(InterruptedError):
        cooling.acquire(stop)


def test_items_are_validated_and_labels_respelled() -> None:
    validator = ItemValidator("classification", ("Positive", "Negative"), LIMITS)
    answer = (
        '{"items": [{"text": "  great  day ", "label": " positive"}, {"text": "meh", "label": "Neutral"},'
        ' {"text": "x", "label": "Negative"}, {"text": 3, "label": "Negative"}, "oops",'
        ' {"text": "' + "long " * 20 + '", "label": "Negative"}]}'
    )
    result = validator.parse(answer)
    assert result.rows == [{"text": "great day", "label": "Positive"}]
    assert sum(result.rejected.values()) == 5
    for broken in ('{"items": [{"text": "cut', "Sure! Here are some examples:", '{"rows": []}'):
        with pytest.raises(MalformedAnswerError):
            validator.parse(broken)


def test_tagging_items_need_valid_bio() -> None:
    validator = ItemValidator("tagging", ("PERS",), RefineConfig())
    good = {"tokens": ["ask", "Li", "Lei"], "tags": ["O", "b-pers", "I-PERS"]}
    assert validator.check(good)[0] == {"tokens": ["ask", "Li", "Lei"], "tags": ["O", "B-PERS", "I-PERS"]}
    assert validator.check({"tokens": ["Li"], "tags": ["I-PERS"]})[1] == "I- tag without a B- tag before it"
    assert validator.check({"tokens": ["Li"], "tags": ["B-ORG"]})[1] == "tag not in the task's tag set"
    assert validator.check({"tokens": ["a", "b"], "tags": ["O"]})[1] == "tokens and tags differ in length"


def test_journal_recovers_a_torn_line_and_refuses_damage_in_the_middle(tmp_path: Path) -> None:
    validator = ItemValidator("classification", ("A", "B"), LIMITS)
    path = tmp_path / "raw.jsonl"
    journal = RawJournal(path, validator)
    rows, duplicates = journal.fresh([{"text": "one", "label": "A"}, {"text": "ONE", "label": "B"}])
    assert duplicates == 1
    journal.append(rows, "r1")
    journal.append([{"text": "two", "label": "B"}], "r2")
    with path.open("ab") as fh:
        fh.write(b'{"text": "thr')
    again = RawJournal(path, validator)
    assert again.rows == 2 and again.state.torn_bytes == len(b'{"text": "thr')
    assert path.read_bytes().endswith(b"\n") and again.label_counts == {"A": 1, "B": 1}
    path.write_text('{"text": "one", "label": "A"}\nnot json\n{"text": "two", "label": "B"}\n')
    with pytest.raises(DataFileError, match=":2: not valid JSON"):
        RawJournal(path, validator)


def test_prompts_are_seeded_varied_and_ask_for_the_rarest_label(tmp_path: Path) -> None:
    (tmp_path / "c.md").write_text("Write polite messages.", encoding="utf-8")
    config = {
        "blueprint": {"kind": "classification", "trainer": "tfidf_linear"},
        "generate": {"diversity": {"styles": ["pirate speech", "haiku"]}},
        "tasks": {"t": {"labels": ["A", "B"], "constitution": "c.md"}},
    }
    blueprint = parse_blueprint("x", tmp_path, config)
    planner = PromptPlanner(blueprint, blueprint.tasks["t"], run_id="run", seed=1)
    prompts = [planner.prompt(i, 10, {"A": 50, "B": 3}, ["already said"]) for i in range(20)]
    assert len({p.user for p in prompts}) == 20
    assert all("About half should be B" in p.user and "already said" in p.user for p in prompts)
    assert {("pirate speech" in p.user) for p in prompts} == {True, False}
    # no two requests of a run share scenario, style, length and language (the 20 prompts
    # differ in these lines alone, whatever their examples and the recent rows)
    assert len({p.user.split("This batch: ")[1].split("\n")[0] for p in prompts}) == 20
    assert prompts[0].system.startswith("Write polite messages.")
    again = PromptPlanner(blueprint, blueprint.tasks["t"], run_id="run", seed=1)
    assert again.prompt(0, 10, {"A": 50, "B": 3}, ["already said"]) == prompts[0]
