"""What the `forge` and `conformance` commands promise their users and their scripts.

Literal brackets in help and errors, one-line errors for bad data, a refine
that keeps nothing stops there, --version, --json, one chat line out per line
in, `python -m forge`, and one CLI library (typer) for both commands.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conformance import cli as conformance_cli
from forge import trainers
from forge.cli import app
from forge.files import DataFileError, read_jsonl

from .conftest import REPO, write_tiny_blueprint, write_tiny_tagger_blueprint

runner = CliRunner()


def _flat(text: str) -> str:
    """Help text without rich's box drawing and line wrapping, for phrase checks."""
    return " ".join(text.replace("│", " ").split())


# -- 1. brackets are text, not rich markup ---------------------------------------


def test_help_texts_keep_their_brackets() -> None:
    build_help = _flat(runner.invoke(app, ["build", "--help"]).output)
    assert "the blueprint's [generate] provider" in build_help
    assert "Override a [train] hyperparameter" in build_help
    assert "[[tasks.NAME.realtext]]" in _flat(runner.invoke(app, ["evaluate", "--help"]).output)


def test_the_torch_hint_keeps_its_brackets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tiny_tagger_blueprint(tmp_path)
    # The tagging trainer's module cannot be imported, as when torch is not installed.
    monkeypatch.setitem(trainers.TRAINERS, "bilstm_crf", "forge.trainers._not_installed")
    result = runner.invoke(app, ["build", "-b", "tiny_tagger", "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert "pip install 'model-foundry[tagging]'" in result.output


def test_an_invalid_blueprint_listed_keeps_the_brackets_of_its_error(tmp_path: Path) -> None:
    directory = write_tiny_blueprint(tmp_path)
    config = directory / "blueprint.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("dev = 0.2", "dev = 0.9"), encoding="utf-8")
    result = runner.invoke(app, ["blueprints", "--root", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "invalid" in result.output
    assert "[split]:" in result.output, result.output  # rich markup would swallow "[split]"


# -- 2. a data file that is not UTF-8 --------------------------------------------


def test_a_non_utf8_byte_in_data_is_a_one_line_error_naming_file_and_line(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    data = tmp_path / "latin1.jsonl"
    good = b'{"text": "when is dinner?", "label": "Question"}\n'
    data.write_bytes(good * 2 + '{"text": "caf\u00e9 is open", "label": "Statement"}\n'.encode("latin-1") + good)
    result = runner.invoke(app, ["build", "-b", "tiny", "-t", "tiny", "--data", str(data), "--root", str(tmp_path)])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # an error message, not a traceback
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {data}:3: not valid UTF-8 (byte 0xe9")
    with pytest.raises(DataFileError, match=r"latin1\.jsonl:3: not valid UTF-8"):
        read_jsonl(data)


# -- 3. a refine that keeps nothing ------------------------------------------------


def test_a_refine_that_keeps_no_rows_stops_and_says_why(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    data = tmp_path / "other_labels.jsonl"
    rows = [{"text": f"row number {i}", "label": "Greeting" if i % 2 else "Farewell"} for i in range(20)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ["build", "-b", "tiny", "-t", "tiny", "--data", str(data), "--steps", "refine", "--root", str(tmp_path)]
    result = runner.invoke(app, args, env={"COLUMNS": "500"})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "task 'tiny': refine left no rows to train on: all 20 rows read from" in result.output
    assert "10 unknown label 'Greeting'" in result.output and "10 unknown label 'Farewell'" in result.output


def test_a_refine_whose_given_train_split_is_all_dropped_stops(tmp_path: Path) -> None:
    write_tiny_blueprint(tmp_path)
    data = tmp_path / "splits"
    data.mkdir()
    (data / "train.jsonl").write_text('{"text": "hello", "label": "Greeting"}\n', encoding="utf-8")
    (data / "test.jsonl").write_text('{"text": "when is dinner?", "label": "Question"}\n', encoding="utf-8")
    args = ["build", "-b", "tiny", "-t", "tiny", "--data", str(data), "--steps", "refine", "--root", str(tmp_path)]
    result = runner.invoke(app, args, env={"COLUMNS": "500"})
    assert result.exit_code == 1
    assert "none of the 1 rows kept (of 2 read from" in result.output and "1 unknown label 'Greeting'" in result.output


# -- 4. --version ----------------------------------------------------------------


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    expected = importlib.metadata.version("model-foundry")  # tests/test_version.py: equal to the VERSION file
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"forge {expected}\n"
    assert conformance_cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"conformance {expected}\n"


# -- 5. --json -------------------------------------------------------------------


def test_build_json_is_one_document_on_stdout(tiny_workspace: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(tiny_workspace, tmp_path / "workspace"))
    blueprint = root / "blueprints" / "tiny"
    (blueprint / "real.jsonl").write_text(
        '{"text": "when is the train?", "label": "Question"}\n{"text": "cancel dinner", "label": "Statement"}\n',
        encoding="utf-8",
    )
    with (blueprint / "blueprint.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[tasks.tiny.realtext]]\npath = "real.jsonl"\n')
    result = runner.invoke(app, ["build", "-b", "tiny", "--steps", "verify", "--json", "--root", str(root)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # the whole of stdout, and nothing else
    assert document["ok"] and document["blueprint"] == "tiny" and document["steps"] == ["verify"]
    (task,) = document["tasks"]
    bundle = root / "models" / "tiny"
    assert task["task"] == "tiny" and task["bundle"] == str(bundle)
    assert task["bundle_bytes"] == sum((bundle / f).stat().st_size for f in ("model.onnx", "preprocessor.bin"))
    assert task["metrics"]["test"]["accuracy"] > 0.9 and 0 < task["metrics"]["test"]["macro_f1"] <= 1
    assert task["verify"]["rows"] > 0 and task["verify"]["latency"]["p50_us"] > 0
    (real,) = task["realtext"]
    assert real["name"] == "real" and real["rows"] == 2
    assert "verify:" in result.stderr and "verify:" not in result.stdout  # progress stays on stderr


def test_build_json_reports_an_error_as_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "-b", "nope", "--json", "--root", str(tmp_path)])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and "no blueprint 'nope'" in document["error"]


def test_chat_json_gives_one_object_per_line(tiny_bundle: Path) -> None:
    lines = ["when is dinner?", "", "turn\ton the lights"]
    result = runner.invoke(app, ["chat", "-m", str(tiny_bundle), "--json"], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == lines
    assert records[0]["label"] == "Question" and set(records[0]["scores"]) == {"Question", "Statement"}
    assert records[0]["defer"] is False and abs(sum(records[0]["scores"].values()) - 1) < 1e-5
    assert records[1] == {"text": "", "label": None, "scores": {}, "defer": False}
    assert records[2]["label"] == "Statement"


def test_chat_json_of_a_tagger_lists_entities(tiny_tagger_workspace: Path) -> None:
    model = tiny_tagger_workspace / "models" / "tiny_ner"
    result = runner.invoke(app, ["chat", "-m", str(model), "--json"], input="帮我约王总\n\n")
    assert result.exit_code == 0, result.output
    first, blank = (json.loads(line) for line in result.stdout.splitlines())
    assert first == {"text": "帮我约王总", "entities": [{"type": "PERS", "text": "王总", "start": 3, "end": 5}]}
    assert blank == {"text": "", "entities": []}


# -- 6. piped chat: one line out per line in ------------------------------------


def test_piped_chat_gives_one_escaped_line_per_input_line(tiny_bundle: Path) -> None:
    lines = ["when is dinner?", "", "   ", "turn\ton the lights", "a back\\slash", "two\u2028lines"]
    result = runner.invoke(app, ["chat", "-m", str(tiny_bundle)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert len(out) == len(lines)
    fields = [line.split("\t") for line in out]
    assert all(len(f) == 3 for f in fields)  # label, scores, text: a tab in the text cannot add a field
    assert [f[2] for f in fields] == [
        "when is dinner?",
        "",
        "   ",
        "turn\\ton the lights",
        "a back\\\\slash",
        "two\\u2028lines",
    ]
    assert fields[1][:2] == fields[2][:2] == ["-", ""]  # blank lines: an empty result
    assert fields[0][0] == "Question" and fields[3][0] == "Statement"


def test_piped_chat_of_a_tagger_keeps_blank_lines(tiny_tagger_workspace: Path) -> None:
    model = tiny_tagger_workspace / "models" / "tiny_ner"
    result = runner.invoke(app, ["chat", "-m", str(model)], input="帮我约王总\n\n约\t王总\n")
    assert result.exit_code == 0, result.output
    out = result.stdout.splitlines()
    assert out[:2] == ["PERS:王总@3-5\t帮我约王总", "-\t"]
    assert len(out) == 3 and out[2].endswith("\t约\\t王总") and out[2].count("\t") == 1


# -- 7. python -m ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["forge", "conformance"])
def test_python_dash_m_runs_the_command(command: str) -> None:
    paths = [str(REPO), str(REPO / "runtimes" / "python"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    done = subprocess.run([sys.executable, "-m", command, "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{command} {importlib.metadata.version('model-foundry')}\n"
    done = subprocess.run([sys.executable, "-m", command, "--help"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and f"Usage: {command} " in done.stdout


# -- 8. conformance on typer -----------------------------------------------------


def _documented_conformance_commands() -> list[list[str]]:
    """Every `conformance run|export|fuzz ...` line of the Makefile and the README, as argument lists."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = []
    for text in (makefile, readme):
        for match in re.finditer(r"(?:^|[\s/])conformance ((?:run|export|fuzz)\b[^\n]*)", text):
            line = re.sub(r"\$\((\w+)\)", "1", match.group(1))  # make variables: all are counts or paths
            found.append(shlex.split(line, comments=True))
    return found


def test_conformance_is_a_typer_app_that_parses_every_documented_command() -> None:
    commands = _documented_conformance_commands()
    assert {c[0] for c in commands} == {"run", "export", "fuzz"} and len(commands) >= 8
    group = typer.main.get_command(conformance_cli.app)
    for args in commands:
        context = group.make_context("conformance", list(args), resilient_parsing=False)
        subcommand = group.get_command(context, args[0])
        assert subcommand is not None, args
        subcommand.make_context(args[0], list(args[1:]), parent=context)  # raises on an unknown option


def test_conformance_keeps_its_defaults_and_error_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert conformance_cli.main(["run", "--models", str(tmp_path), "--runtime", "python"]) == 2
    assert "error: no bundles (folders with preprocessor.bin) under" in capsys.readouterr().err
    assert conformance_cli.main(["run", "--models", str(tmp_path), "--runtime", "no-such-runtime"]) == 2
    assert conformance_cli.main(["run", "--models", str(tmp_path)]) == 2  # --runtime is required
    result = runner.invoke(conformance_cli.app, ["run", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert "[default: 2000]" in result.output and "rust-testee" in result.output
    result = runner.invoke(conformance_cli.app, ["export", "--help"], env={"COLUMNS": "300"})
    assert "[default: 300]" in result.output and "[default: models]" in result.output
    result = runner.invoke(conformance_cli.app, ["fuzz", "--help"], env={"COLUMNS": "300"})
    assert "[default: 10000]" in result.output and "python|rust|c-abi" in result.output


def test_rust_testee_outside_a_source_checkout_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an installed package: no Cargo workspace around conformance/
    from conformance import runtimes

    monkeypatch.setattr(runtimes, "REPO", tmp_path)
    code = conformance_cli.main(
        ["run", "--models", str(tiny_bundle.parent), "--runtime", "rust-testee", "--examples", "3", "--no-save"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "source checkout" in err and "--testee-command" in err and "Traceback" not in err
