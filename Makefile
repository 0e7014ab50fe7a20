# Entry points. `make demo` and `make test` are the README's quick start; both
# install what they need into .venv first (pip/uv caches live in ~/.cache).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export UV_CACHE_DIR ?= $(HOME)/.cache/uv
export PIP_CACHE_DIR ?= $(HOME)/.cache/pip
export CARGO_TARGET_DIR ?= $(HOME)/.cache/model_foundry/target
RUST_MODULE := runtimes/rust/bindings/python/Cargo.toml

DEMO_LINES := 你今天吃饭了吗\n帮我把灯关了\nwhat's the weather like tomorrow\nset an alarm for 7am
CONFIRM_LINES := 好的，删吧\n等一下\nsure, go ahead\nwait, can I undo that?
SENTIMENT_LINES := the hotel was not bad at all\noh great, my train is late again\n这个好用吗\n服了你了，又错了
NER_LINES := 帮我约李经理周五见面\n阿尔法计划的进度怎么样了\n提醒我参加周五的发布会\nAsk Mr. Johnson whether Project Titan phase one slipped\nput the Q3 review with Dr. Chen on my calendar

.PHONY: setup rust-module c-lib demo models test test-prerequisites rust-prerequisites rust-release test-builtins lint rust-lint rust-test crate-check mcu-core mcu-testee mcu-lint mcu-footprint wheels bench compare proto conformance conformance-aarch64 conformance-mcu golden fuzz clean

setup: $(STAMP)

$(STAMP): pyproject.toml runtimes/python/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e "runtimes/python[onnx]" -e ".[tagging,dev]"
	touch $@

# The tagger, the longest build by far, starts first and in the background: the classifiers
# forge meanwhile. Its log is shown from the start, then as it comes, once they are done.
TAGGER_LOG := build/sequence_tagging_ner.log
models: $(STAMP)
	@mkdir -p build
	@echo "$(BIN)/forge build --blueprint sequence_tagging_ner > $(TAGGER_LOG) (in the background)"
	@$(BIN)/forge build --blueprint sequence_tagging_ner > $(TAGGER_LOG) 2>&1 & tagger=$$!; \
	echo "$(BIN)/forge build --blueprint text_classification"; \
	$(BIN)/forge build --blueprint text_classification && \
	echo "$(BIN)/forge build --blueprint sentiment_analysis" && \
	$(BIN)/forge build --blueprint sentiment_analysis || { kill $$tagger; exit 1; }; \
	echo "$(BIN)/forge build --blueprint sequence_tagging_ner (its log, $(TAGGER_LOG))"; \
	tail -n +1 -f --pid=$$tagger $(TAGGER_LOG); \
	wait $$tagger

demo: models
	@echo; echo "== forge chat --model models/is_question"
	@printf "$(DEMO_LINES)\n" | $(BIN)/forge chat --model models/is_question
	@echo; echo "== forge chat --model models/confirmation"
	@printf "$(CONFIRM_LINES)\n" | $(BIN)/forge chat --model models/confirmation
	@echo; echo "== forge chat --model models/sentiment"
	@printf "$(SENTIMENT_LINES)\n" | $(BIN)/forge chat --model models/sentiment
	@echo; echo "== forge chat --model models/ner_core_entity"
	@printf "$(NER_LINES)\n" | $(BIN)/forge chat --model models/ner_core_entity

# The Rust engine as a Python module (cerebellum.load(path, backend="rust")).
rust-module: $(STAMP)
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/maturin develop --release --uv --quiet -m $(RUST_MODULE)

# The C library as an install tree under PREFIX (README: The C library): include/cerebellum.h;
# lib/ with libcerebellum.so.VERSION, its SONAME link libcerebellum.so.MAJOR, the libcerebellum.so
# link for -lcerebellum, and libcerebellum.a; lib/pkgconfig/cerebellum{,-static}.pc.
# E.g. `make c-lib PREFIX=/usr/local`.
PREFIX ?= $(CARGO_TARGET_DIR)/c-dist
FFI := runtimes/rust/cerebellum-ffi
C_LIB_VERSION := $(shell sed -n 's/^version = "\([^"]*\)"$$/\1/p' Cargo.toml | head -n 1)
C_LIB_MAJOR := $(firstword $(subst ., ,$(C_LIB_VERSION)))
# What a static link of libcerebellum.a needs from the system: rustc's answer on linux-gnu to
# `cargo rustc --release -p cerebellum-ffi --lib --crate-type staticlib -- --print native-static-libs`.
C_LIB_STATIC_DEPS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

