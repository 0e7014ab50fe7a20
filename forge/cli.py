"""The forge command line: build, chat, blueprints."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .blueprint import BlueprintError, discover, load_blueprint
from .cli_app import new_app, version_option
from .console import console
from .files import DataFileError
from .names import UnsafeNameError
from .pipeline import STEPS, BuildOptions, build, parse_overrides, parse_steps
from .providers import ProviderError
from .trainers import TrainerError
from .workspace import Workspace

app = new_app()
VersionOption = version_option("forge")


@app.callback()
def _root(
    version: VersionOption = False,
) -> None:
    """Forge micro-models: blueprint -> data -> trained model -> ONNX bundle -> verified."""


RootOption = Annotated[
    Path,
    typer.Option("--root", help="Workspace holding blueprints/, datasets/, build/ and models/.", show_default="."),
]


@app.command("build")
def build_command(
    blueprint: Annotated[str, typer.Option("--blueprint", "-b", help="Blueprint folder name under blueprints/.")],
    steps: Annotated[str, typer.Option("--steps", help=f"Comma-separated subset of: {','.join(STEPS)}.")] = ",".join(
        STEPS
    ),
    task: Annotated[str | None, typer.Option("--task", "-t", help="Build only this task.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="Train from an existing JSONL dataset instead of generating: a folder with train.jsonl "
            '(and dev.jsonl, test.jsonl) or one .jsonl file to split. Rows: {"text", "label"} for classifiers, '
            '{"tokens", "tags"} (BIO) or {"text", "spans"} for taggers.',
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help=escape(
                "Data provider: offline, gemini or openai. Default: the blueprint's [generate] provider, "
                "else gemini when GEMINI_API_KEYS is set (environment or .env), else offline."
            ),
        ),
    ] = None,
    rows: Annotated[
        int | None, typer.Option("--rows", min=1, help="Rows to generate per task (default: the blueprint's).")
    ] = None,
    regenerate: Annotated[
        bool, typer.Option("--regenerate", help="Generate data anew even if datasets/raw has it.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help=escape("Override a [train] hyperparameter for this build, e.g. --set hidden_dim=128.")
        ),
    ] = None,
    root: RootOption = Path("."),
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print one JSON document on stdout: per task the bundle, its bytes, test metrics, "
            "verification and real-text results (progress stays on stderr).",
        ),
    ] = False,
) -> None:
    """Run the pipeline (generate, refine, train, export, verify) for a blueprint's tasks."""
    from .build_summary import build_summary, failure

    workspace = Workspace(root.resolve())
    try:
        bp = load_blueprint(blueprint, workspace.blueprints)
        options = BuildOptions(
            steps=parse_steps(steps),
            task=task,
            data=data.resolve() if data else None,
            provider=provider,
            regenerate=regenerate,
            rows=rows,
            train_overrides=parse_overrides(overrides or []),
        )
        contexts = build(bp, workspace, options)
    except (BlueprintError, DataFileError, ProviderError, TrainerError, UnsafeNameError) as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        if as_json:
            _print_json(failure(blueprint, str(exc)))
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        # Generated rows are already on disk (fsynced per answer); the next build resumes from them.
        console.print("[bold yellow]interrupted:[/] rows generated so far are kept; run the same command to resume")
        console.file.flush()
        # Exit now: joining request threads could wait a whole timeout, or forever if the
        # interrupt left a future's lock held; nothing is left to write.
        os._exit(130)
    if as_json:
        _print_json(build_summary(blueprint, options.steps, contexts))
    elif "verify" in options.steps:
        _show_examples(contexts)


