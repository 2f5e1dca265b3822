"""`docetl_checkpoint.docetl.CheckpointStore` on its own: no DocETL needed.

The store is driven the way DocETL 0.3.0's runner and containers drive it
(`load`, `clear_stale`, `has_hash`, `save`, `flush_batch`, `clear_all`), with
a plain op-hash dict standing in for the runner's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_json_identical, assert_roundtrip
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.docetl import CONFIG_NAME, CheckpointStore, export_docetl
from docetl_checkpoint.docetl.inputs import file_digest, path_digest

RECORDS: list[dict[str, Any]] = [
    {"id": 1, "text": "x" * 3000, "score": 0.1, "ok": True, "tags": ["a", "b"], "none": None},
    {"id": 2, "text": "y" * 3000, "score": -0.0, "ok": False, "nested": {"k": [1, 2.5]}},
]


def hashes() -> dict[str, dict[str, str]]:
    return {"enrich": {"stats": "h-stats", "tag": "h-tag"}, "report": {"by_kw": "h-by"}}


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- DocETL is optional --------------------------------------------------------


def test_importing_never_imports_docetl() -> None:
    result = run_python(
        """
        import sys
        import docetl_checkpoint, docetl_checkpoint.docetl
        from docetl_checkpoint.docetl import CheckpointStore, install, export_docetl
        assert "docetl" not in sys.modules, sorted(m for m in sys.modules if "docetl" in m)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_store_works_where_docetl_cannot_be_imported(tmp_path: Path) -> None:
    result = run_python(
        f"""
        import sys
        sys.modules["docetl"] = None  # any `import docetl` now raises ImportError
        from docetl_checkpoint.docetl import CheckpointStore, export_docetl, install
        store = CheckpointStore({str(tmp_path / "inter")!r}, {{"s": {{"op": "h"}}}})
        store.save("s", "op", [{{"a": 1}}])
        assert store.load("s", "op") == [{{"a": 1}}]
        store.flush_batch("op", 0, [{{"a": 1}}])
        assert store.load_batches("op") == [[{{"a": 1}}]]
        export_docetl({str(tmp_path / "inter")!r}, {str(tmp_path / "json")!r})
        try:
            install()
        except ImportError as e:
            print("install:", type(e).__name__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "install: ModuleNotFoundError"
    assert json.loads((tmp_path / "json" / "s" / "op.json").read_text()) == [{"a": 1}]


# -- DocETL's interface ------------------------------------------------------------


def test_save_load_follow_the_op_hashes_dict_in_place(store_dir: Path) -> None:
    op_hashes: defaultdict[str, dict[str, str]] = defaultdict(dict, hashes())
    store = CheckpointStore(str(store_dir), op_hashes)
    assert store.op_hashes is op_hashes
    assert store.load("enrich", "stats") is None
    path = store.save("enrich", "stats", RECORDS)
    assert path == os.path.join(str(store_dir), "enrich", "stats.parquet")
    assert_roundtrip(store.load("enrich", "stats"), RECORDS)

    op_hashes["enrich"]["stats"] = "changed"  # the runner refills its dict in place
    assert store.load("enrich", "stats") is None
    op_hashes["enrich"]["stats"] = "h-stats"
    assert_roundtrip(store.load("enrich", "stats"), RECORDS)

    assert store.load("other", "op") is None
    assert "other" not in op_hashes  # no entry created as a side effect
    meta = CheckpointManager(str(store_dir)).info("enrich", "stats")["meta"]
    assert meta["docetl_op_hash"] == "h-stats"
    assert meta["docetl_inputs"] == "{}"  # no runner, no datasets: nothing to track


def test_scans_have_no_hash_and_clear_stale_drops_a_checkpoint(store_dir: Path) -> None:
    store = CheckpointStore(str(store_dir), hashes())
    assert store.load("enrich", "scan_docs") is None
    assert not store.has_hash("enrich", "scan_docs")
    store.clear_stale("enrich", "scan_docs")  # nothing there: no error
    assert store.has_hash("enrich", "stats")
    store.save("enrich", "stats", RECORDS)
    store.clear_stale("enrich", "stats")  # DocETL recomputes it next
    assert store.load("enrich", "stats") is None
    assert store.manager.list() == []
    with pytest.raises(KeyError):
        store.save("enrich", "scan_docs", RECORDS)  # as DocETL's store: no hash, no save


def test_bypass_never_loads_but_still_saves(store_dir: Path) -> None:
    CheckpointStore(str(store_dir), hashes()).save("enrich", "stats", RECORDS)
    bypassed = CheckpointStore(str(store_dir), hashes(), bypass=True)
    assert bypassed.bypass is True
    assert bypassed.load("enrich", "stats") is None
    bypassed.save("enrich", "tag", RECORDS)
    assert_roundtrip(CheckpointStore(str(store_dir), hashes()).load("enrich", "tag"), RECORDS)


def test_store_is_truthy_even_when_empty(store_dir: Path) -> None:
    store = CheckpointStore(str(store_dir), {})
    assert bool(store) is True
    assert not hasattr(store, "__len__")
    assert store.base_dir == str(store_dir)


def test_clear_all_removes_checkpoints_and_batches(store_dir: Path) -> None:
    store = CheckpointStore(str(store_dir), hashes())
    store.save("enrich", "stats", RECORDS)
    store.flush_batch("stats", 0, RECORDS[:1])
    store.clear_all()
    assert store.load("enrich", "stats") is None
    assert store.list_batches("stats") == []
    assert CheckpointManager(str(store_dir)).entries() == []
    store.save("enrich", "stats", RECORDS)  # usable afterwards
    assert_roundtrip(store.load("enrich", "stats"), RECORDS)


def test_flush_batch_and_load_batches(store_dir: Path) -> None:
    store = CheckpointStore(str(store_dir), hashes())
    paths = [store.flush_batch("stats", i, [dict(r, batch=i) for r in RECORDS]) for i in range(3)]
    assert paths[1] == os.path.join(str(store_dir), "stats_batches", "batch_1.parquet")
    assert store.list_batches("stats") == [0, 1, 2]
    batches = store.load_batches("stats")
    assert [[r["batch"] for r in b] for b in batches] == [[0, 0], [1, 1], [2, 2]]
    assert_roundtrip(store.load_batch("stats", 2), [dict(r, batch=2) for r in RECORDS])
    batch = next(e for e in store.manager.entries() if e["kind"] == "batch")
    assert batch["meta"]["docetl_op_hash"] == "h-stats"
    store.flush_batch("unknown", 0, RECORDS)  # an op of no step: no hash to record
    unknown = next(e for e in store.manager.entries() if e["batch_of"] == "unknown")
    assert "docetl_op_hash" not in (unknown["meta"] or {})


# -- input content ---------------------------------------------------------------


def test_changed_input_content_invalidates_and_restored_content_revalidates(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(RECORDS))
    store_dir = str(tmp_path / "inter")
    store = CheckpointStore(store_dir, hashes(), datasets={"docs": str(data)})
    store.save("enrich", "stats", RECORDS)
    assert store.load("enrich", "stats") is not None

    data.write_text(json.dumps(RECORDS[:1]))  # same path, new content
    assert (
        CheckpointStore(store_dir, hashes(), datasets={"docs": str(data)}).load("enrich", "stats")
        is None
    )
    assert store.load("enrich", "stats") is None

    data.write_text(json.dumps(RECORDS))  # content addressed: the old content is valid again
    assert store.load("enrich", "stats") is not None

    data.unlink()
    assert store.load("enrich", "stats") is None  # a missing input matches nothing


def test_folder_dataset_digest_covers_names_and_contents(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.txt").write_text("beta")
    first = path_digest(str(folder))
    assert first.startswith("dir:")
    (folder / ".hidden").write_text("DocETL skips hidden files")
    assert path_digest(str(folder)) == first
    (folder / "sub" / "b.txt").write_text("BETA")
    assert path_digest(str(folder)) != first
    (folder / "sub" / "b.txt").write_text("beta")
    assert path_digest(str(folder)) == first
    (folder / "sub" / "b.txt").rename(folder / "sub" / "c.txt")
    assert path_digest(str(folder)) != first
    assert path_digest(str(tmp_path / "nope.json")) == "missing"


def test_digest_cache_is_not_fooled_by_same_size_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text("aaaa")
    first = file_digest(str(path))
    path.write_text("bbbb")  # same size, within the timestamps' granularity
    assert file_digest(str(path)) != first
    old = 1_000_000_000
    os.utime(path, (old, old))  # settled: now cached by stat signature
    cached = file_digest(str(path))
    path.write_text("cccc")
    os.utime(path, (old, old))  # same size, same mtime; ctime moved
    assert file_digest(str(path)) != cached


# -- DocETL's JSON layout -------------------------------------------------------------


def write_docetl_layout(base: Path) -> dict[tuple[str, str], Any]:
    """What DocETL 0.3.0's store leaves behind: JSON per op, batches, the config."""
    layout = {
        ("enrich", "stats"): RECORDS,
        ("enrich", "tag"): [dict(r, tag=1) for r in RECORDS],
        ("report", "by_kw"): [{"kw": "a", "n": 2, "f": 1e-7, "big": 2**70}],
    }
    config: dict[str, dict[str, str]] = {}
    for (step, op), records in layout.items():
        (base / step).mkdir(parents=True, exist_ok=True)
        (base / step / f"{op}.json").write_text(json.dumps(records))
        config.setdefault(step, {})[op] = hashes()[step][op]
    (base / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    (base / "stats_batches").mkdir()
    for i in range(2):
        (base / "stats_batches" / f"batch_{i}.json").write_text(json.dumps(RECORDS[i : i + 1]))
    return layout


def test_adopts_a_docetl_json_folder(store_dir: Path) -> None:
    layout = write_docetl_layout(store_dir)
    (store_dir / "enrich" / "stray.json").write_text("[]")  # not in the config: not DocETL's
    store = CheckpointStore(str(store_dir), hashes())
    for (step, op), records in layout.items():
        assert_roundtrip(store.load(step, op), records)
        meta = store.manager.info(step, op)["meta"]
        assert (meta["docetl_op_hash"], meta["docetl_origin"]) == (
            hashes()[step][op],
            "docetl-json",
        )
        assert not (store_dir / step / f"{op}.json").exists()
    assert store.load_batches("stats") == [RECORDS[:1], RECORDS[1:]]
    assert not (store_dir / CONFIG_NAME).exists()
    assert not (store_dir / "stats_batches" / "batch_0.json").exists()
    assert (store_dir / "enrich" / "stray.json").read_text() == "[]"
    assert store.adopt_docetl_json() == []  # nothing left to adopt


def test_adoption_keeps_docetl_hash_semantics(store_dir: Path) -> None:
    write_docetl_layout(store_dir)
    changed = hashes()
    changed["enrich"]["tag"] = "the op was edited since"
    store = CheckpointStore(str(store_dir), changed)
    assert store.load("enrich", "tag") is None
    assert store.load("enrich", "stats") is not None


def test_interrupted_adoption_resumes(store_dir: Path) -> None:
    layout = write_docetl_layout(store_dir)
    (store_dir / "enrich" / "stats.json").unlink()  # imported and removed before a crash
    CheckpointManager(str(store_dir)).save(
        "enrich", "stats", RECORDS, meta={"docetl_op_hash": "h-stats", "docetl_inputs": "{}"}
    )
    store = CheckpointStore(str(store_dir), hashes())
    for (step, op), records in layout.items():
        assert_roundtrip(store.load(step, op), records)
    assert not (store_dir / CONFIG_NAME).exists()


def test_damaged_docetl_config_is_an_error_naming_it(store_dir: Path) -> None:
    write_docetl_layout(store_dir)
    (store_dir / CONFIG_NAME).write_text('{"enrich": {"stats"')
    store = CheckpointStore(str(store_dir), hashes())
    with pytest.raises(ValueError, match=CONFIG_NAME):
        store.load("enrich", "stats")
    assert (store_dir / "enrich" / "stats.json").exists()  # nothing removed


def test_no_adoption_when_disabled(store_dir: Path) -> None:
    write_docetl_layout(store_dir)
    store = CheckpointStore(str(store_dir), hashes(), adopt=False)
    assert store.load("enrich", "stats") is None
    assert (store_dir / CONFIG_NAME).exists()


def test_export_writes_what_docetl_store_writes(tmp_path: Path) -> None:
    src = tmp_path / "ours"
    store = CheckpointStore(str(src), hashes())
    store.save("enrich", "stats", RECORDS)
    store.save("report", "by_kw", [{"kw": "a", "f": 1e-7, "big": 2**70, "nan": float("nan")}])
    store.flush_batch("stats", 0, RECORDS[:1])
    dest = tmp_path / "json"
    dest.mkdir()
    (dest / CONFIG_NAME).write_text(json.dumps({"old": {"op": "h-old"}}))
    written = export_docetl(str(src), str(dest))
    assert sorted(os.path.relpath(p, dest) for p in written) == sorted(
        [CONFIG_NAME, "enrich/stats.json", "report/by_kw.json", "stats_batches/batch_0.json"]
    )
    assert (dest / "enrich" / "stats.json").read_text() == json.dumps(RECORDS)
    assert (dest / "report" / "by_kw.json").read_text() == json.dumps(
        [{"kw": "a", "f": 1e-7, "big": 2**70, "nan": float("nan")}]
    )
    assert (dest / "stats_batches" / "batch_0.json").read_text() == json.dumps(RECORDS[:1])
    config = json.loads((dest / CONFIG_NAME).read_text())
    assert config == {
        "old": {"op": "h-old"},
        "enrich": {"stats": "h-stats"},
        "report": {"by_kw": "h-by"},
    }


def test_export_in_place_then_reopen_keeps_our_input_digests(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    data.write_text("[]")
    inter = tmp_path / "inter"
    store = CheckpointStore(str(inter), hashes(), datasets={"docs": str(data)})
    store.save("enrich", "stats", RECORDS)
    export_docetl(str(inter))
    assert (inter / "enrich" / "stats.json").exists()
    again = CheckpointStore(str(inter), hashes(), datasets={"docs": str(data)})
    assert_roundtrip(again.load("enrich", "stats"), RECORDS)
    assert again.manager.info("enrich", "stats")["meta"]["docetl_origin"] == "run"
    assert not (inter / "enrich" / "stats.json").exists()
    data.write_text("[1]")
    assert again.load("enrich", "stats") is None


def test_export_round_trips_every_json_value(tmp_path: Path) -> None:
    records = [{"f": 0.1 + 0.2, "neg": -0.0, "inf": float("inf"), "s": "é\u2028", "l": [[], {}]}]
    store = CheckpointStore(str(tmp_path / "ours"), hashes())
    store.save("enrich", "stats", records)
    export_docetl(str(tmp_path / "ours"), str(tmp_path / "json"))
    back = json.loads((tmp_path / "json" / "enrich" / "stats.json").read_text())
    assert_json_identical(back, json.loads(json.dumps(records)))


def test_an_empty_output_is_a_checkpoint_not_a_miss(store_dir: Path) -> None:
    """A filter that drops every record saves `[]`, and DocETL must reuse it."""
    store = CheckpointStore(str(store_dir), hashes())
    store.save("enrich", "tag", [])
    assert store.load("enrich", "tag") == []
    store.flush_batch("tag", 0, [])
    assert store.load_batches("tag") == [[]]
