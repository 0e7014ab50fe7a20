"""`forge chat`: talk to a bundle, a line at a time, or classify piped lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
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


# Backslash, tab, and every character str.splitlines() breaks a line at: escaped, an
# echoed text keeps its record on one line and its fields apart.
_ONE_LINE = str.maketrans(
    {
        "\\": "\\\\",
        "\t": "\\t",
        "\n": "\\n",
        "\r": "\\r",
        **{ch: f"\\x{ord(ch):02x}" for ch in "\x0b\x0c\x1c\x1d\x1e\x85"},
        **{ch: f"\\u{ord(ch):04x}" for ch in "\u2028\u2029"},
    }
)
# json.dumps(ensure_ascii=False) leaves these raw; they are line breaks to str.splitlines().
_JSON_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})
NOTHING = "-"  # the result field of a line with no label or no entities


def one_line(text: str) -> str:
    """``text`` as one tab-free line: backslashes, tabs and line breaks become escapes."""
    return text.translate(_ONE_LINE)


def plain(model: cerebellum.Model, text: str) -> str:
    """One tab-separated line: result fields, then the (escaped) text. Blank texts get no result."""
    blank = not text.strip()
    if isinstance(model, cerebellum.TextTagger):
        entities = [] if blank else model.tag(text)
        found = " ".join(one_line(f"{e.type}:{e.text}@{e.start}-{e.end}") for e in entities)
        return f"{found or NOTHING}\t{one_line(text)}"
    if blank:
        return f"{NOTHING}\t\t{one_line(text)}"
    result = model.classify(text)
    scores = " ".join(f"{one_line(label)}={score:.4f}" for label, score in result.scores.items())
    return f"{one_line(result.label)}{' (defer)' if result.defer else ''}\t{scores}\t{one_line(text)}"


def record(model: cerebellum.Model, text: str) -> dict[str, Any]:
    """What ``forge chat --json`` writes for one line; blank texts get an empty result."""
    blank = not text.strip()
    if isinstance(model, cerebellum.TextTagger):
        entities = [] if blank else model.tag(text)
        return {
            "text": text,
            "entities": [{"type": e.type, "text": e.text, "start": e.start, "end": e.end} for e in entities],
        }
    if blank:
        return {"text": text, "label": None, "scores": {}, "defer": False}
    result = model.classify(text)
    scores = {label: float(score) for label, score in result.scores.items()}
    return {"text": text, "label": result.label, "scores": scores, "defer": bool(result.defer)}


def json_line(model: cerebellum.Model, text: str) -> str:
    return json.dumps(record(model, text), ensure_ascii=False).translate(_JSON_LINE_BREAKS)


def run_chat(model_dir: Path, stdin: TextIO | None = None, stdout: TextIO | None = None, as_json: bool = False) -> int:
    """Piped input (or ``as_json``): exactly one line out per line in. A terminal: a conversation."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout  # looked up per call: tests swap them
    model = cerebellum.load(model_dir)
    if as_json or not stdin.isatty():
        answer = json_line if as_json else plain
        for line in stdin:
            stdout.write(answer(model, line.removesuffix("\n")) + "\n")
        return 0
    console = Console()
    kinds = model.entity_types if isinstance(model, cerebellum.TextTagger) else model.labels
    console.print(
        f"[bold]{escape(model.task)}[/] ({escape(', '.join(kinds))}). Type a line; Ctrl-D or an empty line quits."
    )
    while True:
        try:
            text = console.input("[cyan]> [/]")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return 0
        if not text.strip():
            return 0
        console.print(describe(model, text))
