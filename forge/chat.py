"""`forge chat`: talk to a bundle, a line at a time, or classify piped lines."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.text import Text

import cerebellum


def describe(model: cerebellum.Model, text: str) -> Text:
    if isinstance(model, cerebellum.TextTagger):
        return describe_entities(model, text)
    result = model.classify(text)
    line = Text()
    line.append(f"{result.label}", style="bold yellow" if result.defer else "bold green")
    if result.defer:
        line.append("  deferred: not sure enough, hand it on", style="yellow")
    for label, score in result.scores.items():
        line.append(f"  {label} {score:.3f}", style="dim" if label != result.label else "")
    return line


STYLES = ["bold magenta", "bold cyan", "bold yellow", "bold green", "bold blue", "bold red"]


def describe_entities(model: cerebellum.TextTagger, text: str) -> Text:
    entities = model.tag(text)
    line = Text()
    cursor = 0
    for e in entities:
        style = STYLES[model.entity_types.index(e.type) % len(STYLES)]
        line.append(text[cursor : e.start])
        line.append(f"[{e.text}]", style=style)
        line.append(e.type, style=f"{style} dim")
        cursor = e.end
    line.append(text[cursor:])
    if not entities:
        line.append("   (no entities)", style="dim")
    return line


def plain(model: cerebellum.Model, text: str) -> str:
    if isinstance(model, cerebellum.TextTagger):
        found = " ".join(f"{e.type}:{e.text}@{e.start}-{e.end}" for e in model.tag(text))
        return f"{found or '-'}\t{text}"
    result = model.classify(text)
    scores = " ".join(f"{label}={score:.4f}" for label, score in result.scores.items())
    return f"{result.label}{' (defer)' if result.defer else ''}\t{scores}\t{text}"


def run_chat(model_dir: Path, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout  # looked up per call: tests swap them
    model = cerebellum.load(model_dir)
    if not stdin.isatty():
        for line in stdin:
            text = line.rstrip("\n")
            if text.strip():
                stdout.write(plain(model, text) + "\n")
        return 0
    console = Console()
    kinds = model.entity_types if isinstance(model, cerebellum.TextTagger) else model.labels
    console.print(f"[bold]{model.task}[/] ({', '.join(kinds)}). Type a line; Ctrl-D or an empty line quits.")
    while True:
        try:
            text = console.input("[cyan]> [/]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return 0
        if not text.strip():
            return 0
        console.print(describe(model, text))
