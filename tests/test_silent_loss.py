"""No path from damage or misuse to silent loss (issue 16): a deleted manifest
is damage that every read path names, gc refuses to touch, and `recover`
rebuilds; one folder opened as a path and as a file:// URL is one store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import disk_bytes, tree_snapshot
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError
from helpers.store import data_files, link_path, manifest, meta_dir, value_files

TEXT = "the same long document text " * 400


def fill(mgr: CheckpointManager) -> dict[tuple[str, str], list[dict]]:
    """Three checkpoints (one overwritten, one deleted) and a batch sharing large values."""
    saved = {
        ("extract", "map"): [{"id": i, "text": TEXT + str(i % 3), "n": i} for i in range(40)],
        ("extract", "filter"): [{"id": i, "text": TEXT + str(i % 3)} for i in range(0, 40, 2)],
        ("extract", "op/with/slashes"): [{"id": 1, "s": "\udce9caf"}],
    }
    mgr.save("extract", "map", [{"id": 0, "text": "first version " * 300}])
    for (step, op), records in saved.items():
        mgr.save(step, op, records)
    mgr.save("gone", "op", [{"x": 1}])
    mgr.delete("gone", "op")
    # no history: recover would bring back kept versions (test_history.py)
    mgr.gc(keep_versions=1)
    mgr.save_batch("map", 0, [{"id": 9, "text": TEXT}])
    saved[("map_batches", "batch_0")] = [{"id": 9, "text": TEXT}]
    return saved


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "docetl_checkpoint.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_deleted_manifest_is_damage_every_read_path_names(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    fill(mgr)
    manifest(store_dir).unlink()
    before = tree_snapshot(store_dir)
    for call in (
        lambda: mgr.load("extract", "map"),
        lambda: mgr.list(),
        lambda: mgr.table("extract", "map"),
        lambda: mgr.stats(),
        lambda: mgr.info("extract", "map"),
        lambda: mgr.entries(),
        lambda: mgr.save("new", "op", [{"a": 1}]),
    ):
        with pytest.raises(CorruptCheckpointError, match="manifest is missing.*recover"):
            call()
    report = mgr.verify()
    assert report["ok"] is False
    assert "manifest is missing" in report["manifest_error"]
    # gc refuses: it cannot tell live files from garbage
    with pytest.raises(CorruptCheckpointError, match="manifest is missing"):
        mgr.gc()
    assert tree_snapshot(store_dir) == before
    assert cli("verify", str(store_dir)).returncode != 0
    ls = cli("ls", str(store_dir))
    assert ls.returncode != 0 and "recover" in ls.stderr


def test_recover_restores_every_live_checkpoint(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    saved = fill(mgr)
    manifest(store_dir).unlink()
    report = CheckpointManager(store_dir).recover()
    assert report["needed"] is True
    assert sorted(report["restored"]) == sorted(saved)
    # the first version of extract/map was collected with the history
    assert report["not_restored"] == []
    fresh = CheckpointManager(store_dir)
    for key, records in saved.items():
        assert fresh.load(*key) == records, key
    assert fresh.verify()["ok"] is True
    # the store works on: gc, a save, the user paths
    fresh.gc()
    fresh.save("after", "recover", [{"ok": True}])
    for key in saved:
        assert link_path(store_dir, key).exists() or "/" in key[1]
    assert fresh.load("extract", "op/with/slashes") == saved[("extract", "op/with/slashes")]
    # a readable manifest is left alone
    again = fresh.recover()
    assert again == {
        "needed": False,
        "restored": [],
        "segments": 0,
        "versions": 0,
        "not_restored": [],
    }


def test_recover_through_the_cli(store_dir: Path) -> None:
    saved = fill(CheckpointManager(store_dir))
    manifest(store_dir).unlink()
    done = cli("recover", str(store_dir))
    assert done.returncode == 0, done.stderr
    assert f"restored {len(saved)} checkpoint" in done.stdout
    assert CheckpointManager(store_dir).load("extract", "filter") == saved[("extract", "filter")]


def test_recover_never_restores_wrong_data(store_dir: Path) -> None:
    """A checkpoint whose values are gone (or whose segment is damaged) is
    reported, not restored with other values."""
    mgr = CheckpointManager(store_dir)
    mgr.save("a", "keep", [{"text": "kept " * 500}])
    mgr.save("b", "lose", [{"text": "lost " * 500}])
    lost = max(value_files(store_dir), key=lambda p: p.stat().st_mtime_ns)
    manifest(store_dir).unlink()
    lost.unlink()
    report = mgr.recover()
    assert report["restored"] == [("a", "keep")]
    assert any("no segment holds" in why for _, why in report["not_restored"])
    assert mgr.load("b", "lose") is None
    assert mgr.load("a", "keep") == [{"text": "kept " * 500}]


def test_an_unreadable_manifest_is_recovered_too(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    saved = fill(mgr)
    manifest(store_dir).write_text("{ torn")
    with pytest.raises(CorruptCheckpointError):
        mgr.load("extract", "map")
    assert sorted(mgr.recover()["restored"]) == sorted(saved)
    assert mgr.load("extract", "map") == saved[("extract", "map")]


def test_a_crash_before_the_first_commit_is_not_damage(store_dir: Path) -> None:
    """A new store commits an empty manifest before its first data file, so
    files of a first save that never committed are garbage, not damage."""
    mgr = CheckpointManager(store_dir)
    mgr.save("s", "o", [{"text": "x" * 5000}])
    # what a kill -9 between data files and manifest of a later save leaves
    stray = meta_dir(store_dir) / "files" / "000000000099-deadbeef.parquet"
    shutil.copy(data_files(store_dir)[0], stray)
    assert mgr.load("s", "o") == [{"text": "x" * 5000}]
    assert mgr.gc()["files_removed"] >= 1
    assert not stray.exists()


def test_s3_deleted_manifests_are_damage_and_recoverable(
    s3_url: str, s3_options: dict[str, str]
) -> None:
    from helpers.s3objects import delete_objects, list_objects

    mgr = CheckpointManager(s3_url, storage_options=s3_options)
    saved = fill(mgr)
    objects = list_objects(s3_options["endpoint"], s3_url)
    delete_objects(s3_options["endpoint"], s3_url, [k for k in objects if "/manifests/" in "/" + k])
    fresh = CheckpointManager(s3_url, storage_options=s3_options)
    with pytest.raises(CorruptCheckpointError, match="manifest is missing"):
        fresh.list()
    with pytest.raises(CorruptCheckpointError):
        fresh.gc()
    assert sorted(fresh.recover()["restored"]) == sorted(saved)
    for key, records in saved.items():
        assert CheckpointManager(s3_url, storage_options=s3_options).load(*key) == records


def test_one_folder_is_one_store(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    as_url = CheckpointManager(f"file://{folder}")
    as_url.save("s", "o", [{"text": "u" * 5000}])
    as_path = CheckpointManager(folder)
    with pytest.raises(ValueError, match="file://"):
        as_path.list()
    with pytest.raises(ValueError, match="file://"):
        as_path.gc()
    with pytest.raises(ValueError, match="file://"):
        as_path.save("t", "o", [{"a": 1}])
    assert as_url.load("s", "o") == [{"text": "u" * 5000}]
    ls = cli("ls", str(folder))
    assert ls.returncode != 0 and "file://" in ls.stderr

    other = tmp_path / "other"
    CheckpointManager(other).save("s", "o", [{"text": "p" * 5000}])
    with pytest.raises(ValueError, match="plain folder path"):
        CheckpointManager(f"file://{other}").list()


def test_gc_keeps_what_the_other_protocol_committed(tmp_path: Path) -> None:
    """A folder an earlier release let both protocols write: each gc keeps the
    other's files, and both stores stay readable."""
    folder = tmp_path / "run"
    CheckpointManager(folder).save("p", "o", [{"text": "p" * 5000}])
    # an earlier release's file:// store in the same folder: built aside, moved in
    aside = tmp_path / "aside"
    CheckpointManager(f"file://{aside}").save("u", "o", [{"text": "u" * 5000}])
    for sub in ("files", "values"):
        for f in (meta_dir(aside) / sub).iterdir():
            shutil.copy(f, meta_dir(folder) / sub / f.name)
    shutil.copytree(meta_dir(aside) / "manifests", meta_dir(folder) / "manifests")
    as_path, as_url = CheckpointManager(folder), CheckpointManager(f"file://{folder}")
    as_path.gc()
    as_url.gc()
    assert as_path.load("p", "o") == [{"text": "p" * 5000}]
    assert as_url.load("u", "o") == [{"text": "u" * 5000}]


