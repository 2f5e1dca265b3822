"""DocETL's Frame API (`docetl.intermediate_dir = ...`, then `collect()`) over the store.

Real DocETL 0.3.0 frames, offline: after `install()` a `collect()` keeps its
intermediates in our store (DocETL's own store as the reference), a second
`collect()` of the same pipeline reuses them without running an operation,
and `show()`'s sampled runs neither read nor write checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_json_identical
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.docetl import CheckpointStore, install, uninstall
from docetl_helpers import (
    DOCETL_MARKS,
    LOG_ENV,
    LONG_ENOUGH,
    STATS,
    calls,
    docetl_json_files,
    make_docs,
    write_json,
)

pytestmark = DOCETL_MARKS


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any) -> Iterator[Path]:
    (tmp_path / "calls").mkdir()
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "calls"))
    write_json(tmp_path / "data.json", make_docs(10))
    previous = docetl.intermediate_dir
    yield tmp_path
    docetl.intermediate_dir = previous
    uninstall()


def frame(docetl: Any, root: Path) -> Any:
    """A fresh Frame: stats (code_map) then long_enough (code_filter)."""
    return (
        docetl.read_json(str(root / "data.json"))
        .code_map("stats", code=STATS)
        .code_filter("long_enough", code=LONG_ENOUGH)
    )


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


class Spy:
    """Counts what the stores are asked, whichever store the runner built."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, docetl: Any) -> None:
        self.built: list[Any] = []
        self.loaded: list[tuple[str, str]] = []
        self.saved: list[tuple[str, str]] = []
        for cls in (CheckpointStore, docetl.checkpoint.CheckpointStore):
            self._wrap(monkeypatch, cls)

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, cls: type) -> None:
        init, load, save = cls.__init__, cls.load, cls.save

        def spy_init(store: Any, *args: Any, **kwargs: Any) -> None:
            self.built.append(store)
            init(store, *args, **kwargs)

        def spy_load(store: Any, step: str, op: str) -> Any:
            found = load(store, step, op)
            if found is not None:
                self.loaded.append((step, op))
            return found

        def spy_save(store: Any, step: str, op: str, data: Any) -> Any:
            self.saved.append((step, op))
            return save(store, step, op, data)

        monkeypatch.setattr(cls, "__init__", spy_init)
        monkeypatch.setattr(cls, "load", spy_load)
        monkeypatch.setattr(cls, "save", spy_save)


def test_collect_uses_the_store_and_a_second_collect_reuses(
    root: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any
) -> None:
    spy = Spy(monkeypatch, docetl)
    docetl.intermediate_dir = str(root / "docetl")
    theirs = frame(docetl, root).collect()  # DocETL's own store: the reference
    reference = sorted(p.stem for p in docetl_json_files(root / "docetl") if p.stem[0] != ".")

    docetl.intermediate_dir = str(root / "ours")
    install()
    first = frame(docetl, root).collect()
    assert_json_identical(first, theirs)
    assert isinstance(spy.built[-1], CheckpointStore)
    manager = CheckpointManager(str(root / "ours"))
    ops = sorted(op for _, op in manager.list())
    assert ops == reference == ["long_enough", "stats"]
    assert docetl_json_files(root / "ours") == []
    for step, op in manager.list():
        meta = manager.info(step, op)["meta"]
        assert meta["docetl_inputs"]  # input digests recorded through the Frame too

    before = calls(root / "calls")
    spy.loaded.clear()
    second = frame(docetl, root).collect()  # a new Frame: no in-memory memo to hide behind
    assert calls(root / "calls") == before
    assert [op for _, op in spy.loaded] == ["long_enough"]  # only the last one is loaded
    assert_json_identical(second, first)

    write_json(root / "data.json", make_docs(10, seed=8))  # an input edit is not reused stale
    third = frame(docetl, root).collect()
    assert calls(root / "calls") != before
    assert third != first


def test_show_neither_reads_nor_writes_checkpoints(
    root: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    docetl.intermediate_dir = str(root / "ours")
    install()
    frame(docetl, root).collect()
    snapshot = tree(root / "ours")
    spy = Spy(monkeypatch, docetl)
    before = calls(root / "calls")
    shown = frame(docetl, root).show(max=3)
    capsys.readouterr()
    assert len(shown) >= 1
    assert calls(root / "calls")["stats"] == before["stats"] + 3  # the sample did run
    assert spy.built == [] and spy.loaded == [] and spy.saved == []
    assert tree(root / "ours") == snapshot
    assert os.listdir(root / "ours")  # the folder is still the store it was
