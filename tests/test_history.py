"""History: every save of a checkpoint is a version, kept until gc's retention
policy drops it (docs/history.md). Local folders, `file://` and S3 alike."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import disk_bytes, is_url, tree_snapshot
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError, record_hash

STORE_DIR = ".docetl_checkpoint"
FIXTURES = Path(__file__).parent / "fixtures"


def records(tag: str, n: int = 20) -> list[dict[str, Any]]:
    return [{"id": i, "text": f"{tag} document {i} " * 8, "n": i} for i in range(n)]


def numbers(m: CheckpointManager, step: str = "s", op: str = "map") -> list[int]:
    return [v["version"] for v in m.versions(step, op)]


def manifest(root: Path) -> dict[str, Any]:
    body = (root / STORE_DIR / "manifest.json").read_text().rsplit("\n", 2)[0]
    return json.loads(body)


def test_every_save_is_a_version_and_each_reads_back(store_location: str) -> None:
    m = CheckpointManager(store_location)
    saved = [records(f"v{i}") for i in range(3)]
    for r in saved:
        m.save("s", "map", r)
    versions = m.versions("s", "map")
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert [v["latest"] for v in versions] == [False, False, True]
    assert all(v["num_rows"] == 20 and not v["pinned"] for v in versions)
    assert versions[0]["created_at"] <= versions[1]["created_at"] <= versions[2]["created_at"]
    for number, r in enumerate(saved, start=1):
        assert m.load("s", "map", version=number) == r
        assert m.load("s", "map", version=number - 4) == r  # -3, -2, -1
        assert m.head("s", "map", 2, version=number) == r[:2]
        assert list(m.iter_records("s", "map", chunk_rows=7, version=number)) == r
        assert m.table("s", "map", version=number).column("text").to_pylist() == [
            x["text"] for x in r
        ]
        assert m.sample("s", "map", 3, ["id"], version=number).num_rows == 3
        assert m.reader("s", "map", version=number).read_all().num_rows == 20
        assert m.to_pandas("s", "map", version=number)["n"].tolist() == list(range(20))
        assert m.record_hashes("s", "map", version=number) == [record_hash(x) for x in r]
        assert m.info("s", "map", version=number)["version"] == number
    assert m.load("s", "map") == saved[-1]
    assert m.load("s", "map", version=4) is None
    assert m.load("s", "map", version=-4) is None
    # the seed API counts only the latest versions
    assert m.list_checkpoints() == [("s", "map")]
    assert m.get_storage_stats()["total_logical_records"] == 20
    assert m.stats()["history_versions"] == 2


def test_version_zero_and_bad_versions_are_rejected(manager: CheckpointManager) -> None:
    manager.save("s", "map", records("a"))
    with pytest.raises(ValueError, match="version 0"):
        manager.load("s", "map", version=0)
    with pytest.raises(ValueError, match="out of range"):
        manager.load("s", "map", version=2**70)
    with pytest.raises(TypeError):
        manager.load("s", "map", version=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        manager.load("s", "map", version="1")  # type: ignore[arg-type]


def test_saving_the_same_records_again_makes_no_version(manager: CheckpointManager) -> None:
    manager.save("s", "map", records("a"))
    manager.save("s", "map", records("a"))
    assert numbers(manager) == [1]
    manager.save("s", "map", records("a"), meta={"k": "v"})  # other meta: a version
    assert numbers(manager) == [1, 2]


def test_batches_keep_no_history(manager: CheckpointManager) -> None:
    manager.save_batch("map", 0, records("a"))
    manager.save_batch("map", 0, records("b"))
    assert numbers(manager, "map_batches", "batch_0") == [2]  # the second save, alone
    assert manager.stats()["history_versions"] == 0


def test_delete_keeps_the_versions_until_retention(manager: CheckpointManager) -> None:
    manager.save("s", "map", records("a"))
    manager.save("s", "map", records("b"))
    assert manager.delete("s", "map")
    assert manager.load("s", "map") is None
    assert manager.list() == []
    versions = manager.versions("s", "map")
    assert [(v["version"], v["latest"]) for v in versions] == [(1, False), (2, False)]
    assert manager.load("s", "map", version=-1) == records("b")
    manager.save("s", "map", records("c"))
    assert numbers(manager) == [1, 2, 3]


def test_clear_removes_history_unless_asked_to_keep_it(manager: CheckpointManager) -> None:
    manager.save("s", "map", records("a"))
    manager.save("s", "map", records("b"))
    manager.save_batch("map", 0, records("x"))
    assert manager.clear(keep_history=True) == 2
    assert manager.list() == [] and manager.list_batches("map") == []
    assert numbers(manager) == [1, 2]
    assert manager.clear() == 0
    assert manager.versions("s", "map") == []
    assert manager.stats()["stored_values"] == 0


def test_keep_versions_drops_the_oldest_and_never_the_latest(store_location: str) -> None:
    m = CheckpointManager(store_location)
    for i in range(7):
        m.save("s", "map", records(f"v{i}"))
    m.save("s", "other", records("o"))
    report = m.gc()  # default: keep 5
    assert report["versions_dropped"] == 2
    assert report["dropped"] == [
        {"step": "s", "op": "map", "version": 1},
        {"step": "s", "op": "map", "version": 2},
    ]
    assert numbers(m) == [3, 4, 5, 6, 7]
    assert m.load("s", "map", version=1) is None
    assert m.load("s", "map", version=3) == records("v2")
    m.gc(keep_versions=1)
    assert numbers(m) == [7] and numbers(m, "s", "other") == [1]
    assert m.load("s", "map") == records("v6")
    assert m.verify()["ok"]
    with pytest.raises(ValueError, match="keep_versions"):
        m.gc(keep_versions=0)


def test_keep_versions_none_keeps_everything(manager: CheckpointManager) -> None:
    for i in range(8):
        manager.save("s", "map", records(f"v{i}"))
    assert manager.gc(keep_versions=None)["versions_dropped"] == 0
    assert numbers(manager) == list(range(1, 9))


def test_older_than_drops_old_versions_only(manager: CheckpointManager) -> None:
    manager.save("s", "map", records("a"))
    manager.save("s", "map", records("b"))
    time.sleep(1.2)
    manager.save("s", "map", records("c"))
    manager.save("s", "map", records("d"))
    assert manager.gc(keep_versions=None, older_than=1.0)["versions_dropped"] == 2
    assert numbers(manager) == [3, 4]
    # the latest is never dropped, however old
    time.sleep(1.2)
    manager.gc(keep_versions=None, older_than=0.5)
    assert numbers(manager) == [4]
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="older_than"):
            manager.gc(older_than=bad)


def test_pinned_versions_survive_every_policy(manager: CheckpointManager) -> None:
    for i in range(4):
        manager.save("s", "map", records(f"v{i}"))
    assert manager.pin("s", "map", 1) and manager.pin("s", "map", -2)
    assert not manager.pin("s", "map", 9)
    manager.gc(keep_versions=1, older_than=0.0, max_bytes=0)
    assert [(v["version"], v["pinned"]) for v in manager.versions("s", "map")] == [
        (1, True),
        (3, True),
        (4, False),
    ]
    assert manager.load("s", "map", version=1) == records("v0")
    assert manager.unpin("s", "map", 1)
    manager.gc(keep_versions=1)
    assert numbers(manager) == [3, 4]


def test_pin_a_whole_run(manager: CheckpointManager) -> None:
    def run_meta(run_id: str) -> dict[str, str]:
        return {"docetl_run": json.dumps({"id": run_id, "started": 1.0, "pipeline": "p"})}

    manager.save("s", "a", records("a1"), meta=run_meta("r1"))
    manager.save("s", "b", records("b1"), meta=run_meta("r1"))
    manager.save("s", "a", records("a2"), meta=run_meta("r2"))
    manager.save("s", "b", records("b2"), meta=run_meta("r2"))
    runs = manager.runs()
    assert [r["run_id"] for r in runs] == ["r1", "r2"]
    assert runs[0]["pipeline"] == "p" and runs[0]["rows"] == 40
    assert [(c["op"], c["version"]) for c in runs[0]["checkpoints"]] == [("a", 1), ("b", 1)]
    assert manager.pin_run("r1") == 2
    manager.gc(keep_versions=1)
    assert numbers(manager, "s", "a") == [1, 2] and numbers(manager, "s", "b") == [1, 2]
    assert manager.unpin_run("r1") == 2
    manager.gc(keep_versions=1)
    assert [r["run_id"] for r in manager.runs()] == ["r2"]
    with pytest.raises(ValueError, match="no run 'nope'"):
        manager.pin_run("nope")


def test_max_bytes_drops_oldest_first_until_the_store_fits(tmp_path: Path) -> None:
    m = CheckpointManager(tmp_path)
    for i in range(6):
        m.save("s", "map", records(f"v{i}", 200))
    full = disk_bytes(tmp_path)
    m.gc(keep_versions=None, max_bytes=full - 1)
    assert numbers(m)[0] > 1 and numbers(m)[-1] == 6
    m.gc(keep_versions=None, max_bytes=0)
    assert numbers(m) == [6]
    assert m.load("s", "map") == records("v5", 200)


def test_dry_run_changes_nothing_and_says_exactly_what_gc_frees(tmp_path: Path) -> None:
    m = CheckpointManager(tmp_path)
    for i in range(6):
        m.save("s", "map", records(f"v{i}", 100))
        m.save("s", "other", records(f"o{i % 2}", 100))
    before = tree_snapshot(tmp_path)
    dry = m.gc(keep_versions=2, dry_run=True)
    assert tree_snapshot(tmp_path) == before
    assert dry["dry_run"] and dry["versions_dropped"] == 4 + 4
    size = disk_bytes(tmp_path)
    real = m.gc(keep_versions=2)
    assert real["dropped"] == dry["dropped"]
    assert real["bytes_freed"] == size - disk_bytes(tmp_path)
    if real["segments_compacted"] == 0:
        assert dry["bytes_freed"] == real["bytes_freed"]


def test_keeping_history_then_dropping_it_is_the_size_of_a_fresh_store(tmp_path: Path) -> None:
    def big(tag: str) -> list[dict[str, Any]]:  # values, not per-file overhead, dominate
        return [{"id": i, "text": f"{tag} text {i} " * 200} for i in range(100)]

    m = CheckpointManager(tmp_path / "kept")
    for i in range(8):
        m.save("s", "map", big(f"v{i}"))
    m.gc(keep_versions=1)
    fresh = CheckpointManager(tmp_path / "fresh")
    fresh.save("s", "map", big("v7"))
    fresh.gc()
    got, want = disk_bytes(tmp_path / "kept"), disk_bytes(tmp_path / "fresh")
    assert abs(got - want) <= 0.10 * want, (got, want)


def test_the_manifest_format_says_when_it_holds_history(tmp_path: Path) -> None:
    m = CheckpointManager(tmp_path)
    m.save("s", "map", records("a"))
    assert manifest(tmp_path)["format"] == "docetl-checkpoint/1"
    m.save("s", "map", records("b"))
    assert manifest(tmp_path)["format"] == "docetl-checkpoint/2"
    m.gc(keep_versions=1)
    # without history, releases before history read the store again
    assert manifest(tmp_path)["format"] == "docetl-checkpoint/1"


def test_a_format_1_store_gains_history_in_place(tmp_path: Path) -> None:
    root = tmp_path / "old"
    shutil.copytree(FIXTURES / "format1" / "store", root)
    m = CheckpointManager(root)
    (step, op), *_ = m.list()
    old = m.load(step, op)
    assert numbers(m, step, op) == [1]
    m.save(step, op, records("new"))
    assert numbers(m, step, op) == [1, 2]
    assert m.load(step, op, version=1) == old
    assert m.verify()["ok"]


def test_verify_and_gc_check_history_files(tmp_path: Path) -> None:
    m = CheckpointManager(tmp_path)
    m.save("s", "map", records("a"))
    m.save("s", "map", records("b"))
    old = Path(m.versions("s", "map")[0]["path"])
    old.write_bytes(old.read_bytes()[:-20])
    report = m.verify()
    assert not report["ok"]
    assert [(d["step"], d["op"], d["version"]) for d in report["damaged_versions"]] == [
        ("s", "map", 1)
    ]
    assert report["intact"] == [("s", "map")]
    with pytest.raises(CorruptCheckpointError):
        m.load("s", "map", version=1)
    # a damaged version's values must not be judged dead
    with pytest.raises(CorruptCheckpointError):
        m.gc()


def test_recover_puts_earlier_versions_back(tmp_path: Path) -> None:
    m = CheckpointManager(tmp_path)
    for tag in ("a", "b", "c"):
        m.save("s", "map", records(tag))
    (tmp_path / STORE_DIR / "manifest.json").unlink()
    report = m.recover()
    assert report["restored"] == [("s", "map")] and report["versions"] == 2
    assert numbers(m) == [1, 2, 3]
    assert [m.load("s", "map", version=i) for i in (1, 2, 3)] == [
        records("a"),
        records("b"),
        records("c"),
    ]


@pytest.mark.parametrize("kind", ["s3", "file-url"])
def test_gc_policy_on_an_object_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if kind == "s3":
        request.getfixturevalue("s3_env")
        location = str(request.getfixturevalue("s3_url"))
    else:
        location = tmp_path.as_uri()
    assert is_url(location)
    m = CheckpointManager(location)
    for i in range(4):
        m.save("s", "map", records(f"v{i}"))
    dry = m.gc(keep_versions=2, dry_run=True)
    assert numbers(m) == [1, 2, 3, 4]
    real = m.gc(keep_versions=2)
    assert (
        real["dropped"]
        == dry["dropped"]
        == [
            {"step": "s", "op": "map", "version": 1},
            {"step": "s", "op": "map", "version": 2},
        ]
    )
    assert numbers(m) == [3, 4]
    assert m.load("s", "map", version=-2) == records("v2")
    assert m.verify()["ok"]


def test_recover_cannot_tell_a_deleted_checkpoint_from_a_live_one(tmp_path: Path) -> None:
    """Files do not record a delete: a deleted checkpoint whose versions were
    kept comes back live (documented in `recover`); one gc collected does not."""
    m = CheckpointManager(tmp_path)
    m.save("s", "kept", records("k"))
    m.save("s", "collected", records("c"))
    m.delete("s", "kept")
    m.delete("s", "collected")
    m.pin("s", "kept", 1)
    m.gc(keep_versions=1)
    assert numbers(m, "s", "kept") == [1] and numbers(m, "s", "collected") == []
    (tmp_path / STORE_DIR / "manifest.json").unlink()
    assert m.recover()["restored"] == [("s", "kept")]
    assert m.load("s", "kept") == records("k") and m.load("s", "collected") is None


def test_records_at_reads_chosen_rows_of_a_version(tmp_path: Path) -> None:
    m = CheckpointManager(tmp_path)
    old = records("old", 5000)  # several row groups
    m.save("s", "map", old)
    m.save("s", "map", records("new", 10))
    assert m.records_at("s", "map", [4999, 0, 2048, 0], version=1) == [
        old[4999],
        old[0],
        old[2048],
        old[0],
    ]
    assert m.records_at("s", "map", [], version=1) == []
    assert m.records_at("s", "map", [9]) == [records("new", 10)[9]]
    assert m.records_at("s", "nope", [0]) is None
    assert m.records_at("s", "map", [0], version=7) is None
    with pytest.raises(ValueError, match="row 10 of s/map: it has 10 rows"):
        m.records_at("s", "map", [10])
    with pytest.raises(ValueError, match="row"):
        m.records_at("s", "map", [-1])


def test_the_cli_says_how_many_earlier_versions_recover_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from docetl_checkpoint.cli import main

    m = CheckpointManager(tmp_path)
    for tag in ("a", "b", "c"):
        m.save("s", "map", records(tag))
    (tmp_path / STORE_DIR / "manifest.json").unlink()
    assert main(["recover", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "restored 1 checkpoint, 2 earlier versions and" in out
    assert numbers(m) == [1, 2, 3]
