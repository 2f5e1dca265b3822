"""Benchmark: docetl-checkpoint against DocETL's JSON files and plain Parquet (issue 4).

For each N (documents; default 500, 2000, 8000) the DocETL-shaped workload of
`workload.py` (run + re-run, batches included) goes through the three stores of
`stores.py`, measured in this process, interleaved (the store order rotates
every repetition), median of --reps (>= 3) repetitions:

- save: total time of every save of run + re-run, from an empty folder;
- save cost vs store size (ours): a 100-record batch of new documents saved
  into a fresh store (after a 1-record warm-up save, so folder creation is not
  counted) vs one saved into the store after run + re-run; also, as recorded
  during the run, the re-run's last batch vs the run's first batch;
- load: every checkpoint and batch to list[dict] (ours `load`, `json.load`,
  Parquet `read_table().to_pylist()`);
- table: every checkpoint to a pyarrow.Table (ours `table()`, `pq.read_table`);
- pandas: every checkpoint to a DataFrame (ours `load_checkpoint_as_dataframe`,
  Parquet `read_table().to_pandas()`);
- sample: `sample(n=5)` of the largest checkpoint (ours, warm manager; a new
  manager per call reported too);
- memory: peak RSS above the idle interpreter while holding every checkpoint
  loaded, each store in a fresh subprocess (same imports for every store);
- disk: folder bytes after run + re-run (each inode once) vs the unique-content
  estimate.

Reads are from the page cache (the files were just written). Python's cyclic
GC is paused inside every timed region, for every store alike.

Prints each figure as a ratio ours / baseline next to its goal (at N=2000,
from issue 4) with PASS/MISS, writes the raw numbers to
benchmarks/results/bench-<timestamp>.json and latest.json, and draws
docs/img/benchmark.png.

    python benchmarks/bench.py [--sizes 500,2000,8000] [--reps 3] [--quick] [--check]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import flat  # noqa: E402
import stores  # noqa: E402
import timing  # noqa: E402
import workload  # noqa: E402
from report import GOAL_N, med, plot, report  # noqa: E402

STORES = stores.STORE_NAMES
FRESH_PER_REP = 3
SAMPLE_CALLS = 9


# -- helpers -------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> float:
    """Seconds `fn()` takes, GC paused; its result is dropped after the clock stops."""
    return timing.timed(fn)[0]


def timed_ms(fn: Callable[[], Any]) -> float:
    return 1e3 * timed(fn)


def ours_stats(path: str) -> Any:
    return stores.OursStore(path).m.stats()


def sample_new_manager(path: str, key: stores.Key) -> Any:
    return stores.OursStore(path).sample(key, 5)


def rotated(rep: int) -> list[str]:
    k = rep % len(STORES)
    return list(STORES[k:] + STORES[:k])


def build_info() -> dict[str, Any]:
    """Which extension binary is measured, and whether it looks like a debug build."""
    info: dict[str, Any] = {}
    try:
        import docetl_checkpoint

        info["version"] = docetl_checkpoint.__version__
    except Exception as exc:
        info["error"] = repr(exc)
        return info
    try:
        from docetl_checkpoint import _core

        path = _core.__file__ or ""
        info["module"] = path
        info["size_bytes"] = os.path.getsize(path)
        info["mtime"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(path)))
        sections = _elf_sections(path)
        if sections:
            info["debug_info"] = ".debug_info" in sections
            info["profile_guess"] = "debug" if info["debug_info"] else "release"
    except Exception as exc:  # report, never fail the benchmark over it
        info["build_error"] = repr(exc)
    return info


def _elf_sections(path: str) -> list[str]:
    """Section names of a 64-bit ELF file (reads only the headers)."""
    with open(path, "rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2:
            return []
        e = "<" if ident[5] == 1 else ">"
        shoff = struct.unpack_from(e + "Q", ident, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from(e + "HHH", ident, 0x3A)
        f.seek(shoff)
        headers = f.read(shentsize * shnum)

        def header(i: int) -> tuple[int, int, int]:
            base = i * shentsize
            name = struct.unpack_from(e + "I", headers, base)[0]
            offset, size = struct.unpack_from(e + "QQ", headers, base + 0x18)
            return name, offset, size

        _, str_off, str_size = header(shstrndx)
        f.seek(str_off)
        table = f.read(str_size)
    names = []
    for i in range(shnum):
        name = header(i)[0]
        names.append(table[name : table.index(b"\0", name)].decode(errors="replace"))
    return names


def machine_info() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for mod in ("pyarrow", "pandas", "zstandard"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = None
    return {
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        **versions,
    }


# -- memory probe (runs in a subprocess) ---------------------------------------------


def memprobe(store_name: str, path: str, keys_file: str) -> None:
    """Load every checkpoint, hold them, print RSS figures as JSON (child process)."""
    # the same imports for every store
    import docetl_checkpoint  # noqa: F401
    import pyarrow  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    def status(field: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024  # kB
        raise RuntimeError(f"no {field} in /proc/self/status")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    with open(keys_file) as f:
        keys = [tuple(k) for k in json.load(f)]
    store = stores.open_store(store_name, path)
    gc.collect()
    idle = rss()
    # Reset the peak (VmHWM) to the current RSS. getrusage's ru_maxrss is no use
    # here: Linux carries it over from the parent across fork + exec.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    held = [store.load(k) for k in keys]
    now = rss()
    peak = status("VmHWM")
    rows = sum(len(h or []) for h in held)
    print(
        json.dumps({"idle": idle, "held": now - idle, "peak": max(peak, now) - idle, "rows": rows})
    )


def run_memprobe(store_name: str, path: str, keys_file: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--memprobe", store_name, path, keys_file],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise RuntimeError(f"memory probe of {store_name} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- one size ------------------------------------------------------------------


class Recorder:
    """Collects lists of measurements; errors of one path don't stop the others."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def add(self, path: str, store: str, value: Any) -> None:
        self.data.setdefault(path, {}).setdefault(store, []).append(value)

    def attempt(self, path: str, store: str, fn: Callable[[], Any]) -> Any:
        if f"{path}/{store}" in self.errors:
            return None
        try:
            value = fn()
        except Exception as exc:
            self.errors[f"{path}/{store}"] = f"{type(exc).__name__}: {exc}"
            print(f"    ! {path}/{store}: {type(exc).__name__}: {exc}", flush=True)
            return None
        self.add(path, store, value)
        return value


