"""Every `--json` output of the CLI parses with a strict JSON parser."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NoReturn

import pytest
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.cli import main
from docetl_checkpoint.cli.render import dumps

NON_FINITE = [math.nan, math.inf, -math.inf]


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> str:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def no_constant(name: str) -> NoReturn:
    raise AssertionError(f"not strict JSON: bare {name}")


def strict_loads(text: str) -> Any:
    """json.loads refusing NaN, Infinity and -Infinity, as strict parsers do."""
    return json.loads(text, parse_constant=no_constant)


# -- --json is strict JSON -------------------------------------------------------


def test_dumps_writes_non_finite_floats_as_strings() -> None:
    value = {"x": NON_FINITE, "t": (math.nan,), "nested": [{"y": math.inf}], "ok": 0.5}
    assert strict_loads(dumps(value)) == {
        "x": ["NaN", "Infinity", "-Infinity"],
        "t": ["NaN"],
        "nested": [{"y": "Infinity"}],
        "ok": 0.5,
    }


def test_every_json_output_is_strict(tmp_path: Path, capsys: Any) -> None:
    store = CheckpointManager(tmp_path)
    store.save("s", "a", [{"id": i, "x": 1.5, "y": [i]} for i in range(3)])
    store.save(
        "s",
        "b",
        [{"id": 0, "x": math.nan, "y": NON_FINITE}, {"id": 1, "x": math.inf}, {"id": 9, "x": 2.0}],
    )
    outputs = {
        argv: strict_loads(run(capsys, *argv))
        for argv in [
            ("ls", tmp_path, "--json"),
            ("info", tmp_path, "s", "b", "--json"),
            ("stats", tmp_path, "--json"),
            ("diff", tmp_path, "s", "a", "--to", "s", "b", "--json"),
            ("verify", tmp_path, "--json"),
            ("gc", tmp_path, "--json"),
            ("compact", tmp_path, "--json"),
            ("recover", tmp_path, "--json"),
        ]
    }
    diff = outputs[("diff", tmp_path, "s", "a", "--to", "s", "b", "--json")]
    changed = {c["id"]: c["b"] for c in diff["examples"]["changed"]}
    assert changed[0] == {"id": 0, "x": "NaN", "y": ["NaN", "Infinity", "-Infinity"]}
    assert changed[1] == {"id": 1, "x": "Infinity"}
