# Entry points. `make demo` and `make test` are the README's quick start; both
# install what they need into .venv first (pip/uv caches live in ~/.cache).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export PIP_CACHE_DIR ?= $(HOME)/.cache/pip

DEMO_LINES := 你今天吃饭了吗\n帮我把灯关了\nwhat's the weather like tomorrow\nset an alarm for 7am
CONFIRM_LINES := 好的，删吧\n等一下\nsure, go ahead\nwait, can I undo that?
NER_LINES := 帮我约李经理周五见面\n阿尔法计划的进度怎么样了\n提醒我参加周五的发布会\nAsk Mr. Johnson whether Project Titan phase one slipped\nput the Q3 review with Dr. Chen on my calendar

.PHONY: setup demo models test lint bench proto clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e ".[forge,tagging,dev]"
	touch $@

models: $(STAMP)
	$(BIN)/forge build --blueprint text_classification
	$(BIN)/forge build --blueprint sequence_tagging_ner

demo: models
	@echo; echo "== forge chat --model models/is_question"
	@printf "$(DEMO_LINES)\n" | $(BIN)/forge chat --model models/is_question
	@echo; echo "== forge chat --model models/confirmation"
	@printf "$(CONFIRM_LINES)\n" | $(BIN)/forge chat --model models/confirmation
	@echo; echo "== forge chat --model models/ner_core_entity"
	@printf "$(NER_LINES)\n" | $(BIN)/forge chat --model models/ner_core_entity

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/pytest tests/benchmarks --benchmark-only --benchmark-columns=min,median,mean,rounds

proto: $(STAMP)
	$(BIN)/python proto/generate.py

clean:
	rm -rf build datasets models .pytest_cache .benchmarks
