"""Generation with an LLM: concurrent requests, per-key cooldowns, backoff, a budget, durable rows.

The backends (gemini.py, openai_compat.py) only turn a prompt into text and
map HTTP failures onto the exceptions below. Everything else lives here:
which prompt to send next, which key sends it, when to retry, what counts as
a valid row, and writing rows to datasets/raw so that a rerun resumes.
"""

from __future__ import annotations

import json
import math
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from ..blueprint import Blueprint, TaskSpec
from ..console import console, progress
from ..files import atomic_write_text
from . import GenerationJob, ProviderError
from .journal import RawJournal
from .keypool import KeyPool, KeyState, NoUsableKeyError
from .prompts import Prompt, PromptPlanner
from .schema import ItemValidator, MalformedAnswerError, response_schema
from .secrets import ApiKey, redact

Client = TypeVar("Client")


# What a backend raises; the engine decides what happens next.
class RateLimitedError(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"rate limited (retry after {retry_after}s)")
        self.retry_after = retry_after


class TransientError(Exception):
    """Worth retrying: 5xx, timeouts, dropped connections."""


class RequestTimeoutError(TransientError):
    """No answer within the request timeout."""


class KeyRefusedError(Exception):
    """The server refuses this key (invalid, revoked, no permission): stop using it."""


class RequestRejectedError(Exception):
    """The server rejects the request itself (4xx): retrying the same request will not help."""


_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s?\s*$")


def retry_after_seconds(headers: Any, details: Any) -> float | None:
    """The delay a 429 asks for: the Retry-After header, else google.rpc.RetryInfo's retryDelay."""
    value = headers.get("retry-after") if headers is not None else None
    if value is not None:
        match = _DELAY.match(str(value))
        if match:
            return float(match.group(1))
    error = details.get("error", details) if isinstance(details, dict) else {}
    for detail in error.get("details", []) if isinstance(error, dict) else []:
        if isinstance(detail, dict) and "retryDelay" in detail:
            match = _DELAY.match(str(detail["retryDelay"]))
            if match:
                return float(match.group(1))
    return None


def error_for_status(
    code: int | None, message: str, retry_after: float | None = None, key_refused: bool = False
) -> Exception:
    """What an HTTP error status means for the run: wait, drop the key, give up, or retry."""
    if code == 429:
        return RateLimitedError(retry_after)
    if key_refused or code in (401, 403):
        return KeyRefusedError(message)
    if code is not None and 400 <= code < 500 and code != 408:
        return RequestRejectedError(message)
    return TransientError(message)


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class Backend(Protocol, Generic[Client]):
    name: str

    def make_client(self, key: ApiKey | None) -> Client: ...

    def complete(self, client: Client, prompt: Prompt, schema: dict[str, Any]) -> Completion: ...


@dataclass(frozen=True)
class GenerationSettings:
    """``[generate]`` keys of a blueprint (and ``[generate.<provider>]``, which win)."""

    model: str
    items_per_request: int = 20
    concurrency: int = 4
    timeout: float = 60.0  # seconds per request
    max_requests: int | None = None  # default: 10 per request a perfect run would need, plus 20
    max_tokens: int | None = None  # input + output tokens, over the whole run
    max_attempts: int = 6  # per prompt, before it is given up
    backoff_base: float = 0.5  # seconds; doubles per failed attempt, with jitter
    backoff_cap: float = 30.0
    error_cooldown: float = 1.0  # a key rests this long after a non-429 failure
    default_retry_after: float = 10.0  # for a 429 that names no delay
    temperature: float = 1.0

    @classmethod
    def from_blueprint(
        cls, blueprint: Blueprint, provider: str, default_model: str, model: str | None = None
    ) -> GenerationSettings:
        """``model`` (from the environment) wins over the blueprint's, which wins over ``default_model``."""
        section = {k: v for k, v in blueprint.generate.items() if not isinstance(v, dict)}
        section.update(blueprint.generate.get(provider, {}))
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in section.items() if k in known}
        values["model"] = model or values.get("model") or default_model
        try:
            settings = cls(**values)
        except TypeError as exc:
            raise ProviderError(f"{blueprint.config_path} [generate]: {exc}") from None
        if settings.items_per_request < 1 or settings.concurrency < 1 or settings.timeout <= 0:
            raise ProviderError(f"{blueprint.config_path} [generate]: items_per_request, concurrency, timeout > 0")
        return settings


