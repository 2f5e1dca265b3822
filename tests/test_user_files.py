"""Files at user-visible paths never read as wrong data (issue 13): a tool that
opens `<dir>/<step>/<op>.parquet` sees no column named after a field unless it
holds that field's real values, and `read_table(path)` gives the records."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest
from docetl_checkpoint import CheckpointManager, read_table

RECORDS = [
    {
        "id": i,
        "text": f"a long document {i} " * 400,
        "score": i / 3,
        "tags": ["x", i],
        "ok": i % 2 == 0,
    }
    for i in range(50)
]


def test_other_tools_see_no_field_with_wrong_values(store_dir: Path) -> None:
    path = CheckpointManager(store_dir).save("extract", "map", RECORDS)
    frame = pd.read_parquet(path)
    truth = pd.DataFrame(RECORDS)
    fields = set(truth.columns)
    for column in frame.columns:
        if column in fields:  # a column with a field's name holds exactly its values
            assert frame[column].tolist() == truth[column].tolist(), column
        else:
            assert column.startswith("__"), column
    assert "text" not in frame.columns  # its values live in the value store
    meta = pq.read_schema(path).metadata
    assert b"read_table" in meta[b"docetl_checkpoint.how_to_read"]
    glob = str(store_dir / "**" / "*.parquet")
    names = [d[0] for d in duckdb.sql(f"select * from '{glob}' limit 1").description]
    assert "text" not in names and "tags" not in names


def test_read_table_opens_the_checkpoint_behind_any_path(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    path = mgr.save("extract", "map", RECORDS)
    want = mgr.table("extract", "map")
    assert read_table(path).equals(want)
    assert read_table(mgr.info("extract", "map")["file"]).equals(want)
    assert read_table(path, columns=["id"]).column("id").to_pylist() == list(range(50))
    batch = mgr.save_batch("map", 0, RECORDS[:3])
    assert read_table(batch).num_rows == 3
    with pytest.raises(FileNotFoundError):
        read_table(store_dir / "extract" / "nope.parquet")
    stale = store_dir / "extract" / "old-copy.parquet"
    stale.write_bytes(Path(path).read_bytes())
    mgr.save("extract", "map", RECORDS[:5])  # the copy no longer matches the live checkpoint
    with pytest.raises(ValueError, match="not a live checkpoint"):
        read_table(stale)
