"""The offline data engine: grammars, augmentation, extra sources and real-text checks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cerebellum
from forge.augment import TRANSFORMS, AugmentConfig, AugmentError, augment_splits, variant
from forge.blueprint import BlueprintError, load_blueprint
from forge.cli import app
from forge.files import read_jsonl
from forge.grammar import GrammarError, collapse_spaces, expand_grammar, load_grammar
from forge.pipeline import BuildOptions, build
from forge.realtext import RealTextCheck, markdown, run_check, summary_line
from forge.textnorm import dedupe_key
from forge.workspace import Workspace

from .conftest import TINY_CONFIG, tiny_rows, write_tiny_blueprint

runner = CliRunner()


def _grammar(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "g.grammar.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return path


# -- grammars ----------------------------------------------------------------


def test_grammar_expands_slots_choices_and_entities(tmp_path: Path) -> None:
    path = _grammar(
        tmp_path,
        {
            "slots": {"time": ["明天", "{下|这}周一"], "PERS_zh": ["王{总|经理}"], "who": ["{PERS_zh}"]},
            "templates": ["{time}约{who}开会", "[PROJ 星火计划]{怎么样|进度如何}{？|}"],
        },
    )
    rows = expand_grammar(load_grammar(path, 1), 40, seed=3)
    texts = {r["text"] for r in rows}
    assert "明天约王总开会" in texts and "下周一约王经理开会" in texts and "星火计划进度如何？" in texts
    assert len(texts) == len(rows)  # distinct
    for row in rows:
        for start, end, kind in row["spans"]:
            assert row["text"][start:end] in {"王总", "王经理", "星火计划"}
            assert kind == ("PROJ" if row["text"][start:end] == "星火计划" else "PERS")
    assert rows == expand_grammar(load_grammar(path, 1), 40, seed=3)  # seeded
    assert rows != expand_grammar(load_grammar(path, 1), 40, seed=4)


def test_classification_grammar_balances_labels_and_collapses_spaces(tmp_path: Path) -> None:
    path = _grammar(
        tmp_path,
        {
            "slots": {"thing": ["the lights", "the fan", "music", "the TV", "the radio"]},
            "templates": {
                "Question": ["{is|are} {thing} on{?|}", "{uh |}what about {thing}"],
                "Statement": ["{please |}turn {on|off} {thing} {now|}"],
            },
        },
    )
    rows = expand_grammar(load_grammar(path, 1), 20, seed=1, labels=("Question", "Statement"))
    assert sum(r["label"] == "Question" for r in rows) == sum(r["label"] == "Statement" for r in rows) == 10
    assert all("  " not in r["text"] and r["text"] == r["text"].strip() for r in rows)
    with pytest.raises(GrammarError, match="labels"):
        expand_grammar(load_grammar(path, 1), 4, seed=1, labels=("Yes", "No"))


def test_grammar_rejects_names_that_are_words(tmp_path: Path) -> None:
    """A slot listed under "reject" never comes out as one of the rejected words (明天 is not a person)."""
    spec = {
        "slots": {
            "sur": ["明", "高", "林"],
            "given": ["天", "峰", "海", "杰"],
            "name": ["{sur}{given}"],
            "PERS_zh": ["{name}"],
        },
        "templates": ["{今天|昨天|刚才}{PERS_zh}{说|来了|走了}{，|}{name}{也|}在"],
    }
    rows = expand_grammar(load_grammar(_grammar(tmp_path, spec), 1), 30, seed=2)
    assert any(row["text"][s:e] in {"明天", "高峰", "林海"} for row in rows for s, e, _ in row["spans"])
    spec["slots"]["words"] = ["明天", "高峰", "林海"]  # reached through the reject list only
    spec["reject"] = {"name": ["words"]}
    rows = expand_grammar(load_grammar(_grammar(tmp_path, spec), 1), 30, seed=2)
    assert len(rows) == 30
    for row in rows:  # tagged or not, no name is one of the words
        assert len(row["spans"]) == 1 and not any(word in row["text"] for word in ("明天", "高峰", "林海"))
    assert rows == expand_grammar(load_grammar(_grammar(tmp_path, spec), 1), 30, seed=2)  # still seeded
    spec["reject"] = {"name": ["nowhere"]}
    with pytest.raises(GrammarError, match="reject"):
        load_grammar(_grammar(tmp_path, spec), 1)


def test_collapse_spaces_moves_spans() -> None:
    assert collapse_spaces("  ask   Mr. Li  now ", [[8, 14, "PERS"]]) == ("ask Mr. Li now", [[4, 10, "PERS"]])


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"slots": {}, "templates": ["{nope}"]}, "unknown slot"),
        ({"slots": {"a": ["{a}"]}, "templates": ["{a}"]}, "deeper"),
        ({"slots": {}, "templates": ["{open"]}, "never closed"),
        ({"slots": {"a": []}, "templates": ["x"]}, "non-empty"),
        ({"lexicons": {"x": {"source": "web"}}, "templates": ["x"]}, "unknown source"),
        # "wish" is misspelt in the template, so its rows would never be made
        ({"slots": {"wish": ["{b}"], "b": ["y"], "wsh": ["z"]}, "templates": ["{wsh}"]}, "reaches slot\\(s\\) b, wish"),
    ],
)
def test_grammar_errors_are_clear(tmp_path: Path, spec: dict, message: str) -> None:
    with pytest.raises(GrammarError, match=message):
        grammar = load_grammar(_grammar(tmp_path, spec), 1)
        expand_grammar(grammar, 5, seed=1)


def test_lexicons_come_from_faker_and_jieba(tmp_path: Path) -> None:
    path = _grammar(
        tmp_path,
        {
            "lexicons": {
                "surname": {"source": "faker_list", "locale": "zh_CN", "provider": "person", "attribute": "last_names"},
                "en": {"source": "faker", "locale": "en_US", "provider": "first_name", "count": 30},
                "zh": {"source": "jieba", "tags": ["nrfg"], "min_len": 3, "max_len": 3, "count": 50},
            },
            "slots": {"PERS_x": ["{surname}经理", "{en}", "{zh}"]},
            "templates": ["call {PERS_x}"],
        },
    )
    grammar = load_grammar(path, 5)
    assert "王" in [n[0].text for n in grammar.slots["surname"]]
    assert len(grammar.slots["en"]) == 30 and len(grammar.slots["zh"]) == 50
    assert all(len(n[0].text) == 3 for n in grammar.slots["zh"])
    assert [n[0].text for n in load_grammar(path, 5).slots["zh"]] == [n[0].text for n in grammar.slots["zh"]]


# -- augmentation --------------------------------------------------------------

ALL = {name: 1.0 for name in TRANSFORMS}


def test_each_transform_changes_text_and_keeps_entities() -> None:
    row = {"text": "Ask Mr. Johnson about 阿尔法计划 today?", "spans": [[4, 15, "PERS"], [22, 27, "PROJ"]]}
    for name in TRANSFORMS:
        changed = 0
        for seed in range(30):
            made = variant(row, AugmentConfig(1, ("train",), {name: 1.0}), random.Random(seed))
            if made is None:
                continue
            new, applied = made
            changed += 1
            assert applied == [name]
            entities = [new["text"][s:e] for s, e, _ in new["spans"]]
            assert [k for _, _, k in new["spans"]] == ["PERS", "PROJ"]
            # Entities keep their letters; only case, width or script may change.
            assert dedupe_key(entities[0]).replace("\u3000", " ") == "mr. johnson"
            assert len(entities[1]) == 5
        assert changed >= 10, name


def test_transforms_do_what_they_say() -> None:
    def run(name: str, text: str, seed: int = 0) -> str:
        made = variant({"text": text}, AugmentConfig(1, ("train",), {name: 1.0}), random.Random(seed))
        return made[0]["text"] if made else text

    assert run("final_punctuation", "what time is it?") in {
        "what time is it",
        "what time is it.",
        "what time is it!",
        "what time is it~",
    }
    assert run("traditional", "帮我关灯") == "幫我關燈"
    assert run("width", "ok 1", seed=1) in {"ｏｋ\u30001", "ok 1"}
    assert any(
        f in run("fillers", "你今天吃饭了吗", seed)
        for seed in range(5)
        for f in ("嗯", "那个", "就是", "呃", "然后", "这个", "啊", "哎")
    )
    typo = {run("typos", "remember the milk", seed) for seed in range(20)}
    assert all(abs(len(t) - len("remember the milk")) <= 1 for t in typo) and len(typo) > 5


def test_augmentation_is_seeded_and_never_crosses_splits() -> None:
    splits = {
        "train": [{"text": "What time is it?", "label": "Q"}, {"text": "turn on the lights", "label": "S"}],
        "dev": [{"text": "what time is it", "label": "Q"}],  # what the train row becomes without its "?"
        "test": [{"text": "打开灯", "label": "S"}],
    }
    cfg = AugmentConfig(3, ("train",), {"final_punctuation": 1.0, "case": 0.5, "typos": 0.5, "fillers": 0.5})
    out, report = augment_splits(splits, cfg, seed=1)
    again, _ = augment_splits(splits, cfg, seed=1)
    assert out == again
    assert out["dev"] == splits["dev"] and out["test"] == splits["test"]
    other = {dedupe_key(r["text"]) for s in ("dev", "test") for r in splits[s]}
    added = [r for r in out["train"] if r not in splits["train"]]
    assert added and all(dedupe_key(r["text"]) not in other for r in added)
    assert report.dropped["equals a text of another split"] >= 1
    assert report.variants["train"] == len(added)
    lines = "\n".join(report.markdown(cfg, {s: len(out[s]) for s in out}))
    assert "| final_punctuation | 1 |" in lines and f"| train | 2 | {len(added)} |" in lines


def test_augment_config_is_validated() -> None:
    with pytest.raises(AugmentError, match="unknown"):
        AugmentConfig.from_config({"transforms": {"shout": 0.5}}, "[augment]")
    with pytest.raises(AugmentError, match="probability"):
        AugmentConfig.from_config({"transforms": {"case": 2}}, "[augment]")
    with pytest.raises(AugmentError, match="splits"):
        AugmentConfig.from_config({"splits": ["val"]}, "[augment]")


def test_build_reports_augmentation_per_split(tmp_path: Path) -> None:
    config = TINY_CONFIG.replace(
        "[train]", "[augment]\ncopies = 2\n[augment.transforms]\nfinal_punctuation = 1.0\ntypos = 0.5\n\n[train]"
    )
    write_tiny_blueprint(tmp_path, config)
    workspace = Workspace(tmp_path)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions(steps=("generate", "refine")))
    processed = tmp_path / "datasets" / "processed" / "tiny"
    report = (processed / "quality_report.md").read_text(encoding="utf-8")
    assert "## Augmentation" in report and "| typos | 0.5 |" in report
    meta = json.loads((processed / "meta.json").read_text())
    train = read_jsonl(processed / "train.jsonl")
    assert meta["rows"]["train"] == len(train) > 72  # 60% of 120 rows, plus variants
    held_out = {dedupe_key(r["text"]) for s in ("dev", "test") for r in read_jsonl(processed / f"{s}.jsonl")}
    assert not held_out & {dedupe_key(r["text"]) for r in train}


# -- extra sources -------------------------------------------------------------


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_extra_sources_map_labels_cap_weight_and_are_counted(tmp_path: Path) -> None:
    directory = write_tiny_blueprint(tmp_path)
    extra = [{"text": f"ask about item {i}", "label": "q"} for i in range(30)]
    extra += [{"text": f"switch on device {i}", "label": "s"} for i in range(30)]
    extra += [{"text": "how is the weather?", "label": "q"}]  # also a row of the task's own: dropped here
    _jsonl(directory / "offline" / "extra.jsonl", extra)
    config = TINY_CONFIG + (
        '\n[[tasks.tiny.sources]]\nname = "reviews"\npath = "offline/extra.jsonl"\n'
        'label_map = { q = "Question", s = "Statement" }\ncap = 50\nweight = 2\n'
    )
    (directory / "blueprint.toml").write_text(config, encoding="utf-8")
    workspace = Workspace(tmp_path)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions(steps=("generate", "refine")))
    processed = tmp_path / "datasets" / "processed" / "tiny"
    splits = {s: read_jsonl(processed / f"{s}.jsonl") for s in ("train", "dev", "test")}
    from_extra = [r for s in splits.values() for r in s if r.get("source") == "reviews"]
    assert {r["label"] for r in from_extra} == {"Question", "Statement"}
    unique_train = {r["text"] for r in splits["train"] if r.get("source") == "reviews"}
    assert sum(r.get("source") == "reviews" for r in splits["train"]) == 2 * len(unique_train)  # weight 2
    assert len({r["text"] for r in from_extra}) <= 50  # cap
    report = (processed / "quality_report.md").read_text(encoding="utf-8")
    assert "## Rows by source" in report and "| reviews | 50 |" in report and "| generated | 120 |" in report


def test_offline_grammar_weights_share_the_generated_rows(tmp_path: Path) -> None:
    from forge.providers.offline import OfflineProvider, shares

    assert shares(10, [1, 1, 1]) == [4, 3, 3]  # what equal shares always gave: the earlier grammars get the rest
    assert shares(47, [1, 1, 0.25]) == [21, 21, 5] and sum(shares(47, [1, 1, 0.25])) == 47
    assert shares(0, [1, 2]) == [0, 0]
    assert shares(6, [0.1, 1.1]) == [1, 5]  # 0.6 and 5.4 as written, not as binary fractions
    directory = write_tiny_blueprint(tmp_path)
    for name, word in (("a", "lights"), ("b", "fan")):
        spec = {
            "slots": {"n": [str(i) for i in range(400)]},
            "templates": {"Question": [f"is the {word} {{n}} on?"], "Statement": [f"turn on the {word} {{n}}"]},
        }
        (directory / "offline" / f"{name}.grammar.json").write_text(json.dumps(spec), encoding="utf-8")

    total = len(tiny_rows()) + 200  # 200 generated rows: even shares, as labels are balanced within a grammar

    def rows(offline: str) -> list[dict]:
        config = TINY_CONFIG.replace('offline = "offline/tiny.jsonl"', f"offline = {offline}")
        (directory / "blueprint.toml").write_text(config, encoding="utf-8")
        blueprint = load_blueprint("tiny", Workspace(tmp_path).blueprints)
        return OfflineProvider().rows(blueprint, blueprint.tasks["tiny"], total, blueprint.seed)

    plain = rows('["offline/tiny.jsonl", "offline/a.grammar.json", "offline/b.grammar.json"]')
    weighted = rows(
        '["offline/tiny.jsonl", "offline/a.grammar.json", { path = "offline/b.grammar.json", weight = 0.25 }]'
    )
    for got, fan in ((plain, 100), (weighted, 40)):  # 200 x 0.25 / 1.25
        assert len(got) == total and sum("fan" in r["text"] for r in got) == fan
    blueprint = load_blueprint("tiny", Workspace(tmp_path).blueprints)
    fingerprint = OfflineProvider().fingerprint(blueprint, blueprint.tasks["tiny"])
    assert "weight=0.25" in fingerprint  # a new weight makes new rows, so the data is generated again
    plain_fingerprints = []
    for listed in ('"offline/a.grammar.json"', '{ path = "offline/a.grammar.json", weight = 1 }'):
        rows(f"[{listed}]")
        blueprint = load_blueprint("tiny", Workspace(tmp_path).blueprints)
        plain_fingerprints.append(OfflineProvider().fingerprint(blueprint, blueprint.tasks["tiny"]))
    assert plain_fingerprints[0] == plain_fingerprints[1]  # weight 1 is no weight: the rows are the same
    for bad, message in (
        ('{ path = "offline/a.grammar.json", weight = 0 }', "positive number"),
        ('{ path = "offline/a.grammar.json", weight = true }', "positive number"),
        ('{ path = "offline/a.grammar.json", weight = -1 }', "positive number"),
        ('{ path = "offline/a.grammar.json", weight = inf }', "positive number"),
        ('{ path = "offline/a.grammar.json", weight = nan }', "positive number"),
        ('"offline/a.grammar.json", { path = "offline/a.grammar.json", weight = 2 }', "more than once"),
        ('{ path = "offline/tiny.jsonl", weight = 2 }', "only grammars take a weight"),
        ('{ path = "offline/a.grammar.json", share = 2 }', "unknown keys"),
        ("{ weight = 2 }", "expected a path"),
    ):
        with pytest.raises(BlueprintError, match=message):
            rows(f"[{bad}]")


def test_extra_tagging_source_maps_entity_types(tmp_path: Path) -> None:
    from forge.sources import ExtraSource

    path = tmp_path / "news.jsonl"
    _jsonl(path, [{"tokens": list("张三去北京"), "tags": ["B-NAME", "I-NAME", "O", "B-LOC", "I-LOC"]}])
    source = ExtraSource.from_config({"path": str(path), "label_map": {"NAME": "PERS"}}, tmp_path, "x")
    (row,) = source.rows(1, ("PERS", "PROJ"))
    assert row["tags"] == ["B-PERS", "I-PERS", "O", "O", "O"] and row["source"] == "news"
    with pytest.raises(ValueError, match="does not exist"):
        ExtraSource.from_config({"path": "missing.jsonl"}, tmp_path, "x")


def test_blueprint_rejects_bad_source_and_check_tables(tmp_path: Path) -> None:
    directory = write_tiny_blueprint(tmp_path)
    for extra in ('[[tasks.tiny.sources]]\npath = "nope.jsonl"\n', '[[tasks.tiny.realtext]]\nfile = "x"\n'):
        (directory / "blueprint.toml").write_text(TINY_CONFIG + "\n" + extra, encoding="utf-8")
        with pytest.raises(BlueprintError):
            load_blueprint("tiny", Workspace(tmp_path).blueprints)


# -- real-text checks ----------------------------------------------------------


def test_real_text_checks_classifier(tiny_bundle: Path, tmp_path: Path) -> None:
    model = cerebellum.load(tiny_bundle)
    path = tmp_path / "spoken.jsonl"
    _jsonl(
        path,
        [
            {"text": "how is the weather?", "label": "ask"},
            {"text": "what about dinner", "label": "ask"},
            {"text": "turn on the lights", "label": "Statement"},
            {"text": "something else", "label": "Chitchat"},  # neither mapped nor the model's: skipped
        ],
    )
    result = run_check(model, RealTextCheck("spoken", path, {"ask": "Question"}, strip_trailing="?"))
    assert result["rows"] == 3 and result["skipped"] == 1
    assert result["accuracy"] == 1.0 and result["recall"] == {"Question": 1.0, "Statement": 1.0}
    only_questions = tmp_path / "q.jsonl"
    _jsonl(only_questions, [{"text": "turn on music", "label": "Question"}])
    result = run_check(model, RealTextCheck("q", only_questions))
    assert result["predicted_outside"] == {"Statement": 1.0}  # answers outside the file's labels are shown
    missing = run_check(model, RealTextCheck("gone", tmp_path / "gone.jsonl"))
    assert missing["missing"] == "file not found"
    table = "\n".join(markdown([result, missing]))
    # One row says little: 0 of 1 right is anything from 0% to 79% on text of its kind.
    assert "| q | `q.jsonl` | 1 | **0.0%** (0.0-79.3%) | Question 0.0% | Statement 100.0% |" in table
    assert "gone: skipped, file not found" in table


@pytest.mark.slow
def test_real_text_check_chooses_among_the_files_labels(builtin_sentiment_workspace: Path, tmp_path: Path) -> None:
    # Reviews are Positive or Negative; the model may also answer Neutral. The
    # check gives both figures: the plain accuracy, and the accuracy when the
    # answer is chosen among Positive and Negative only (Neutral ignored).
    model = cerebellum.load(builtin_sentiment_workspace / "models" / "sentiment")
    rows = [
        {"text": "这家店的服务太棒了，下次还来", "label": "Positive"},
        {"text": "太失望了，完全不值这个价", "label": "Negative"},
        {"text": "明天几点开门", "label": "Positive"},  # a Neutral canary, filed as a review
        {"text": "帮我查一下订单状态", "label": "Negative"},  # another
    ]
    path = tmp_path / "reviews.jsonl"
    _jsonl(path, rows)
    result = run_check(model, RealTextCheck("reviews", path))
    assert result["accuracy"] == 0.5 and result["predicted_outside"] == {"Neutral": 0.5}
    expected = 0
    for row in rows:
        scores = model.classify(row["text"]).scores
        expected += max(("Positive", "Negative"), key=lambda label: scores[label]) == row["label"]
    assert result["accuracy_among_own"] == expected / len(rows) >= result["accuracy"]
    table = "\n".join(markdown([result]))
    assert f"| Neutral 50.0% | {expected / len(rows):.1%} (" in table
    assert "choosing among the file's labels only" in summary_line(result)


def test_real_text_check_skip_and_limit_choose_the_rows(tiny_bundle: Path, tmp_path: Path) -> None:
    model = cerebellum.load(tiny_bundle)
    path = tmp_path / "rows.jsonl"
    # Every row says Question; the tiny model calls "turn on music" (rows 0-2 and 5) a Statement.
    music, ask = "turn on music", "how is the weather?"
    texts = [music, music, music, ask, "how is dinner?", music]
    _jsonl(path, [{"text": t, "label": "Question"} for t in texts])
    assert run_check(model, RealTextCheck("all", path))["accuracy"] == 2 / 6
    middle = run_check(model, RealTextCheck("middle", path, skip=3, limit=2))
    assert middle["rows"] == 2 and middle["accuracy"] == 1.0
    assert run_check(model, RealTextCheck("past", path, skip=6))["rows"] == 0
    directory = tmp_path / "bp"
    check = RealTextCheck.from_config({"path": "../rows.jsonl", "skip": 3}, directory, "realtext")
    assert check.skip == 3 and check.limit is None
    for bad in ({"skip": -1}, {"skip": "3"}, {"limit": 0}, {"limit": True}):
        with pytest.raises(ValueError, match="whole number of rows"):
            RealTextCheck.from_config({"path": "../rows.jsonl", **bad}, directory, "realtext")


def test_real_text_checks_tagger_with_label_map(tiny_tagger_workspace: Path, tmp_path: Path) -> None:
    model = cerebellum.load(tiny_tagger_workspace / "models" / "tiny_ner")
    path = tmp_path / "news.jsonl"
    text = "帮我约王总开会"
    found = model.tag(text)
    tags = ["O"] * len(text)
    for e in found:
        tags[e.start : e.end] = [f"B-{e.type.lower()}"] + [f"I-{e.type.lower()}"] * (e.end - e.start - 1)
    tags[0:2] = ["B-verb", "I-verb"]  # a type the check does not map: not scored
    _jsonl(path, [{"tokens": list(text), "tags": tags}])
    check = RealTextCheck("news", path, {"pers": "PERS"})
    result = run_check(model, check)
    assert result["kind"] == "tagging" and result["rows"] == 1
    (pers,) = result["per_type"]
    assert any(e.type == "PERS" for e in found), found  # 王总 is one of the tiny tagger's names
    assert pers["label"] == "PERS" and pers["support"] >= 1 and pers["f1"] == 1.0
    assert pers["f1_interval"] == [1.0, 1.0]  # every resample of one perfect sentence is perfect
    assert "| PERS | 100.0% | 100.0% | **100.0%** (100.0-100.0%) |" in "\n".join(markdown([result]))


def test_build_puts_real_text_table_in_model_card(tmp_path: Path) -> None:
    directory = write_tiny_blueprint(tmp_path)
    _jsonl(tmp_path / "real.jsonl", [{"text": "how is dinner", "label": "Question"}])
    config = TINY_CONFIG + '\n[[tasks.tiny.realtext]]\npath = "../../real.jsonl"\n'
    config += '\n[[tasks.tiny.realtext]]\nname = "absent"\npath = "../../absent.jsonl"\n'
    (directory / "blueprint.toml").write_text(config, encoding="utf-8")
    workspace = Workspace(tmp_path)
    build(load_blueprint("tiny", workspace.blueprints), workspace, BuildOptions())
    card = (tmp_path / "models" / "tiny" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card.index("## Held-out evaluation") < card.index("## Real-text checks") < card.index("## Model\n")
    assert "| real | `real.jsonl` | 1 |" in card and "absent: skipped, file not found" in card
    saved = json.loads((tmp_path / "build" / "tiny" / "realtext.json").read_text())
    assert [r["name"] for r in saved] == ["real", "absent"]


def test_evaluate_command(tiny_bundle: Path, tmp_path: Path) -> None:
    path = tmp_path / "spoken.jsonl"
    _jsonl(path, [{"text": "how is the weather?", "label": "Q"}])
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_bundle), str(path), "--map", "Q=Question"])
    assert result.exit_code == 0, result.output
    assert "spoken (1 rows): accuracy 100.0%" in result.output
    result = runner.invoke(app, ["evaluate", "-m", str(tiny_bundle), str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1 and "skipped" in result.output
