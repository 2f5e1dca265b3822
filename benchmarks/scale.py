"""The store at the sizes DocETL users have (issue 12): the workload's pipeline
run and re-run over N documents, then a new process's view of the store:
reopen, sample, load, gc, verify; each cost per record against the smallest N.

    python benchmarks/scale.py [--sizes 2000,30000,100000]

Prints one table (seconds, and microseconds per logical record) and writes
benchmarks/results/scale-latest.json. Slow at 100,000 documents (800 MB of
text): it is not part of `make bench` (whose `--scale` part, flat.py, measures
the issue's goals at N = 30,000).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workload  # noqa: E402
from stores import dir_bytes  # noqa: E402

# the phases a second process runs on the saved store (what a notebook or
# the next pipeline run pays)
READER = os.path.join(HERE, "scale_reader.py")


def run_size(n: int, tmp: str) -> dict[str, Any]:
    from docetl_checkpoint import CheckpointManager

    t = time.perf_counter()
    wl = workload.generate(n)
    generated = time.perf_counter() - t
    records = wl.logical_records()
    path = os.path.join(tmp, f"n{n}")
    m = CheckpointManager(path)
    t = time.perf_counter()
    for s in wl.saves():
        workload.apply_save(m, s)
    save = time.perf_counter() - t
    disk, _ = dir_bytes(path)
    step, op = wl.largest_checkpoint()
    del wl, m
    done = subprocess.run(
        [sys.executable, READER, path, step, op], capture_output=True, text=True, check=True
    )
    after = json.loads(done.stdout)
    shutil.rmtree(path, ignore_errors=True)
    return {
        "n": n,
        "logical_records": records,
        "generate_s": generated,
        "save": save,
        "disk_bytes": disk,
        **after,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,30000,100000")
    parser.add_argument("--tmp", default=None)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    tmp = args.tmp or tempfile.mkdtemp(prefix="docetl-scale-")
    runs = []
    for n in sizes:
        r = run_size(n, tmp)
        runs.append(r)
        print(json.dumps(r), flush=True)
    base = runs[0]
    phases = ["save", "load_all", "gc", "verify"]
    print(
        f"\n{'N':>8} {'records':>9} "
        + " ".join(f"{p:>16}" for p in phases)
        + "  sample5  new_batch  after_gc"
    )
    for r in runs:
        cells = []
        for p in phases:
            per = r[p] / r["logical_records"] * 1e6
            rel = per / (base[p] / base["logical_records"] * 1e6)
            cells.append(f"{r[p]:7.2f}s {rel:5.2f}x")
        print(
            f"{r['n']:>8} {r['logical_records']:>9} "
            + " ".join(f"{c:>16}" for c in cells)
            + f"  {r['sample5'] * 1e3:5.1f}ms {r['new_batch'] * 1e3:7.1f}ms"
            + f" {r['new_batch_after_gc'] * 1e3:7.1f}ms"
        )
    print("(each phase: seconds, and cost per logical record vs the first N)")
    out = os.path.join(HERE, "results", "scale-latest.json")
    with open(out, "w") as f:
        json.dump(runs, f, indent=1)
    print(f"raw numbers: {out}")
    if not args.tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
