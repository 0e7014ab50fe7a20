"""Data providers: where the rows of datasets/raw come from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from ..blueprint import Blueprint, TaskSpec

Row = dict[str, Any]


class Provider(Protocol):
    name: str

    def fingerprint(self, blueprint: Blueprint, task: TaskSpec) -> str:
        """Identifies what the provider would produce; a change means stale raw data."""
        ...

    def generate(self, blueprint: Blueprint, task: TaskSpec, rows: int, seed: int) -> Iterator[list[Row]]:
        """Batches of candidate rows (validated later by the refiner)."""
        ...


class ProviderError(RuntimeError):
    """A provider cannot produce data for a task."""


def get_provider(name: str) -> Provider:
    from .offline import OfflineProvider

    providers: dict[str, type] = {"offline": OfflineProvider}
    if name not in providers:
        raise ProviderError(f"unknown provider {name!r}; available: {', '.join(providers)}")
    return providers[name]()
