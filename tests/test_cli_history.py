"""The history commands of the CLI: diff's modes, log, runs, pin, gc's retention flags."""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.cli import main
from docetl_checkpoint.cli.render import display_width
from docetl_checkpoint.cli.units import duration, size

TEXT = "lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30


def docs(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "text": f"document {i}: {TEXT}", "n": i} for i in range(n)]


def edited(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Record 3's text edited, 5's n now a string, 9 gone, 42 new."""
    out = [dict(r) for r in records]
    out[3]["text"] = out[3]["text"].replace("dolor", "pain", 1)
    out[5]["n"] = "5"
    del out[9]
    out.append({"id": 42, "text": "a new document", "n": 42})
    return out


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("DOCETL_CHECKPOINT_DEBUG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def two_ops(tmp_path: Path) -> Path:
    """Two checkpoints of one folder: the two sides of a diff."""
    manager = CheckpointManager(tmp_path / "store")
    manager.save("s", "old", docs(10))
    manager.save("s", "new", edited(docs(10)))
    manager.save("s", "same", docs(10))
    return tmp_path / "store"


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def strict_loads(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# -- diff between two checkpoints ------------------------------------------------


def test_diff_json_is_strict_with_counts_and_changes(two_ops: Path, capsys: Any) -> None:
    manager = CheckpointManager(two_ops)
    manager.save("s", "nan", [{"id": 0, "x": float("nan")}, {"id": 1, "x": 1.0}])
    manager.save("s", "inf", [{"id": 0, "x": float("inf")}, {"id": 1, "x": 1.0}])
    code, out, err = run(capsys, "diff", two_ops, "s", "old", "--to", "s", "new", "--json")
    assert code == 0, err
    result = strict_loads(out)
    assert (result["added"], result["removed"], result["changed"]) == (1, 1, 2)
    assert all(type(result[k]) is int for k in ("added", "removed", "changed", "unchanged"))
    assert result["key"] == "id"
    kinds = [(c["change"], c["key"]) for c in result["changes"]]
    assert kinds == [("changed", 3), ("changed", 5), ("added", 42), ("removed", 9)]
    assert result["changes"][1]["fields"] == {"n": {"old": 5, "new": "5"}}
    assert result["changes"][2]["record"] == {"id": 42, "text": "a new document", "n": 42}
    code, out, _ = run(capsys, "diff", two_ops, "s", "nan", "--to", "s", "inf", "--json")
    fields = strict_loads(out)["changes"][0]["fields"]
    assert fields == {"x": {"old": "NaN", "new": "Infinity"}}


def test_diff_exit_code(two_ops: Path, capsys: Any) -> None:
    code, _, _ = run(capsys, "diff", two_ops, "s", "old", "--to", "s", "new", "--exit-code")
    assert code == 1
    code, out, _ = run(capsys, "diff", two_ops, "s", "old", "--to", "s", "same", "--exit-code")
    assert code == 0 and "unchanged 10   changed 0   added 0   removed 0" in out
    code, _, _ = run(capsys, "diff", two_ops, "s", "old", "--to", "s", "new")
    assert code == 0, "without --exit-code a difference is not a failure"


def test_diff_text_side_by_side_with_marks(two_ops: Path, capsys: Any) -> None:
    code, out, _ = run(capsys, "diff", two_ops, "s", "old", "--to", "s", "new")
    assert code == 0
    lines = out.splitlines()
    assert all(display_width(line) <= 100 for line in lines)
    text = next(line for line in lines if line.startswith("    text  "))
    old, new = text.split(" │ ")
    assert "[-dolor-]" in old and "{+pain+}" in new and "\x1b[" not in out
    n = next(line for line in lines if line.startswith("    n  "))
    assert "[-5-]" in n and '{+"5"+}' in n, "a type change is marked whole"


def test_many_changed_words_still_show_what_fits(tmp_path: Path, capsys: Any) -> None:
    """Each changed word's marks take columns: a rewrite of every word shows the
    first words that fit, not an empty cell."""
    manager = CheckpointManager(tmp_path / "store")
    manager.save("s", "old", [{"id": 1, "text": " ".join(f"w{i}" for i in range(200))}])
    manager.save("s", "new", [{"id": 1, "text": " ".join(f"v{i}" for i in range(200))}])
    code, out, _ = run(capsys, "diff", tmp_path / "store", "s", "old", "--to", "s", "new")
    assert code == 0
    text = next(line for line in out.splitlines() if line.startswith("    text  "))
    old, new = text.split(" │ ")
    assert "[-w0-] [-w1-]" in old and "{+v0+} {+v1+}" in new
    assert all(display_width(line) <= 100 for line in out.splitlines())


def test_diff_colour_only_on_a_terminal_without_no_color(
    two_ops: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    argv = ["diff", str(two_ops), "s", "old", "--to", "s", "new"]
    for no_color, coloured in (("", True), ("1", False)):
        monkeypatch.setenv("NO_COLOR", no_color)
        screen = Terminal()
        monkeypatch.setattr(sys, "stdout", screen)
        assert main(argv) == 0
        out = screen.getvalue()
        assert ("\x1b[1;31mdolor\x1b[0m" in out) is coloured
        assert ("[-dolor-]" in out) is not coloured


def test_diff_by_explicit_key_and_by_position(tmp_path: Path, capsys: Any) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "a", [{"name": "x", "v": 1}, {"name": "y", "v": 2}])
    manager.save("s", "b", [{"name": "y", "v": 3}, {"name": "x", "v": 1}])
    code, out, _ = run(capsys, "diff", tmp_path, "s", "a", "--to", "s", "b", "--key", "name")
    assert code == 0 and "name=y  fields: v" in out
    code, out, _ = run(capsys, "diff", tmp_path, "s", "a", "--to", "s", "b", "--json")
    result = strict_loads(out)
    # by position: y went from after x to before it, so it is not paired
    assert result["key"] is None
    assert (result["changed"], result["added"], result["removed"]) == (0, 1, 1)
    code, _, err = run(capsys, "diff", tmp_path, "s", "a", "--to", "s", "b", "--key", "v2")
    assert code == 2 and "key 'v2' is not a field of" in err and len(err.splitlines()) == 1


# -- usage errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["diff", "{dir}", "s", "old"], "--previous, --versions A B, --against"),
        (["diff", "{dir}", "s", "old", "--previous", "--to", "s", "new"], "not with --against"),
        (["diff", "{dir}", "s", "old", "--previous", "--versions", "1", "2"], "not both"),
        (["diff", "{dir}", "--previous"], "needs STEP and OP"),
        (["diff", "{dir}", "s", "old", "--runs", "a", "b"], "give DIR only"),
        (["diff", "{dir}", "s", "old", "--versions", "0", "1"], "there is no version 0"),
        (["diff", "{dir}", "s", "old", "--versions", "x", "1"], "not a version number"),
        (["gc", "{dir}", "--older-than", "7"], "unknown unit"),
        (["gc", "{dir}", "--older-than", "soon"], "not a duration"),
        (["gc", "{dir}", "--max-bytes", "12XB"], "unknown unit"),
        (["gc", "{dir}", "--keep-versions", "0"], "must be 1 or more"),
        (["pin", "{dir}", "s", "old"], "needs STEP OP VERSION"),
        (["pin", "{dir}", "s", "old", "1", "--run", "r"], "not both"),
        (["unpin", "{dir}"], "needs STEP OP VERSION"),
    ],
)
def test_usage_errors_exit_2(two_ops: Path, capsys: Any, argv: list[str], message: str) -> None:
    before = sorted(p.name for p in (two_ops / ".docetl_checkpoint").rglob("*"))
    code, out, err = run(capsys, *(a.format(dir=two_ops) for a in argv))
    assert code == 2 and out == ""
    assert message in err
    assert sorted(p.name for p in (two_ops / ".docetl_checkpoint").rglob("*")) == before


def test_units() -> None:
    assert duration("7d") == 7 * 86400 and duration("12h") == 43200
    assert duration("3600s") == 3600 and duration("1.5m") == 90 and duration("2w") == 1209600
    assert size("500MB") == 500_000_000 and size("2GiB") == 2 * 2**30
    assert size("1000") == 1000 and size("1.5kB") == 1500 and size("3 mib") == 3 * 2**20


# -- versions and runs (the history core) ----------------------------------------


def run_meta(run_id: str, started: float, dollars: float | None = None) -> dict[str, str]:
    """The meta the DocETL adapter stamps a checkpoint with: its run and cost."""
    meta = {
        "docetl_run": json.dumps({"id": run_id, "started": started, "pipeline": "p.yaml"}),
        "docetl_op_hash": f"{run_id}-0123456789abcdef",
    }
    if dollars is not None:
        meta["docetl_cost"] = json.dumps({"dollars": dollars})
    return meta


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """Two runs: r1 saves s/a and s/b; r2 saves s/a again (edited) and reuses s/b."""
    manager = CheckpointManager(tmp_path / "history")
    started = time.time() - 60
    manager.save("s", "a", docs(10), meta=run_meta("r1", started, 0.5))
    manager.save("s", "b", [{"k": i} for i in range(3)], meta=run_meta("r1", started))
    manager.save("s", "a", edited(docs(10)), meta=run_meta("r2", started + 30, 0.25))
    return tmp_path / "history"


def versions_of(folder: Path, step: str = "s", op: str = "a") -> list[dict[str, Any]]:
    return CheckpointManager(folder).versions(step, op)


def test_log(history: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "log", history, "s", "a")
    assert code == 0, err
    lines = out.splitlines()
    first = next(line for line in lines if line.split()[:1] == ["1"])
    latest = next(line for line in lines if line.startswith("*"))
    assert "r1-012345678" in first and "$0.5000" in first and "r1" in first
    assert latest.split()[1] == "2" and "$0.2500" in latest and "r2" in latest
    assert "2 versions of s/a; * marks the latest" in out
    code, out, _ = run(capsys, "log", history, "s", "a", "--json")
    listed = strict_loads(out)
    assert [v["version"] for v in listed] == [1, 2] and [v["latest"] for v in listed] == [
        False,
        True,
    ]
    assert all("created_at_iso" in v for v in listed) and listed[0]["cost"] == 0.5
    code, _, err = run(capsys, "log", history, "s", "nope")
    assert code == 1 and "no checkpoint s/nope" in err


def test_diff_previous_and_versions(history: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "diff", history, "s", "a", "--previous")
    assert code == 0, err
    assert "s/a v1" in out and "s/a v2" in out
    assert "unchanged 7   changed 2   added 1   removed 1" in out
    code, out, _ = run(capsys, "diff", history, "s", "a", "--versions", "1", "-1", "--json")
    result = strict_loads(out)
    assert (result["a"]["version"], result["b"]["version"]) == (1, 2)
    assert (result["added"], result["removed"], result["changed"]) == (1, 1, 2)
    code, out, _ = run(capsys, "diff", history, "s", "a", "--versions", "2", "1", "--json")
    reverse = strict_loads(out)
    assert (reverse["added"], reverse["removed"], reverse["changed"]) == (1, 1, 2)
    assert [c["key"] for c in reverse["changes"] if c["change"] == "added"] == [9]
    code, _, _ = run(capsys, "diff", history, "s", "a", "--previous", "--exit-code")
    assert code == 1
    code, _, _ = run(capsys, "diff", history, "s", "a", "--versions", "2", "2", "--exit-code")
    assert code == 0


def test_diff_versions_that_do_not_exist(history: Path, capsys: Any) -> None:
    code, _, err = run(capsys, "diff", history, "s", "a", "--versions", "1", "5")
    assert code == 1 and "s/a has no version 5: it has versions 1-2" in err
    code, _, err = run(capsys, "diff", history, "s", "b", "--previous")
    assert code == 1 and "s/b has no version -2: it has version 1" in err
    assert len(err.splitlines()) == 1


def test_runs_and_diff_of_runs(history: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "runs", history)
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[2:]] == ["r1", "r2"]
    code, out, _ = run(capsys, "runs", history, "--json")
    runs = strict_loads(out)
    assert [r["run_id"] for r in runs] == ["r1", "r2"]
    assert all("started_at_iso" in r for r in runs)
    code, out, err = run(capsys, "diff", history, "--runs", "r1", "r2", "--json")
    assert code == 0, err
    result = strict_loads(out)
    by_name = {(c["step"], c["op"]): c for c in result["checkpoints"]}
    a, b = by_name[("s", "a")], by_name[("s", "b")]
    assert (a["old_version"], a["new_version"], a["changed"], a["added"]) == (1, 2, 2, 1)
    assert a["written_by"] == ["a", "b"]
    # r2 reused s/b: its version is the one r1 wrote
    assert (b["old_version"], b["new_version"], b["unchanged"], b["changed"]) == (1, 1, 3, 0)
    assert b["written_by"] == ["a"]
    assert (result["changed"], result["added"], result["removed"]) == (2, 1, 1)
    code, out, _ = run(capsys, "diff", history, "--runs", "-2", "-1", "--exit-code")
    assert code == 1
    row = next(line for line in out.splitlines() if line.split()[:2] == ["s", "a"])
    assert row.split()[2:] == ["1", "->", "2", "10", "10", "2", "1", "1", "7"]
    code, _, err = run(capsys, "diff", history, "--runs", "r1", "nope")
    assert code == 1 and "no run 'nope'" in err


def test_pin_and_unpin(history: Path, capsys: Any) -> None:
    code, out, err = run(capsys, "pin", history, "s", "a", "1")
    assert code == 0 and "pinned s/a version 1" in out, err
    assert [v["pinned"] for v in versions_of(history)] == [True, False]
    code, out, _ = run(capsys, "log", history, "s", "a")
    assert "pinned" in next(line for line in out.splitlines() if line.split()[:1] == ["1"])
    code, out, _ = run(capsys, "unpin", history, "s", "a", "-2")
    assert code == 0 and "unpinned s/a version 1" in out
    assert [v["pinned"] for v in versions_of(history)] == [False, False]
    code, _, err = run(capsys, "pin", history, "s", "a", "9")
    assert code == 1 and "no version 9" in err
    code, out, _ = run(capsys, "pin", history, "--run", "r1")
    assert code == 0 and "pinned the 2 versions run r1 wrote" in out
    assert [v["pinned"] for v in versions_of(history)] == [True, False]
    assert [v["pinned"] for v in versions_of(history, "s", "b")] == [True]
    code, _, _ = run(capsys, "unpin", history, "--run", "r1")
    assert [v["pinned"] for v in versions_of(history, "s", "b")] == [False]
    code, _, err = run(capsys, "pin", history, "--run", "r9")
    assert code == 1 and "no run 'r9'" in err


def test_gc_dry_run_then_gc(history: Path, capsys: Any) -> None:
    before = sorted(str(p) for p in history.rglob("*"))
    code, out, err = run(capsys, "gc", history, "--keep-versions", "1", "--dry-run")
    assert code == 0, err
    assert "would drop 1 version" in out and "s/a version 1" in out
    assert "would free" in out and "nothing changed" in out
    assert sorted(str(p) for p in history.rglob("*")) == before
    code, out, _ = run(capsys, "gc", history, "--keep-versions", "1", "--dry-run", "--json")
    report = strict_loads(out)
    assert report["dropped"] == [{"step": "s", "op": "a", "version": 1}]
    assert isinstance(report["bytes_freed"], int)
    code, out, _ = run(capsys, "gc", history, "--keep-versions", "all", "--older-than", "7d")
    assert code == 0 and "dropped" not in out, "every version is newer than 7 days"
    assert [v["version"] for v in versions_of(history)] == [1, 2]
    code, out, _ = run(capsys, "gc", history, "--keep-versions", "all", "--older-than", "0s")
    assert code == 0 and "dropped 1 version" in out, "the latest is never dropped"
    assert [v["version"] for v in versions_of(history)] == [2]


def test_gc_max_bytes_keeps_the_latest_and_pins(history: Path, capsys: Any) -> None:
    run(capsys, "pin", history, "s", "b", "1")
    code, out, _ = run(capsys, "gc", history, "--max-bytes", "1", "--dry-run", "--json")
    assert code == 0
    dropped = strict_loads(out)["dropped"]
    assert dropped == [{"step": "s", "op": "a", "version": 1}], "latest and pinned stay"
    code, _, _ = run(capsys, "gc", history, "--max-bytes", "1B")
    assert [v["version"] for v in versions_of(history)] == [2]
    assert [v["version"] for v in versions_of(history, "s", "b")] == [1]
