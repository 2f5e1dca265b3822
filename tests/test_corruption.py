"""Damage is loud (DESIGN invariant 6, issue 5).

For every file of a store (manifest, checkpoint data files, value segments) and each
kind of damage (a flipped byte at the start, middle or end, a truncation, deletion),
on a copy of a pristine store:
- a load that fails raises a CheckpointError naming the damaged file;
- a load/head/table that does not fail returns exactly the original data (never
  wrong data, never None or [] for a committed checkpoint);
- the loads of a checkpoint that needs the damaged file fail;
- verify() reports exactly those checkpoints as damaged (naming the file) and the
  others as intact, and the intact ones still load exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointError, CheckpointManager
from helpers.damage import DAMAGES, TARGETS, build, damage, targets
from helpers.data import digest
from helpers.store import data_files, inode, link_path, manifest, value_files

Key = tuple[str, str]
CASES = [(t, d) for t in TARGETS for d in DAMAGES if (t, d) != ("manifest", "delete")]


class Pristine:
    def __init__(self, path: Path) -> None:
        self.path = path
        mgr = CheckpointManager(path)
        self.keys: list[Key] = sorted((e["step"], e["op"]) for e in mgr.entries())
        self.records = {k: mgr.load(*k) for k in self.keys}
        self.tables = {k: mgr.table(*k) for k in self.keys}
        self.list = mgr.list()


def make_pristine(root: Path, builder) -> Pristine:
    builder(root / "built")
    # Moved before use: a store must not depend on its absolute path.
    os.rename(root / "built", root / "pristine")
    return Pristine(root / "pristine")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    return make_pristine(tmp_path_factory.mktemp("corruption"), build)


def build_with_empty(path: Path) -> None:
    mgr = CheckpointManager(path)
    mgr.save("s", "empty", [])
    mgr.save("s", "other", [{"id": 1}])


def test_pristine_store_loads_and_verifies(pristine: Pristine) -> None:
    assert len(pristine.keys) == 6
    assert pristine.records[("s1", "filter")][1]["keep"] is True
    mgr = CheckpointManager(pristine.path)
    report = mgr.verify()
    assert report["ok"] is True and report["damaged"] == []
    assert sorted(map(tuple, report["intact"])) == pristine.keys
    assert len(data_files(pristine.path)) >= 6 and len(value_files(pristine.path)) >= 1


def same(got: Any, want: Any) -> bool:
    if hasattr(want, "equals"):
        return got is not None and got.equals(want)
    return got is not None and digest(got) == digest(want)


def check_case(store: Path, target: Path, kind: str, which: str, p: Pristine) -> list[str]:
    name = target.name
    if which == "manifest":
        needers = set(p.keys)
    elif which == "files":
        needers = {
            k
            for k in p.keys
            if link_path(store, k).exists() and inode(link_path(store, k)) == inode(target)
        }
    else:
        needers = set()
    damage(target, kind)
    problems: list[str] = []

    def loud(exc: BaseException) -> bool:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc
        return isinstance(exc, CheckpointError) and name in str(exc)

    try:
        mgr = CheckpointManager(store)
    # pyo3 panics are BaseException. Refusing the whole store is loud enough if it names the file.
    except BaseException as exc:  # noqa: B036
        return (
            []
            if loud(exc)
            else [f"CheckpointManager() raised {exc!r}, not a CheckpointError naming {name}"]
        )

    raised: set[Key] = set()
    for key in p.keys:
        calls = [
            ("load", partial(mgr.load, *key), p.records[key]),
            ("head", partial(mgr.head, *key, 2), p.records[key][:2]),
            ("table", partial(mgr.table, *key), p.tables[key]),
        ]
        for what, call, want in calls:
            try:
                got = call()
            except BaseException as exc:  # noqa: B036 (a pyo3 panic is a BaseException)
                if not loud(exc):
                    problems.append(
                        f"{what}{key} raised {exc!r}, not a CheckpointError naming {name}"
                    )
                if what == "load":
                    raised.add(key)
                continue
            if not same(got, want):
                problems.append(f"{what}{key} returned wrong or missing data without an error")
    try:
        listed = mgr.list()
        if listed != p.list:
            problems.append(f"list() returned {listed} without an error, want {p.list}")
    except BaseException as exc:  # noqa: B036
        if not loud(exc):
            problems.append(f"list() raised {exc!r}, not a CheckpointError naming {name}")

    for key in sorted(needers - raised):
        problems.append(f"load{key} needs {name} but did not raise")
    if which == "values" and not raised:
        problems.append(f"no load raised although value segment {name} is damaged")

    try:
        report = mgr.verify()
    except BaseException as exc:  # noqa: B036
        if not (which == "manifest" and loud(exc)):
            problems.append(f"verify() raised {exc!r}")
        return problems
    if which == "manifest":
        # an unreadable manifest: verify reports it (ok False, naming it), checks nothing else
        if report["ok"] is not False or name not in str(report.get("manifest_error")):
            problems.append(f"verify() does not report the damaged manifest: {report}")
        return problems
    damaged = {(d["step"], d["op"]) for d in report["damaged"]}
    intact = set(map(tuple, report["intact"]))
    if report["ok"] is not False:
        problems.append(f"verify() says ok: {report}")
    for key in sorted(raised - damaged):
        problems.append(f"load{key} raised but verify() does not report it damaged")
    for key in sorted(damaged - raised):
        problems.append(f"verify() reports {key} damaged by {name}, yet load{key} did not raise")
    if intact != set(p.keys) - damaged:
        problems.append(f"verify() intact {sorted(intact)}, want every other checkpoint")
    for d in report["damaged"]:
        if name not in str(d.get("file")):
            problems.append(f"verify() damaged entry {d} does not name {name}")
    return problems


@pytest.mark.parametrize(("which", "kind"), CASES)
def test_damage_is_loud(pristine: Pristine, tmp_path: Path, which: str, kind: str) -> None:
    names = [t.name for t in targets(pristine.path, which)]
    assert names, f"the pristine store has no {which} file"
    problems = []
    for i, name in enumerate(names):
        store = tmp_path / f"case{i}"
        subprocess.run(["cp", "-a", str(pristine.path), str(store)], check=True)  # keeps hardlinks
        target = targets(store, which)[i]
        assert target.name == name
        problems += [
            f"[{which}/{name} {kind}] {msg}"
            for msg in check_case(store, target, kind, which, pristine)
        ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_empty_checkpoint_is_loud_not_empty(tmp_path: Path, kind: str) -> None:
    """A damaged data file of a checkpoint of zero records must not load as []."""
    p = make_pristine(tmp_path, build_with_empty)
    assert p.records[("s", "empty")] == []
    key = ("s", "empty")
    [target] = [f for f in data_files(p.path) if inode(f) == inode(link_path(p.path, key))]
    store = tmp_path / "case"
    subprocess.run(["cp", "-a", str(p.path), str(store)], check=True)
    problems = check_case(store, store / target.relative_to(p.path), kind, "files", p)
    assert not problems, "\n".join(problems)


def test_missing_data_file_and_its_link_is_an_error_naming_it(
    pristine: Pristine, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    subprocess.run(["cp", "-a", str(pristine.path), str(store)], check=True)
    key = ("s1", "map")
    link = link_path(store, key)
    [target] = [f for f in data_files(store) if inode(f) == inode(link)]
    target.unlink()
    link.unlink()
    mgr = CheckpointManager(store)
    with pytest.raises(CheckpointError) as info:
        mgr.load(*key)
    assert target.name in str(info.value) or link.name in str(info.value)
    assert mgr.load("s2", "unnest") == pristine.records[("s2", "unnest")]
    report = mgr.verify()
    assert report["ok"] is False and [(d["step"], d["op"]) for d in report["damaged"]] == [key]


def test_manifest_that_is_not_json_is_loud(pristine: Pristine, tmp_path: Path) -> None:
    store = tmp_path / "store"
    subprocess.run(["cp", "-a", str(pristine.path), str(store)], check=True)
    manifest(store).write_text(json.dumps({"generation": "x"})[:-1])
    with pytest.raises(CheckpointError) as info:
        CheckpointManager(store).load("s1", "map")
    assert "manifest.json" in str(info.value)
