"""Any OpenAI-compatible chat-completions server: llama.cpp, vLLM, Ollama, or a hosted API.

``OPENAI_BASE_URL`` (or ``base_url`` under ``[generate.openai]``) names the
server, ``OPENAI_MODEL`` (or ``model``) the model; ``OPENAI_API_KEY`` is sent
as a bearer token when set (local servers usually need none).
"""

from __future__ import annotations

from typing import Any

import httpx

from . import GenerationJob
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
from .secrets import ApiKey, parse_keys

DEFAULT_BASE_URL = "http://127.0.0.1:8080/v1"  # llama.cpp's server; Ollama: http://127.0.0.1:11434/v1
DEFAULT_MODEL = "local-model"


class OpenAIBackend:
    name = "openai"

    def __init__(self, settings: GenerationSettings, base_url: str) -> None:
        self.settings = settings
        self.base_url = base_url.rstrip("/")

    def make_client(self, key: ApiKey | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key.value}"} if key is not None else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=self.settings.timeout)

    def complete(self, client: httpx.Client, prompt: Prompt, schema: dict[str, Any]) -> Completion:
        body = {
            "model": self.settings.model,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
            "temperature": self.settings.temperature,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "training_items", "schema": schema, "strict": True},
            },
        }
        try:
            response = client.post("/chat/completions", json=body)
        except httpx.TimeoutException:
            raise RequestTimeoutError(f"request timed out after {self.settings.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise TransientError(f"connection to {self.base_url} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise _mapped(response)
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            # A body that is not a chat completion: the answer is lost, so count it as malformed.
            return Completion(text="")
        usage = payload.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or 0),
            output_tokens=int(usage.get("completion_tokens") or 0),
        )


def _mapped(response: httpx.Response) -> Exception:
    code = response.status_code
    try:
        details = response.json()
    except ValueError:
        details = {}
    error = details.get("error") if isinstance(details, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or response.reason_phrase
    return error_for_status(code, f"{code}: {message}", retry_after_seconds(response.headers, details))


class OpenAIProvider(LLMProvider):
    name = "openai"

    def generate(self, job: GenerationJob) -> str:
        section = job.blueprint.generate.get("openai", {})
        base_url = job.env.get("OPENAI_BASE_URL") or section.get("base_url") or DEFAULT_BASE_URL
        model = job.env.get("OPENAI_MODEL")
        settings = GenerationSettings.from_blueprint(job.blueprint, self.name, DEFAULT_MODEL, model)
        keys: list[ApiKey | None] = list(parse_keys(job.env.get("OPENAI_API_KEY"))) or [None]
        report = LLMGeneration(job, OpenAIBackend(settings, base_url), keys, settings).run()
        return f"{report.summary()}; model {settings.model} at {base_url}"
