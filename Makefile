# cbrrel — the two commands a newcomer types are `make graph` and `make test`.
# Everything builds in the release profile (one cold build of libtorch bindings, RocksDB and
# oniguruma serves the binary, the tests and the benchmarks).
SHELL := /bin/bash
.DEFAULT_GOAL := help

TORCH_VERSION := 2.11.0
VENV          := .venv
STAMP         := $(VENV)/.torch-$(TORCH_VERSION)
BIN           := target/release/cbrrel
# torch-sys finds libtorch through the venv's python (LIBTORCH_USE_PYTORCH=1); build.rs sets
# the rpath into the venv's torch/lib, so the binary runs without LD_LIBRARY_PATH.
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The tokenizer used by the text stage on the fixtures (bert-base-chinese vocabulary).
TOKENIZER ?= ../shared/models/m3e-small

.PHONY: help setup build test graph bench fixtures clean

help:
	@echo "make graph   run the pipeline on the embedded fixtures (fixtures/)"
	@echo "make test    run the test suite"
	@echo "make bench   run the benchmarks (numbers go into BENCHMARKS.md)"
	@echo "make setup   create .venv with torch==$(TORCH_VERSION) (idempotent)"

setup: $(STAMP)

$(STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check torch==$(TORCH_VERSION)
	$(VENV)/bin/python -c "import torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $@

build: setup
	cargo build --release --locked --bin cbrrel

test: setup
	cargo test --release --locked

# Until the graph stages exist (issue 4), `make graph` runs the stages that do: it checks the
# fixtures, prints their statistics and segments/labels them as the model will see them.
graph: build
	$(BIN) info
	$(BIN) corpus check fixtures/annotated.jsonl
	$(BIN) corpus stats fixtures/annotated.jsonl
	@if [ -e "$(TOKENIZER)" ]; then $(BIN) text fixtures/annotated.jsonl --tokenizer $(TOKENIZER); \
	 else echo "(no tokenizer at $(TOKENIZER): set TOKENIZER=DIR to run the text stage)"; fi
	@echo "graph: stopped after the corpus and text stages; extraction, RDF and the store arrive with the graph pipeline (issue 4)."

bench: setup
	cargo bench --locked --bench text_pipeline

# Regenerate the committed fixtures (deterministic: the same seed gives the same bytes).
fixtures: build
	$(BIN) fixtures generate --reports 60 --seed 42 --out fixtures

clean:
	cargo clean
