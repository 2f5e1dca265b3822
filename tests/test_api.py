"""The public API: the seed design's method names and return shapes, and the new methods."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from conftest import assert_roundtrip, disk_bytes, tree_snapshot
from docetl_checkpoint import CheckpointError, CheckpointManager, CorruptCheckpointError

RECORDS = [{"id": i, "text": f"doc {i}", "score": i / 2, "ok": i % 2 == 0} for i in range(4)]
COLUMNS = ["id", "text", "score", "ok"]


def ckpt_path(store_dir: Path, step: str, op: str) -> str:
    return os.path.join(str(store_dir), step, f"{op}.parquet")


# -- seed API ---------------------------------------------------------------------


@pytest.mark.parametrize("as_path", [False, True])
def test_intermediate_dir_is_the_folder_as_given(store_dir: Path, as_path: bool) -> None:
    given = store_dir if as_path else str(store_dir)
    assert CheckpointManager(given).intermediate_dir is given


def test_save_checkpoint_returns_existing_parquet_path(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    path = m.save_checkpoint("extract", "summarize", RECORDS)
    assert type(path) is str
    assert path == ckpt_path(store_dir, "extract", "summarize")
    assert os.path.isfile(path)
    assert_roundtrip(m.load_checkpoint("extract", "summarize"), RECORDS)
    assert m.load_checkpoint("extract", "absent") is None
    assert m.load_checkpoint("absent", "summarize") is None


def test_save_batch_checkpoint_returns_existing_batch_path(
    manager: CheckpointManager, store_dir: Path
) -> None:
    path = manager.save_batch_checkpoint("summarize", 3, RECORDS)
    assert path == os.path.join(str(store_dir), "summarize_batches", "batch_3.parquet")
    assert os.path.isfile(path)
    assert_roundtrip(manager.load_batch("summarize", 3), RECORDS)


def test_load_checkpoint_as_dataframe(manager: CheckpointManager) -> None:
    manager.save_checkpoint("s", "o", RECORDS)
    df = manager.load_checkpoint_as_dataframe("s", "o")
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == COLUMNS
    assert df["id"].tolist() == [0, 1, 2, 3]
    assert df["text"].tolist() == ["doc 0", "doc 1", "doc 2", "doc 3"]
    assert df["score"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert df["ok"].tolist() == [True, False, True, False]
    manager.save_checkpoint("s", "empty", [])
    empty = manager.load_checkpoint_as_dataframe("s", "empty")
    assert isinstance(empty, pd.DataFrame) and empty.empty and len(empty) == 0
    assert manager.load_checkpoint_as_dataframe("s", "absent") is None


def test_load_checkpoint_sample(manager: CheckpointManager) -> None:
    data = [{"i": i, "t": "x" * i} for i in range(15)]
    manager.save_checkpoint("s", "o", data)
    assert_roundtrip(manager.load_checkpoint_sample("s", "o"), data[:10])
    assert_roundtrip(manager.load_checkpoint_sample("s", "o", n_rows=3), data[:3])
    assert_roundtrip(manager.load_checkpoint_sample("s", "o", n_rows=100), data)
    assert manager.load_checkpoint_sample("s", "o", n_rows=0) == []
    assert manager.load_checkpoint_sample("s", "absent", n_rows=3) is None


def test_list_checkpoints_sorted_without_batches(manager: CheckpointManager) -> None:
    for step, op in [("b", "x"), ("a", "y"), ("a", "x"), ("B", "z")]:
        manager.save_checkpoint(step, op, RECORDS)
    manager.save_batch_checkpoint("x", 0, RECORDS)
    listed = manager.list_checkpoints()
    assert listed == [("B", "z"), ("a", "x"), ("a", "y"), ("b", "x")]
    assert all(type(pair) is tuple for pair in listed)
    assert CheckpointManager(manager.intermediate_dir).list_checkpoints() == listed


def test_get_checkpoint_info(manager: CheckpointManager, store_dir: Path) -> None:
    before = time.time()
    path = manager.save_checkpoint("s", "o", RECORDS)
    after = time.time()
    info = manager.get_checkpoint_info("s", "o")
    assert info is not None
    assert set(info) == {
        "path",
        "size_bytes",
        "num_rows",
        "num_columns",
        "column_names",
        "format",
        "created_at",
        "storage_type",
        "schema",
    }
    assert info["path"] == path
    assert type(info["size_bytes"]) is int and info["size_bytes"] > 0
    assert info["num_rows"] == 4
    assert info["column_names"] == COLUMNS
    assert info["num_columns"] == 4
    assert info["format"] == "parquet"
    assert isinstance(info["storage_type"], str)
    assert isinstance(info["schema"], pa.Schema)
    assert info["schema"].names == COLUMNS
    created = datetime.fromisoformat(info["created_at"]).timestamp()
    assert before - 2 <= created <= after + 2
    assert manager.get_checkpoint_info("s", "absent") is None


def test_summary_and_stats_of_an_empty_store(manager: CheckpointManager, store_dir: Path) -> None:
    summary = manager.get_checkpoint_summary()
    for key in (
        "total_checkpoints",
        "total_size_bytes",
        "dataset_size_bytes",
        "index_size_bytes",
        "total_rows",
    ):
        assert summary[key] == 0, key
    assert summary["checkpoints"] == []
    stats = manager.get_storage_stats()
    assert stats["total_unique_records"] == 0
    assert stats["total_logical_records"] == 0
    assert stats["total_size_bytes"] == 0
    assert tree_snapshot(store_dir) is None


def test_get_checkpoint_summary(manager: CheckpointManager, store_dir: Path) -> None:
    manager.save_checkpoint("b", "x", RECORDS)
    manager.save_checkpoint("a", "y", RECORDS[:2])
    manager.save_batch_checkpoint("x", 0, RECORDS)
    summary = manager.get_checkpoint_summary()
    assert summary["total_checkpoints"] == 2
    assert summary["total_rows"] == 6
    assert [
        (c["step_name"], c["operation_name"], c["num_rows"]) for c in summary["checkpoints"]
    ] == [("a", "y", 2), ("b", "x", 4)]
    assert all(isinstance(c["created_at"], str) for c in summary["checkpoints"])
    assert summary["total_size_bytes"] == disk_bytes(store_dir)
    parts = summary["dataset_size_bytes"] + summary["index_size_bytes"]
    assert 0 <= parts <= summary["total_size_bytes"]


def test_get_storage_stats_counts_shared_records_once(
    manager: CheckpointManager, store_dir: Path
) -> None:
    manager.save_checkpoint("s", "first", RECORDS)
    manager.save_checkpoint("s", "second", RECORDS)
    stats = manager.get_storage_stats()
    assert stats["total_logical_records"] == 8
    assert stats["total_unique_records"] == 4
    assert stats["deduplication_ratio"] == 0.5
    assert stats["space_saved_ratio"] == 0.5
    assert stats["total_size_bytes"] == disk_bytes(store_dir) > 0
    assert stats["avg_record_size_bytes"] == stats["total_size_bytes"] / 4


# -- new API ----------------------------------------------------------------------


def test_new_read_methods(manager: CheckpointManager, store_dir: Path) -> None:
    assert manager.save("s", "o", RECORDS) == ckpt_path(store_dir, "s", "o")
    assert_roundtrip(manager.load("s", "o"), RECORDS)
    assert_roundtrip(manager.head("s", "o", 2), RECORDS[:2])
    assert_roundtrip(manager.head("s", "o"), RECORDS)
    table = manager.table("s", "o")
    assert isinstance(table, pa.Table) and table.num_rows == 4
    sample = manager.sample("s", "o", 3)
    assert isinstance(sample, pa.Table) and sample.to_pylist() == RECORDS[:3]
    assert manager.list() == [("s", "o")]
    info = manager.info("s", "o")
    assert info is not None
    assert info["path"] == ckpt_path(store_dir, "s", "o")
    assert info["num_rows"] == 4 and info["column_names"] == COLUMNS
    assert isinstance(info["created_at"], float) and info["size_bytes"] > 0
    for absent in (manager.load, manager.table, manager.info):
        assert absent("s", "absent") is None
    assert manager.head("s", "absent", 3) is None
    assert manager.sample("s", "absent", 3) is None


def test_stats_keys(manager: CheckpointManager, store_dir: Path) -> None:
    manager.save("s", "o", RECORDS)
    stats = manager.stats()
    for key in (
        "unique_records",
        "logical_records",
        "dataset_size_bytes",
        "index_size_bytes",
        "total_size_bytes",
    ):
        assert type(stats[key]) is int, key
    assert (stats["unique_records"], stats["logical_records"]) == (4, 4)
    assert stats["total_size_bytes"] == disk_bytes(store_dir)


def test_overwrite_replaces(manager: CheckpointManager) -> None:
    manager.save("s", "o", RECORDS)
    replacement = [{"other": "shape", "n": 1}]
    manager.save("s", "o", replacement)
    for m in (manager, CheckpointManager(manager.intermediate_dir)):
        assert_roundtrip(m.load("s", "o"), replacement)
        assert m.list() == [("s", "o")]
        info = m.info("s", "o")
        assert info is not None and info["num_rows"] == 1
        assert info["column_names"] == ["other", "n"]
        assert m.stats()["logical_records"] == 1


def test_delete(manager: CheckpointManager) -> None:
    manager.save("s", "gone", RECORDS)
    manager.save("s", "kept", RECORDS[:1])
    assert manager.delete("s", "gone") is True
    for m in (manager, CheckpointManager(manager.intermediate_dir)):
        assert m.load("s", "gone") is None
        assert m.table("s", "gone") is None
        assert m.info("s", "gone") is None
        assert m.list() == [("s", "kept")]
        assert_roundtrip(m.load("s", "kept"), RECORDS[:1])
    assert manager.delete("s", "gone") is False
    assert manager.delete("nope", "nope") is False


def test_clear_removes_everything(manager: CheckpointManager, store_dir: Path) -> None:
    big = [{"text": "x" * 5000 + str(i)} for i in range(20)]
    manager.save("s", "a", big)
    manager.save("s", "b", RECORDS)
    manager.save_batch("a", 0, big)
    assert manager.clear() == 3
    for m in (manager, CheckpointManager(manager.intermediate_dir)):
        assert m.list() == [] and m.list_batches("a") == [] and m.entries() == []
        assert m.load("s", "a") is None and m.load_batch("a", 0) is None
    assert manager.stats()["total_size_bytes"] == disk_bytes(store_dir) < 4096
    manager.save("s", "again", RECORDS)
    assert_roundtrip(manager.load("s", "again"), RECORDS)


def test_gc_report_shape(manager: CheckpointManager) -> None:
    manager.save("s", "o", RECORDS)
    report = manager.gc()
    assert set(report) >= {"files_removed", "bytes_freed", "values_removed"}
    assert all(type(report[k]) is int for k in report if k not in ("dropped", "dry_run"))
    assert report["dropped"] == [] and report["dry_run"] is False
    assert report["bytes_freed"] == 0 and report["values_removed"] == 0
    assert_roundtrip(manager.load("s", "o"), RECORDS)


def test_batches(manager: CheckpointManager) -> None:
    batches = {i: [{"batch": i, "row": r} for r in range(i + 1)] for i in (10, 2, 1)}
    for i, data in batches.items():
        manager.save_batch("op", i, data)
    manager.save_batch("other", 0, RECORDS)
    for m in (manager, CheckpointManager(manager.intermediate_dir)):
        assert m.list_batches("op") == [1, 2, 10]
        assert m.list_batches("missing") == []
        assert m.list() == []
        for got, i in zip(m.load_batches("op"), [1, 2, 10], strict=True):
            assert_roundtrip(got, batches[i])
        assert m.load_batch("op", 3) is None
        kinds = sorted((e["kind"], e.get("batch_of"), e.get("batch_index")) for e in m.entries())
        assert kinds == [
            ("batch", "op", 1),
            ("batch", "op", 2),
            ("batch", "op", 10),
            ("batch", "other", 0),
        ]
    assert manager.delete_batches("op") == 3
    assert manager.list_batches("op") == [] and manager.list_batches("other") == [0]


def test_reads_on_a_missing_folder_create_nothing(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    assert m.list() == [] and m.list_checkpoints() == [] and m.entries() == []
    assert m.load("s", "o") is None and m.head("s", "o", 1) is None
    assert m.table("s", "o") is None and m.sample("s", "o", 1) is None
    assert m.info("s", "o") is None and m.get_checkpoint_info("s", "o") is None
    assert m.list_batches("o") == [] and m.load_batches("o") == []
    assert m.stats()["total_size_bytes"] == 0
    assert m.get_checkpoint_summary()["total_checkpoints"] == 0
    assert m.get_storage_stats()["total_logical_records"] == 0
    assert tree_snapshot(store_dir) is None
    m.save("s", "o", RECORDS)
    assert os.path.isdir(store_dir)


def test_maintenance_on_a_missing_folder_creates_nothing(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    assert m.delete("s", "o") is False
    assert m.clear() == 0
    assert m.gc()["bytes_freed"] == 0
    assert tree_snapshot(store_dir) is None


def test_missing_parent_folders_are_created_on_first_write(tmp_path: Path) -> None:
    nested = tmp_path / "a" / "b" / "store"
    path = CheckpointManager(nested).save("s", "o", RECORDS)
    assert os.path.isfile(path)


def test_two_managers_on_one_folder_see_each_other(store_dir: Path) -> None:
    first, second = CheckpointManager(store_dir), CheckpointManager(store_dir)
    first.save("s", "a", RECORDS)
    second.save("s", "b", RECORDS[:1])
    assert first.list() == second.list() == [("s", "a"), ("s", "b")]
    assert_roundtrip(second.load("s", "a"), RECORDS)


def test_save_accepts_meta(manager: CheckpointManager) -> None:
    manager.save("s", "o", RECORDS, meta={"config_hash": "abc123"})
    manager.save_batch("o", 0, RECORDS, meta={"config_hash": "abc123"})
    assert_roundtrip(manager.load("s", "o"), RECORDS)


def test_exceptions_are_exported() -> None:
    assert issubclass(CheckpointError, Exception)
    assert issubclass(CorruptCheckpointError, CheckpointError)