def bench_size(n: int, reps: int, tmp: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    wl = workload.generate(n)
    saves = list(wl.saves())
    keys = [stores.key_of(s) for s in wl.final()]
    largest = ("checkpoint", *wl.largest_checkpoint())
    gen_s = time.perf_counter() - t0
    est = workload.unique_content_estimate(saves)
    n_batches = sum(1 for s in wl.run if s.kind == "batch")
    first_batch_i = next(i for i, s in enumerate(saves) if s.kind == "batch")
    last_rerun_batch_i = len(wl.run) + n_batches - 1
    fresh = [workload.fresh_batch(t) for t in range(2 * FRESH_PER_REP * reps)]
    print(
        f"\n== N={n}: {len(saves)} saves, {wl.logical_records()} logical records, "
        f"estimate {est['bytes'] / 1e6:.2f} MB (generated in {gen_s:.1f} s)",
        flush=True,
    )

    rec = Recorder()
    dirs: dict[str, str] = {}
    stats: dict[str, Any] | None = None

    # saves, interleaved
    for rep in range(reps):
        for name in rotated(rep):
            path = os.path.join(tmp, f"n{n}-{name}-{rep}")

            def run_saves(name: str = name, path: str = path) -> float:
                per: list[float] = []
                gc.collect()
                gc.disable()
                try:
                    t_start = time.perf_counter()
                    store = stores.open_store(name, path)
                    for s in saves:
                        t = time.perf_counter()
                        store.save(stores.key_of(s), s.records)
                        per.append(time.perf_counter() - t)
                    total = time.perf_counter() - t_start
                finally:
                    gc.enable()
                if name == "ours":
                    rec.add("batch_literal_first", "ours", per[first_batch_i])
                    rec.add("batch_literal_late", "ours", per[last_rerun_batch_i])
                return total

            total = rec.attempt("save_total", name, run_saves)
            if total is not None:
                size, files = stores.dir_bytes(path)
                rec.add("disk_bytes", name, size)
                rec.add("files", name, files)
                if name == "ours" and rep == reps - 1:
                    stats = rec.attempt("stats", "ours", partial(ours_stats, path))
                if name == "ours":
                    # a copy compacted: what saves wrote at the fast level, merged
                    # and recompressed (no gc: nothing live or replaced is dropped)
                    copy = path + "-compacted"
                    shutil.copytree(path, copy, copy_function=os.link)  # keeps aliases linked
                    report = rec.attempt("compact", "ours", partial(compact_store, copy))
                    if report is not None:
                        rec.add("disk_bytes_compacted", "ours", stores.dir_bytes(copy)[0])
                    shutil.rmtree(copy, ignore_errors=True)
            dirs[name] = path
            print(
                f"  rep {rep} save {name:<8} {'ERR' if total is None else f'{total:7.3f} s'}",
                flush=True,
            )

        # save cost vs store size: fresh content, first (warm empty store) vs late (full store)
        if "save_total/ours" not in rec.errors:
            for j in range(FRESH_PER_REP):
                batch_first = fresh[(2 * rep) * FRESH_PER_REP + j]
                batch_late = fresh[(2 * rep + 1) * FRESH_PER_REP + j]
                first_dir = os.path.join(tmp, f"n{n}-fresh-{rep}-{j}")
                s0 = stores.OursStore(first_dir)
                s0.save(("checkpoint", "warmup", "init"), [{"id": "warmup"}])
                rec.attempt(
                    "fresh_first",
                    "ours",
                    partial(timed, partial(s0.save, ("batch", "fresh", 0), batch_first)),
                )
                shutil.rmtree(first_dir, ignore_errors=True)
                late = stores.OursStore(dirs["ours"])
                rec.attempt(
                    "fresh_late",
                    "ours",
                    partial(timed, partial(late.save, ("batch", "fresh", 1 + j), batch_late)),
                )
        if rep < reps - 1:
            for name in STORES:
                shutil.rmtree(os.path.join(tmp, f"n{n}-{name}-{rep}"), ignore_errors=True)

    opened = {name: stores.open_store(name, dirs[name]) for name in STORES}

    def all_of(store: Any, method: str) -> Callable[[], list[Any]]:
        return lambda: [getattr(store, method)(k) for k in keys]

    # reads, interleaved
    for rep in range(reps):
        for path, method, names in (
            ("load_all", "load", STORES),
            ("table_all", "table", ("ours", "parquet")),
            ("pandas_all", "to_pandas", ("ours", "parquet")),
        ):
            for name in rotated(rep):
                if name in names and f"save_total/{name}" not in rec.errors:
                    rec.attempt(path, name, partial(timed, all_of(opened[name], method)))
        print(
            f"  rep {rep} reads: "
            + ", ".join(
                f"{p.split('_')[0]} {s} {v[-1]:.3f}s"
                for p in ("load_all", "table_all", "pandas_all")
                for s, v in rec.data.get(p, {}).items()
            ),
            flush=True,
        )

    # sample(n=5) of the largest checkpoint
    for name, label in (("ours", "ours_warm"), ("parquet", "parquet")):
        if f"save_total/{name}" in rec.errors:
            continue
        s = opened[name]
        try:
            s.sample(largest, 5)  # warm-up call, not counted
        except Exception as exc:
            rec.errors[f"sample5_ms/{label}"] = f"{type(exc).__name__}: {exc}"
            print(f"    ! sample5_ms/{label}: {type(exc).__name__}: {exc}", flush=True)
            continue
        for _ in range(SAMPLE_CALLS):
            rec.attempt("sample5_ms", label, partial(timed_ms, partial(s.sample, largest, 5)))
    if "save_total/ours" not in rec.errors:
        for _ in range(5):
            rec.attempt(
                "sample5_ms",
                "ours_new_manager",
                partial(timed_ms, partial(sample_new_manager, dirs["ours"], largest)),
            )

    # peak memory, a fresh subprocess per store and repetition
    keys_file = os.path.join(tmp, f"keys-{n}.json")
    with open(keys_file, "w") as f:
        json.dump(keys, f)
    for rep in range(reps):
        for name in rotated(rep):
            if f"save_total/{name}" in rec.errors:
                continue
            probe = rec.attempt("memory", name, partial(run_memprobe, name, dirs[name], keys_file))
            if probe:
                rec.add("peak_rss_bytes", name, probe["peak"])
                rec.add("held_rss_bytes", name, probe["held"])
    print(
        "  memory: "
        + ", ".join(
            f"{s} {(med(v) or 0) / 1e6:.0f} MB"
            for s, v in rec.data.get("peak_rss_bytes", {}).items()
        ),
        flush=True,
    )

    for name in STORES:
        shutil.rmtree(dirs[name], ignore_errors=True)

    checkpoints = {
        f"{s.step_or_op}/{s.name_or_index}": len(s.records)
        for s in wl.final()
        if s.kind == "checkpoint"
    }
    return {
        "n": n,
        "workload": {
            "saves": len(saves),
            "logical_records": wl.logical_records(),
            "batches_per_run": n_batches,
            "checkpoints": checkpoints,
            "largest": list(largest[1:]),
            "changed_docs": len(wl.changed_ids),
            "generate_s": gen_s,
        },
        "estimate": est,
        "measurements": rec.data,
        "errors": rec.errors,
        "stats": stats,
    }


def compact_store(path: str) -> Any:
    from docetl_checkpoint import CheckpointManager

    return CheckpointManager(path).compact()


def warm_up(tmp: str) -> None:
    """One small unrecorded round through every store and path (imports, first calls)."""
    wl = workload.generate(30)
    for name in STORES:
        path = os.path.join(tmp, f"warmup-{name}")
        store = stores.open_store(name, path)
        try:
            stores.save_all(store, wl.saves())
            for s in wl.final():
                key = stores.key_of(s)
                store.load(key)
                if name != "json":
                    store.table(key)
                    store.to_pandas(key)
                    store.sample(key, 5)
        except Exception as exc:
            print(f"  warm-up {name}: {type(exc).__name__}: {exc}", flush=True)
        shutil.rmtree(path, ignore_errors=True)


# -- main ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default=None, help="comma-separated document counts (500,2000,8000)"
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions, median taken (3)")
    parser.add_argument(
        "--quick", action="store_true", help="CI-sized run: sizes 200,500 unless --sizes is given"
    )
    parser.add_argument(
        "--goal-n",
        type=int,
        default=GOAL_N,
        help="N at which the goals are judged (2000; the largest size measured when 2000 is not)",
    )
    parser.add_argument(
        "--results",
        default=os.path.join(HERE, "results"),
        help="folder for bench-<timestamp>.json and latest.json",
    )
    parser.add_argument("--plot", default=os.path.join(REPO, "docs", "img", "benchmark.png"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--tmp", default=None, help="scratch folder (a new temp folder)")
    parser.add_argument("--check", action="store_true", help="exit 1 if a goal is missed")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="also the flat-cost figures of flat.py (N=30,000, 12 edit rounds; a few minutes)",
    )
    parser.add_argument("--scale-n", type=int, default=30000, help=argparse.SUPPRESS)
    parser.add_argument("--memprobe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memprobe:
        memprobe(*args.memprobe)
        return 0
    if args.reps < 1:
        parser.error("--reps must be >= 1")
    sizes = [
        int(x) for x in (args.sizes or ("200,500" if args.quick else "500,2000,8000")).split(",")
    ]
    goal_n = args.goal_n if args.goal_n in sizes else max(sizes)

    build = build_info()
    print(
        f"docetl-checkpoint {build.get('version', '?')}, extension "
        f"{build.get('module', '?')} ({build.get('profile_guess', '?')} build?), "
        f"sizes {sizes}, {args.reps} reps",
        flush=True,
    )
    load_at_start = os.getloadavg()
    if load_at_start[0] > 0.5 * (os.cpu_count() or 1):
        print(
            f"note: load average {load_at_start[0]:.1f} on {os.cpu_count()} cores: "
            "other work is running, timings will be noisy",
            flush=True,
        )
    if "error" in build:
        print(f"cannot import the extension: {build['error']}", file=sys.stderr)
        return 2

    tmp = args.tmp or tempfile.mkdtemp(prefix="docetl-bench-")
    os.makedirs(tmp, exist_ok=True)
    started = time.time()
    try:
        warm_up(tmp)
        runs = [bench_size(n, args.reps, tmp) for n in sizes]
        scale = None
        if args.scale:
            scale_tmp = os.path.join(tmp, "flat")
            os.makedirs(scale_tmp, exist_ok=True)
            scale = flat.run(args.scale_n, 2000, 12, max(args.reps, 3), scale_tmp)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    text, goals = report(runs, goal_n)
    print(text)
    if scale is not None:
        scale_text, scale_goals = flat.report(scale)
        print(scale_text)
        goals += [{"n": scale["n"], **g} for g in scale_goals]

    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    result = {
        "timestamp": stamp,
        "duration_s": time.time() - started,
        "build": build,
        "machine": machine_info(),
        "settings": {
            "sizes": sizes,
            "reps": args.reps,
            "goal_n": goal_n,
            "fresh_batches_per_rep": FRESH_PER_REP,
            "sample_calls": SAMPLE_CALLS,
            "seed": workload.DEFAULT_SEED,
            "load_average_at_start": load_at_start,
        },
        "runs": runs,
        "flat": scale,
        "goals": goals,
    }
    os.makedirs(args.results, exist_ok=True)
    for name in (f"bench-{stamp}.json", "latest.json"):
        with open(os.path.join(args.results, name), "w") as f:
            json.dump(result, f, indent=1, default=str)
    print(f"raw numbers: {os.path.join(args.results, f'bench-{stamp}.json')} (and latest.json)")
    if not args.no_plot:
        title = (
            f"docetl-checkpoint {build.get('version', '')} "
            f"({build.get('profile_guess', '?')} build) vs DocETL JSON and Parquet per "
            f"checkpoint\nDocETL-shaped run + re-run, median of {args.reps}, "
            f"{machine_info()['cores']} cores"
        )
        plot(runs, args.plot, title, scale)
        print(f"plot: {args.plot}")
    missed = [g for g in goals if g["verdict"] in ("MISS", "ERR")]
    print(f"total {time.time() - started:.0f} s")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
