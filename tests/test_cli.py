"""The `docetl-checkpoint` command line: each command's happy path and its errors."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError
from docetl_checkpoint.cli import main
from docetl_checkpoint.cli.progress import Progress
from docetl_checkpoint.cli.render import cut, display_width, fit_widths, human_bytes

TEXT = "lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40  # ~2.3 KB


def documents(n: int = 12) -> list[dict[str, Any]]:
    return [{"id": i, "text": f"document {i}: {TEXT}", "source": f"file{i}.pdf"} for i in range(n)]


def summarized(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        dict(
            d,
            summary=f"summary of {d['id']}",
            score=d["id"] / 4,
            ok=d["id"] % 2 == 0,
            tags=["a", "b"],
            extra={"pages": d["id"] + 1, "lang": "en"},
        )
        for d in docs
    ]


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("DOCETL_CHECKPOINT_DEBUG", raising=False)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    manager = CheckpointManager(folder)
    docs = documents()
    manager.save("extract", "split", docs, meta={"op_hash": "0badcafe"})
    manager.save("extract", "summarize", summarized(docs))
    for i in range(3):
        manager.save_batch("summarize", i, summarized(docs[i * 4 : (i + 1) * 4]))
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli(*argv: Any) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter, as a user runs it."""
    env = dict(os.environ, COLUMNS="100")
    return subprocess.run(
        [sys.executable, "-m", "docetl_checkpoint.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


# -- ls ----------------------------------------------------------------------


def test_ls_lists_checkpoints_and_batches(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "ls", run_dir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["STEP", "OP", "ROWS", "COLS", "LOGICAL", "ON", "DISK", "CREATED"]
    assert any(line.split()[:4] == ["extract", "split", "12", "3"] for line in lines)
    assert any(line.split()[:4] == ["extract", "summarize", "12", "8"] for line in lines)
    batches = [line.split()[1] for line in lines if line.startswith("summarize_batches")]
    assert batches == ["batch_0", "batch_1", "batch_2"]
    assert "2 checkpoints, 3 batches, 36 rows" in out


def test_ls_json(run_dir: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "ls", run_dir, "--json")
    assert code == 0
    entries = json.loads(out)
    by_name = {(e["step"], e["op"]): e for e in entries}
    assert by_name["extract", "split"]["num_rows"] == 12
    assert by_name["extract", "summarize"]["column_names"][:3] == ["id", "text", "source"]
    assert by_name["summarize_batches", "batch_2"]["kind"] == "batch"
    assert all("created_at_iso" in e for e in entries)


def test_ls_empty_folder(tmp_path: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "ls", tmp_path)
    assert code == 0
    assert "no checkpoints" in out
    code, out, _ = run(capsys, "ls", tmp_path, "--json")
    assert code == 0 and json.loads(out) == []


def test_ls_points_at_import_for_a_docetl_json_folder(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / ".docetl_intermediate_config.json").write_text("{}")
    code, out, _ = run(capsys, "ls", tmp_path)
    assert code == 0 and "import-docetl" in out


def test_ls_missing_folder(tmp_path: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "ls", tmp_path / "nope")
    assert code == 1
    assert out == ""
    assert "no such folder" in err and "nope" in err
    assert not (tmp_path / "nope").exists(), "reading must not create a store"


def test_a_file_is_not_a_folder(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = run(capsys, "stats", tmp_path / "f")
    assert code == 1 and "not a folder" in err


# -- show --------------------------------------------------------------------


def test_show_prints_the_first_rows_cut_to_the_terminal(
    run_dir: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    code, out, err = run(capsys, "show", run_dir, "extract", "summarize", "--head", 3)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["#", "id", "text", "source"]
    assert all(display_width(line) <= 100 for line in lines)
    assert lines[2].split()[:3] == ["0", "0", "document"]
    assert "…" in lines[2] or "..." in lines[2], "the long text is cut"
    assert "(3 of 12 rows, 8 columns)" in lines[-1]


def test_show_columns_reads_only_those(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(
        capsys, "show", run_dir, "extract", "summarize", "-n", 2, "--columns", "id,summary,score"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["#", "id", "summary", "score"]
    assert lines[2].split() == ["0", "0", "summary", "of", "0", "0.0"]
    assert lines[3].split() == ["1", "1", "summary", "of", "1", "0.25"]
    assert "(2 of 12 rows, 3 columns)" in out


def test_show_narrow_terminal_switches_to_one_field_per_line(
    run_dir: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "50")
    code, out, _ = run(capsys, "show", run_dir, "extract", "summarize", "-n", 1)
    assert code == 0
    assert out.startswith("-- row 0 ")
    assert all(display_width(line) <= 50 for line in out.splitlines())
    assert any(line.split() == ["summary", "summary", "of", "0"] for line in out.splitlines())


def test_show_vertical_and_missing_keys(tmp_path: Path, capsys: Any) -> None:
    CheckpointManager(tmp_path).save("s", "o", [{"a": 1, "b": None}, {"a": 2}])
    code, out, _ = run(capsys, "show", tmp_path, "s", "o")
    assert code == 0
    lines = out.splitlines()
    assert lines[2].split() == ["0", "1", "null"]
    assert lines[3].split() == ["1", "2"], "a missing key prints as an empty cell"
    code, out, _ = run(capsys, "show", tmp_path, "s", "o", "--vertical")
    assert code == 0
    assert "-- row 1 " in out and "b  null" in out


def test_show_head_zero_and_unicode(tmp_path: Path, capsys: Any) -> None:
    CheckpointManager(tmp_path).save("s", "o", [{"t": "日本語のテキスト" * 20}])
    code, out, _ = run(capsys, "show", tmp_path, "s", "o", "--head", 0)
    assert code == 0 and "(0 of 1 row, 1 column)" in out
    code, out, _ = run(capsys, "show", tmp_path, "s", "o")
    assert code == 0
    assert all(display_width(line) <= 100 for line in out.splitlines())


def test_show_errors(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "show", run_dir, "extract", "nope")
    assert code == 1 and out == ""
    assert "no checkpoint extract/nope" in err and "extract/summarize" in err
    code, _, err = run(capsys, "show", run_dir, "extract", "split", "--columns", "id,bogus")
    assert code == 1 and "no column bogus" in err
    code, _, err = run(capsys, "show", run_dir, "extract", "split", "--head", -1)
    assert code == 2 and "must be 0 or more" in err
    code, _, err = run(capsys, "show", run_dir / "missing", "extract", "split")
    assert code == 1 and "no such folder" in err


# -- info --------------------------------------------------------------------


def aligned_fields(text: str) -> dict[str, str]:
    """`key  value` lines (keys may hold one space, values are set off by two)."""
    pairs = [re.split(r"\s{2,}", line, maxsplit=1) for line in text.splitlines()]
    return {p[0]: p[1] for p in pairs if len(p) == 2 and p[0]}


def test_info(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "info", run_dir, "extract", "split")
    assert code == 0, err
    fields = aligned_fields(out.split("schema\n", 1)[0])
    assert fields["checkpoint"] == "extract/split"
    assert fields["rows"] == "12"
    assert fields["columns"] == "3"
    assert fields["op hash"] == "0badcafe"
    assert fields["path"].endswith(os.path.join("extract", "split.parquet"))
    assert fields["bytes"].endswith("on disk")
    schema = out.split("schema\n", 1)[1].split()
    assert schema[0::2] == ["id", "text", "source"]
    assert schema[1] == "int64"


def test_info_json(run_dir: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "info", run_dir, "extract", "summarize", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["num_rows"] == 12 and info["num_columns"] == 8
    assert info["size_bytes"] > 0
    assert info["op_hash"] is None
    assert [f["name"] for f in info["schema"]] == info["column_names"]
    types_ = {f["name"]: f["type"] for f in info["schema"]}
    assert types_["score"] == "double" and types_["ok"] == "bool"


def test_info_missing(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "info", run_dir, "nope", "split", "--json")
    assert code == 1 and out == "" and "no checkpoint nope/split" in err


# -- stats -------------------------------------------------------------------


def test_stats(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "stats", run_dir)
    assert code == 0, err
    fields = aligned_fields(out)
    assert fields["store"] == str(run_dir)
    assert fields["records"].startswith("36 in checkpoints, ") and "unique" in fields["records"]
    assert fields["checkpoints"] == "2 checkpoints and 3 batches"
    assert "on disk" in fields
    code, out, _ = run(capsys, "stats", run_dir, "--json")
    stats = json.loads(out)
    assert stats["logical_records"] == 36
    assert stats["unique_records"] <= stats["logical_records"]
    assert stats["total_size_bytes"] > 0


def test_stats_missing_folder(tmp_path: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "stats", tmp_path / "x", "--json")
    assert code == 1 and out == "" and "no such folder" in err


# -- diff --------------------------------------------------------------------


@pytest.fixture
def rerun_dir(run_dir: Path, tmp_path: Path) -> Path:
    """The same pipeline re-run: doc 3 re-summarized, doc 11 gone, doc 50 new."""
    records = summarized(documents())
    records[3] = dict(records[3], summary="a different summary")
    del records[11]
    records.append(dict(summarized(documents(51))[50]))
    folder = tmp_path / "rerun"
    CheckpointManager(folder).save("extract", "summarize", records)
    CheckpointManager(run_dir).save("extract", "summarize_v2", records)
    return folder


def test_diff_against_another_folder(run_dir: Path, rerun_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "diff", run_dir, "extract", "summarize", "--against", rerun_dir)
    assert code == 0, err
    assert "unchanged 10   changed 1   added 1   removed 1" in out
    assert "id=3  fields: summary" in out
    # old beside new, the changed words marked (no colour: stdout is not a terminal)
    side_by_side = next(line for line in out.splitlines() if line.startswith("    summary  "))
    assert "summary[- of 3-]" in side_by_side and "{+a different +}summary" in side_by_side
    assert "+ row 11:" in out and '"id": 50' in out
    assert "- row 11:" in out and '"id": 11' in out
    assert all(display_width(line) <= 100 for line in out.splitlines())


def test_diff_to_another_checkpoint_json(run_dir: Path, rerun_dir: Path, capsys: Any) -> None:
    code, out, _ = run(
        capsys,
        "diff",
        run_dir,
        "extract",
        "summarize",
        "--to",
        "extract",
        "summarize_v2",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert (result["unchanged"], result["changed"], result["added"], result["removed"]) == (
        10,
        1,
        1,
        1,
    )
    assert result["paired_by"] == "id"
    assert result["b"] == {
        "dir": str(run_dir),
        "step": "extract",
        "op": "summarize_v2",
        "rows": 12,
    }
    changed = result["examples"]["changed"][0]
    assert changed["id"] == 3 and changed["fields"] == ["summary"]
    assert changed["b"]["summary"] == "a different summary"
    assert result["examples"]["added"][0]["record"]["id"] == 50
    assert result["examples"]["removed"][0]["record"]["id"] == 11


def test_diff_without_id_counts_added_and_removed(tmp_path: Path, capsys: Any) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "a", [{"x": 1}, {"x": 2}, {"x": 2}, {"x": 3}])
    manager.save("s", "b", [{"x": 2}, {"x": 3}, {"x": 4}, {"x": 5}])
    code, out, _ = run(
        capsys, "diff", tmp_path, "s", "a", "--to", "s", "b", "--json", "--examples", 1
    )
    assert code == 0
    result = json.loads(out)
    assert result["paired_by"] is None
    assert (result["unchanged"], result["changed"], result["added"], result["removed"]) == (
        2,
        0,
        2,
        2,
    ), "hashes compare as multisets: one of the two {x: 2} was removed"
    assert len(result["examples"]["added"]) == 1


def test_diff_shows_where_long_values_differ(tmp_path: Path, capsys: Any) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "a", [{"id": 1, "text": "same words " * 40 + "the old ending"}])
    manager.save("s", "b", [{"id": 1, "text": "same words " * 40 + "the new ending"}])
    code, out, _ = run(capsys, "diff", tmp_path, "s", "a", "--to", "s", "b")
    assert code == 0
    assert "unchanged 0   changed 1   added 0   removed 0" in out
    line = next(line for line in out.splitlines() if line.startswith("    text  "))
    old, new = line.split(" │ ")
    assert old.rstrip().endswith("the [-old-] ending") and new.endswith("the {+new+} ending")
    assert display_width(line) <= 100


def test_diff_identical(run_dir: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "diff", run_dir, "extract", "split", "--against", run_dir)
    assert code == 0
    assert "unchanged 12   changed 0   added 0   removed 0" in out


def test_diff_errors(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "diff", run_dir, "extract", "split")
    assert code == 2 and "--against" in err
    code, _, err = run(capsys, "diff", run_dir, "extract", "split", "--against", tmp_path / "x")
    assert code == 1 and "no such folder" in err
    code, _, err = run(capsys, "diff", run_dir, "extract", "split", "--to", "extract", "nope")
    assert code == 1 and "no checkpoint extract/nope" in err


# -- verify ------------------------------------------------------------------


def test_verify_intact(run_dir: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "verify", run_dir)
    assert code == 0, err
    assert out.startswith("ok: nothing damaged")
    code, out, _ = run(capsys, "verify", run_dir, "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_verify_damaged_exits_non_zero(run_dir: Path, capsys: Any) -> None:
    path = CheckpointManager(run_dir).info("extract", "summarize")["path"]  # type: ignore[index]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:  # a torn write: the second half of the file is gone
        f.truncate(size // 2)
    code, out, err = run(capsys, "verify", run_dir)
    assert code == 1
    assert "Traceback" not in err
    assert "DAMAGED" in out or "error" in err


def test_verify_reports_a_store_error(
    run_dir: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: CheckpointManager) -> dict[str, Any]:
        raise CorruptCheckpointError(f"{run_dir}/manifest: truncated")

    monkeypatch.setattr(CheckpointManager, "verify", broken)
    code, out, err = run(capsys, "verify", run_dir)
    assert code == 1 and out == ""
    assert "CorruptCheckpointError" in err and "manifest: truncated" in err


def test_verify_missing_folder(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "verify", tmp_path / "x")
    assert code == 1 and "no such folder" in err


# -- gc ----------------------------------------------------------------------


def test_gc_reports_what_it_freed(run_dir: Path, capsys: Any) -> None:
    manager = CheckpointManager(run_dir)
    # batches keep no history: the replaced batch's values are garbage at once
    manager.save_batch("other", 0, [{"t": f"unique text {i} " * 300} for i in range(5)])
    manager.save_batch("other", 0, [{"t": "the batch again"}])
    code, out, err = run(capsys, "gc", run_dir, "--json")
    assert code == 0, err
    freed = json.loads(out)
    assert freed["bytes_freed"] > 0
    code, out, _ = run(capsys, "gc", run_dir)
    assert code == 0 and out.startswith("freed 0 B")
    assert manager.load("extract", "split") == documents(), "gc keeps live checkpoints"


def test_gc_missing_folder(tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "gc", tmp_path / "x")
    assert code == 1 and "no such folder" in err
    assert not (tmp_path / "x").exists()


# -- export ------------------------------------------------------------------


def test_export_parquet_is_self_contained(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    out_path = tmp_path / "out.parquet"
    code, out, err = run(capsys, "export", run_dir, "extract", "summarize", out_path)
    assert code == 0, err
    assert "wrote 12 rows" in out
    table = pq.read_table(out_path)
    assert table.equals(CheckpointManager(run_dir).table("extract", "summarize"))
    assert table.column("text").to_pylist()[0].startswith("document 0: lorem")


def test_export_jsonl_is_exact(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    out_path = tmp_path / "out.jsonl"
    code, _, err = run(capsys, "export", run_dir, "extract", "summarize", out_path)
    assert code == 0, err
    lines = out_path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == summarized(documents())


def test_export_csv(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    out_path = tmp_path / "out.csv"
    code, _, err = run(capsys, "export", run_dir, "extract", "summarize", out_path)
    assert code == 0, err
    with open(out_path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert list(rows[0]) == ["id", "text", "source", "summary", "score", "ok", "tags", "extra"]
    assert rows[1]["id"] == "1" and rows[1]["ok"] == "false" and rows[1]["score"] == "0.25"
    assert json.loads(rows[2]["extra"]) == {"pages": 3, "lang": "en"}


def test_export_errors(run_dir: Path, tmp_path: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "export", run_dir, "extract", "split", tmp_path / "out.xlsx")
    assert code == 2 and ".parquet" in err
    code, _, err = run(capsys, "export", run_dir, "extract", "nope", tmp_path / "o.csv")
    assert code == 1 and "no checkpoint extract/nope" in err
    code, _, err = run(
        capsys, "export", run_dir, "extract", "split", tmp_path / "no" / "such" / "o.csv"
    )
    assert code == 1 and "no such folder" in err
    assert not (tmp_path / "o.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export-")] == []


# -- import-docetl -----------------------------------------------------------


def test_import_docetl_without_the_adapter(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "docetl_checkpoint.docetl", None)  # as if never written
    code, out, err = run(capsys, "import-docetl", tmp_path)
    assert code == 2 and out == ""
    assert "import-docetl is not available" in err and "docetl_checkpoint.docetl" in err


def test_import_docetl_calls_the_adapter(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def adopt_docetl_folder(folder: str) -> dict[str, int]:
        calls.append(folder)
        return {"checkpoints": 2, "batches": 0}

    adapter = types.ModuleType("docetl_checkpoint.docetl")
    adapter.adopt_docetl_folder = adopt_docetl_folder  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "docetl_checkpoint.docetl", adapter)
    code, out, err = run(capsys, "import-docetl", tmp_path)
    assert code == 0, err
    assert calls == [str(tmp_path)]
    assert f"imported {tmp_path}" in out and "checkpoints  2" in out
    code, _, err = run(capsys, "import-docetl", tmp_path / "missing")
    assert code == 1 and "no such folder" in err


def test_import_docetl_for_real(tmp_path: Path, capsys: Any) -> None:
    """With the real adapter: a folder of DocETL 0.3.0 JSON files becomes loadable."""
    adapter = pytest.importorskip("docetl_checkpoint.docetl")
    if not hasattr(adapter, "adopt_docetl_folder"):
        pytest.skip("docetl_checkpoint.docetl has no adopt_docetl_folder() yet")
    records = summarized(documents(3))
    (tmp_path / "extract").mkdir()
    (tmp_path / "extract" / "summarize.json").write_text(json.dumps(records))
    (tmp_path / ".docetl_intermediate_config.json").write_text(
        json.dumps({"extract": {"summarize": "0123abcd"}})
    )
    code, out, err = run(capsys, "import-docetl", tmp_path)
    assert code == 0, err
    assert "imported" in out
    assert CheckpointManager(tmp_path).load("extract", "summarize") == records
    code, out, _ = run(capsys, "ls", tmp_path)
    assert code == 0 and "summarize" in out


# -- the process as a user runs it ---------------------------------------------


def test_subprocess_happy_path_and_exit_codes(run_dir: Path, tmp_path: Path) -> None:
    done = cli("ls", run_dir)
    assert done.returncode == 0, done.stderr
    assert "extract" in done.stdout and done.stderr == ""
    done = cli("show", run_dir, "extract", "nope")
    assert done.returncode == 1
    assert done.stderr.startswith("docetl-checkpoint: error: no checkpoint extract/nope")
    assert "Traceback" not in done.stderr
    done = cli("info", tmp_path / "missing", "a", "b")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    done = cli("bogus-command")
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_console_script_is_installed(run_dir: Path) -> None:
    script = Path(sys.executable).with_name("docetl-checkpoint")
    if not script.exists():
        pytest.skip("the package is not installed (run `make dev` / maturin develop)")
    done = subprocess.run(
        [str(script), "stats", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["logical_records"] == 36


def test_show_piped_into_head_is_quiet(tmp_path: Path) -> None:
    CheckpointManager(tmp_path).save("s", "o", [{"i": i, "t": "x" * 80} for i in range(3000)])
    shell = f"{sys.executable} -m docetl_checkpoint.cli show {tmp_path} s o --head 3000 | head -n 1"
    done = subprocess.run(["sh", "-c", shell], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["#", "i", "t"]
    assert done.stderr == "", "a closed pipe is not an error worth a message"


def test_unexpected_errors_have_no_traceback_unless_asked(
    run_dir: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: CheckpointManager) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(CheckpointManager, "stats", boom)
    code, _, err = run(capsys, "stats", run_dir)
    assert code == 1
    assert "RuntimeError: boom" in err and "DOCETL_CHECKPOINT_DEBUG" in err
    monkeypatch.setenv("DOCETL_CHECKPOINT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["stats", str(run_dir)])


def test_help_and_version(capsys: Any) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in (
        "ls",
        "show",
        "info",
        "stats",
        "diff",
        "verify",
        "gc",
        "export",
        "import-docetl",
    ):
        assert command in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("docetl-checkpoint ")
    code, _, err = run(capsys)
    assert code == 2 and "COMMAND" in err


# -- rendering and the progress bar ------------------------------------------


def test_cut_and_widths() -> None:
    assert cut("abcdef", 4) == "abc…"
    assert cut("abc", 3) == "abc"
    assert display_width(cut("日本語のテキスト", 7)) <= 7
    assert fit_widths([5, 50, 8], 40) == [5, 27, 8]
    assert fit_widths([50] * 10, 40) is None
    assert human_bytes(999) == "999 B" and human_bytes(1_234_567) == "1.2 MB"


def test_progress_draws_only_on_a_terminal() -> None:
    quiet = io.StringIO()  # not a TTY, like a pipe or a CI log
    with Progress("export", total=10, stream=quiet) as bar:
        bar.advance(10)
    assert quiet.getvalue() == ""

    shown = io.StringIO()
    with Progress("export", total=4, stream=shown, enabled=True, interval=0) as bar:
        bar.advance(2)
        assert "50%" in shown.getvalue() and "2/4" in shown.getvalue()
        bar.advance(2)
    text = shown.getvalue()
    assert "100%" in text and "4/4" in text
    assert text.endswith("\r\x1b[K"), "the bar clears its line when done"


def test_progress_spinner_for_work_without_steps() -> None:
    shown = io.StringIO()
    with Progress("gc", stream=shown, enabled=True, interval=0.01):
        pass
    assert shown.getvalue().startswith("\rgc ")