@dataclass
class GenerationReport:
    """Usage and outcomes of one run; saved next to the raw rows and shown at the end."""

    provider: str
    model: str
    run_id: str
    target: int
    rows_before: int
    rows_after: int = 0
    torn_bytes_dropped: int = 0
    requests: int = 0  # requests sent (while running: scheduled, for the budget)
    outcomes: Counter = field(default_factory=Counter)  # ok, rate_limited, server_error, timeout, malformed, ...
    items_received: int = 0
    items_rejected: Counter = field(default_factory=Counter)
    duplicates: int = 0
    surplus: int = 0  # valid rows beyond the target, not written
    input_tokens: int = 0
    output_tokens: int = 0
    prompts_given_up: int = 0
    keys: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        # asdict() would rebuild the Counters from (key, value) pairs and count the pairs.
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: dict(v) if isinstance(v, Counter) else v for name, v in values.items()}

    def summary(self) -> str:
        faults = sum(n for outcome, n in self.outcomes.items() if outcome != "ok")
        return (
            f"{self.rows_after - self.rows_before} new rows ({self.rows_after}/{self.target}) from "
            f"{self.requests} requests ({faults} failed: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()) if k != "ok") or "none")
            + f"); {sum(self.items_rejected.values())} invalid items, {self.duplicates} duplicates dropped; "
            f"{self.input_tokens + self.output_tokens:,} tokens"
        )


@dataclass
class _Attempt:
    prompt: Prompt
    number: int  # 1-based attempt of this prompt


@dataclass
class _Outcome:
    attempt: _Attempt
    key: str
    completion: Completion | None = None
    failure: str = ""  # outcome name when the request failed
    error: str = ""  # redacted message, for the final error if everything fails