c-lib:
	cargo build --release --locked -q -p cerebellum-ffi --lib
	install -d "$(PREFIX)/include" "$(PREFIX)/lib/pkgconfig"
	install -m 644 $(FFI)/include/cerebellum.h "$(PREFIX)/include/"
	install -m 755 "$(CARGO_TARGET_DIR)/release/libcerebellum.so" "$(PREFIX)/lib/libcerebellum.so.$(C_LIB_VERSION)"
	ln -sfn libcerebellum.so.$(C_LIB_VERSION) "$(PREFIX)/lib/libcerebellum.so.$(C_LIB_MAJOR)"
	ln -sfn libcerebellum.so.$(C_LIB_MAJOR) "$(PREFIX)/lib/libcerebellum.so"
	install -m 644 "$(CARGO_TARGET_DIR)/release/libcerebellum.a" "$(PREFIX)/lib/"
	for pc in cerebellum cerebellum-static; do \
		sed -e 's|@PREFIX@|$(abspath $(PREFIX))|' -e 's|@VERSION@|$(C_LIB_VERSION)|' \
			-e 's|@STATIC_DEPS@|$(C_LIB_STATIC_DEPS)|' $(FFI)/pkgconfig/$$pc.pc.in > "$(PREFIX)/lib/pkgconfig/$$pc.pc"; \
	done
	@echo "staged in $(PREFIX): PKG_CONFIG_PATH=$(abspath $(PREFIX))/lib/pkgconfig pkg-config --cflags --libs cerebellum"

