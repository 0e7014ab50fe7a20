"""`forge new`: a working blueprint to start from, for either kind.

The files under classification/ and tagging/ are copied into
blueprints/NAME/; ``$name`` in the ``.tmpl`` files becomes the blueprint name,
which is also the name of its one task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ..blueprint import KINDS, BlueprintError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class _File:
    source: str
    target: str  # relative to the new blueprint folder; may hold $name


_LAYOUT = {
    "classification": (
        _File("blueprint.toml.tmpl", "blueprint.toml"),
        _File("constitution.md.tmpl", "constitution/$name.md"),
        _File("offline.jsonl", "offline/$name.jsonl"),
    ),
    "tagging": (
        _File("blueprint.toml.tmpl", "blueprint.toml"),
        _File("constitution.md.tmpl", "constitution/$name.md"),
        _File("grammar.json", "offline/$name.grammar.json"),
    ),
}


def new_blueprint(blueprints_dir: Path, name: str, kind: str) -> list[Path]:
    """Write blueprints/NAME/ for ``kind``; refuses to touch an existing folder."""
    if kind not in KINDS:
        raise BlueprintError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    if not _NAME.match(name):
        raise BlueprintError(
            f"blueprint name {name!r}: use lower-case letters, digits and underscores, starting with a letter"
        )
    folder = blueprints_dir / name
    if folder.exists():
        raise BlueprintError(f"{folder} already exists")
    written = []
    for item in _LAYOUT[kind]:
        text = (_HERE / kind / item.source).read_text(encoding="utf-8")
        if item.source.endswith(".tmpl"):
            text = Template(text).safe_substitute(name=name)
        target = folder / Template(item.target).substitute(name=name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
