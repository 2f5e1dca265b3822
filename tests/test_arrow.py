"""Typed Arrow out of `table()`/`sample()`, without copies, and the libraries that read it."""

from __future__ import annotations

import json
import secrets
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from conftest import assert_json_identical, float_bits
from docetl_checkpoint import CheckpointError, CheckpointManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TEXTS = [secrets.token_hex(2_500) for _ in range(4)]  # 5 KB each: content addressed
DOCS = [
    {
        "id": i,
        "name": f"n{i}",
        "score": i * 0.5,
        "ok": i % 2 == 1,
        "tags": ["a"] * (i % 3),
        "meta": {"year": 2000 + i, "lang": "en"},
        "text": TEXTS[i % 4],
    }
    for i in range(12)
]


def is_type(kind: str, t: pa.DataType) -> bool:
    """pa.types.is_<kind>(t); False for kinds this pyarrow lacks (views: pyarrow 16+)."""
    check = getattr(pa.types, f"is_{kind}", None)
    return bool(check is not None and check(t))


def is_stringish(t: pa.DataType) -> bool:
    return any(is_type(k, t) for k in ("string", "large_string", "string_view"))


def is_listish(t: pa.DataType) -> bool:
    return any(is_type(k, t) for k in ("list", "large_list", "list_view", "large_list_view"))


@pytest.fixture
def docs(manager: CheckpointManager) -> CheckpointManager:
    manager.save("s", "docs", DOCS)
    return manager


# -- typed columns --------------------------------------------------------------


def test_columns_are_typed_where_values_allow(manager: CheckpointManager) -> None:
    data: list[dict[str, Any]] = [
        {"i": 1, "f": 1.5, "b": True, "s": "x", "l": [1, 2], "st": {"a": 1, "b": "x"}},
        {
            "i": -(2**63),
            "f": -0.0,
            "b": False,
            "s": "ü\U0001f600",
            "l": [],
            "st": {"a": 2, "b": "y"},
        },
        {"i": None, "f": float("nan"), "b": None, "s": None, "l": None, "st": None},
        {"f": float("-inf")},
    ]
    manager.save("s", "typed", data)
    t = manager.table("s", "typed")
    assert t is not None and t.num_rows == 4
    assert t.column_names == ["i", "f", "b", "s", "l", "st"]
    assert t.schema.field("i").type == pa.int64()
    assert t.schema.field("f").type == pa.float64()
    assert t.schema.field("b").type == pa.bool_()
    assert is_stringish(t.schema.field("s").type)
    lt = t.schema.field("l").type
    assert is_listish(lt) and lt.value_type == pa.int64()
    st_type = t.schema.field("st").type
    assert pa.types.is_struct(st_type)
    assert [st_type.field(k).name for k in range(st_type.num_fields)] == ["a", "b"]
    assert st_type.field("a").type == pa.int64() and is_stringish(st_type.field("b").type)
    assert t.column("i").to_pylist() == [1, -(2**63), None, None]
    assert [float_bits(x) for x in t.column("f").to_pylist()] == [
        float_bits(x) for x in (1.5, -0.0, float("nan"), float("-inf"))
    ]
    assert t.column("b").to_pylist() == [True, False, None, None]
    assert t.column("s").to_pylist() == ["x", "ü\U0001f600", None, None]
    assert t.column("l").to_pylist() == [[1, 2], [], None, None]
    assert t.column("st").to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, None, None]


@pytest.mark.parametrize(
    "values",
    [
        [1, "one"],
        [1, 2.5],
        [2.5, 1],
        [True, 1],
        [1.0, False],
        [2**70],
        [1, 2**64],
        [{"a": 1}, "s"],
        [[1], {"a": 1}],
        ["s", ["t"]],
    ],
    ids=repr,
)
def test_json_text_column_where_types_do_not_fit(
    manager: CheckpointManager, values: list[Any]
) -> None:
    manager.save("s", "mixed", [{"x": v} for v in values])
    t = manager.table("s", "mixed")
    assert t is not None
    col_type = t.schema.field("x").type
    assert is_stringish(col_type), f"{values!r} stored as {col_type}, expected JSON text"
    decoded = [json.loads(v) for v in t.column("x").to_pylist()]
    assert_json_identical(decoded, values)


