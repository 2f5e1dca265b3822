"""Demo: a DocETL-shaped run and re-run through docetl-checkpoint.

Generates the benchmark workload (N documents of ~8 KB text; map -> filter ->
unnest -> map -> reduce, the first map also saved as 100-record batches; then a
re-run with 5% of the documents edited), saves all of it with
`CheckpointManager` into ./demo-intermediate (wiped first), and prints what the
store holds: the checkpoints, its stats, its size against the unique-content
estimate and against DocETL's JSON layout, and a sample as a pandas DataFrame.

    python examples/demo.py [--n 2000] [--dir ./demo-intermediate]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))

import workload  # noqa: E402  (benchmarks/workload.py)
from docetl_checkpoint import CheckpointManager  # noqa: E402


def mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def folder_bytes(path: str) -> int:
    """Bytes under `path`, each inode once (checkpoint paths are hardlinks)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def wipe(path: str) -> None:
    target = os.path.realpath(path)
    cwd = os.path.realpath(os.getcwd())
    if target in ("/", os.path.expanduser("~")) or cwd == target or cwd.startswith(target + os.sep):
        sys.exit(f"refusing to wipe {path!r}: it holds the current folder")
    shutil.rmtree(target, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=workload.DEFAULT_N, help="documents (2000)")
    parser.add_argument(
        "--dir",
        default="./demo-intermediate",
        help="store folder, wiped first (./demo-intermediate)",
    )
    parser.add_argument("--seed", type=int, default=workload.DEFAULT_SEED)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    t0 = time.perf_counter()
    wl = workload.generate(args.n, args.seed)
    print(f"Generated a DocETL-shaped workload in {time.perf_counter() - t0:.1f} s:")
    print(workload.describe(wl))

    wipe(args.dir)
    m = CheckpointManager(args.dir)
    print(f"\nSaving into {args.dir}/ with {m!r}")
    for phase, saves in (("run", wl.run), ("re-run", wl.rerun)):
        t0 = time.perf_counter()
        for save in saves:
            workload.apply_save(m, save)
        rows = sum(len(s.records) for s in saves)
        print(
            f"  {phase:<7} {len(saves):>3} saves, {rows:>6} records in "
            f"{time.perf_counter() - t0:.2f} s"
        )

    print("\nCheckpoints (list()):")
    for step, op in m.list():
        info = m.info(step, op) or {}
        print(
            f"  {step + '/' + op:<28} {info.get('num_rows', '?'):>6} rows  "
            f"{len(info.get('column_names', [])):>2} columns"
        )
    batches = m.list_batches(workload.BATCHED_OP)
    print(
        f"  + {len(batches)} batches of {workload.BATCHED_OP!r} "
        f"({workload.BATCHED_OP}_batches/batch_0..{batches[-1] if batches else '-'})"
    )

    final = {
        (s.step_or_op, s.name_or_index): s.records for s in wl.final() if s.kind == "checkpoint"
    }
    same = (
        m.load(workload.EXTRACT, workload.SUMMARIZE)
        == final[(workload.EXTRACT, workload.SUMMARIZE)]
    )
    print(f"\nload('extract', 'summarize') == the records saved: {same}")

    stats = m.stats()
    print("\nstats():")
    for key, value in stats.items():
        shown = mb(value) if key.endswith("bytes") and isinstance(value, int) else value
        print(f"  {key:<28} {shown}")
    if stats.get("logical_records"):
        print(
            f"  -> {stats['unique_records']} unique of {stats['logical_records']} logical "
            f"records ({stats['unique_records'] / stats['logical_records']:.1%})"
        )

    disk = folder_bytes(args.dir)
    json_bytes = sum(len(json.dumps(s.records)) for s in wl.final())
    print("\nFootprint after run + re-run:")
    print(f"  this store on disk                 {mb(disk):>10}")
    estimate: dict[str, int] | None
    try:
        estimate = workload.unique_content_estimate(wl.saves())
    except ImportError:  # the estimate needs the zstandard package
        estimate = None
        print("  unique-content estimate            (needs: pip install zstandard)")
    if estimate is not None:
        print(
            f"  unique-content estimate            {mb(estimate['bytes']):>10}  "
            f"(zstd -3 of the {estimate['distinct_values']} distinct of "
            f"{estimate['logical_values']} top-level values)"
        )
    print(f"  DocETL JSON layout (computed)      {mb(json_bytes):>10}")
    if estimate is not None:
        print(f"  -> {disk / estimate['bytes']:.2f}x the unique-content estimate (goal <= 1.3x)")
    print(f"  -> {json_bytes / disk:.1f}x smaller than DocETL's JSON files")

    # saves compress fast; compaction (what gc runs once segments pile up)
    # merges their segments and recompresses them strongly
    merged = m.compact()
    compacted = folder_bytes(args.dir)
    print(
        f"\ncompact(): merged {merged['segments_merged']} value segments into "
        f"{merged['segments_written']}; the store is now {mb(compacted)}"
    )
    if estimate is not None:
        ratio = compacted / estimate["bytes"]
        print(f"  -> {ratio:.2f}x the unique-content estimate (goal <= 1.0x)")

    step, op = wl.largest_checkpoint()
    columns = ["id", "title", "text", "theme", "category"]
    table = m.sample(step, op, n=5, columns=columns)
    print(f"\nsample({step!r}, {op!r}, n=5) as pandas:")
    if table is not None:
        try:
            import pandas as pd

            df = table.to_pandas()
            df = df[[c for c in columns if c in df.columns]]
            df["text"] = df["text"].str.slice(0, 40) + "..."
            with pd.option_context("display.width", 160):
                print(df.to_string(index=False, max_colwidth=48))
        except ImportError:
            print(table.to_string(preview_cols=5))
    print(
        f"\nDone in {time.perf_counter() - started:.1f} s. The store is in {args.dir}/ "
        f'(try: python -c "from docetl_checkpoint import CheckpointManager as C; '
        f"print(C('{args.dir}').list())\")"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
