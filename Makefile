# cbrrel — the two commands a newcomer types are `make graph` and `make test`.
# Everything builds in the release profile (one cold build of libtorch bindings, RocksDB and
# oniguruma serves the binary, the tests and the benchmarks).
SHELL := /bin/bash
space := $(subst ,, )
.DEFAULT_GOAL := help

TORCH_VERSION := 2.11.0
VENV          := .venv
# The PyTorch reference (pipeline/torch_reference.py) reads and writes safetensors files;
# safetensors' writer needs numpy. The stamp names every pin, so an older venv gets what is new.
PY_PINS       := torch==$(TORCH_VERSION) safetensors==0.8.0 numpy==2.4.6
STAMP         := $(VENV)/.pins-$(subst ==,-,$(subst $(space),_,$(PY_PINS)))
BIN           := target/release/cbrrel
# playwright-core for the browser test (tests/browser/, npm ci from its package-lock.json).
BROWSER_DEPS  := tests/browser/node_modules/.package-lock.json
# torch-sys finds libtorch through the venv's python (LIBTORCH_USE_PYTORCH=1); build.rs sets
# the rpath into the venv's torch/lib, so the binary runs without LD_LIBRARY_PATH.
export LIBTORCH_USE_PYTORCH := 1
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup system build test lint graph cv cv-decode cv-ablation cv-variant cv-ensemble cv-commas bench bench-graph bench-serve bench-model gpu-pack gpu-check fixtures clean

help:
	@echo "make graph   run the pipeline on the embedded fixtures (fixtures/)"
	@echo "make test    run the test suite"
	@echo "make lint    cargo fmt --check and clippy -D warnings (CI runs it)"
	@echo "make cv      5-fold cross-validation on the coronary corpus (hours on CPU; resumable)"
	@echo "make cv-decode DECODE=NAME DECODE_SET='--set decode.…'   a decoding switch on runs/cv's folds"
	@echo "make cv-ablation ABLATION=casrel|no-attention|no-fgm|no-bilstm|cnn   Table 7 on the same folds"
	@echo "make cv-variant VARIANT=NAME CV_EPOCHS=14 | VARIANT_FLAGS='--set model.…'   a training fix on the same folds"
	@echo "make cv-ensemble NAME=N WITH='runs/cv-ablation-no-attention …'   runs/cv's folds predicted with other folders' models"
	@echo "make cv-commas CV=runs/cv-variant-NAME   its fold models on their test reports with comma-written vessel lists"
	@echo "make bench   run the benchmarks (numbers go into BENCHMARKS.md)"
	@echo "make bench-serve STORE=DIR   cbrrel serve under load, beside oxigraph serve-read-only"
	@echo "make bench-model the Rust model against the PyTorch reference, same weights and batches"
	@echo "make gpu-pack    what a lent GPU machine needs, in carry/gpu-check (see pipeline/gpu_check.sh)"
	@echo "make gpu-check DEVICE=cpu   the GPU check's steps on this machine (reference numbers)"
	@echo "make setup   check/install system packages, create .venv with torch==$(TORCH_VERSION)"

setup: system $(STAMP)

# System packages first (libclang-dev, g++, python3-venv…): installed with apt when running as
# root, otherwise one message naming the apt-get command, before anything compiles.
system:
	@bash pipeline/setup-system.sh

$(STAMP): | system
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_PINS)
	$(VENV)/bin/python -c "import torch, safetensors.torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $@

build: setup
	cargo build --release --locked --bin cbrrel

test: setup $(BROWSER_DEPS)
	cargo test --release --locked

# playwright-core for the browser test of `cbrrel serve`'s page (tests/browser/), pinned by its
# package-lock.json; it drives the system's chromium (pipeline/setup-system.sh installs it).
$(BROWSER_DEPS): tests/browser/package-lock.json | system
	cd tests/browser && npm ci --no-audit --no-fund

# The house style, enforced in CI (.ci/run): rustfmt's defaults, and clippy with every warning
# an error (a lint we keep is allowed at its site with a comment saying why).
lint: setup
	cargo fmt --check
	cargo clippy --release --locked --all-targets -- -D warnings

