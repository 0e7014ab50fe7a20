"""API keys from the environment or a ``.env`` file, held so that they never print.

A key's value is only ever handed to an HTTP client. Everything that can
end up in a log line, an exception, a report or a file sees ``key#N``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

GEMINI_KEYS_VARIABLE = "GEMINI_API_KEYS"
_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class ApiKey:
    """One API key; ``str()``/``repr()`` show only its position, never the value."""

    index: int  # 1-based, in the order the keys were given
    value: str = field(repr=False)

    @property
    def name(self) -> str:
        return f"key#{self.index}"

    def __str__(self) -> str:
        return self.name


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a .env file (quotes stripped, ``#`` comments and blank lines skipped)."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        name, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[name] = value
    return values


def environment(root: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over ``root/.env``: a variable set in the shell wins."""
    return {**read_dotenv(root / ".env"), **(os.environ if environ is None else environ)}


def parse_keys(text: str | None) -> list[ApiKey]:
    """Comma-separated keys; blanks and repeats are dropped, order kept."""
    seen: list[str] = []
    for part in (text or "").split(","):
        part = part.strip()
        if part and part not in seen:
            seen.append(part)
    return [ApiKey(i, value) for i, value in enumerate(seen, 1)]


def redact(text: str, keys: Iterable[ApiKey]) -> str:
    """``text`` with every key value replaced by its name (for messages from HTTP libraries)."""
    for key in keys:
        if key.value:
            text = text.replace(key.value, key.name)
    return text
