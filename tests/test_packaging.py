"""The package's metadata says what is true: license, version, Python and pyarrow floors.

The built wheel and sdist themselves are checked by `make test-wheel`
(tests/packaging/), which installs them into fresh virtualenvs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import docetl_checkpoint
import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "packaging"))
from min_deps import pins  # noqa: E402


def toml(name: str) -> dict[str, Any]:
    with open(ROOT / name, "rb") as f:
        return tomllib.load(f)


PROJECT = toml("pyproject.toml")["project"]
CARGO = toml("Cargo.toml")


def floor(requirement: str) -> tuple[int, ...]:
    match = re.search(r">=\s*([0-9.]+)", requirement)
    assert match, requirement
    return tuple(int(p) for p in match[1].split("."))


def test_license_is_mit_everywhere() -> None:
    assert PROJECT["license"] == "MIT", "a PEP 639 SPDX expression"
    assert PROJECT["license-files"] == ["LICENSE"]
    assert CARGO["package"]["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    # PEP 639: a license expression and a License :: classifier must not both be given
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]


def test_one_version_source() -> None:
    assert PROJECT["dynamic"] == ["version"] and "version" not in PROJECT
    version = CARGO["package"]["version"]
    assert docetl_checkpoint.__version__ == version
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()


def test_python_floor_matches_the_abi3_build_and_classifiers() -> None:
    assert PROJECT["requires-python"] == ">=3.10"
    pyo3 = CARGO["dependencies"]["pyo3"]
    assert "abi3-py310" in pyo3["features"], "the wheel must be cp310-abi3"
    versions = [c.rsplit(" ", 1)[1] for c in PROJECT["classifiers"] if re.search(r":: 3\.\d+$", c)]
    assert versions[0] == "3.10", versions


def test_pyarrow_floor_has_what_table_uses() -> None:
    # table() builds pyarrow.Table through RecordBatchReader.from_stream (pyarrow 15)
    binding = "".join(p.read_text() for p in (ROOT / "src" / "python").glob("*.rs"))
    assert "RecordBatchReader" in binding and "from_stream" in binding
    (pyarrow,) = [d for d in PROJECT["dependencies"] if d.startswith("pyarrow")]
    assert floor(pyarrow) >= (15,)


def test_min_deps_pins_the_declared_floors() -> None:
    assert pins(["pandas"]) == ["pyarrow==15", "pandas==2.0.2"]
