"""Input JSON cannot carry, and bad names: a precise exception and nothing written."""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_roundtrip, tree_snapshot
from docetl_checkpoint import CheckpointManager

GOOD = [{"id": i, "text": "t" * 3000 + str(i)} for i in range(3)]


class Custom:
    pass


BAD_VALUES = [
    datetime.datetime(2020, 5, 17, 12, 0),
    datetime.date(2020, 5, 17),
    b"bytes",
    bytearray(b"x"),
    {"a", "b"},
    frozenset(),
    object(),
    Custom(),
    complex(1, 2),
    Decimal("1.5"),
]


@pytest.fixture
def filled(tmp_path: Path) -> CheckpointManager:
    """A store that already holds checkpoints, inside tmp_path."""
    m = CheckpointManager(tmp_path / "store")
    m.save("stepX", "opY", GOOD)
    m.save("other", "op", GOOD[:1])
    m.save_batch("opY", 0, GOOD)
    return m


def assert_names_location(message: str, index: int, keys: list[str]) -> None:
    assert "stepX" in message and "opY" in message, message
    assert re.search(rf"\b{index}\b", message), f"record index {index} missing: {message}"
    for key in keys:
        assert key in message, f"key {key!r} missing: {message}"


@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda v: type(v).__name__)
def test_unsupported_nested_value(filled: CheckpointManager, tmp_path: Path, bad: Any) -> None:
    records = [*GOOD, *GOOD, {"id": 6}, {"id": 7, "meta_k": {"tags_k": ["a", "b", bad]}}, {"id": 8}]
    before = tree_snapshot(tmp_path)
    with pytest.raises(TypeError) as err:
        filled.save("stepX", "opY", records)
    assert_names_location(str(err.value), 7, ["meta_k", "tags_k"])
    assert re.search(r"\b2\b", str(err.value)), f"list index missing: {err.value}"
    assert tree_snapshot(tmp_path) == before
    assert_roundtrip(CheckpointManager(filled.intermediate_dir).load("stepX", "opY"), GOOD)


@pytest.mark.parametrize("bad", BAD_VALUES, ids=lambda v: type(v).__name__)
def test_unsupported_top_level_value_in_a_new_store(tmp_path: Path, bad: Any) -> None:
    m = CheckpointManager(tmp_path / "store")
    with pytest.raises(TypeError) as err:
        m.save("stepX", "opY", [{"id": 0}, {"id": 1, "when_k": bad}])
    assert_names_location(str(err.value), 1, ["when_k"])
    assert tree_snapshot(tmp_path) == {}