def assert_lossless_view(value: Any, original: Any, col_type: pa.DataType, path: str) -> None:
    """A typed cell shows the original value (a struct may add None for absent keys).

    Top-level JSON-text columns are checked strictly by the caller; below the top
    level a string field may hold either the string itself or JSON text.
    """
    if original is None:
        assert value is None, path
    elif isinstance(original, dict) and pa.types.is_struct(col_type):
        assert isinstance(value, dict), path
        assert set(original) <= set(value), path
        for k in value:
            if k in original:
                assert_lossless_view(value[k], original[k], col_type.field(k).type, f"{path}.{k}")
            else:
                assert value[k] is None, f"{path}.{k}"
    elif isinstance(original, list) and is_listish(col_type):
        assert isinstance(value, list) and len(value) == len(original), path
        for n, (v, o) in enumerate(zip(value, original, strict=True)):
            assert_lossless_view(v, o, col_type.value_type, f"{path}[{n}]")
    elif is_stringish(col_type) and not (isinstance(original, str) and value == original):
        # a nested field that mixes types may hold JSON text
        assert isinstance(value, str), path
        assert_json_identical(json.loads(value), original, f"{path} (JSON text)")
    else:
        assert_json_identical(value, original, path)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=6),
    st.sampled_from(TEXTS),
)
nested = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from("abc"), c, max_size=3),
    max_leaves=8,
)
rows = st.lists(st.dictionaries(st.sampled_from(["x", "y", "z"]), nested, max_size=3), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=rows)
def test_table_never_coerces_lossily(
    data: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    m = CheckpointManager(tempfile.mkdtemp(dir=tmp_path_factory.getbasetemp()) + "/s")
    data = json.loads(json.dumps(data))  # canonical NaN, as load() would give
    m.save("s", "o", data)
    t = m.table("s", "o")
    assert t is not None and t.num_rows == len(data)
    keys = {k for r in data for k in r}
    assert set(t.column_names) == keys
    for name in t.column_names:
        col_type = t.schema.field(name).type
        cells = t.column(name).to_pylist()
        originals = [r.get(name) for r in data]
        json_text = is_stringish(col_type) and not all(
            o is None or isinstance(o, str) for o in originals
        )
        for i, (cell, orig) in enumerate(zip(cells, originals, strict=True)):
            if json_text and orig is not None:
                assert_json_identical(json.loads(cell), orig, f"{name}[{i}] (JSON text)")
            else:
                assert_lossless_view(cell, orig, col_type, f"{name}[{i}]")


def test_unusual_keys_become_column_and_field_names(manager: CheckpointManager) -> None:
    keys = ["", "a.b", "\x01", "\x1f", "tab\there", "\u2028", "\U0001f600", "é"]
    data = [{k: {k: i} for k in keys} for i in range(3)]
    manager.save("s", "keys", data)
    t = manager.table("s", "keys")
    assert t is not None and t.column_names == keys
    assert t.to_pylist() == data


@pytest.mark.parametrize("data", [[{"a\x00b": 1}], [{"m": {"\x00": 1}}]], ids=["top", "nested"])
def test_nul_in_a_key(manager: CheckpointManager, data: list[dict[str, Any]]) -> None:
    # The Arrow C interface cannot carry a NUL in a field name: table() must either
    # work or fail with an error naming the checkpoint; load() is unaffected.
    manager.save("s", "nulkeys", data)
    assert_json_identical(manager.load("s", "nulkeys"), data)
    try:
        t = manager.table("s", "nulkeys")
    except (ValueError, CheckpointError) as err:
        assert "nulkeys" in str(err), f"error does not name the checkpoint: {err}"
    else:
        assert t is not None and t.num_rows == 1


# -- selection and sampling --------------------------------------------------------


def test_columns_select(docs: CheckpointManager) -> None:
    t = docs.table("s", "docs", columns=["text", "id"])
    assert t is not None and t.column_names == ["text", "id"]
    assert t.column("id").to_pylist() == [d["id"] for d in DOCS]
    assert t.column("text").to_pylist() == [d["text"] for d in DOCS]
    s = docs.sample("s", "docs", 2, columns=["score"])
    assert s is not None and s.to_pylist() == [{"score": 0.0}, {"score": 0.5}]


def test_unknown_column_is_an_error(docs: CheckpointManager) -> None:
    with pytest.raises((KeyError, ValueError, CheckpointError)):
        docs.table("s", "docs", columns=["id", "no_such_column"])


def test_sample_gives_the_first_rows(docs: CheckpointManager) -> None:
    full = docs.table("s", "docs")
    assert full is not None
    for n in (0, 1, 5, 12, 50):
        s = docs.sample("s", "docs", n)
        assert s is not None
        assert s.schema == full.schema
        assert s.to_pylist() == full.slice(0, n).to_pylist() == DOCS[:n]


def test_sample_of_a_many_row_checkpoint(manager: CheckpointManager) -> None:
    data = [{"i": i, "t": TEXTS[i % 4] if i % 7 == 0 else f"row {i}"} for i in range(20_000)]
    manager.save("s", "big", data)
    for n in (3, 10_001):
        s = manager.sample("s", "big", n)
        assert s is not None and s.to_pylist() == data[:n]


# -- zero copy ---------------------------------------------------------------------


def test_table_buffers_are_the_ones_rust_built(docs: CheckpointManager) -> None:
    result = docs._store._table_with_buffer_addresses("s", "docs")
    assert result is not None
    table, addresses = result
    assert table.to_pylist() == DOCS
    rust_built = set(addresses)
    checked = 0
    for name, column in zip(table.column_names, table.columns, strict=True):
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is None or buf.size == 0:  # nothing there that could be a copy
                    continue
                assert buf.address in rust_built, f"column {name}: buffer {buf} was copied"
                checked += 1
    assert checked >= len(table.column_names)
    text_data = max(b.size for c in table.column("text").chunks for b in c.buffers() if b)
    assert text_data >= len(TEXTS) * len(TEXTS[0])


def test_table_does_not_allocate_in_the_pyarrow_pool(manager: CheckpointManager) -> None:
    data = [{"id": i, "text": secrets.token_hex(5_000)} for i in range(200)]  # 2 MB
    manager.save("s", "o", data)
    before = pa.total_allocated_bytes()
    table = manager.table("s", "o")
    grown = pa.total_allocated_bytes() - before
    assert table is not None and table.num_rows == 200
    assert grown < 200 * 10_000 / 10, f"pyarrow allocated {grown} bytes for table()"
    assert table.column("text").to_pylist() == [d["text"] for d in data]


# -- readers -----------------------------------------------------------------------


def test_pandas(docs: CheckpointManager) -> None:
    df = docs.to_pandas("s", "docs")
    assert isinstance(df, pd.DataFrame) and len(df) == 12
    assert df["id"].tolist() == [d["id"] for d in DOCS]
    assert df["score"].tolist() == [d["score"] for d in DOCS]
    assert df["text"].tolist() == [d["text"] for d in DOCS]
    assert [list(x) for x in df["tags"]] == [d["tags"] for d in DOCS]
    assert df["meta"].tolist() == [d["meta"] for d in DOCS]
    table = docs.table("s", "docs")
    assert table is not None
    arrow_df = table.to_pandas(types_mapper=pd.ArrowDtype)
    assert arrow_df["id"].dtype == pd.ArrowDtype(pa.int64())
    assert arrow_df["ok"].tolist() == [d["ok"] for d in DOCS]
    assert arrow_df["text"].tolist() == [d["text"] for d in DOCS]


def test_polars(docs: CheckpointManager) -> None:
    table = docs.table("s", "docs")
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame) and df.height == 12
    assert df["id"].to_list() == [d["id"] for d in DOCS]
    assert df["text"].to_list() == [d["text"] for d in DOCS]
    assert df["meta"].to_list() == [d["meta"] for d in DOCS]
    assert df.filter(pl.col("ok"))["name"].to_list() == [d["name"] for d in DOCS if d["ok"]]


def test_duckdb(docs: CheckpointManager) -> None:
    duckdb = pytest.importorskip("duckdb")
    t = docs.table("s", "docs")  # noqa: F841  (found by DuckDB's replacement scan)
    rows = duckdb.sql("select count(*), sum(id), max(length(text)), sum(score) from t").fetchall()
    assert rows[0] == (12, sum(range(12)), len(TEXTS[0]), sum(d["score"] for d in DOCS))
    names = duckdb.sql("select name from t where ok order by id").fetchall()
    assert [n for (n,) in names] == [d["name"] for d in DOCS if d["ok"]]


def test_table_and_sample_do_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow.table() would import pandas (half a second) on a notebook's first call."""
    import subprocess
    import sys

    code = (
        "import sys; from docetl_checkpoint import CheckpointManager\n"
        f"m = CheckpointManager({str(tmp_path / 'store')!r})\n"
        "m.save('s', 'o', [{'a': i, 'text': 'x' * 100} for i in range(20)])\n"
        "assert m.table('s', 'o').num_rows == 20 and m.sample('s', 'o', 3).num_rows == 3\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
