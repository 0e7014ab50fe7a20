"""Data providers: where the rows of datasets/raw come from.

``offline`` (the default) expands the blueprint's curated examples. ``gemini``
and ``openai`` (any OpenAI-compatible server: llama.cpp, vLLM, Ollama) ask an
LLM, guided by the blueprint's constitution; see llm.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..blueprint import Blueprint, TaskSpec
from .secrets import GEMINI_KEYS_VARIABLE

PROVIDERS = ("offline", "gemini", "openai")


class ProviderError(RuntimeError):
    """A provider cannot produce data for a task."""


@dataclass(frozen=True)
class GenerationJob:
    blueprint: Blueprint
    task: TaskSpec
    rows: int  # how many valid rows datasets/raw should hold
    seed: int
    raw: Path  # datasets/raw/<task>.jsonl
    env: Mapping[str, str]  # the environment over the workspace's .env


class Provider(Protocol):
    name: str
    resumable: bool  # True: rows are appended as they arrive and a rerun fills the shortfall

    def fingerprint(self, blueprint: Blueprint, task: TaskSpec) -> str:
        """Identifies what the provider would produce; a change means stale raw data."""
        ...

    def generate(self, job: GenerationJob) -> str:
        """Write ``job.raw``; return a one-line summary."""
        ...


def default_provider(env: Mapping[str, str]) -> str:
    return "gemini" if env.get(GEMINI_KEYS_VARIABLE, "").strip() else "offline"


def get_provider(name: str) -> Provider:
    if name == "offline":
        from .offline import OfflineProvider

        return OfflineProvider()
    if name == "gemini":
        from .gemini import GeminiProvider

        return GeminiProvider()
    if name == "openai":
        from .openai_compat import OpenAIProvider

        return OpenAIProvider()
    raise ProviderError(f"unknown provider {name!r}; available: {', '.join(PROVIDERS)}")