def test_unsupported_value_inside_a_large_value(filled: CheckpointManager, tmp_path: Path) -> None:
    big: list[Any] = [f"item {i} " * 20 for i in range(2000)]
    big[1500] = datetime.time(1, 2)
    before = tree_snapshot(tmp_path)
    with pytest.raises(TypeError) as err:
        filled.save("stepX", "opY", [{"big_k": big[:10]}, {"big_k": big}])
    assert_names_location(str(err.value), 1, ["big_k", "1500"])
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("key", [(1, 2), b"k", frozenset({1}), Custom()], ids=repr)
def test_unsupported_key(filled: CheckpointManager, tmp_path: Path, key: Any) -> None:
    before = tree_snapshot(tmp_path)
    with pytest.raises(TypeError) as err:
        filled.save("stepX", "opY", [{"a": 1}, {"a": 2}, {"nest_k": {key: 1}}])
    assert_names_location(str(err.value), 2, ["nest_k"])
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("record", [1, "s", None, [{"a": 1}], ("a", 1), 2.5], ids=repr)
def test_record_that_is_not_a_dict(filled: CheckpointManager, tmp_path: Path, record: Any) -> None:
    before = tree_snapshot(tmp_path)
    with pytest.raises(TypeError):
        filled.save("stepX", "opY", [{"a": 1}, record])
    with pytest.raises(TypeError):
        filled.save_batch("opY", 1, [record])
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("data", [{"a": 1}, "abc", None, 5, b"x", {"a", "b"}], ids=repr)
def test_data_that_is_not_a_list(filled: CheckpointManager, tmp_path: Path, data: Any) -> None:
    before = tree_snapshot(tmp_path)
    with pytest.raises(TypeError):
        filled.save("stepX", "opY", data)
    with pytest.raises(TypeError):
        filled.save_batch("opY", 1, data)
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "records",
    [
        [{"v": "\ud800"}],
        [{"v": {"deep": ["a\udfffb"]}}],
        [{"\ud800": 1}],
        [{"m": {"k\udc00": "v"}}],
        [{"long": "x" * 5000 + "\ud800"}],
    ],
    ids=["value", "nested value", "key", "nested key", "long value"],
)
def test_lone_surrogate_is_rejected_or_kept(
    filled: CheckpointManager, tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    before = tree_snapshot(tmp_path)
    try:
        filled.save("stepX", "sur", records)
    except ValueError:
        assert tree_snapshot(tmp_path) == before
    else:
        assert_roundtrip(CheckpointManager(filled.intermediate_dir).load("stepX", "sur"), records)


# what no checkpoint name can be; path-like names DocETL accepts are kept as given
BAD_NAMES = ["", "a\x00b", "x" * 256, "é" * 128]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_are_rejected(filled: CheckpointManager, tmp_path: Path, name: str) -> None:
    before = tree_snapshot(tmp_path)
    with pytest.raises(ValueError):
        filled.save(name, "op", GOOD)
    with pytest.raises(ValueError):
        filled.save("step", name, GOOD)
    with pytest.raises(ValueError):
        filled.save_batch(name, 0, GOOD)
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_on_a_new_store_write_nothing(tmp_path: Path, name: str) -> None:
    m = CheckpointManager(tmp_path / "store")
    for save in (lambda: m.save(name, "op", GOOD), lambda: m.save("step", name, GOOD)):
        with pytest.raises(ValueError):
            save()
    assert tree_snapshot(tmp_path) == {}


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_bad_names_on_read_and_delete(filled: CheckpointManager, tmp_path: Path, name: str) -> None:
    before = tree_snapshot(tmp_path)
    for call, absent in ((filled.load, None), (filled.info, None), (filled.delete, False)):
        for args in ((name, "opY"), ("stepX", name)):
            try:
                assert call(*args) is absent
            except ValueError:
                pass
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "name",
    ["résumé", "my step", "v1.2", "-dash", "x" * 200, "日本", ".", "..", "a/b", "../up", "a\\b"],
)
def test_unusual_but_valid_names(manager: CheckpointManager, name: str) -> None:
    manager.save(name, name, GOOD)
    manager.save_batch(name, 0, GOOD)
    assert manager.list() == [(name, name)]
    assert manager.list_batches(name) == [0]
    assert_roundtrip(CheckpointManager(manager.intermediate_dir).load(name, name), GOOD)


def test_shared_references_are_not_cycles(manager: CheckpointManager) -> None:
    shared = {"k": [1, 2]}
    data = [{"a": shared, "b": [shared, shared]}, {"a": shared}]
    manager.save("s", "o", data)
    assert_roundtrip(manager.load("s", "o"), data)


# A crash (stack overflow) would take the whole test run down, so these run in a child.
CHILD = textwrap.dedent("""
    import json, os, sys
    from docetl_checkpoint import CheckpointManager
    folder = sys.argv[1]
    {build}
    try:
        CheckpointManager(folder).save("s", "o", data)
    except Exception as e:
        print(type(e).__name__, os.path.exists(folder))
    else:
        loaded = CheckpointManager(folder).load("s", "o")
        try:
            print("saved", loaded == json.loads(json.dumps(data)))
        except RecursionError:  # json itself cannot go this deep
            print("saved", type(loaded).__name__)
""")


def run_child(tmp_path: Path, build: str) -> str:
    script = CHILD.format(build=build)
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"child crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout.strip()


@pytest.mark.parametrize(
    "build",
    [
        "l = []; l.append(l); data = [{'x': l}]",
        "d = {}; d['self'] = d; data = [d]",
        "d = {'a': [{}]}; d['a'][0]['b'] = d; data = [{'ok': 1}, d]",
        "l = ['x' * 5000]; l.append(l); data = [{'big': l}]",
    ],
    ids=["list", "dict", "indirect", "large"],
)
def test_circular_reference_is_a_value_error(tmp_path: Path, build: str) -> None:
    assert run_child(tmp_path, build) == "ValueError False"


def test_very_deep_nesting_does_not_crash(tmp_path: Path) -> None:
    out = run_child(tmp_path, "data = [{'x': 0}]\nfor _ in range(100_000): data = [{'x': data}]")
    assert out in ("ValueError False", "RecursionError False", "saved list"), out
    assert os.path.exists(tmp_path / "store") == out.startswith("saved")