def _print_json(document: object) -> None:
    """One JSON document on stdout, untouched by rich (which writes to stderr)."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _show_examples(contexts: list) -> None:
    import cerebellum

    for ctx in contexts:
        examples = list(ctx.task.canaries) or []
        if not examples:
            continue
        model = cerebellum.load(ctx.model_dir)
        table = Table(title=escape(f"{ctx.task.name}: {ctx.model_dir}"), title_justify="left")
        table.add_column("text")
        table.add_column("label", style="bold green")
        table.add_column("score", justify="right")
        if isinstance(model, cerebellum.TextTagger):
            table.columns[1].header, table.columns[2].header = "entities", "offsets"
            for text in examples:
                found = model.tag(text)
                table.add_row(
                    escape(text),
                    escape(", ".join(f"{e.type}:{e.text}" for e in found)) or "-",
                    " ".join(f"{e.start}-{e.end}" for e in found),
                )
        else:
            for text in examples:
                result = model.classify(text)
                table.add_row(escape(text), escape(result.label), f"{result.scores[result.label]:.3f}")
        console.print(table)


@app.command("chat")
def chat_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="A bundle folder, e.g. models/is_question.")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Read lines until end of input and print one JSON object per line: text, then label, scores "
            "and defer (classifiers) or entities (taggers).",
        ),
    ] = False,
) -> None:
    """Talk to a bundle: type lines and see labels and scores.

    Piped input gets exactly one line out per line in (a blank line gets an empty result): the label (or
    entities), the scores and the text, tab-separated, with tabs, line breaks and backslashes in the text
    escaped as \\t, \\n and \\\\.
    """
    import cerebellum

    from .chat import run_chat

    try:
        raise typer.Exit(run_chat(model, as_json=as_json))
    except cerebellum.CerebellumError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


@app.command(
    "evaluate",
    help=escape("Score a bundle on labelled files of real text (what a blueprint's [[tasks.NAME.realtext]] runs)."),
)
def evaluate_command(
    model: Annotated[Path, typer.Option("--model", "-m", help="A bundle folder, e.g. models/is_question.")],
    files: Annotated[
        list[Path],
        typer.Argument(help='Labelled JSONL files: {"text", "label"} for classifiers, {"tokens", "tags"} for taggers.'),
    ],
    label_map: Annotated[
        list[str] | None,
        typer.Option("--map", help="FILE_LABEL=MODEL_LABEL, e.g. --map name=PERS (repeatable)."),
    ] = None,
    strip_trailing: Annotated[
        str, typer.Option("--strip-trailing", help='Characters cut from the end of every text, e.g. "?".')
    ] = "",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Score only the first N rows.")] = None,
    skip: Annotated[int, typer.Option("--skip", min=0, help="Pass over the first N rows (before --limit).")] = 0,
) -> None:
    import cerebellum

    from .realtext import RealTextCheck, run_check, summary_line

    mapping = {}
    for item in label_map or []:
        source, sep, target = item.partition("=")
        if not sep or not source or not target:
            console.print(f"[bold red]error:[/] --map expects FILE_LABEL=MODEL_LABEL, got {escape(repr(item))}")
            raise typer.Exit(2)
        mapping[source] = target
    try:
        bundle = cerebellum.load(model)
    except cerebellum.CerebellumError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    missing = False
    for path in files:
        check = RealTextCheck(path.stem, path.resolve(), mapping, strip_trailing, limit, skip)
        result = run_check(bundle, check)
        missing |= "missing" in result
        console.print(summary_line(result), markup=False)
    raise typer.Exit(1 if missing else 0)


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(help="Name of the new blueprint (and of its first task).")],
    kind: Annotated[str, typer.Option("--kind", help="classification or tagging.")] = "classification",
    root: RootOption = Path("."),
) -> None:
    """Scaffold blueprints/NAME/: a config, a constitution (the LLM prompt) and offline examples that build."""
    from .scaffold import new_blueprint

    workspace = Workspace(root.resolve())
    try:
        written = new_blueprint(workspace.blueprints, name, kind)
    except BlueprintError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for path in written:
        console.print(f"  wrote {path.relative_to(workspace.root)}", markup=False)
    console.print(
        f"Edit the labels, constitution and examples, then: [bold]forge build --blueprint {name}[/] "
        "(offline by default; --provider gemini or openai generates data with an LLM)"
    )


@app.command("blueprints")
def blueprints_command(root: RootOption = Path(".")) -> None:
    """List the blueprints found under blueprints/."""
    workspace = Workspace(root.resolve())
    table = Table("blueprint", "kind", "trainer", "tasks")
    for name in discover(workspace.blueprints):
        try:
            bp = load_blueprint(name, workspace.blueprints)
            table.add_row(escape(name), bp.kind, escape(bp.trainer), ", ".join(bp.tasks))
        except BlueprintError as exc:
            table.add_row(escape(name), "[red]invalid[/]", "", escape(str(exc)))
    console.print(table)


def main() -> None:
    app(prog_name="forge")  # also under `python -m forge`