class LLMGeneration(Generic[Client]):
    """One run: fills ``job.raw`` up to ``job.rows`` valid, unique rows."""

    def __init__(
        self,
        job: GenerationJob,
        backend: Backend[Client],
        keys: list[ApiKey | None],
        settings: GenerationSettings,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.job = job
        self.backend = backend
        self.settings = settings
        self._secrets = [k for k in keys if k is not None]
        self.pool: KeyPool[Client] = KeyPool(
            keys, backend.make_client, settings.error_cooldown, settings.default_retry_after
        )
        self._sleep = sleep
        task = job.task
        if not task.labels:
            raise ProviderError(f"task {task.name!r} lists no labels: an LLM needs them to write examples")
        self.validator = ItemValidator(job.blueprint.kind, task.labels, job.blueprint.refine)
        self.schema = response_schema(job.blueprint.kind, task.labels)
        self.stop = threading.Event()
        self._rng = random.Random()  # jitter only; it never shapes the data

    def run(self) -> GenerationReport:
        job, settings = self.job, self.settings
        journal = RawJournal(job.raw, self.validator)
        run_id = secrets.token_hex(4)
        report = GenerationReport(
            provider=self.backend.name,
            model=settings.model,
            run_id=run_id,
            target=job.rows,
            rows_before=journal.rows,
            torn_bytes_dropped=journal.state.torn_bytes,
        )
        if journal.state.torn_bytes:
            console.print(
                f"  generate: dropped a torn last line ({journal.state.torn_bytes} bytes) in {job.raw}", markup=False
            )
        if journal.rows >= job.rows:
            report.rows_after = journal.rows
            return report
        planner = PromptPlanner(job.blueprint, job.task, run_id, job.seed)
        needed = math.ceil((job.rows - journal.rows) / settings.items_per_request)
        max_requests = settings.max_requests or 10 * needed + 20
        started = time.monotonic()
        executor = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="forge-llm")
        in_flight: dict[Future[_Outcome], _Attempt] = {}
        next_prompt = 0
        last_error = ""
        try:
            with progress() as bar:
                task_bar = bar.add_task(f"generate {job.task.name}", total=job.rows, completed=journal.rows)
                while journal.rows < job.rows:
                    shortfall = job.rows - journal.rows
                    wanted = min(settings.concurrency, math.ceil(shortfall / settings.items_per_request) + 1)
                    while len(in_flight) < wanted and self._within_budget(report, max_requests):
                        prompt = planner.prompt(
                            next_prompt, settings.items_per_request, journal.label_counts, journal.recent
                        )
                        attempt = _Attempt(prompt, 1)
                        next_prompt += 1
                        report.requests += 1
                        in_flight[executor.submit(self._send, attempt, 0.0)] = attempt
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                    for future in done:
                        del in_flight[future]
                        outcome = future.result()
                        if outcome.completion is not None:
                            self._accept(outcome, journal, report)
                            continue
                        report.outcomes[outcome.failure] += 1
                        last_error = outcome.error or last_error
                        if outcome.failure == "no_usable_key":
                            raise ProviderError(last_error)
                        if outcome.failure == "rejected":
                            raise ProviderError(f"{self.backend.name} rejected the request: {last_error}")
                        retry = _Attempt(outcome.attempt.prompt, outcome.attempt.number + 1)
                        if retry.number > settings.max_attempts:
                            report.prompts_given_up += 1
                        elif self._within_budget(report, max_requests):
                            report.requests += 1
                            in_flight[executor.submit(self._send, retry, self._backoff(retry.number))] = retry
                    bar.update(task_bar, completed=journal.rows)
        except BaseException:
            self.stop.set()  # workers waiting for a key give up; rows written so far are on disk
            raise
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            # Counted from the file: a Ctrl-C between an append's write and its bookkeeping
            # must not make the report disagree with the rows on disk.
            report.rows_after = RawJournal(job.raw, self.validator).rows
            report.seconds = round(time.monotonic() - started, 3)
            report.requests = sum(s.requests for s in self.pool.states)  # sent, not merely scheduled
            report.keys = {
                s.name: {"requests": s.requests, "rate_limited": s.rate_limited, "errors": s.errors}
                | ({"revoked": 1} if s.revoked_reason else {})
                for s in self.pool.states
            }
            save_report(job.raw, report)
        if journal.rows < job.rows:
            raise ProviderError(
                f"stopped with {journal.rows} of {job.rows} rows in {job.raw}: "
                f"budget of {max_requests} requests"
                + (f" / {settings.max_tokens:,} tokens" if settings.max_tokens else "")
                + f" used up ({report.summary()}). Rerun to generate the remaining rows"
                + (f"; last error: {last_error}" if last_error else "")
            )
        return report

    def _within_budget(self, report: GenerationReport, max_requests: int) -> bool:
        if report.requests >= max_requests:
            return False
        tokens = report.input_tokens + report.output_tokens
        return self.settings.max_tokens is None or tokens < self.settings.max_tokens

    def _backoff(self, attempt: int) -> float:
        delay = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 2))
        return delay * self._rng.uniform(0.5, 1.5)

    def _send(self, attempt: _Attempt, delay: float) -> _Outcome:
        """One HTTP request, on a worker thread. Never raises: failures become outcomes."""
        if delay > 0 and self.stop.wait(delay):
            return _Outcome(attempt, "", failure="stopped")
        try:
            state: KeyState[Client] = self.pool.acquire(self.stop)
        except NoUsableKeyError as exc:
            return _Outcome(attempt, "", failure="no_usable_key", error=redact(str(exc), self._secrets))
        except InterruptedError:
            return _Outcome(attempt, "", failure="stopped")
        try:
            completion = self.backend.complete(state.client, attempt.prompt, self.schema)
        except RateLimitedError as exc:
            self.pool.rate_limited(state, exc.retry_after)
            return _Outcome(attempt, state.name, failure="rate_limited")
        except KeyRefusedError as exc:
            message = redact(str(exc), self._secrets)
            self.pool.revoke(state, message)
            return _Outcome(attempt, state.name, failure="key_refused", error=f"{state.name}: {message}")
        except RequestRejectedError as exc:
            self.pool.failed(state)
            return _Outcome(attempt, state.name, failure="rejected", error=redact(str(exc), self._secrets))
        except TransientError as exc:
            self.pool.failed(state)
            kind = "timeout" if isinstance(exc, RequestTimeoutError) else "server_error"
            return _Outcome(attempt, state.name, failure=kind, error=redact(str(exc), self._secrets))
        except Exception as exc:  # a backend bug must not kill the run silently
            self.pool.failed(state)
            message = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            return _Outcome(attempt, state.name, failure="unexpected_error", error=message)
        self.pool.succeeded(state)
        return _Outcome(attempt, state.name, completion=completion)

    def _accept(self, outcome: _Outcome, journal: RawJournal, report: GenerationReport) -> None:
        completion = outcome.completion
        assert completion is not None
        report.input_tokens += completion.input_tokens
        report.output_tokens += completion.output_tokens
        try:
            checked = self.validator.parse(completion.text)
        except MalformedAnswerError:
            report.outcomes["malformed"] += 1
            return
        report.outcomes["ok"] += 1
        report.items_received += len(checked.rows) + sum(checked.rejected.values())
        report.items_rejected.update(checked.rejected)
        fresh, duplicates = journal.fresh(checked.rows)
        report.duplicates += duplicates
        room = self.job.rows - journal.rows
        report.surplus += max(0, len(fresh) - room)
        journal.append(fresh[:room], outcome.attempt.prompt.request_id)


