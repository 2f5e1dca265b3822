"""The notebook workflows of docs/inspecting.md, on a real checkpoint.

`table()` is a `pyarrow.Table`, so pandas, polars and DuckDB read it directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from docetl_checkpoint import CheckpointManager

TEXT = "The quick brown fox jumps over the lazy dog. " * 200  # ~9 KB, content-addressed


def summarized(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "text": f"document {i}: {TEXT}",
            "summary": f"summary of {i}",
            "theme": ["cost", "speed", "safety"][i % 3],
            "score": i / 8,
            "ok": i % 2 == 0,
            "tags": ["a", "b"][: i % 3],
            "pages": i * 1_000_000_007,
        }
        for i in range(n)
    ]


@pytest.fixture
def store(tmp_path: Path) -> CheckpointManager:
    store = CheckpointManager(tmp_path / "intermediates")
    store.save("extract", "summarize", summarized(40))
    return store


def table(store: CheckpointManager) -> pa.Table:
    t = store.table("extract", "summarize")
    assert t is not None
    return t


def test_table_is_typed(store: CheckpointManager) -> None:
    t = table(store)
    assert t.num_rows == 40
    assert t.column_names == ["id", "text", "summary", "theme", "score", "ok", "tags", "pages"]
    assert pa.types.is_int64(t.schema.field("id").type)
    assert pa.types.is_float64(t.schema.field("score").type)
    assert pa.types.is_boolean(t.schema.field("ok").type)
    assert t.column("text")[5].as_py() == f"document 5: {TEXT}"


def test_pandas_to_pandas(store: CheckpointManager) -> None:
    df = table(store).to_pandas()
    assert df.shape == (40, 8)
    assert df["id"].tolist() == list(range(40))
    assert df["score"].dtype == "float64" and df["ok"].dtype == "bool"
    assert df.loc[3, "text"] == f"document 3: {TEXT}"
    assert list(df.loc[4, "tags"]) == ["a"]
    assert df.groupby("theme")["id"].count().to_dict() == {"cost": 14, "safety": 13, "speed": 13}
    assert df[df["ok"]]["summary"].iloc[1] == "summary of 2"


def test_pandas_arrow_dtypes(store: CheckpointManager) -> None:
    df = table(store).to_pandas(types_mapper=pd.ArrowDtype)
    assert all(isinstance(dtype, pd.ArrowDtype) for dtype in df.dtypes)
    assert df["pages"].dtype == pd.ArrowDtype(pa.int64())
    assert df["pages"].iloc[39] == 39 * 1_000_000_007
    assert df["text"].str.len().min() > 9000
    assert df.loc[df["score"] > 4.5, "id"].tolist() == [37, 38, 39]


def test_manager_to_pandas(store: CheckpointManager) -> None:
    df = store.to_pandas("extract", "summarize")
    assert df is not None
    assert df.shape == (40, 8)
    assert store.to_pandas("extract", "missing") is None


def test_polars_from_arrow(store: CheckpointManager) -> None:
    df = pl.from_arrow(table(store))
    assert isinstance(df, pl.DataFrame)
    assert df.shape == (40, 8)
    assert df.schema["id"] == pl.Int64 and df.schema["ok"] == pl.Boolean
    counts = df.group_by("theme").len().sort("theme")
    assert counts.rows() == [("cost", 14), ("safety", 13), ("speed", 13)]
    long = df.filter(pl.col("text").str.len_chars() > 9000)
    assert long.height == 40
    assert df.filter(pl.col("id") == 7)["summary"].item() == "summary of 7"


def test_duckdb_sql_over_the_arrow_table(store: CheckpointManager) -> None:
    t = table(store)  # noqa: F841 (DuckDB finds the local variable `t` by name)
    rows = duckdb.sql(
        "select theme, count(*) as n, avg(score) as mean from t group by theme order by theme"
    ).fetchall()
    assert [(theme, n) for theme, n, _ in rows] == [("cost", 14), ("safety", 13), ("speed", 13)]
    total = sum(len(r["text"]) for r in summarized(40))
    assert duckdb.sql("select sum(length(text)) from t").fetchall() == [(total,)]
    assert duckdb.sql("select summary from t where id = 11").fetchall() == [("summary of 11",)]
    df = duckdb.sql("select id, ok from t where ok order by id limit 3").df()
    assert df["id"].tolist() == [0, 2, 4]


def test_duckdb_joins_two_checkpoints(store: CheckpointManager) -> None:
    rerun = summarized(40)
    rerun[5]["summary"] = "changed"
    store.save("extract", "summarize_rerun", rerun)
    before = table(store)  # noqa: F841 (read by DuckDB by name)
    after = store.table("extract", "summarize_rerun")
    assert after is not None
    changed = duckdb.sql(
        "select a.id from before a join after b using (id) where a.summary <> b.summary"
    ).fetchall()
    assert changed == [(5,)]


def test_sample_and_columns_read_only_what_they_show(store: CheckpointManager) -> None:
    head = store.sample("extract", "summarize", 5, ["id", "summary"])
    assert head is not None
    assert head.column_names == ["id", "summary"] and head.num_rows == 5
    assert head.to_pandas()["summary"].tolist() == [f"summary of {i}" for i in range(5)]
    narrow = store.table("extract", "summarize", ["theme", "score"])
    assert narrow is not None and narrow.column_names == ["theme", "score"]
    assert pl.from_arrow(narrow).shape == (40, 2)
    assert store.head("extract", "summarize", 2) == summarized(2)


def test_empty_and_missing_checkpoints(store: CheckpointManager) -> None:
    store.save("extract", "nothing", [])
    empty = store.table("extract", "nothing")
    assert empty is not None and empty.num_rows == 0
    assert len(empty.to_pandas()) == 0
    assert pl.from_arrow(empty).height == 0
    assert store.table("extract", "missing") is None