# The fixture model of `make graph`: a small from-scratch CBRRel trained on the annotated
# fixtures with a vocabulary built from them (no pretrained files needed), cached in
# runs/fixtures-model (delete it to retrain). The model settings not named here are
# pipeline/train.toml's, the object taggers' distance feature (object_distance = 16) among them
# (dev F1 on the fixtures 92.51 without it, 98.81 with it; README).
FIXTURE_MODEL := runs/fixtures-model
FIXTURE_TRAIN := --encoder-config hidden=128,layers=2,heads=4 --epochs 25 --batch-size 8 \
	--set train.lr=1e-3 --set train.head_lr=1e-3 --set train.warmup_ratio=0.05 \
	--set train.fgm_epsilon=0.05 --set train.ema_decay=0.99 --set train.patience=1000 \
	--set model.fusion_channels=4 --set model.attention_heads=4 --set model.object_hidden=128

$(FIXTURE_MODEL)/config.json: | build
	$(BIN) corpus vocab fixtures/annotated.jsonl --out runs/fixtures-vocab.txt
	$(BIN) train --train fixtures/annotated.jsonl --dev fixtures/annotated.jsonl \
	  --tokenizer runs/fixtures-vocab.txt $(FIXTURE_TRAIN) --device auto --out $(FIXTURE_MODEL)

# The nightly job on the embedded fixtures: EMR dump (fixtures/reports.csv) → ingest →
# extract → load into work/store, then one shipped query.
graph: build $(FIXTURE_MODEL)/config.json
	$(BIN) info
	$(BIN) graph --config pipeline/nightly.toml
	@echo "== ontology/queries/body_parts_with_stenosis.rq"
	$(BIN) query --store work/store --file ontology/queries/body_parts_with_stenosis.rq

# 5-fold cross-validation by report on the shared coronary corpus with the documented CPU
# recipe (BENCHMARKS.md): ≈ 26–32 min per fold on two cores alone. Resumable: stop it any time, and
# `make cv` again skips the finished folds (CV_FLAGS="--max-folds 1" does one fold per run;
# CV_FLAGS="--fold 4" only fold 4, e.g. on a second machine or after a lost folder).
# A decoding switch is scored on the folds runs/cv has finished, without training:
#   make cv-decode DECODE=bounded DECODE_SET="--set decode.span_rule=bounded"
CV_DATA   ?= ../shared/data/coronary_angiography/reports.jsonl
# 10 epochs since 2026-12-05 (BENCHMARKS.md "More epochs": +0.41 F1 over 6 on all five folds);
# the rows measured before were trained with CV_EPOCHS=6.
CV_EPOCHS ?= 10
CV_RECIPE  = --encoder ../shared/models/m3e-small --epochs $(CV_EPOCHS) --batch-size 16 --lr 5e-5 \
	--set train.head_lr=1e-3 --set train.ema_decay=0.99 --set train.patience=3
CV_FLAGS  ?=
cv: build
	$(BIN) cv --data $(CV_DATA) --folds 5 --fold-seed 42 --out runs/cv $(CV_RECIPE) --device auto $(CV_FLAGS)

# The paper's Table 7 on the same folds (issue 13 §4): one cross-validation per ablation, each
# in its own folder and resumable like `make cv` (the full model's row is runs/cv itself):
#   make cv-ablation ABLATION=casrel   (casrel, no-attention, no-fgm, no-bilstm, cnn)
ABLATION ?= casrel
ABLATION_FLAGS_casrel       := --encoder-only
ABLATION_FLAGS_no-attention := --no-attention
ABLATION_FLAGS_no-fgm       := --no-fgm
ABLATION_FLAGS_no-bilstm    := --no-bilstm
ABLATION_FLAGS_cnn          := --fusion cnn
cv-ablation: build
	$(if $(ABLATION_FLAGS_$(ABLATION)),,$(error ABLATION=$(ABLATION) is not one of casrel, no-attention, no-fgm, no-bilstm, cnn))
	$(BIN) cv --data $(CV_DATA) --folds 5 --fold-seed 42 --out runs/cv-ablation-$(ABLATION) $(CV_RECIPE) \
	  $(ABLATION_FLAGS_$(ABLATION)) --device auto $(CV_FLAGS)

# A training fix of issue 13 §3 on the same folds (one resumable cross-validation per variant,
# in runs/cv-variant-NAME), e.g. more epochs or another object-tagger size:
#   make cv-variant VARIANT=epochs14 CV_EPOCHS=14
#   make cv-variant VARIANT=object512 VARIANT_FLAGS="--set model.object_hidden=512"
VARIANT       ?=
VARIANT_FLAGS ?=
cv-variant: build
	$(if $(VARIANT),,$(error give VARIANT=NAME, and CV_EPOCHS=N or VARIANT_FLAGS="…" for what changes))
	$(BIN) cv --data $(CV_DATA) --folds 5 --fold-seed 42 --out runs/cv-variant-$(VARIANT) $(CV_RECIPE) \
	  $(VARIANT_FLAGS) --device auto $(CV_FLAGS)

