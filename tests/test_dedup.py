"""Value-level dedup and garbage collection, measured as bytes on disk.

Texts are random hex (secrets.token_hex), so compression cannot explain a
small footprint: only storing each large value once can.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_roundtrip, disk_bytes, stored_bytes
from docetl_checkpoint import CheckpointManager

N_DOCS = 20
TEXT_CHARS = 20_000  # 20 KB of text per document


def make_docs(n: int = N_DOCS) -> list[dict[str, Any]]:
    return [
        {"id": i, "title": f"doc {i}", "text": secrets.token_hex(TEXT_CHARS // 2)} for i in range(n)
    ]


def add_field(docs: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [{**d, key: f"{key}-{d['id']}"} for d in docs]


@pytest.fixture
def store_dir(store_location: str) -> str:
    """Every case runs on a local folder and on S3."""
    return store_location


def measured(m: CheckpointManager, store_dir: Path) -> int:
    """Bytes stored (on disk or in the bucket), checked against what the store reports."""
    size = stored_bytes(store_dir)
    assert m.stats()["total_size_bytes"] == size
    return size


def test_value_carried_through_five_checkpoints_is_stored_once(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    docs = make_docs()
    m.save("p", "op0", docs)
    one = measured(m, store_dir)
    assert one > N_DOCS * TEXT_CHARS // 4  # the texts are really on disk
    saved = [docs]
    for k in range(1, 5):
        saved.append(add_field(saved[-1], f"field{k}"))
        m.save("p", f"op{k}", saved[-1])
    five = measured(m, store_dir)
    assert five - one < 0.2 * one, (one, five)
    reopened = CheckpointManager(store_dir)
    for k, data in enumerate(saved):
        assert_roundtrip(reopened.load("p", f"op{k}"), data)


def test_value_repeated_by_unnest_is_stored_once(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    docs = make_docs()
    m.save("p", "map", docs)
    one = measured(m, store_dir)
    unnested = [{**d, "theme": f"theme {t}"} for d in docs for t in range(10)]
    m.save("p", "unnest", unnested)
    assert measured(m, store_dir) - one < 0.2 * one
    assert_roundtrip(CheckpointManager(store_dir).load("p", "unnest"), unnested)


def test_batches_and_renamed_keys_reuse_stored_values(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    docs = make_docs()
    m.save("p", "map", docs)
    one = measured(m, store_dir)
    m.save_batch("map", 0, docs[:10])
    m.save_batch("map", 1, docs[10:])
    renamed = [{"doc": d["id"], "content": d["text"]} for d in docs]
    m.save("p", "renamed", renamed)
    assert measured(m, store_dir) - one < 0.2 * one
    reopened = CheckpointManager(store_dir)
    assert_roundtrip(reopened.load_batch("map", 1), docs[10:])
    assert_roundtrip(reopened.load("p", "renamed"), renamed)


def test_large_nested_value_is_stored_once(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    docs = [{"id": i, "chunks": [secrets.token_hex(500) for _ in range(20)]} for i in range(N_DOCS)]
    m.save("p", "op0", docs)
    one = measured(m, store_dir)
    current = docs
    for k in range(1, 5):
        current = add_field(current, f"field{k}")
        m.save("p", f"op{k}", current)
    assert measured(m, store_dir) - one < 0.2 * one
    assert_roundtrip(CheckpointManager(store_dir).load("p", "op4"), current)


def test_identical_resave_adds_at_most_a_small_commit(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    docs = make_docs()
    m.save("p", "map", docs)
    m.save("p", "unnest", [{**d, "theme": t} for d in docs for t in "abc"])
    before = measured(m, store_dir)
    m.save("p", "map", [dict(d) for d in docs])
    assert measured(m, store_dir) - before < 4096
    assert_roundtrip(CheckpointManager(store_dir).load("p", "map"), docs)


def test_rerun_with_few_changes_stores_only_the_changes(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    docs = make_docs()
    m.save("p", "map", docs)
    one = measured(m, store_dir)
    rerun = [dict(d) for d in docs]
    rerun[3]["text"] = secrets.token_hex(TEXT_CHARS // 2)
    m.save("p", "map", rerun)
    grown = measured(m, store_dir) - one
    assert grown < 3 * one / N_DOCS, (one, grown)  # about one new text, not a full copy
    assert_roundtrip(CheckpointManager(store_dir).load("p", "map"), rerun)


def test_repeated_large_value_loads_as_one_shared_str(store_dir: Path) -> None:
    CheckpointManager(store_dir).save(
        "p", "unnest", [{"text": d["text"], "theme": t} for d in make_docs(3) for t in range(4)]
    )
    rows = CheckpointManager(store_dir).load("p", "unnest")
    assert rows is not None and len(rows) == 12
    for doc in range(3):
        group = rows[doc * 4 : (doc + 1) * 4]
        assert all(r["text"] is group[0]["text"] for r in group)


# -- garbage collection -------------------------------------------------------------


def fresh_store_size(
    tmp_path: Path,
    checkpoints: dict[tuple[str, str], list[dict[str, Any]]],
    batches: dict[tuple[str, int], list[dict[str, Any]]] | None = None,
) -> int:
    """Bytes of a new store that holds only the given checkpoints and batches."""
    folder = tmp_path / "fresh"
    fresh = CheckpointManager(folder)
    for (step, op), data in checkpoints.items():
        fresh.save(step, op, data)
    for (op, index), data in (batches or {}).items():
        fresh.save_batch(op, index, data)
    return disk_bytes(folder)


def test_gc_frees_values_of_deleted_checkpoints_only(store_dir: Path, tmp_path: Path) -> None:
    m = CheckpointManager(store_dir)
    kept, dropped = make_docs(), make_docs()
    shared = kept[:5]
    m.save("p", "kept", kept)
    m.save("p", "dropped", dropped + shared)
    assert m.delete("p", "dropped") is True
    before = measured(m, store_dir)
    report = m.gc(keep_versions=1)  # the deleted checkpoint's history goes too
    after = measured(m, store_dir)
    assert report["values_removed"] >= N_DOCS
    assert report["bytes_freed"] > N_DOCS * TEXT_CHARS // 4
    assert abs(report["bytes_freed"] - (before - after)) < 4096
    assert after <= 1.1 * fresh_store_size(tmp_path, {("p", "kept"): kept})
    assert_roundtrip(CheckpointManager(store_dir).load("p", "kept"), kept)


def test_gc_frees_values_of_overwritten_checkpoints(store_dir: Path, tmp_path: Path) -> None:
    m = CheckpointManager(store_dir)
    old, new = make_docs(), make_docs()
    m.save("p", "map", old)
    m.save_batch("map", 0, old[:5])
    m.save("p", "map", new)
    m.gc(keep_versions=1)  # the replaced version goes
    expected = fresh_store_size(tmp_path, {("p", "map"): new}, {("map", 0): old[:5]})
    assert measured(m, store_dir) <= 1.1 * expected
    reopened = CheckpointManager(store_dir)
    assert_roundtrip(reopened.load("p", "map"), new)
    assert_roundtrip(reopened.load_batch("map", 0), old[:5])


def test_gc_twice_frees_nothing_the_second_time(store_dir: Path) -> None:
    m = CheckpointManager(store_dir)
    m.save("p", "a", make_docs(5))
    m.save("p", "b", make_docs(5))
    m.delete("p", "b")
    m.gc()
    before = measured(m, store_dir)
    report = m.gc()
    assert report["values_removed"] == 0 and report["bytes_freed"] == 0
    assert report["files_removed"] == 0
    assert measured(m, store_dir) == before