def test_gc_reports_the_net_change_exactly(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    shared = "kept text " * 2000
    for round_ in range(4):
        mgr.save("s", "o", [{"t": shared, "v": f"{round_} " * 3000}, {"t": f"x{round_}" * 900}])
        mgr.save("s", f"tmp{round_}", [{"t": f"tmp {round_} " * 700}])
        mgr.delete("s", f"tmp{round_}")
    for policy in ({"keep_versions": 2}, {"keep_versions": 1}):
        before = disk_bytes(store_dir)
        report = mgr.gc(**policy)
        after = disk_bytes(store_dir)
        assert report["segments_rewritten"] + report["files_removed"] > 0, policy
        assert report["bytes_freed"] == before - after, policy


def test_identical_saves_leave_no_hidden_links(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    records = [{"text": "same " * 1000, "i": i} for i in range(5)]
    mgr.save("s", "o", records)
    once = sorted(p.relative_to(store_dir) for p in store_dir.rglob("*"))
    for _ in range(5):
        mgr.save("s", "o", records)
    assert sorted(p.relative_to(store_dir) for p in store_dir.rglob("*")) == once


def test_large_meta_stays_out_of_the_manifest(store_dir: Path) -> None:
    """A pipeline over thousands of parsed files records a digest of each: the
    manifest every commit rewrites keeps such values in the checkpoint file."""
    mgr = CheckpointManager(store_dir)
    digests = json.dumps({f"docs/file{i}.txt": "blake2b:" + "ab" * 32 for i in range(2000)})
    meta = {"op_hash": "h1", "inputs": digests}
    for i in range(10):
        mgr.save("s", f"op{i}", [{"i": i}], meta=meta)
    assert manifest(store_dir).stat().st_size < 20_000
    fresh = CheckpointManager(store_dir)
    assert fresh.info("s", "op3")["meta"] == meta
    assert all(e["meta"] == meta for e in fresh.entries())
    # identical records and meta: the file is reused; other meta: a new file
    before = fresh.info("s", "op0")["file"]
    fresh.save("s", "op0", [{"i": 0}], meta=meta)
    assert fresh.info("s", "op0")["file"] == before
    fresh.save("s", "op0", [{"i": 0}], meta={**meta, "inputs": digests + " "})
    assert fresh.info("s", "op0")["file"] != before
    assert fresh.info("s", "op0")["meta"]["inputs"] == digests + " "
