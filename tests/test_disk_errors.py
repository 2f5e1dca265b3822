"""Disk errors and hostile input (issue 5): a read-only folder and a full disk raise
OSError and leave the store valid; bad names and bad records are refused with
nothing written, and nothing is ever written outside the store's folder."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from docetl_checkpoint import CheckpointManager
from helpers.data import big_string, digest
from helpers.store import (
    HELPERS,
    PYTHON,
    check_collected,
    data_files,
    manifest,
    snapshot,
    tmp_names,
    value_files,
)

Key = tuple[str, str]


def populate(store: Path, n: int, big: bool = True) -> dict[Key, str]:
    rng = random.Random(f"populate-{n}")
    mgr = CheckpointManager(store)
    committed = {}
    for i in range(n):
        recs = [{"id": i, "text": big_string(rng, 6_000, 8_000) if big else f"t{i}", "n": i / 7}]
        mgr.save("s", f"c{i}", recs)
        committed[("s", f"c{i}")] = digest(recs)
    return committed


def assert_valid(store: Path, committed: dict[Key, str]) -> CheckpointManager:
    mgr = CheckpointManager(store)
    for key, want in committed.items():
        got = mgr.load(*key)
        assert got is not None and digest(got) == want, f"{key} lost or changed"
    assert mgr.list() == sorted(committed)
    assert mgr.verify()["ok"] is True
    return mgr


# -- full disk -------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["segment", "zero", "overwrite", "manifest"])
def test_full_disk_raises_oserror_and_store_stays_valid(tmp_path: Path, scenario: str) -> None:
    store = tmp_path / "store"
    committed = populate(store, 60 if scenario == "manifest" else 5, big=scenario != "manifest")
    if scenario == "manifest":  # the limit is the manifest's size: only the new manifest may hit it
        biggest = max(p.stat().st_size for p in data_files(store) + value_files(store))
        assert biggest < manifest(store).stat().st_size, (
            "setup: data files larger than the manifest"
        )
    proc = subprocess.run(
        [PYTHON, str(HELPERS / "fsize_child.py"), str(store), scenario],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0 and proc.stderr.startswith("setpriv"):
        pytest.skip(f"cannot drop capabilities to make a folder read-only: {proc.stderr}")
    assert proc.returncode == 0 and proc.stdout, (
        f"child crashed (rc {proc.returncode}): {proc.stderr[-3000:]}"
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    key = ("s", "c0") if scenario == "overwrite" else ("s", "new")
    assert res["raised"] is not None, f"save succeeded past RLIMIT_FSIZE={res['limit']}"
    assert res["is_oserror"], f"save raised {res['raised']} ({res['message']}), want OSError"
    assert res["after_failure"] == committed.get(key), "a failed save changed the checkpoint"
    assert res["list"] == [list(k) for k in sorted(committed)]
    assert res["verify_ok"] is True
    assert res["retry"] == "ok", f"the manager could not save once space was back: {res['retry']}"
    committed[key] = res["digest"]
    mgr = assert_valid(store, committed)
    mgr.gc()
    assert tmp_names(store) == []
    assert check_collected(store, list(committed), list(committed)) == []


# -- read-only folder -------------------------------------------------------------


@pytest.fixture(scope="module")
def readonly_probe(tmp_path_factory: pytest.TempPathFactory):
    """A store with garbage, made read-only (chmod 0o555 on every folder), probed by a
    process that cannot write it. Root ignores permission bits, so as root the probe
    runs without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH/CAP_FOWNER (setpriv)."""
    store = tmp_path_factory.mktemp("readonly") / "store"
    committed = populate(store, 3)
    CheckpointManager(store).save("s", "c2", [{"id": 2, "replaced": True}])  # garbage for gc
    committed[("s", "c2")] = digest([{"id": 2, "replaced": True}])
    before = snapshot(store)
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root, where chmod does not stop writes, and setpriv is missing")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    dirs = [Path(d) for d, _, _ in os.walk(store)]
    for d in dirs:
        d.chmod(0o555)
    try:
        keys = json.dumps([list(k) for k in sorted(committed)])
        cmd = [*prefix, PYTHON, str(HELPERS / "readonly_child.py"), str(store), keys]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        for d in dirs:
            d.chmod(0o755)
    assert proc.returncode == 0 and proc.stdout, (
        f"probe failed (rc {proc.returncode}): {proc.stderr[-3000:]}"
    )
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["can_write"]:
        pytest.skip("cannot make a folder read-only for this user here")
    return store, committed, before, res


def test_read_only_folder_writes_raise_oserror(readonly_probe) -> None:
    store, committed, before, res = readonly_probe
    for call, outcome in res["writes"].items():
        assert outcome[0] != "returned", f"{call} on a read-only folder returned {outcome[1]}"
        assert outcome[1] is True, (
            f"{call} on a read-only folder raised {outcome[0]}: {outcome[2]}, want OSError"
        )
    assert snapshot(store) == before
    assert_valid(store, committed)


def test_read_only_folder_can_still_be_read(readonly_probe) -> None:
    store, committed, before, res = readonly_probe
    got = {tuple(k.split("/")): v for k, v in res["reads"].items()}
    assert got == {k: ["returned", d] for k, d in committed.items()}
    assert res["list"] == ["returned", [list(k) for k in sorted(committed)]]
    assert res["verify"] == ["returned", True]


# -- hostile names and bad records --------------------------------------------------

REFUSED = ["", "a\x00b", "x" * 256, "é" * 128]
# names DocETL accepts (`inter/st/x/y.json`): kept as given, stored under escaped file names
PATH_LIKE = [
    ".",
    "..",
    "../x",
    "../../x",
    "a/b",
    "/abs",
    "a\\b",
    "..\\x",
    "%2F",
    ".docetl_checkpoint",
]


@pytest.mark.parametrize("name", REFUSED, ids=repr)
def test_impossible_names_are_refused_and_write_nothing(tmp_path: Path, name: str) -> None:
    base = tmp_path / "base"
    store = base / "store"
    mgr = CheckpointManager(store)
    mgr.save("s", "ok", [{"a": 1}])
    before = snapshot(base)
    for call in (
        lambda: mgr.save(name, "ok", [{"a": 2}]),
        lambda: mgr.save("s", name, [{"a": 2}]),
        lambda: mgr.save_batch(name, 0, [{"a": 2}]),
    ):
        with pytest.raises(ValueError):
            call()
    for call in (lambda: mgr.delete(name, "victim"), lambda: mgr.load(name, "ok")):
        try:
            assert not call()
        except ValueError:
            pass
    assert snapshot(base) == before
    assert CheckpointManager(store).list() == [("s", "ok")]


@pytest.mark.parametrize("name", PATH_LIKE, ids=repr)
def test_path_like_names_work_and_write_only_inside_the_store(tmp_path: Path, name: str) -> None:
    base = tmp_path / "base"
    store = base / "store"
    mgr = CheckpointManager(store)
    mgr.save("s", "ok", [{"a": 1}])
    (base / "victim.parquet").write_bytes(b"not yours")  # where '../victim' would point
    outside = {p: h for p, h in snapshot(base).items() if not p.startswith("store")}
    abs_existed = os.path.lexists("/abs")
    paths = [
        mgr.save(name, "ok", [{"a": 2}]),
        mgr.save("s", name, [{"a": 3}]),
        mgr.save_batch(name, 0, [{"a": 4}]),
    ]
    for path in paths:
        assert Path(path).resolve().is_relative_to(store.resolve()), path
        assert Path(path).is_file()
    fresh = CheckpointManager(store)
    assert fresh.load(name, "ok") == [{"a": 2}]
    assert fresh.load("s", name) == [{"a": 3}]
    assert fresh.load_batches(name) == [[{"a": 4}]]
    assert sorted(fresh.list()) == sorted({("s", "ok"), (name, "ok"), ("s", name)})
    assert fresh.delete(name, "ok") and fresh.delete("s", name)
    fresh.gc()
    assert fresh.verify()["ok"] is True
    assert {p: h for p, h in snapshot(base).items() if not p.startswith("store")} == outside
    assert (base / "victim.parquet").read_bytes() == b"not yours"
    assert os.path.lexists("/abs") == abs_existed
    assert sorted(fresh.list()) == [("s", "ok")]


@pytest.mark.parametrize("where", ["step", "op", "batch_op"])
def test_name_of_255_bytes_works_or_is_refused_cleanly(tmp_path: Path, where: str) -> None:
    base, name, recs = tmp_path / "base", "x" * 255, [{"a": 1}]
    mgr = CheckpointManager(base / "store")
    mgr.save("s", "ok", recs)
    before = snapshot(base)
    step, op = (name, "o") if where == "step" else ("s", name)
    try:
        if where == "batch_op":
            mgr.save_batch(name, 0, recs)
            step, op = f"{name}_batches", "batch_0"
        else:
            mgr.save(step, op, recs)
    except ValueError:
        assert snapshot(base) == before
        return
    assert mgr.load(step, op) == recs
    assert CheckpointManager(base / "store").verify()["ok"] is True
    assert os.listdir(base) == ["store"]


LARGE = big_string(random.Random("bad"), 50_000, 50_000)
BAD = {
    "datetime": [{"a": datetime(2024, 1, 1)}],
    "bytes": [{"a": b"raw"}],
    "set": [{"a": {1, 2}}],
    "object": [{"a": object()}],
    "nested-after-large": [
        {"text": LARGE},
        {"text": LARGE + "!", "a": {"b": [1, datetime(2024, 1, 1)]}},
    ],
    "record-not-dict": [{"a": 1}, "not a dict"],
    "data-not-list": {"a": 1},
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_records_are_refused_and_write_nothing(tmp_path: Path, kind: str) -> None:
    store = tmp_path / "store"
    mgr = CheckpointManager(store)
    good = [{"text": big_string(random.Random("good"), 20_000, 20_000)}]
    mgr.save("s", "c", good)
    before = snapshot(store)
    with pytest.raises(TypeError):
        mgr.save("s", "c", BAD[kind])
    with pytest.raises(TypeError):
        mgr.save("s", "new", BAD[kind])
    with pytest.raises(TypeError):
        mgr.save_batch("m", 0, BAD[kind])
    assert snapshot(store) == before, "a refused save wrote files"
    assert (
        mgr.load("s", "c") == good and mgr.load("s", "new") is None and mgr.list_batches("m") == []
    )
    assert mgr.verify()["ok"] is True


def test_type_error_names_step_op_index_and_key_path(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path / "store")
    with pytest.raises(TypeError) as info:
        mgr.save("stepX", "opY", [{"ok": 1}, {"a": {"b": [1, datetime(2024, 1, 1)]}}])
    msg = str(info.value)
    for part in ("stepX", "opY", "1", "a", "b"):
        assert part in msg, f"{part!r} missing from {msg!r}"
