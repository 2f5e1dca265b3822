"""Garbage collection (DESIGN invariant 7, issue 5): what no live checkpoint
references is removed, gc reports it, nothing live is lost, and a collected store is
within 10% of a fresh store holding the same live checkpoints."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from docetl_checkpoint import CheckpointManager
from helpers.data import big_string, digest
from helpers.store import (
    all_files,
    check_collected,
    data_files,
    disk_usage,
    meta_dir,
    tmp_names,
    value_files,
)

Key = tuple[str, str]
COUNTS = ("files_removed", "bytes_freed", "values_removed")


def records(rng: random.Random, texts: list[str], n: int = 3) -> list[dict]:
    """Records keeping `texts` (unchanged across overwrites) plus new large values."""
    return [
        {"id": i, "text": texts[i], "summary": big_string(rng, 12_000, 16_000), "n": rng.random()}
        for i in range(n)
    ]


def assert_loads(mgr: CheckpointManager, live: dict[Key, list]) -> None:
    for key, want in live.items():
        got = mgr.load(*key)
        assert got is not None and digest(got) == digest(want), f"{key} lost or changed"
    assert mgr.verify()["ok"] is True


def assert_nothing_left(mgr: CheckpointManager) -> None:
    again = mgr.gc()
    assert {k: again[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0), f"a second gc freed {again}"


def meta_files(store: Path) -> set[str]:
    return {os.path.relpath(p, store) for p in all_files(meta_dir(store))}


def test_gc_reports_what_it_frees(tmp_path: Path) -> None:
    rng = random.Random("report")
    store = tmp_path / "store"
    mgr = CheckpointManager(store)
    texts = [big_string(rng, 10_000, 12_000) for _ in range(3)]
    live = {}
    for _round in range(3):
        for op in ("a", "b"):
            live[("s", op)] = records(rng, texts)
            mgr.save("s", op, live[("s", op)])
    before_files, before_size = meta_files(store), disk_usage(store)
    report = mgr.gc(keep_versions=1)  # replaced versions are dead once history goes
    after_files, after_size = meta_files(store), disk_usage(store)
    gone = before_files - after_files
    assert report["files_removed"] >= len(gone) > 0
    assert report["values_removed"] >= 2 * 2 * 3  # two dead versions x 2 checkpoints x 3 summaries
    assert before_size - after_size >= 2 * 2 * 3 * 6_000  # dead summaries are incompressible
    assert 0.9 * (before_size - after_size) <= report["bytes_freed"] <= before_size
    assert_loads(mgr, live)
    assert_nothing_left(mgr)
    assert_loads(CheckpointManager(store), live)


def test_gc_without_garbage_frees_nothing(tmp_path: Path) -> None:
    rng = random.Random("clean")
    mgr = CheckpointManager(tmp_path / "store")
    live = {
        ("s", op): records(rng, [big_string(rng, 9_000, 9_000) for _ in range(3)]) for op in "abc"
    }
    for key, recs in live.items():
        mgr.save(*key, recs)
    before = {p: p.stat().st_size for p in all_files(tmp_path / "store")}
    assert {k: mgr.gc()[k] for k in COUNTS} == dict.fromkeys(COUNTS, 0)
    assert {p: p.stat().st_size for p in all_files(tmp_path / "store")} == before
    assert_loads(mgr, live)


def test_ten_overwrites_then_gc_is_within_10_percent_of_fresh(tmp_path: Path) -> None:
    rng = random.Random("ten")
    store, fresh_dir = tmp_path / "store", tmp_path / "fresh"
    mgr = CheckpointManager(store)
    shared = [big_string(rng, 10_000, 14_000) for _ in range(3)]
    texts = {op: [shared[0], *(big_string(rng, 10_000, 14_000) for _ in range(2))] for op in "abcd"}
    live: dict[Key, list] = {}
    for _ in range(11):  # the first save and ten overwrites
        for op in "abcd":
            live[("s", op)] = records(rng, texts[op])
            mgr.save("s", op, live[("s", op)])
        for i in (0, 1):
            live[("m_batches", f"batch_{i}")] = records(rng, shared, n=2)
            mgr.save_batch("m", i, live[("m_batches", f"batch_{i}")])
    before = disk_usage(store)
    report = mgr.gc(keep_versions=1)
    assert (
        report["files_removed"] > 0 and report["bytes_freed"] > 0 and report["values_removed"] > 0
    )
    assert_loads(mgr, live)
    assert_nothing_left(mgr)
    fresh = CheckpointManager(fresh_dir)
    for (step, op), recs in live.items():
        if step == "m_batches":
            fresh.save_batch("m", int(op.removeprefix("batch_")), recs)
        else:
            fresh.save(step, op, recs)
    got, want = disk_usage(store), disk_usage(fresh_dir)
    assert abs(got - want) <= 0.10 * want, (
        f"collected store {got} bytes, fresh {want} (before gc {before})"
    )
    assert check_collected(store, list(live), list(live)) == []
    assert_loads(CheckpointManager(store), live)


def test_delete_then_gc_keeps_values_other_checkpoints_share(tmp_path: Path) -> None:
    rng = random.Random("share")
    mgr = CheckpointManager(tmp_path / "store")
    shared, own = big_string(rng, 20_000, 20_000), big_string(rng, 20_000, 20_000)
    a = [{"text": shared, "own": own}]
    b = [{"text": shared, "n": 1}]
    mgr.save("s", "a", a)
    mgr.save("s", "b", b)
    mgr.save_batch("m", 0, a)  # same records as (s, a): its data may be shared too
    assert mgr.delete("s", "a") is True
    report = mgr.gc(keep_versions=1)
    assert mgr.load("s", "a") is None
    assert_loads(mgr, {("s", "b"): b, ("m_batches", "batch_0"): a})
    mgr.delete_batches("m")
    report = mgr.gc(keep_versions=1)
    assert report["values_removed"] >= 1 and report["bytes_freed"] >= 12_000  # `own` is gone now
    assert_loads(mgr, {("s", "b"): b})
    assert mgr.list() == [("s", "b")] and mgr.list_batches("m") == []
    assert_nothing_left(mgr)


def test_gc_removes_stray_files(tmp_path: Path) -> None:
    rng = random.Random("stray")
    store = tmp_path / "store"
    mgr = CheckpointManager(store)
    live = {("s", "a"): records(rng, [big_string(rng, 9_000, 9_000) for _ in range(3)])}
    mgr.save("s", "a", live[("s", "a")])
    old = time.time() - 3 * 86400  # old enough that no running writer can own them
    strays = [
        meta_dir(store) / "manifest.json.1234.tmp",
        meta_dir(store) / "files" / "x.parquet.tmp",
    ]
    for p in strays:
        p.write_bytes(os.urandom(5_000))
    orphan = meta_dir(store) / "values" / ("f" * 64 + ".parquet")
    pq.write_table(
        pa.table({"hash": [b"\0" * 32], "value": [big_string(rng, 10_000, 10_000)]}), orphan
    )
    strays.append(orphan)
    for p in strays:
        os.utime(p, (old, old))
    size = sum(p.stat().st_size for p in strays)
    report = mgr.gc()
    assert [p for p in strays if p.exists()] == []
    assert report["files_removed"] >= 3 and report["bytes_freed"] >= size
    assert tmp_names(store) == [] and orphan.name not in {p.name for p in value_files(store)}
    assert_loads(mgr, live)
    assert_nothing_left(mgr)


def test_clear_removes_everything_collectable(tmp_path: Path) -> None:
    rng = random.Random("clear")
    store = tmp_path / "store"
    mgr = CheckpointManager(store)
    for op in "abc":
        mgr.save("s", op, records(rng, [big_string(rng, 9_000, 9_000) for _ in range(3)]))
    mgr.save_batch("m", 0, records(rng, [big_string(rng, 9_000, 9_000) for _ in range(3)]))
    assert mgr.clear() == 4
    assert mgr.list() == [] and mgr.list_batches("m") == [] and mgr.load("s", "a") is None
    assert value_files(store) == [] and data_files(store) == []
    assert disk_usage(store) < 16_000, f"{disk_usage(store)} bytes left after clear()"
    assert_nothing_left(mgr)
    assert CheckpointManager(store).verify()["ok"] is True
