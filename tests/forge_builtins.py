"""The built-in blueprints, forged offline for the test suite.

Forging them takes minutes, so `make test` runs this module beside the Rust
builds (`python -m tests.forge_builtins FOLDER`) and points the session fixtures at FOLDER
through MF_PREFORGED. A fixture takes a forged workspace only when it finished and its copy
of the blueprint is byte-identical to the repository's; otherwise it forges its own.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLUEPRINTS = ("text_classification", "sentiment_analysis", "sequence_tagging_ner")
PREFORGED_ENV = "MF_PREFORGED"
FINISHED = ".forged"


def forge_into(root: Path, blueprint: str) -> Path:
    """Copy the built-in blueprint into the empty workspace ``root`` and forge it offline."""
    from forge.blueprint import load_blueprint
    from forge.pipeline import BuildOptions, build
    from forge.workspace import Workspace

    shutil.copytree(REPO / "blueprints" / blueprint, root / "blueprints" / blueprint)
    workspace = Workspace(root)
    build(load_blueprint(blueprint, workspace.blueprints), workspace, BuildOptions(provider="offline"))
    (root / FINISHED).touch()
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def preforged(blueprint: str) -> Path | None:
    """The workspace forged ahead of the session for ``blueprint``, if it is there and current."""
    folder = os.environ.get(PREFORGED_ENV)
    if not folder:
        return None
    root = Path(folder) / blueprint
    if not (root / FINISHED).is_file():
        return None
    if _files(root / "blueprints" / blueprint) != _files(REPO / "blueprints" / blueprint):
        return None
    return root


def _forge_afresh(folder: Path, blueprint: str) -> None:
    root = folder / blueprint
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    forge_into(root, blueprint)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.forge_builtins FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    # The tagger trains for minutes on about one core: it starts first, and the
    # classifiers forge one after the other beside it.
    slowest_first = sorted(BLUEPRINTS, key=lambda b: b != "sequence_tagging_ner")
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in [pool.submit(_forge_afresh, folder, blueprint) for blueprint in slowest_first]:
            done.result()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
