"""Wide and sparse records (issue 12): keys present in fewer than 1 row in 32
go into one `__rest` blob per row instead of a column each. Every read path
gives the records exactly as saved, hashes do not change, and the Arrow table
shows rare keys as columns when few, else as one JSON text column."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import assert_json_identical, json_roundtrip
from docetl_checkpoint import CheckpointManager, read_table, record_hash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DENSE_FRACTION = 32  # src/rare.rs
LISTED_RARE_KEYS = 64
BIG = "a long value kept once in the value store " * 20
SURROGATE = "lone \ud83d half"


def one_key_each(n: int) -> list[dict[str, Any]]:
    return [{"id": i, f"key_{i}": i} for i in range(n)]


def every_read(mgr: CheckpointManager, step: str, op: str, records: list[dict[str, Any]]) -> None:
    """load, head, load_rows (via iter_records), a reopened manager: all exact."""
    want = json_roundtrip(records)
    assert_json_identical(mgr.load(step, op), want)
    assert_json_identical(CheckpointManager(mgr._store.path).load(step, op), want)
    for n in (0, 1, 7, len(records)):
        assert_json_identical(mgr.head(step, op, n), want[:n])
    assert_json_identical(list(mgr.iter_records(step, op, chunk_rows=5)), want)
    for got, rec in zip(mgr.load(step, op) or [], want, strict=True):
        assert list(got) == list(rec)  # key order, rare keys included
    assert mgr.record_hashes(step, op) == [record_hash(r) for r in records]


def rare_fields(path: str) -> bool:
    return "__rest" in pq.read_schema(path).names


def test_all_rare_keys_round_trip_and_fold_into_one_column(manager: CheckpointManager) -> None:
    records = one_key_each(3 * LISTED_RARE_KEYS)
    path = manager.save("s", "o", records)
    assert rare_fields(path)
    names = pq.read_schema(path).names
    assert not any(n.startswith("key_") for n in names)  # no column per rare key
    every_read(manager, "s", "o", records)
    table = manager.table("s", "o")
    assert table.column_names == ["id", "__rest"]
    assert [json.loads(t) for t in table.column("__rest").to_pylist()] == [
        {f"key_{i}": i} for i in range(len(records))
    ]
    assert manager.info("s", "o")["column_names"] == ["id", "__rest"]
    # a rare key by name: JSON text (its type is not in the layout), null where absent
    got = manager.table("s", "o", columns=["key_5", "id"])
    assert got.column_names == ["key_5", "id"]
    assert got.column("key_5").to_pylist() == [None] * 5 + ["5"] + [None] * (len(records) - 6)
    with pytest.raises(ValueError, match='no column "nope"'):
        manager.table("s", "o", columns=["nope"])
    assert read_table(path).equals(table)
    reader = manager.reader("s", "o")
    assert reader is not None and reader.read_all().equals(table)
    assert manager.sample("s", "o", 3).to_pylist() == table.slice(0, 3).to_pylist()


def test_few_rare_keys_are_typed_columns(manager: CheckpointManager) -> None:
    n = 200
    records: list[dict[str, Any]] = [{"id": i, "text": f"t{i}"} for i in range(n)]
    records[3]["error"] = "timeout"
    records[150]["error"] = None
    records[9]["tags"] = ["a", 1]
    records[10]["score"] = 0.5
    path = manager.save("s", "o", records)
    assert rare_fields(path)
    every_read(manager, "s", "o", records)
    table = manager.table("s", "o")
    assert table.column_names == ["id", "text", "error", "tags", "score"]
    assert str(table.schema.field("score").type) == "double"
    assert table.column("error").to_pylist()[3] == "timeout"
    assert table.column("tags").to_pylist()[9] == ['"a"', "1"]  # mixed items: JSON text
    assert manager.table("s", "o", columns=["score"]).column("score").to_pylist()[10] == 0.5
    with pytest.raises(ValueError, match="no column"):
        manager.table("s", "o", columns=["key_1"])  # the layout lists every rare key
    frame = manager.to_pandas("s", "o")
    assert frame is not None and frame["error"][3] == "timeout"


def test_mixed_dense_and_rare_keys_in_varying_order(manager: CheckpointManager) -> None:
    records: list[dict[str, Any]] = []
    for i in range(300):
        r: dict[str, Any] = {f"rare_{i}": i} if i % 2 else {}
        r.update({"b": i, "a": str(i)})
        if i % 3 == 0:
            r = dict(reversed(list(r.items())))
        r[f"tail_{i}"] = {"nested": [i, None, {"x": SURROGATE}]}
        records.append(r)
    manager.save("s", "o", records)
    every_read(manager, "s", "o", records)


def test_rare_values_of_every_kind(manager: CheckpointManager) -> None:
    specials: list[Any] = [
        BIG,
        {"big": BIG, "n": [1, 2, 3]},
        list(range(100)),
        SURROGATE,
        2**70,
        -(2**80),
        float("nan"),
        -0.0,
        math.inf,
        None,
        True,
        "",
        {},
        [],
        "é\x00\u2028",
    ]
    records: list[dict[str, Any]] = [{"id": i} for i in range(40 * len(specials))]
    for i, v in enumerate(specials):
        records[i * 40][f"k{i}"] = v
        records[i * 40 + 1][f"again{i}"] = v  # same value: one copy in the value store
    manager.save("s", "o", records)
    every_read(manager, "s", "o", records)
    table = manager.table("s", "o")
    assert table.column("k0").to_pylist()[0] == BIG
    stored = manager.stats()["stored_values"]
    assert stored == 3  # BIG, the object holding it, the long list: once each


def test_the_threshold_fraction_is_dense(manager: CheckpointManager) -> None:
    rows = 64 * DENSE_FRACTION
    records: list[dict[str, Any]] = [{"id": i} for i in range(rows)]
    for i in range(64):  # exactly 1/32 of the rows: a column
        records[i * DENSE_FRACTION]["at"] = i
    for i in range(63):  # one row fewer: rare
        records[i * DENSE_FRACTION + 1]["below"] = i
    path = manager.save("s", "o", records)
    names = pq.read_schema(path).names
    assert "at" in names and "below" not in names and "__rest" in names
    every_read(manager, "s", "o", records)
    assert manager.info("s", "o")["column_names"] == ["id", "at", "below"]


def test_empty_records_and_no_rare_keys_keep_format_2(manager: CheckpointManager) -> None:
    for records in ([], [{}], [{}] * 100, [{"a": 1}] * 10 + [{}] * 90):
        path = manager.save("s", "o", records)
        assert not rare_fields(path)
        meta = json.loads(pq.read_schema(path).metadata[b"docetl_checkpoint"])
        assert meta["format"] == 2
        every_read(manager, "s", "o", records)
    records = [{}] * 100 + [{"only": 1}]
    manager.save("s", "o", records)
    every_read(manager, "s", "o", records)


def test_other_tools_see_no_rare_key_as_a_column(manager: CheckpointManager) -> None:
    records: list[dict[str, Any]] = one_key_each(100)
    records[7]["__rest"] = "a key named like the blob column"
    path = manager.save("s", "o", records)
    frame = pq.read_table(path).to_pandas()
    for column in frame.columns:
        assert column == "id" or column.startswith("__"), column
    assert frame["id"].tolist() == list(range(100))
    every_read(manager, "s", "o", records)
    with pytest.raises(ValueError, match="__rest"):
        manager.table("s", "o", columns=["id", "__rest", "__rest"])


def test_dedup_across_sparse_and_dense_saves(manager: CheckpointManager) -> None:
    values = [f"{BIG} {i}" for i in range(50)]
    sparse = [{"id": i, f"key_{i}": v} for i, v in enumerate(values)] + [{"id": 0}] * 1600
    manager.save("s", "sparse", sparse)
    before = manager.stats()["stored_values"]
    dense = [{"id": i, "text": v} for i, v in enumerate(values)]
    manager.save("s", "dense", dense)
    assert manager.stats()["stored_values"] == before  # the same 50 texts, stored once
    again = manager.save("s", "sparse2", sparse)
    assert rare_fields(again)
    every_read(manager, "s", "sparse2", sparse)
    every_read(manager, "s", "dense", dense)


def test_gc_verify_recover_on_a_sparse_store(store_dir: Path) -> None:
    mgr = CheckpointManager(str(store_dir))
    keep = [{"id": i, f"k{i}": f"{BIG} keep {i}"} for i in range(100)]
    drop = [{"id": i, f"k{i}": f"{BIG} drop {i}"} for i in range(100)]
    mgr.save("s", "keep", keep)
    mgr.save("s", "drop", drop)
    mgr.delete("s", "drop")
    freed = mgr.gc(keep_versions=1)  # the deleted checkpoint keeps no version
    assert freed["values_removed"] == 100  # the dropped checkpoint's values only
    every_read(mgr, "s", "keep", keep)
    assert mgr.verify()["ok"]
    (store_dir / ".docetl_checkpoint" / "manifest.json").unlink()
    report = CheckpointManager(str(store_dir)).recover()
    assert report["restored"] == [("s", "keep")]
    every_read(CheckpointManager(str(store_dir)), "s", "keep", keep)


# -- property test ---------------------------------------------------------------

key_names = st.sampled_from([f"k{i}" for i in range(40)] + ["id", "text", "é", ""])
small_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from([BIG, SURROGATE, [1, [2, {"x": None}]], {"a": BIG}]),
)


@st.composite
def sparse_record_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Records over a few common keys and a tail drawn per record: some keys
    end up in every row, some in a few, some in one."""
    n = draw(st.integers(0, 120))
    common = draw(st.lists(key_names, max_size=3, unique=True))
    out = []
    for i in range(n):
        r: dict[str, Any] = {}
        for k in draw(st.permutations(common)) if common else []:
            r[k] = draw(small_values)
        for _ in range(draw(st.integers(0, 3))):
            r[draw(st.one_of(key_names, st.just(f"own_{i}")))] = draw(small_values)
        out.append(r)
    return out


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(records=sparse_record_lists())
def test_random_key_distributions_load_exactly(records: list[dict[str, Any]]) -> None:
    d = tempfile.mkdtemp()
    try:
        mgr = CheckpointManager(d + "/store")
        mgr.save("s", "o", records)
        got = CheckpointManager(d + "/store").load("s", "o")
        assert_json_identical(got, json_roundtrip(records))
        assert [list(r) for r in got or []] == [list(r) for r in records]
        assert mgr.record_hashes("s", "o") == [record_hash(r) for r in records]
        assert_json_identical(mgr.head("s", "o", 10), (got or [])[:10])
        shutil.rmtree(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rare_keys_on_an_object_store_layout(tmp_path: Path) -> None:
    url = (tmp_path / "remote").as_uri()
    mgr = CheckpointManager(url)
    records: list[dict[str, Any]] = one_key_each(100)
    records[3]["big"] = BIG
    mgr.save("s", "o", records)
    every_read(mgr, "s", "o", records)
    reader = mgr.reader("s", "o", columns=["big", "id"])
    assert reader is not None
    assert reader.read_all().equals(mgr.table("s", "o", columns=["big", "id"]))
    assert mgr.verify()["ok"]


def test_manifest_and_footer_do_not_grow_with_rare_keys(store_dir: Path) -> None:
    mgr = CheckpointManager(str(store_dir))
    sizes = []
    for n in (1_000, 8_000):
        path = mgr.save("s", f"o{n}", one_key_each(n))
        layout = pq.read_schema(path).metadata[b"docetl_checkpoint"]
        assert b"key_1" not in layout  # rare keys are not listed past 64
        sizes.append(len(layout))
    assert sizes[1] - sizes[0] < 100  # the row count's digits, not 7,000 more keys
    manifest = (store_dir / ".docetl_checkpoint" / "manifest.json").read_text()
    assert "key_1" not in manifest
    assert len(manifest) < 4_000
