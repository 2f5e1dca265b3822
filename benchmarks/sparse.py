"""Benchmark: wide and sparse records (issue 12).

Two shapes of records, at 2,500 / 10,000 / 20,000 records each:

- one-rare: `{"id": i, f"key_{i}": i}`, every record with a key of its own;
- mixed: four dense keys (id, title, score, label), 1-3 keys per record from a
  long tail (`entity_<n>`, n drawn from as many names as records), and twenty
  keys each present in 1% to 10% of the records (`field_<j>`).

Per shape and size, in this process, median of --reps fresh stores:

- disk: what one save adds to the store folder (each inode once: links are
  hardlinks; the store holds a 1-record warm-up save) vs the JSON file DocETL writes (`json.dump(records, f)`);
- save: `save()` seconds vs `json.dump` to a file;
- load: `load()` seconds vs `json.load`;
- table: `table()` seconds vs `json.load` (DocETL has no table: the JSON
  read is the baseline a user pays to get the records at all).

Goals (the issue's): disk <= 0.5x JSON for every shape and size; save time per
record at 20,000 within 1.2x of that at 2,500. Prints a table, writes
benchmarks/results/sparse-latest.json; --check exits 1 when a goal is missed.

    python benchmarks/sparse.py [--sizes 2500,10000,20000] [--reps 3] [--check]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from docetl_checkpoint import CheckpointManager

HERE = os.path.dirname(os.path.abspath(__file__))
DISK_GOAL = 0.5
FLAT_GOAL = 1.2


def one_rare(n: int) -> list[dict[str, Any]]:
    return [{"id": i, f"key_{i}": i} for i in range(n)]


def mixed(n: int) -> list[dict[str, Any]]:
    rng = random.Random(12)
    labels = ["person", "place", "org", "event", "other"]
    mid = [(f"field_{j}", 0.01 + 0.09 * j / 19) for j in range(20)]
    out = []
    for i in range(n):
        r: dict[str, Any] = {
            "id": i,
            "title": f"document number {i}",
            "score": round(rng.random(), 4),
            "label": rng.choice(labels),
        }
        for key, p in mid:
            if rng.random() < p:
                r[key] = (
                    rng.randint(0, 1000) if key.endswith(("0", "5")) else f"v{rng.randint(0, 99)}"
                )
        for _ in range(rng.randint(1, 3)):
            r[f"entity_{rng.randrange(n)}"] = rng.choice([rng.randint(0, 99), "mentioned", True])
        out.append(r)
    return out


SHAPES: dict[str, Callable[[int], list[dict[str, Any]]]] = {"one-rare": one_rare, "mixed": mixed}


def folder_bytes(path: str) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.disable()
    try:
        t = time.perf_counter()
        out = fn()
        return time.perf_counter() - t, out
    finally:
        gc.enable()


def measure(records: list[dict[str, Any]], reps: int) -> dict[str, float]:
    runs: dict[str, list[float]] = {
        k: [] for k in ("save", "load", "table", "json_dump", "json_load")
    }
    disk = json_bytes = 0
    for _ in range(reps):
        root = tempfile.mkdtemp(prefix="sparse-bench-")
        try:
            mgr = CheckpointManager(os.path.join(root, "store"))
            mgr.save("warm", "up", [{"a": 1}])  # folder creation is not timed
            before = folder_bytes(os.path.join(root, "store"))
            t, _ = timed(lambda: mgr.save("step", "op", records))
            runs["save"].append(t)
            disk = folder_bytes(os.path.join(root, "store")) - before
            t, loaded = timed(lambda: mgr.load("step", "op"))
            assert loaded == records, "load() differs from what was saved"
            runs["load"].append(t)
            t, _ = timed(lambda: mgr.table("step", "op"))
            runs["table"].append(t)
            path = os.path.join(root, "op.json")

            def dump() -> None:
                with open(path, "w") as f:
                    json.dump(records, f)

            t, _ = timed(dump)
            runs["json_dump"].append(t)
            json_bytes = os.path.getsize(path)

            def read() -> Any:
                with open(path) as f:
                    return json.load(f)

            t, _ = timed(read)
            runs["json_load"].append(t)
        finally:
            shutil.rmtree(root)
    out = {k: statistics.median(v) for k, v in runs.items()}
    out.update(disk=disk, json_bytes=json_bytes)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2500,10000,20000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"sizes": sizes, "reps": args.reps, "shapes": {}}
    missed = []
    header = f"{'shape':9} {'N':>6} {'disk KB':>8} {'x JSON':>7} {'save s':>7} {'x dump':>7} {'load s':>7} {'x load':>7} {'table s':>7} {'x load':>7}"
    print(header)
    for name, make in SHAPES.items():
        rows = {}
        for n in sizes:
            records = make(n)
            m = measure(records, args.reps)
            rows[n] = m
            disk_x = m["disk"] / m["json_bytes"]
            print(
                f"{name:9} {n:6} {m['disk'] / 1e3:8.1f} {disk_x:7.2f} {m['save']:7.3f} "
                f"{m['save'] / m['json_dump']:7.2f} {m['load']:7.3f} {m['load'] / m['json_load']:7.2f} "
                f"{m['table']:7.3f} {m['table'] / m['json_load']:7.2f}"
            )
            if disk_x > DISK_GOAL:
                missed.append(f"{name} N={n}: disk {disk_x:.2f}x JSON > {DISK_GOAL}")
        lo, hi = min(sizes), max(sizes)
        flat = (rows[hi]["save"] / hi) / (rows[lo]["save"] / lo)
        print(f"{name:9} save per record at {hi} / at {lo}: {flat:.2f} (goal <= {FLAT_GOAL})")
        if flat > FLAT_GOAL:
            missed.append(f"{name}: save per record {flat:.2f}x from {lo} to {hi}")
        results["shapes"][name] = {"by_size": rows, "save_per_record_ratio": flat}
    results["missed"] = missed
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "sparse-latest.json"), "w") as f:
        json.dump(results, f, indent=1)
    for m in missed:
        print("MISS", m)
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
