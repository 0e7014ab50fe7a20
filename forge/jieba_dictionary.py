"""jieba's dictionary (MIT): its words with their corpus counts and part-of-speech tags.

Read as a file: importing jieba would load its segmenter, which nothing here needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path


class JiebaMissingError(RuntimeError):
    """jieba is not installed."""


def dictionary_path() -> Path:
    spec = find_spec("jieba")
    if spec is None or spec.origin is None:
        raise JiebaMissingError("jieba's dictionary needs the jieba package (pip install jieba)")
    return Path(spec.origin).with_name("dict.txt")


def entries() -> Iterator[tuple[str, int, str]]:
    """(word, count, tag) for every well-formed line, in the file's order."""
    with dictionary_path().open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                yield parts[0], int(parts[1]), parts[2]
