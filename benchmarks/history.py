"""Benchmark: diff of two versions of a checkpoint vs the same comparison in pandas.

The workload of `workload.py` (N documents, default 2000) is saved as a run and
a re-run with 5% of documents changed; the largest checkpoint (analyze/classify:
one row per document and theme) then has two versions. After one round not
counted, median of --reps, each with a new manager (no warm caches):

- ours: `history.diff(...)` plus `to_arrow()` (counts, then every changed field
  of every record that differs, read from the store: only those records are);
- ours, counts only: `diff(...)` without the details;
- pandas: both versions loaded with `load_checkpoint_as_dataframe`, rows lined
  up on (id, theme) with an outer merge, every other column compared as text.

Goal (issue 15): ours <= 0.2x pandas. Also the disk the run's versions cost:
the store after the saves and `compact()`, against a copy whose earlier
versions `gc(keep_versions=1)` dropped (its compaction included); goal <= 1.05x.
Results go to benchmarks/results/history-latest.json.

    python benchmarks/history.py [--n 2000] [--reps 7] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workload  # noqa: E402
from docetl_checkpoint import CheckpointManager  # noqa: E402
from docetl_checkpoint.history import Diff, diff  # noqa: E402
from timing import timed  # noqa: E402

GOAL = 0.2
DISK_GOAL = 1.05
KEYS = ["id", "theme"]  # what identifies a row of analyze/classify for pandas


def build_store(path: str, n: int) -> tuple[CheckpointManager, tuple[str, str]]:
    """The run then the re-run saved into one store: two versions of each checkpoint."""
    wl = workload.generate(n)
    manager = CheckpointManager(path)
    for save in wl.saves():
        workload.apply_save(manager, save)
    return manager, wl.largest_checkpoint()


def ours(manager: CheckpointManager, step: str, op: str) -> tuple[Diff, Any]:
    result = diff(manager, step, op)
    return result, result.to_arrow()


def ours_counts(manager: CheckpointManager, step: str, op: str) -> dict[str, int]:
    return diff(manager, step, op).counts()


def in_pandas(manager: CheckpointManager, step: str, op: str) -> dict[str, int]:
    """Load both versions into pandas and compare them there."""
    import pandas as pd

    old = manager.load_checkpoint_as_dataframe(step, op, version=-2)  # type: ignore[call-arg]
    new = manager.load_checkpoint_as_dataframe(step, op, version=-1)  # type: ignore[call-arg]
    merged = pd.merge(old, new, on=KEYS, how="outer", suffixes=("_old", "_new"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    differs = pd.Series(False, index=both.index)
    for column in (c for c in old.columns if c not in KEYS):
        differs |= both[f"{column}_old"].astype(str) != both[f"{column}_new"].astype(str)
    return {
        "added": int((merged["_merge"] == "right_only").sum()),
        "removed": int((merged["_merge"] == "left_only").sum()),
        "changed": int(differs.sum()),
        "unchanged": int((~differs).sum()),
    }


def history_disk(path: str) -> dict[str, Any]:
    """Bytes of the store with its earlier versions and without them, both
    compacted (each inode once), and what the history is made of."""
    import shutil

    from stores import dir_bytes

    manager = CheckpointManager(path)
    manager.compact()
    stats = manager.stats()
    kept = dir_bytes(path)[0]
    copy = path + "-no-history"
    shutil.copytree(path, copy)
    CheckpointManager(copy).gc(keep_versions=1)
    dropped = dir_bytes(copy)[0]
    shutil.rmtree(copy)
    return {
        "with_history_bytes": kept,
        "without_history_bytes": dropped,
        "ratio": kept / dropped,
        "goal": DISK_GOAL,
        "pass": kept / dropped <= DISK_GOAL,
        "history_versions": stats["history_versions"],
        "history_file_bytes": stats["history_size_bytes"],
        "history_value_bytes": kept - dropped - stats["history_size_bytes"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=workload.DEFAULT_N, help="documents (2000)")
    parser.add_argument("--reps", type=int, default=7, help="repetitions, median taken (7)")
    parser.add_argument("--results", default=os.path.join(HERE, "results"))
    parser.add_argument("--check", action="store_true", help="exit 1 if the goal is missed")
    args = parser.parse_args(argv)

    from docetl_checkpoint import _core

    print(f"extension {_core.__file__}, N={args.n}, {args.reps} reps", flush=True)
    with tempfile.TemporaryDirectory(prefix="docetl-bench-history-") as tmp:
        manager, (step, op) = build_store(os.path.join(tmp, "store"), args.n)
        rows = [v["num_rows"] for v in manager.versions(step, op)]  # type: ignore[attr-defined]
        times: dict[str, list[float]] = {"ours": [], "ours_counts": [], "pandas": []}
        # one round not counted: first imports, thread start-up, page cache
        ours(CheckpointManager(manager.intermediate_dir), step, op)
        in_pandas(CheckpointManager(manager.intermediate_dir), step, op)
        for _ in range(args.reps):  # interleaved, so load changes hit all alike
            fresh = CheckpointManager(manager.intermediate_dir)  # no warm caches
            t, (result, table) = timed(lambda m=fresh: ours(m, step, op))
            times["ours"].append(t)
            fresh = CheckpointManager(manager.intermediate_dir)
            times["ours_counts"].append(timed(lambda m=fresh: ours_counts(m, step, op))[0])
            fresh = CheckpointManager(manager.intermediate_dir)
            t, baseline = timed(lambda m=fresh: in_pandas(m, step, op))
            times["pandas"].append(t)
        disk = history_disk(str(manager.intermediate_dir))
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["ours"] / median["pandas"]
    out = {
        "n": args.n,
        "checkpoint": f"{step}/{op}",
        "rows": rows,
        "reps": args.reps,
        "seconds": median,
        "all_seconds": times,
        "ratio": ratio,
        "ratio_counts_only": median["ours_counts"] / median["pandas"],
        "goal": GOAL,
        "pass": ratio <= GOAL,
        "ours": {**result.counts(), "key": result.key, "field_rows": table.num_rows},
        "pandas": baseline,
        "disk": disk,
        "extension": _core.__file__,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, "history-latest.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(
        f"{step}/{op} ({rows[0]:,} -> {rows[-1]:,} rows): diff + details "
        f"{median['ours'] * 1e3:.1f} ms (counts only {median['ours_counts'] * 1e3:.1f} ms), "
        f"pandas {median['pandas'] * 1e3:.1f} ms: {ratio:.3f}x "
        f"(goal <= {GOAL}x) {'PASS' if out['pass'] else 'MISS'}"
    )
    print(f"ours: {out['ours']}\npandas: {baseline}")
    print(
        f"disk with the run's versions {disk['with_history_bytes'] / 1e6:.2f} MB, without "
        f"{disk['without_history_bytes'] / 1e6:.2f} MB: {disk['ratio']:.3f}x (goal <= "
        f"{DISK_GOAL}x) {'PASS' if disk['pass'] else 'MISS'}; the history is "
        f"{disk['history_file_bytes'] / 1e3:.0f} kB of checkpoint files and "
        f"{disk['history_value_bytes'] / 1e3:.0f} kB of values only they reference"
    )
    return 1 if args.check and not (out["pass"] and disk["pass"]) else 0


if __name__ == "__main__":
    sys.exit(main())
