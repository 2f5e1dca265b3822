"""No size limit on any read path, no panic into Python, and reads that take
only what they need (issues 12 and 16)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from docetl_checkpoint import CheckpointError, CheckpointManager, _core
from docetl_checkpoint.stream import CheckpointReader

MIB = 1 << 20


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,100 rows sharing one 1 MiB string: 2.1 GiB of text out of a few MB on disk."""
    root = tmp_path_factory.mktemp("big") / "store"
    shared = "0123456789abcdef" * (MIB // 16)
    CheckpointManager(root).save(
        "s", "big", [{"id": i, "text": shared, "tag": f"t{i % 7}"} for i in range(2100)]
    )
    return root


def test_a_table_past_2_gib_is_chunked_not_a_panic(big_store: Path) -> None:
    table = CheckpointManager(big_store).table("s", "big")
    assert table is not None
    assert table.num_rows == 2100
    assert table.column("text").num_chunks >= 2
    assert table.schema.field("text").type == pa.string()
    assert table.column("id").to_pylist() == list(range(2100))
    first, last = table.column("text")[0].as_py(), table.column("text")[2099].as_py()
    assert first == last and len(first) == MIB


def test_a_stream_past_2_gib_has_bounded_batches(big_store: Path) -> None:
    reader = CheckpointManager(big_store).reader("s", "big")
    assert isinstance(reader, CheckpointReader)
    rows, largest = 0, 0
    for batch in reader:
        rows += batch.num_rows
        largest = max(largest, batch.nbytes)
    assert rows == 2100
    assert largest <= 64 * MIB


def test_export_of_a_checkpoint_past_2_gib(big_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "big.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "docetl_checkpoint.cli", "export", str(big_store), "s", "big"]
        + [str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    meta = pq.read_metadata(out)
    assert meta.num_rows == 2100
    assert pq.read_table(out, columns=["id"]).column("id").to_pylist() == list(range(2100))


def test_pyarrow_polars_and_duckdb_read_the_stream(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path / "s")
    records = [{"id": i, "text": f"doc {i} " * 300, "n": [i, i + 1]} for i in range(5000)]
    mgr.save("s", "o", records)
    assert mgr.reader("s", "o").read_all().column("id").to_pylist() == list(range(5000))
    frame = pl.DataFrame(mgr.reader("s", "o", columns=["id", "n"]))  # its __arrow_c_stream__
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == ["id", "n"] and frame.height == 5000
    stream = mgr.reader("s", "o", columns=["id"])  # noqa: F841 (duckdb reads it by name)
    total = duckdb.sql("select sum(id) as s from stream").fetchall()
    assert total == [(sum(range(5000)),)]
    assert mgr.reader("s", "missing") is None
    with pytest.raises(ValueError, match="no column"):
        mgr.reader("s", "o", columns=["nope"])


def test_a_damaged_row_fails_the_stream_loudly(tmp_path: Path) -> None:
    from helpers.store import data_files

    root = tmp_path / "s"
    mgr = CheckpointManager(root)
    mgr.save("s", "o", [{"id": i, "v": i * 3} for i in range(10_000)])
    file = data_files(root)[0]
    raw = bytearray(file.read_bytes())
    # flip a byte in the middle of the data pages (not the footer)
    raw[len(raw) // 3] ^= 0x5A
    file.write_bytes(bytes(raw))
    with pytest.raises((CheckpointError, OSError, pa.ArrowException)):
        for _ in mgr.reader("s", "o"):
            pass


ENTRY_POINTS: dict[str, Callable[[Any, Path], Any]] = {
    "save": lambda s, d: s.save("a", "b", [{"x": 1}]),
    "save_batch": lambda s, d: s.save_batch("a", 0, [{"x": 1}]),
    "load": lambda s, d: s.load("a", "b"),
    "head": lambda s, d: s.head("a", "b", 1),
    "load_rows": lambda s, d: s.load_rows("a", "b", 0, 1),
    "load_rows_at": lambda s, d: s.load_rows_at("a", "b", [0]),
    "table": lambda s, d: s.table("a", "b"),
    "sample": lambda s, d: s.sample("a", "b", 1),
    "reader": lambda s, d: s.reader("a", "b"),
    "record_hashes": lambda s, d: s.record_hashes("a", "b"),
    "entries": lambda s, d: s.entries(),
    "info": lambda s, d: s.info("a", "b"),
    "delete": lambda s, d: s.delete("a", "b"),
    "clear": lambda s, d: s.clear(),
    "gc": lambda s, d: s.gc(),
    "versions": lambda s, d: s.versions("a", "b"),
    "all_versions": lambda s, d: s.all_versions(),
    "set_pinned": lambda s, d: s.set_pinned("a", "b", 1, True),
    "compact": lambda s, d: s.compact(),
    "notes": lambda s, d: s.notes(),
    "set_note": lambda s, d: s.set_note("k", "v"),
    "stats": lambda s, d: s.stats(),
    "verify": lambda s, d: s.verify(),
    "recover": lambda s, d: s.recover(),
    "io_counters": lambda s, d: s.io_counters(),
    "open": lambda s, d: _core.Store(str(d)),
    "canonical_hash": lambda s, d: _core.canonical_hash({"a": 1}),
    "record_hash": lambda s, d: _core.record_hash({"a": 1}),
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_a_panic_is_a_checkpoint_error(entry: str, tmp_path: Path) -> None:
    store = _core.Store(str(tmp_path / "s"))
    store.save("a", "b", [{"x": 1}])
    _core._force_panic(entry)
    try:
        with pytest.raises(CheckpointError, match=f"internal error in {entry}: forced panic"):
            ENTRY_POINTS[entry](store, tmp_path / "s")
    finally:
        _core._force_panic(None)
    assert store.load("a", "b") == [{"x": 1}]


def test_every_public_method_is_guarded() -> None:
    methods = {m for m in dir(_core.Store) if not m.startswith("_") and m != "path"}
    assert methods <= set(ENTRY_POINTS), methods - set(ENTRY_POINTS)


def read_bytes_of(call: Callable[[], Any]) -> int:
    """Bytes this process read from files during `call` (/proc/self/io rchar)."""

    def rchar() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar in /proc/self/io")

    before = rchar()
    call()
    return rchar() - before


def unique_texts(n: int) -> list[dict[str, Any]]:
    """Records whose text does not compress: what a column projection must not read."""
    return [{"id": i, "text": os.urandom(1500).hex()} for i in range(n)]


def test_choosing_columns_reads_only_those(tmp_path: Path) -> None:
    root = tmp_path / "s"
    CheckpointManager(root).save("s", "o", unique_texts(3000))
    full = read_bytes_of(lambda: CheckpointManager(root).table("s", "o"))
    ids = read_bytes_of(lambda: CheckpointManager(root).table("s", "o", columns=["id"]))
    sample = read_bytes_of(lambda: CheckpointManager(root).sample("s", "o", 5, columns=["id"]))
    assert full > 1_000_000
    assert ids < full / 10, (ids, full)
    assert sample < full / 10, (sample, full)
    table = CheckpointManager(root).table("s", "o", columns=["id"])
    assert table is not None and table.column_names == ["id"]
    assert table.column("id").to_pylist() == list(range(3000))


def test_choosing_columns_on_s3_fetches_only_those(s3_url: str, s3_options: dict[str, str]) -> None:
    CheckpointManager(s3_url, storage_options=s3_options).save("s", "o", unique_texts(3000))

    def fetched(columns: list[str] | None) -> int:
        mgr = CheckpointManager(s3_url, storage_options=s3_options)
        mgr.table("s", "o", columns=columns)
        return int(mgr._store.io_counters()["bytes_read"])

    assert fetched(["id"]) < fetched(None) / 10
