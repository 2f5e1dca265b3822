"""Flat costs as the store grows (issue 12): what a save and a sample cost in a
store of N = 30,000 documents against a small one, and in a store after 12
edit rounds against the same store after its first.

    python benchmarks/flat.py [--n 30000] [--base-n 2000] [--rounds 12] [--reps 3]

Figures (medians of --reps, of 7 processes for a new process's batch,
measured in this run):

- a new process's first save of a 100-record batch of new documents, into the
  store of N documents (run + re-run) vs into an empty store (one 1-record
  save made first, so creating the folder is not counted);
- the same into a store of a 1,000-document pipeline after 12 edit rounds
  (each edits the text of ~5% of the documents and saves every checkpoint and
  batch again) vs after the first;
- save time per logical record of run + re-run (each size saved --reps
  times), N vs base N;
- sample(n=5) of the largest checkpoint (warm manager, median of 9 calls), N
  vs base N, and its time at N.

Each new-process batch runs in a subprocess (`--child-batch`): its own empty
dedup index, as the next pipeline run has. bench.py runs this with `--scale`
and puts the result in its results file.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workload  # noqa: E402

SAMPLE_CALLS = 9
# a new process's batch varies by several ms from process to process on a
# shared machine: its medians take at least this many processes
BATCH_PROCESSES = 7
EDIT_FRACTION = 0.05
ROUND_N = 1000

# (label, key in the result, goal, unit)
GOALS = [
    ("new process's batch: N / empty store", "batch_n_vs_empty", 1.2, "x"),
    ("new process's batch: after 12 rounds / after 1", "batch_rounds", 1.2, "x"),
    ("save per record: N / base N", "save_per_record", 1.2, "x"),
    ("sample(n=5) of the largest: N / base N", "sample_ratio", 1.5, "x"),
    ("sample(n=5) of the largest at N", "sample_ms", 5.0, "ms"),
]


def child_batch(path: str, tag: str) -> None:
    """(subprocess) Seconds a new manager takes to save one 100-record batch."""
    import pyarrow  # noqa: F401 (loaded before timing, as in a notebook)
    from docetl_checkpoint import CheckpointManager

    records = workload.fresh_batch(int(tag))
    m = CheckpointManager(path)
    t = time.perf_counter()
    m.save_batch("late", int(tag), records)
    print(json.dumps(time.perf_counter() - t))


def new_process_batch(path: str, reps: int, first_tag: int) -> list[float]:
    """A new process's batch into `path`, `reps` times or `BATCH_PROCESSES`,
    whichever is more (each a new batch of new documents)."""
    out = []
    for k in range(max(reps, BATCH_PROCESSES)):
        cmd = [sys.executable, __file__, "--child-batch", path, str(first_tag + k)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out.append(json.loads(done.stdout))
    return out


def copy_of(path: str, reps_dir: str) -> str:
    """A copy of a store (links kept as links), so each measurement starts alike."""
    shutil.rmtree(reps_dir, ignore_errors=True)
    shutil.copytree(path, reps_dir, symlinks=True)
    return reps_dir


def build_store(n: int, path: str) -> tuple[float, int, tuple[str, str]]:
    """Run + re-run of the workload over n documents: seconds, logical records, largest."""
    from docetl_checkpoint import CheckpointManager

    wl = workload.generate(n)
    m = CheckpointManager(path)
    t = time.perf_counter()
    for s in wl.saves():
        workload.apply_save(m, s)
    return time.perf_counter() - t, wl.logical_records(), wl.largest_checkpoint()


def sample_ms(path: str, key: tuple[str, str]) -> float:
    from docetl_checkpoint import CheckpointManager

    m = CheckpointManager(path)
    m.sample(*key, 5)
    times = []
    for _ in range(SAMPLE_CALLS):
        t = time.perf_counter()
        m.sample(*key, 5)
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def edit_round_saves(n: int, rounds: int) -> list[list[workload.Save]]:
    """The saves of a pipeline run, then of `rounds` re-runs, each editing the
    text of ~5% of the documents (edits accumulate, as in a user's project)."""
    seed = workload.DEFAULT_SEED
    lang = workload._language(seed)
    docs = [workload.make_document(i, seed) for i in range(n)]
    out = [workload.pipeline(docs, seed, {})]
    versions: dict[str, int] = {}
    for r in range(1, rounds + 1):
        pick = random.Random(f"{seed}:round:{r}")
        for i in pick.sample(range(n), round(n * EDIT_FRACTION)):
            doc = docs[i]
            rng = random.Random(f"{seed}:round:{r}:{doc['id']}")
            docs[i] = {**doc, "text": workload.edit_text(doc["text"], rng, lang)}
            versions[doc["id"]] = r
        out.append(workload.pipeline([dict(d) for d in docs], seed, dict(versions)))
    return out


def run(n: int, base_n: int, rounds: int, reps: int, tmp: str) -> dict[str, Any]:
    from docetl_checkpoint import CheckpointManager

    res: dict[str, Any] = {"n": n, "base_n": base_n, "rounds": rounds, "reps": reps}
    empty = os.path.join(tmp, "empty")
    CheckpointManager(empty).save("warm", "up", [{"x": 1}])
    for size in (base_n, n):
        path = os.path.join(tmp, f"n{size}")
        # run + re-run saved `reps` times (sizes not interleaved: two
        # workloads would be in memory at once); the last store is measured on
        res[f"save_s_{size}"] = []
        for _ in range(reps):
            shutil.rmtree(path, ignore_errors=True)
            save_s, records, key = build_store(size, path)
            res[f"save_s_{size}"].append(save_s)
        res[f"records_{size}"] = records
        res[f"sample_ms_{size}"] = [sample_ms(path, key) for _ in range(reps)]
        if size == n:
            res["batch_n"] = new_process_batch(copy_of(path, path + "-c"), reps, 1)
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(path + "-c", ignore_errors=True)
    res["batch_empty"] = new_process_batch(copy_of(empty, empty + "-c"), reps, 1)

    rounds_path = os.path.join(tmp, "rounds")
    m = CheckpointManager(rounds_path)
    for r, saves in enumerate(edit_round_saves(ROUND_N, rounds)):
        for s in saves:
            workload.apply_save(m, s)
        if r in (1, rounds):
            copy = copy_of(rounds_path, rounds_path + f"-{r}")
            res[f"batch_round_{r}"] = new_process_batch(copy, reps, 1)
            shutil.rmtree(copy, ignore_errors=True)
    values = os.listdir(os.path.join(rounds_path, ".docetl_checkpoint", "values"))
    res["segments_after_rounds"] = sum(v.endswith(".parquet") for v in values)
    res["index_files_after_rounds"] = sum(v.endswith(".idx") for v in values)
    shutil.rmtree(rounds_path, ignore_errors=True)
    return res


def figures(res: dict[str, Any]) -> dict[str, float]:
    med = statistics.median
    n, base_n, rounds = res["n"], res["base_n"], res["rounds"]
    per = lambda size: med(res[f"save_s_{size}"]) / res[f"records_{size}"]  # noqa: E731
    return {
        "batch_n_vs_empty": med(res["batch_n"]) / med(res["batch_empty"]),
        "batch_rounds": med(res[f"batch_round_{rounds}"]) / med(res["batch_round_1"]),
        "save_per_record": per(n) / per(base_n),
        "sample_ratio": med(res[f"sample_ms_{n}"]) / med(res[f"sample_ms_{base_n}"]),
        "sample_ms": med(res[f"sample_ms_{n}"]),
    }


def report(res: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    figs = figures(res)
    med = statistics.median
    last = res[f"batch_round_{res['rounds']}"]
    lines = [
        f"\nFlat costs (N = {res['n']:,} vs {res['base_n']:,}; {res['rounds']} edit rounds "
        f"of a {ROUND_N:,}-document pipeline; medians of {res['reps']})",
        f"  new process's batch: empty {1e3 * med(res['batch_empty']):.1f} ms, "
        f"N {1e3 * med(res['batch_n']):.1f} ms, round 1 "
        f"{1e3 * med(res['batch_round_1']):.1f} ms, round {res['rounds']} "
        f"{1e3 * med(last):.1f} ms",
    ]
    goals = []
    for label, key, goal, unit in GOALS:
        value = figs[key]
        verdict = "PASS" if value <= goal else "MISS"
        shown = f"{value:.2f} ms" if unit == "ms" else f"{value:.3f}x"
        label = label.replace("12 rounds", f"{res['rounds']} rounds")
        lines.append(f"  {label:<50} {shown:>10}  goal <= {goal:g}{unit}  {verdict}")
        goals.append({"figure": label, "value": value, "goal": goal, "verdict": verdict})
    return "\n".join(lines), goals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30000)
    parser.add_argument("--base-n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tmp", default=None)
    parser.add_argument("--child-batch", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_batch:
        child_batch(*args.child_batch)
        return 0
    tmp = args.tmp or tempfile.mkdtemp(prefix="docetl-flat-")
    try:
        res = run(args.n, args.base_n, args.rounds, args.reps, tmp)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    text, goals = report(res)
    print(text)
    print(json.dumps({"flat": res, "flat_goals": goals}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
