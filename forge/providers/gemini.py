"""Gemini through the google-genai SDK: one client per key, structured JSON output.

Keys come from ``GEMINI_API_KEYS`` (comma-separated, environment or .env).
``GEMINI_BASE_URL`` (or ``base_url`` under ``[generate.gemini]``) points the
SDK elsewhere: a proxy, or the fake server the tests run on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

import httpx

try:  # google-genai talks through httpx2 when it is installed, else through httpx
    import httpx2

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _TRANSPORT: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # pragma: no cover - depends on the google-genai version
    _TIMEOUTS, _TRANSPORT = (httpx.TimeoutException,), (httpx.TransportError,)

from . import GenerationJob, ProviderError
from .llm import (
    Completion,
    GenerationSettings,
    LLMGeneration,
    LLMProvider,
    RequestTimeoutError,
    TransientError,
    error_for_status,
    retry_after_seconds,
)
from .prompts import Prompt
from .secrets import GEMINI_KEYS_VARIABLE, ApiKey, parse_keys

DEFAULT_MODEL = "gemini-2.5-flash"


class GeminiBackend:
    name = "gemini"

    def __init__(self, settings: GenerationSettings, base_url: str | None) -> None:
        self.settings = settings
        self.base_url = base_url

    def make_client(self, key: ApiKey | None) -> Any:
        from google import genai
        from google.genai import types

        assert key is not None
        options = types.HttpOptions(
            timeout=int(self.settings.timeout * 1000),  # milliseconds
            base_url=self.base_url,
            retry_options=None,  # the engine retries, per key, with its own backoff
        )
        return genai.Client(api_key=key.value, http_options=options)

    def complete(self, client: Any, prompt: Prompt, schema: dict[str, Any]) -> Completion:
        from google.genai import errors, types

        config = types.GenerateContentConfig(
            system_instruction=prompt.system,
            response_mime_type="application/json",
            response_json_schema=schema,
            temperature=self.settings.temperature,
            candidate_count=1,
        )
        try:
            response = client.models.generate_content(model=self.settings.model, contents=prompt.user, config=config)
        except errors.APIError as exc:
            raise _mapped(exc) from None
        except _TIMEOUTS:
            raise RequestTimeoutError(f"request timed out after {self.settings.timeout:g}s") from None
        except _TRANSPORT as exc:
            raise TransientError(f"connection failed: {type(exc).__name__}") from None
        usage = response.usage_metadata
        return Completion(
            text=response.text or "",
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=(usage.candidates_token_count or 0) if usage else 0,
        )


def _mapped(exc: Any) -> Exception:
    code, status, message = exc.code, exc.status or "", exc.message or ""
    headers = getattr(exc.response, "headers", None)
    # Google answers an unknown key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    invalid_key = "API_KEY_INVALID" in str(exc.details) or "API key not valid" in message
    return error_for_status(code, f"{code} {status}: {message}", retry_after_seconds(headers, exc.details), invalid_key)


class GeminiProvider(LLMProvider):
    name = "gemini"

    def generate(self, job: GenerationJob) -> str:
        keys = parse_keys(job.env.get(GEMINI_KEYS_VARIABLE))
        if not keys:
            raise ProviderError(
                f"provider 'gemini' needs {GEMINI_KEYS_VARIABLE} (comma-separated keys) in the environment "
                "or in .env at the workspace root"
            )
        model = job.env.get("GEMINI_MODEL")
        settings = GenerationSettings.from_blueprint(job.blueprint, self.name, DEFAULT_MODEL, model)
        base_url = job.env.get("GEMINI_BASE_URL") or job.blueprint.generate.get("gemini", {}).get("base_url")
        report = LLMGeneration(job, GeminiBackend(settings, base_url), list(keys), settings).run()
        return f"{report.summary()}; {len(keys)} key(s), model {settings.model}"
