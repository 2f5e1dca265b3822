"""Disk footprint of the DocETL-shaped workload (run + re-run) in each store.

Runs the workload of `workload.py` through `CheckpointManager` into a temporary
folder and prints its size (each inode once: checkpoint paths are hardlinks)
against the unique-content estimate (zstd -3 of the distinct top-level field
values), and the same for DocETL 0.3.0's JSON layout and one zstd Parquet file
per checkpoint. The goal (issue 2) is ours <= 1.2x the estimate.

    python benchmarks/footprint.py [--n 2000] [--check] [--stores ours,json,parquet] [--keep DIR]

With --check the exit status is 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import stores  # noqa: E402
import workload  # noqa: E402

GOAL = 1.2


def mb(n: float) -> str:
    return f"{n / 1e6:8.2f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=workload.DEFAULT_N, help="documents (2000)")
    parser.add_argument("--seed", type=int, default=workload.DEFAULT_SEED)
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if ours exceeds {GOAL}x the unique-content estimate",
    )
    parser.add_argument(
        "--stores",
        default=",".join(stores.STORE_NAMES),
        help="comma-separated subset of ours,json,parquet (all)",
    )
    parser.add_argument(
        "--keep", metavar="DIR", help="write the stores under DIR/{ours,json,parquet} and keep them"
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    wl = workload.generate(args.n, args.seed)
    print(workload.describe(wl))
    print(f"(generated in {time.perf_counter() - t0:.1f} s)")
    est = workload.unique_content_estimate(wl.saves())
    print(
        f"\nunique-content estimate: {mb(est['bytes'])} "
        f"(zstd -3 of {est['distinct_values']} distinct of {est['logical_values']} "
        f"top-level values, {est['raw_bytes'] / 1e6:.2f} MB raw)\n"
    )

    root = args.keep or tempfile.mkdtemp(prefix="docetl-footprint-")
    names = [n for n in stores.STORE_NAMES if n in args.stores.split(",")]
    stats = None
    results: dict[str, tuple[int, int, float]] = {}
    try:
        for name in names:
            path = os.path.join(root, name)
            shutil.rmtree(path, ignore_errors=True)
            store = stores.open_store(name, path)
            t0 = time.perf_counter()
            stores.save_all(store, wl.saves())
            elapsed = time.perf_counter() - t0
            size, files = stores.dir_bytes(path)
            results[name] = (size, files, elapsed)
            if name == "ours":
                stats = store.m.stats()
        print(
            f"{'store':<26} {'disk after run+rerun':>20} {'files':>6} {'vs estimate':>12}"
            f" {'save time':>10}"
        )
        labels = {
            "ours": "docetl-checkpoint (ours)",
            "json": "DocETL 0.3.0 JSON",
            "parquet": "zstd Parquet per ckpt",
        }
        for name, (size, files, elapsed) in results.items():
            print(
                f"{labels[name]:<26} {mb(size):>20} {files:>6} "
                f"{size / est['bytes']:>11.2f}x {elapsed:>9.2f}s"
            )
        print(f"{'unique-content estimate':<26} {mb(est['bytes']):>20} {'':>6} {1.0:>11.2f}x")
        if stats is None:
            return 0
        print("\nstats():", {k: v for k, v in sorted(stats.items())})
        ratio = results["ours"][0] / est["bytes"]
        verdict = "PASS" if ratio <= GOAL else "MISS"
        print(
            f"\nfootprint ratio (ours / unique-content estimate): {ratio:.2f}x "
            f"(goal <= {GOAL}x): {verdict}"
        )
        if "json" in results and "parquet" in results:
            print(
                f"ours / DocETL JSON: {results['ours'][0] / results['json'][0]:.3f}x;"
                f" ours / Parquet: {results['ours'][0] / results['parquet'][0]:.3f}x"
            )
        return 1 if args.check and ratio > GOAL else 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
