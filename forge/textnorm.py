"""Text normalization for data cleaning (not for features: those follow the bundle's table)."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFC, whitespace runs to one space, trimmed; the text otherwise as written."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def dedupe_key(text: str) -> str:
    """Texts equal under this key are duplicates (case, width and spacing ignored)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