# Distributable wheels: the runtime and the forge (pure Python), and the Rust module for
# x86_64 and aarch64 on the manylinux2014 baseline (glibc 2.17), stripped. zig (the ziglang
# package) links against that old glibc; aarch64 builds with Debian's cargo and rustc, which
# carry an arm64 std that rustup here cannot add (conformance/aarch64.sh setup installs them).
WHEELS ?= $(HOME)/.cache/model_foundry/wheels
MANYLINUX := --release --strip --zig --compatibility manylinux2014 -m $(RUST_MODULE) -o $(WHEELS)
wheels: $(STAMP)
	$(BIN)/uv pip install --quiet --python $(BIN)/python 'ziglang>=0.13'
	rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	$(BIN)/uv build --quiet --wheel --out-dir $(WHEELS) runtimes/python
	$(BIN)/uv build --quiet --wheel --out-dir $(WHEELS) .
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/maturin build $(MANYLINUX)
	bash conformance/aarch64.sh setup
	PATH=$(CURDIR)/$(BIN):/usr/bin:$$PATH RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo \
		CARGO_TARGET_DIR=$(HOME)/.cache/model_foundry/target-aarch64 \
		$(BIN)/maturin build $(MANYLINUX) --target aarch64-unknown-linux-gnu
	@ls -l $(WHEELS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

rust-lint:
	cargo fmt --all -- --check
	cargo fmt --check --manifest-path conformance/testee-mcu/Cargo.toml
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo clippy -p cerebellum --no-default-features --lib --examples --locked -- -D warnings
	cargo clippy -p cerebellum-core --lib --tests --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

# The workspace turns on cerebellum-core's `std` feature; the second run tests the core as
# firmware builds it (the `libm` crate's exp).
rust-test:
	cargo test --workspace --locked
	cargo test -p cerebellum-core --locked

# The two published crates as crates.io would get them: `cargo publish --dry-run` of both
# (cargo packages cerebellum-core first and builds cerebellum against that package), then
# their tests inside the unpacked .crate files in a temporary directory, away from the
# repository (no proto/, no forge/tables/ around them); cerebellum's tests take the unpacked
# core through a [patch], as crates.io would hand it out. `tar -m` gives the files the time
# of unpacking: a .crate stores one fixed mtime, so the shared target directory would
# otherwise take the tests built from an earlier package for fresh.
CRATE_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
# Publishing the two crates together verifies `cerebellum` against the packaged core as a
# registry crate, and cargo takes a registry crate of a known version as unchanged: its
# unpacked sources and its build from an earlier run would stand in for today's core.
CARGO_REGISTRY_SRC := $(or $(CARGO_HOME),$(HOME)/.cargo)/registry/src
crate-check:
	rm -rf $(CARGO_REGISTRY_SRC)/*/cerebellum-core-$(CRATE_VERSION) $(CARGO_REGISTRY_SRC)/*/cerebellum-$(CRATE_VERSION)
	cargo clean --quiet -p cerebellum-core
	cargo publish --dry-run --locked --allow-dirty -p cerebellum-core -p cerebellum
	cargo package --no-verify --locked --allow-dirty -p cerebellum-core -p cerebellum
	set -e; unpacked=$$(mktemp -d); trap 'rm -rf "$$unpacked"' EXIT; \
	for crate in cerebellum-core cerebellum; do \
		tar -xzmf "$(CARGO_TARGET_DIR)/package/$$crate-$(CRATE_VERSION).crate" -C "$$unpacked"; \
	done; \
	core="$$unpacked/cerebellum-core-$(CRATE_VERSION)"; \
	(cd "$$core" && cargo test --locked); \
	cd "$$unpacked/cerebellum-$(CRATE_VERSION)" && \
		cargo test --config "patch.crates-io.cerebellum-core.path=\"$$core\""

# The no_std core for Cortex-M4F and RISC-V with Debian's toolchain (conformance/mcu.sh
# installs it on first use; issue #12).
mcu-core:
	bash conformance/mcu.sh build-core

# The firmware testees for both MCU targets (tests/test_conformance.py runs them under QEMU when built).
mcu-testee:
	bash conformance/mcu.sh build-testee

# clippy -D warnings of the firmware for both targets (installs Debian's rust-web-clippy on first use).
mcu-lint:
	bash conformance/mcu.sh lint

# Flash, RAM, heap, stack and emulated instructions of a classifier firmware per bundle in models/
# (README: The microcontroller tier); a markdown table on stdout.
mcu-footprint:
	bash conformance/mcu.sh footprint

# The Rust builds and the forging of the built-in models the tests use run side by side (cargo
# leaves a core idle for much of a build; the forge uses one); pytest then reuses those models.
PREFORGED := build/test-builtins

test: lint
	$(MAKE) --no-print-directory -j2 test-prerequisites
	MF_PREFORGED=$(CURDIR)/$(PREFORGED) $(BIN)/pytest

test-prerequisites: rust-prerequisites test-builtins

# Serial, and without the outer make's jobserver: cargo runs its own jobs (and would warn
# about the jobserver's descriptors, which make closes for the commands it runs).
rust-prerequisites:
	MAKEFLAGS= $(MAKE) --no-print-directory rust-lint rust-test rust-module rust-release mcu-testee

# The release binaries pytest runs (its cargo calls then find them up to date).
rust-release:
	cargo build --release --locked -q -p cerebellum --example cerebellum_lines
	cargo build --release --locked -q -p cerebellum-ffi --lib
	cargo build --release --locked -q -p cerebellum-testee

test-builtins: $(STAMP)
	@rm -rf $(PREFORGED) && mkdir -p $(PREFORGED)
	@echo "forging the built-in models for the tests (log: $(PREFORGED)/forge.log)"
	@$(BIN)/python -m tests.forge_builtins $(PREFORGED) > $(PREFORGED)/forge.log 2>&1 || \
		{ tail -n 40 $(PREFORGED)/forge.log; exit 1; }
	@echo "built-in models forged for the tests ($(PREFORGED))"

bench: rust-module
	$(BIN)/pytest tests/benchmarks --benchmark-only --benchmark-columns=min,median,mean,rounds
	cargo bench -p cerebellum --bench runtime

# Side by side on ../shared/datasets (snips, smp2017) and the built-in bundles: every runtime against
# scikit-learn and fastText (accuracy, bytes, p50/p99 latency); e.g. COMPARE_ARGS="--only smp2017".
compare: rust-module
	$(BIN)/python tests/benchmarks/compare_classifiers.py $(COMPARE_ARGS)

proto: $(STAMP)
	$(BIN)/python proto/generate.py

# Bit-for-bit comparison of the runtimes on generated inputs (README: Conformance).
CONFORMANCE_EXAMPLES ?= 20000
conformance: rust-module
	$(BIN)/conformance run --models models --runtime rust --runtime rust-testee --runtime rust-tract \
		--runtime python-onnx --examples $(CONFORMANCE_EXAMPLES)

# rust (this machine's native evaluator) runs beside the emulated runtimes: their tagger
# emissions must be its bits (the report's emission_bits check).
conformance-aarch64: rust-module
	$(BIN)/conformance run --models models --runtime rust --runtime aarch64 --examples $(CONFORMANCE_EXAMPLES)

# The firmware testees under QEMU (classifiers and the tagger): 5,000 inputs per bundle unless
# CONFORMANCE_EXAMPLES is given (make conformance-mcu CONFORMANCE_EXAMPLES=300).
MCU_CONFORMANCE_EXAMPLES ?= $(if $(filter command line environment,$(origin CONFORMANCE_EXAMPLES)),$(CONFORMANCE_EXAMPLES),5000)
conformance-mcu: rust-module
	$(BIN)/conformance run --models models --runtime rust --runtime cortex-m4 --runtime riscv32 \
		--examples $(MCU_CONFORMANCE_EXAMPLES)

golden: $(STAMP)
	$(BIN)/conformance export --models models --bundle is_question --bundle confirmation \
		--bundle sentiment --bundle ner_core_entity --examples 200

# Mutated bundles (seeded with conformance/golden): typed errors only, never a panic or a crash.
FUZZ_RUST ?= 1000000
FUZZ_PYTHON ?= 100000
fuzz: rust-module
	cargo build --release --locked -q -p cerebellum-testee --bin fuzz-bundles
	cargo build --release --locked -q -p cerebellum-ffi --lib
	$(CARGO_TARGET_DIR)/release/fuzz-bundles --count $(FUZZ_RUST) conformance/golden/*.golden.pb
	$(BIN)/conformance fuzz --runtime python --count $(FUZZ_PYTHON)
	$(BIN)/conformance fuzz --runtime c-abi --count $(FUZZ_PYTHON)

clean:
	rm -rf build datasets models .pytest_cache .benchmarks
