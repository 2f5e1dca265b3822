# One Makefile for people and CI: `make demo`, `make test`, `make bench`, `make docs`.
# Everything is installed here, into .venv, from the package registries.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.deps-installed
# Compiled dependencies are shared across clones (CI builds in a fresh clone).
export CARGO_TARGET_DIR ?= $(HOME)/.cache/docetl-checkpoint/target
# DocETL runs offline for pipelines without LLM operations.
export LITELLM_LOCAL_MODEL_COST_MAP := True
export NO_MKDOCS_2_WARNING := 1

EXTRAS := test docetl docs bench

.PHONY: help venv dev build demo test lint test-rust test-python docs bench footprint clean

help:
	@echo "make demo   build (release) and run the main job on a generated DocETL-shaped pipeline"
	@echo "make test   build and run every check: cargo test, clippy, fmt, ruff, stubtest, pytest, docs"
	@echo "make bench  the benchmark against JSON and Parquet baselines (ratios, plot)"
	@echo "make docs   the documentation site (mkdocs build --strict)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Python packages: the project's dependencies and extras, read from pyproject.toml.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "maturin>=1.16,<2"
	$(PY) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; extras = [d for e in "$(EXTRAS)".split() for d in p["optional-dependencies"][e]]; print("\n".join(p["dependencies"] + extras))' > $(VENV)/requirements.txt
	$(PIP) install --quiet -r $(VENV)/requirements.txt
	touch $@

venv: $(STAMP)

# Debug build of this crate (dependencies optimized, see Cargo.toml): what tests run.
dev: $(STAMP)
	$(VENV)/bin/maturin develop

# Release build (lto, codegen-units=1): what demo and benchmarks run.
build: $(STAMP)
	$(VENV)/bin/maturin develop --release

demo: build
	$(PY) examples/demo.py

test: dev lint test-rust test-python docs

lint: dev
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benchmarks examples
	$(VENV)/bin/ruff format --check python tests benchmarks examples
	$(PY) -m mypy.stubtest docetl_checkpoint._core --mypy-config-file pyproject.toml

test-rust:
	cargo test --no-default-features

test-python: dev
	$(VENV)/bin/pytest

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

bench: build
	$(PY) benchmarks/bench.py

footprint: build
	$(PY) benchmarks/footprint.py --check

clean:
	rm -rf $(VENV) site demo-intermediate
