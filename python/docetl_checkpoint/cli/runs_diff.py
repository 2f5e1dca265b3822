"""`diff DIR --runs A B`: a whole pipeline, checkpoint by checkpoint, run A against run B.

A run's version of a checkpoint is the one it wrote; for a checkpoint it did not
write (reused, or not part of it), the version that was the latest when the run
ended. Only counts are computed (record hashes and, when records match by key,
one column): no record is read.
"""

from __future__ import annotations

import argparse
from typing import Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.cli.common import EXIT_FAILURE, EXIT_OK, CliError, open_store
from docetl_checkpoint.cli.history import find_run, short
from docetl_checkpoint.history import NoSuchVersionError, compare, open_side


def run_end(run: dict[str, Any], versions: dict[tuple[str, str], list[dict[str, Any]]]) -> float:
    """When the run wrote its last checkpoint (its start when it wrote none)."""
    times = [float(run.get("started_at") or 0.0)]
    for c in run.get("checkpoints") or []:
        for v in versions.get((c["step"], c["op"]), []):
            if v["version"] == c["version"]:
                times.append(float(v["created_at"]))
    return max(times)


def version_in(
    run: dict[str, Any], end: float, name: tuple[str, str], versions: list[dict[str, Any]]
) -> tuple[int | None, bool]:
    """(version, written by the run) of checkpoint `name` as run `run` left it."""
    for c in run.get("checkpoints") or []:
        if (c["step"], c["op"]) == name:
            return int(c["version"]), True
    earlier = [v["version"] for v in versions if float(v["created_at"]) <= end]
    return (max(earlier) if earlier else None), False


def compare_runs(store: Any, a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(
        dict.fromkeys((c["step"], c["op"]) for run in (a, b) for c in run.get("checkpoints") or [])
    )
    versions = {name: store.versions(*name) for name in names}
    ends = run_end(a, versions), run_end(b, versions)
    out = []
    for name in names:
        (va, wrote_a), (vb, wrote_b) = (
            version_in(run, end, name, versions[name])
            for run, end in zip((a, b), ends, strict=True)
        )
        item: dict[str, Any] = {
            "step": name[0],
            "op": name[1],
            "old_version": va,
            "new_version": vb,
        }
        item["written_by"] = [r for r, w in (("a", wrote_a), ("b", wrote_b)) if w]
        old = None if va is None else open_side(store, *name, va)
        new = None if vb is None else open_side(store, *name, vb)
        item["rows_before"] = None if old is None else old.num_rows
        item["rows_after"] = None if new is None else new.num_rows
        if old is not None and new is not None:
            result = compare(old, new)
            item.update(result.counts(), key=result.key)
        else:  # in one run only (or its version was dropped)
            item.update(
                added=0 if new is None else new.num_rows,
                removed=0 if old is None else old.num_rows,
                changed=0,
                unchanged=0,
                key=None,
            )
        out.append(item)
    return out


def cmd_diff_runs(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    runs = store.runs()
    a, b = (find_run(runs, wanted) for wanted in args.runs)
    try:
        checkpoints = compare_runs(store, a, b)
    except NoSuchVersionError as error:
        raise CliError(str(error)) from None
    totals = {
        k: sum(c[k] for c in checkpoints) for k in ("added", "removed", "changed", "unchanged")
    }
    differs = any(totals[k] for k in ("added", "removed", "changed"))
    if args.json:
        print(render.dumps({"a": a, "b": b, **totals, "checkpoints": checkpoints}))
    else:
        print("\n".join(runs_lines(a, b, checkpoints, totals)))
    return EXIT_FAILURE if args.exit_code and differs else EXIT_OK


def runs_lines(
    a: dict[str, Any], b: dict[str, Any], checkpoints: list[dict[str, Any]], totals: dict[str, int]
) -> list[str]:
    width, mark = render.terminal_width(), render.ellipsis()

    def title(label: str, run: dict[str, Any]) -> str:
        started = run.get("started_at")
        when = render.local_time(started) if started is not None else "?"
        return render.cut(f"{label}  run {run['run_id']}  started {when}", width, mark)

    def count(n: int | None) -> str:
        return "-" if n is None else f"{n:,}"

    rows = []
    for c in checkpoints:
        versions = f"{count(c['old_version'])} -> {count(c['new_version'])}"
        rows.append(
            [c["step"], c["op"], versions, count(c["rows_before"]), count(c["rows_after"])]
            + [f"{c[k]:,}" for k in ("changed", "added", "removed", "unchanged")]
        )
    headers = ["STEP", "OP", "VERSIONS", "ROWS A", "ROWS B", "CHANGED", "ADDED", "REMOVED", "SAME"]
    right = [False, False, False] + [True] * 6
    table = render.table_lines(headers, rows, width, right, mark) or [" ".join(r) for r in rows]
    return [
        title("a", a),
        title("b", b),
        "",
        *table,
        "",
        f"changed {totals['changed']:,}   added {totals['added']:,}   "
        f"removed {totals['removed']:,}   unchanged {totals['unchanged']:,}"
        f"   (run ids: {short(a['run_id'])}, {short(b['run_id'])})",
    ]