# An ensemble of issue 13 §3 on the same folds, without training: each fold's model of MODELS
# (runs/cv unless given) predicts with the same fold's models of the WITH folders (their
# probabilities averaged; scopes and thresholds tuned on the fold's dev set for the mean), in
# runs/cv-ensemble-NAME:
#   make cv-ensemble NAME=noatt WITH=runs/cv-ablation-no-attention
NAME ?=
WITH ?=
cv-ensemble: build
	$(if $(and $(NAME),$(WITH)),,$(error give NAME=N and WITH="DIR …", cross-validation folders of the same folds))
	$(BIN) cv --data $(CV_DATA) --folds 5 --fold-seed 42 --out runs/cv-ensemble-$(NAME) $(CV_RECIPE) \
	  --models-from $(MODELS) $(foreach d,$(WITH),--ensemble-with $(d)) --device auto $(CV_FLAGS)

# A cross-validation folder's fold models (one that trained them: cv, cv-variant, cv-ablation)
# on their test reports with the vessel lists written with commas, beside the folds' own
# scores (pipeline/cv_commas.py; BENCHMARKS.md, "Vessel lists written with commas"):
#   make cv-commas CV=runs/cv-variant-distance16
CV ?= runs/cv
cv-commas: build
	python3 pipeline/cv_commas.py $(CV) --bin $(BIN)

DECODE     ?= bounded
DECODE_SET ?= --set decode.span_rule=bounded
# MODELS: the cross-validation folder whose fold models are scored (runs/cv by default).
MODELS ?= runs/cv
cv-decode: build
	$(BIN) cv --data $(CV_DATA) --folds 5 --fold-seed 42 --out runs/cv-$(DECODE) $(CV_RECIPE) \
	  $(DECODE_SET) --models-from $(MODELS) --device auto $(CV_FLAGS)

bench: setup
	cargo bench --locked --bench text_pipeline

# The nightly graph on 10,000 generated reports (needs the fixture model of `make graph`).
bench-graph: build $(FIXTURE_MODEL)/config.json
	cargo bench --locked --bench graph_pipeline

# `cbrrel serve` under load on a built store (STORE=DIR, default the one `make graph` writes),
# next to Oxigraph's own `oxigraph serve-read-only` on the same store: its CLI comes prebuilt in
# the `oxigraph` package on PyPI (the same 0.5.13 as the library), installed into the venv.
STORE ?= work/store
bench-serve: setup
	pip install --quiet oxigraph==0.5.13
	CBRREL_BENCH_STORE=$(STORE) CBRREL_BENCH_OXIGRAPH=$(CURDIR)/$(VENV)/bin/oxigraph \
	  cargo bench --locked --bench serve_load

# The Rust model against the PyTorch reference (pipeline/torch_reference.py): inference and
# training speed, full model and CasRel, same weights, batches and threads (issue 11 §4).
bench-model: setup
	cargo bench --locked --bench model_speed

# The prepared GPU check (issue 11 §5). `make gpu-pack` puts the stripped binary, m3e-small in
# f16 and the documented coronary split into carry/gpu-check (≈ 60 MiB, under what the device
# tool carries); on the GPU machine one call runs `bash pipeline/gpu_check.sh` with
# carry ["carry/gpu-check"] and writes to its $OUT. `make gpu-check DEVICE=cpu` runs the same
# script here: the CPU numbers the GPU's are compared with (hours at full size on 2 cores: the
# GPU_CHECK_* variables of the script shrink it).
GPU_PACK ?= carry/gpu-check
DEVICE   ?= cpu
gpu-pack: build
	bash pipeline/gpu_pack.sh $(GPU_PACK)

gpu-check: gpu-pack
	DEVICE=$(DEVICE) PACK=$(GPU_PACK) OUT=runs/gpu-check-$(DEVICE) bash pipeline/gpu_check.sh

# Regenerate the committed fixtures (deterministic: the same seed gives the same bytes).
fixtures: build
	$(BIN) fixtures generate --reports 60 --seed 42 --out fixtures

clean:
	cargo clean
	rm -rf work runs/fixtures-model runs/fixtures-vocab.txt