def save_report(raw: Path, report: GenerationReport) -> None:
    """Append this run to datasets/raw/<task>.usage.json (one entry per run)."""
    runs = load_runs(raw)
    runs.append(report.as_dict())
    atomic_write_text(usage_path(raw), json.dumps({"runs": runs}, indent=2, ensure_ascii=False) + "\n")


def usage_path(raw: Path) -> Path:
    return raw.with_suffix(".usage.json")


def load_runs(raw: Path) -> list[dict[str, Any]]:
    """The generation runs recorded for ``raw`` (none when the usage file is missing or unreadable)."""
    try:
        runs = json.loads(usage_path(raw).read_text(encoding="utf-8")).get("runs", [])
    except (OSError, json.JSONDecodeError, AttributeError):
        return []
    return runs if isinstance(runs, list) else []


class LLMProvider:
    """What the LLM providers share; each one adds ``generate``."""

    name: str
    resumable = True  # rows are appended as they arrive; a rerun fills the shortfall

    def fingerprint(self, blueprint: Blueprint, task: TaskSpec) -> str:
        model = blueprint.generate.get(self.name, {}).get("model") or blueprint.generate.get("model")
        return f"{self.name}:{model}"


def usage_markdown(raw: Path) -> str:
    """The generation runs behind ``raw``, as a quality-report section ("" when none were LLM runs)."""
    runs = load_runs(raw)
    if not runs:
        return ""
    lines = [
        "",
        "## Generation",
        "",
        "| run | provider | model | new rows | requests | failed requests | invalid items | duplicates | tokens |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        outcomes = run.get("outcomes", {})
        failed = sum(n for k, n in outcomes.items() if k != "ok")
        lines.append(
            f"| {run.get('run_id')} | {run.get('provider')} | {run.get('model')} "
            f"| {run.get('rows_after', 0) - run.get('rows_before', 0)} | {run.get('requests')} | {failed} "
            f"| {sum(run.get('items_rejected', {}).values())} | {run.get('duplicates')} "
            f"| {run.get('input_tokens', 0) + run.get('output_tokens', 0):,} |"
        )
    rejected: Counter = Counter()
    for run in runs:
        rejected.update(run.get("items_rejected", {}))
    if rejected:
        lines += ["", "| invalid item | count |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in rejected.most_common()]
    return "\n".join(lines) + "\n"
