"""`forge chat`: talk to a bundle, a line at a time, or classify piped lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text

import cerebellum


def describe(model: cerebellum.Model, text: str) -> Text:
    result = model.classify(text)
    line = Text()
    line.append(f"{result.label}", style="bold green")
    for label, score in result.scores.items():
        line.append(f"  {label} {score:.3f}", style="dim" if label != result.label else "")
    return line


def plain(model: cerebellum.Model, text: str) -> str:
    result = model.classify(text)
    scores = " ".join(f"{label}={score:.4f}" for label, score in result.scores.items())
    return f"{result.label}\t{scores}\t{text}"


def run_chat(model_dir: Path, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    model = cerebellum.load(model_dir)
    if not stdin.isatty():
        for line in stdin:
            text = line.rstrip("\n")
            if text.strip():
                stdout.write(plain(model, text) + "\n")
        return 0
    console = Console()
    console.print(f"[bold]{model.task}[/] ({', '.join(model.labels)}). Type a line; Ctrl-D or an empty line quits.")
    while True:
        try:
            text = console.input("[cyan]> [/]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return 0
        if not text.strip():
            return 0
        console.print(describe(model, text))
