"""The figures of the benchmark: ratios against the baselines, goals, table and plot.

A run is what `bench.bench_size` returns for one N: ``run["measurements"][path][store]``
holds the list of repetitions of one measurement; every figure uses their median.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from typing import Any

from stores import STORE_NAMES as STORES

GOAL_N = 2000


def med(xs: list[float] | None) -> float | None:
    xs = [x for x in (xs or []) if x is not None]
    return statistics.median(xs) if xs else None


# -- figures and goals ---------------------------------------------------------------


def m(run: dict[str, Any], path: str, store: str) -> float | None:
    return med(run["measurements"].get(path, {}).get(store))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# (label, function of a run -> value, goal or None, "x" for ratios or "ms")
Figure = tuple[str, Callable[[dict[str, Any]], float | None], float | None, str]

FIGURES: list[Figure] = [
    (
        "save run+rerun: ours / json",
        lambda r: ratio(m(r, "save_total", "ours"), m(r, "save_total", "json")),
        0.33,
        "x",
    ),
    (
        "save run+rerun: ours / parquet",
        lambda r: ratio(m(r, "save_total", "ours"), m(r, "save_total", "parquet")),
        0.5,
        "x",
    ),
    (
        "new 100-rec batch: late / first (ours)",
        lambda r: ratio(m(r, "fresh_late", "ours"), m(r, "fresh_first", "ours")),
        1.2,
        "x",
    ),
    (
        "rerun's last batch / run's first (ours)",
        lambda r: ratio(m(r, "batch_literal_late", "ours"), m(r, "batch_literal_first", "ours")),
        None,
        "x",
    ),
    (
        "load all -> list[dict]: ours / json.load",
        lambda r: ratio(m(r, "load_all", "ours"), m(r, "load_all", "json")),
        0.5,
        "x",
    ),
    (
        "load all: ours / parquet to_pylist",
        lambda r: ratio(m(r, "load_all", "ours"), m(r, "load_all", "parquet")),
        None,
        "x",
    ),
    (
        "table() all: ours / pq.read_table",
        lambda r: ratio(m(r, "table_all", "ours"), m(r, "table_all", "parquet")),
        0.3,
        "x",
    ),
    (
        "dataframe all: ours / parquet to_pandas",
        lambda r: ratio(m(r, "pandas_all", "ours"), m(r, "pandas_all", "parquet")),
        0.7,
        "x",
    ),
    ("sample(n=5) of largest, ms (ours)", lambda r: m(r, "sample5_ms", "ours_warm"), 5.0, "ms"),
    (
        "sample(n=5), new manager each call, ms",
        lambda r: m(r, "sample5_ms", "ours_new_manager"),
        None,
        "ms",
    ),
    (
        "peak RSS holding all loaded: ours / json",
        lambda r: ratio(m(r, "peak_rss_bytes", "ours"), m(r, "peak_rss_bytes", "json")),
        0.5,
        "x",
    ),
    (
        "peak RSS: ours / parquet",
        lambda r: ratio(m(r, "peak_rss_bytes", "ours"), m(r, "peak_rss_bytes", "parquet")),
        None,
        "x",
    ),
    (
        "disk after run+rerun: ours / estimate",
        lambda r: ratio(m(r, "disk_bytes", "ours"), r["estimate"]["bytes"]),
        1.3,
        "x",
    ),
    (
        "disk after run+rerun and compact(): ours / estimate",
        lambda r: ratio(m(r, "disk_bytes_compacted", "ours"), r["estimate"]["bytes"]),
        1.0,
        "x",
    ),
    (
        "disk: json / estimate",
        lambda r: ratio(m(r, "disk_bytes", "json"), r["estimate"]["bytes"]),
        None,
        "x",
    ),
    (
        "disk: parquet / estimate",
        lambda r: ratio(m(r, "disk_bytes", "parquet"), r["estimate"]["bytes"]),
        None,
        "x",
    ),
]


def per_record_save(r: dict[str, Any]) -> float | None:
    t = m(r, "save_total", "ours")
    return t / r["workload"]["logical_records"] if t is not None else None


def cross_size_figures(runs: list[dict[str, Any]]) -> list[tuple[str, float | None, float]]:
    lo, hi = runs[0], runs[-1]
    span = f"N={hi['n']} / N={lo['n']}"
    samples = [m(r, "sample5_ms", "ours_warm") for r in runs]
    known = [s for s in samples if s is not None]
    return [
        (
            f"save time per record (ours), {span}",
            ratio(per_record_save(hi), per_record_save(lo)),
            1.2,
        ),
        (
            f"new batch saved late (ours), {span}",
            ratio(m(hi, "fresh_late", "ours"), m(lo, "fresh_late", "ours")),
            1.2,
        ),
        (
            "sample(n=5) ms (ours), max / min over N",
            max(known) / min(known) if len(known) == len(samples) and min(known) > 0 else None,
            2.0,
        ),
    ]


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} ms" if unit == "ms" else f"{value:.3f}x"


def verdict(value: float | None, goal: float | None) -> str:
    if goal is None:
        return ""
    if value is None:
        return "ERR"
    return "PASS" if value <= goal else "MISS"


def report(runs: list[dict[str, Any]], goal_n: int) -> tuple[str, list[dict[str, Any]]]:
    lines: list[str] = []
    goals: list[dict[str, Any]] = []
    width = 44
    ns = [r["n"] for r in runs]
    head = f"{'figure':<{width}} {'goal':>8} " + " ".join(f"{'N=' + str(n):>15}" for n in ns)
    lines += ["", head, "-" * len(head)]
    for label, fn, goal, unit in FIGURES:
        cells = []
        for r in runs:
            value = fn(r)
            cells.append(f"{fmt(value, unit)} {verdict(value, goal):<4}".rjust(15))
            if goal is not None and r["n"] == goal_n:
                goals.append(
                    {
                        "figure": label,
                        "n": r["n"],
                        "value": value,
                        "goal": goal,
                        "verdict": verdict(value, goal),
                    }
                )
        g = "" if goal is None else (f"<={goal:g}" + ("ms" if unit == "ms" else "x"))
        lines.append(f"{label:<{width}} {g:>8} " + " ".join(cells))
    if len(runs) > 1:
        lines.append("")
        for label, value, goal in cross_size_figures(runs):
            v = verdict(value, goal)
            lines.append(
                f"{label:<{width}} {'<=' + format(goal, 'g') + 'x':>8} {fmt(value, 'x')} {v}"
            )
            goals.append({"figure": label, "n": None, "value": value, "goal": goal, "verdict": v})
    # the sample goal holds at every N
    for r in runs:
        if r["n"] != goal_n:
            value = m(r, "sample5_ms", "ours_warm")
            goals.append(
                {
                    "figure": "sample(n=5) of largest, ms (ours)",
                    "n": r["n"],
                    "value": value,
                    "goal": 5.0,
                    "verdict": verdict(value, 5.0),
                }
            )

    lines += ["", "medians (seconds unless said):"]
    sub = (
        f"{'N':>6} {'store':<8} {'save':>8} {'load':>8} {'table':>8} {'pandas':>8}"
        f" {'peak RSS':>10} {'disk':>10} {'vs est':>7}"
    )
    lines.append(sub)
    for r in runs:
        for s in STORES:

            def cell(path: str, s: str = s, r: dict[str, Any] = r) -> str:
                v = m(r, path, s)
                return "-" if v is None else f"{v:.3f}"

            rss = m(r, "peak_rss_bytes", s)
            disk = m(r, "disk_bytes", s)
            vs_est = "-" if disk is None else f"{disk / r['estimate']['bytes']:.2f}x"
            lines.append(
                f"{r['n']:>6} {s:<8} {cell('save_total'):>8} {cell('load_all'):>8} "
                f"{cell('table_all'):>8} {cell('pandas_all'):>8} "
                f"{('-' if rss is None else f'{rss / 1e6:.0f} MB'):>10} "
                f"{('-' if disk is None else f'{disk / 1e6:.2f} MB'):>10} "
                f"{vs_est:>7}"
            )
        lines.append(
            f"{r['n']:>6} {'estimate':<8} {'':>8} {'':>8} {'':>8} {'':>8} {'':>10} "
            f"{r['estimate']['bytes'] / 1e6:>7.2f} MB {'1.00x':>7}"
        )
    counted = [g for g in goals if g["verdict"]]
    passed = sum(g["verdict"] == "PASS" for g in counted)
    lines.append(f"\ngoals (issue 4, at N={goal_n} unless said): {passed}/{len(counted)} PASS")
    return "\n".join(lines), goals


def plot(
    runs: list[dict[str, Any]], path: str, title: str, flat: dict[str, Any] | None = None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ns = [r["n"] for r in runs]
    colors = {"ours": "#1b9e77", "json": "#d95f02", "parquet": "#7570b3", "estimate": "#999999"}
    labels = {
        "ours": "docetl-checkpoint",
        "json": "DocETL JSON",
        "parquet": "Parquet/ckpt",
        "estimate": "unique content (zstd -3)",
    }
    panels = [
        ("disk after run + re-run (MB)", "disk_bytes", 1e-6, [*STORES, "estimate"]),
        ("save run + re-run (s)", "save_total", 1.0, list(STORES)),
        ("load every checkpoint to list[dict] (s)", "load_all", 1.0, list(STORES)),
        ("to pandas, every checkpoint (s)", "pandas_all", 1.0, ["ours", "parquet"]),
    ]
    fig, grid = plt.subplots(2, 3 if flat else 2, figsize=(16 if flat else 11, 8.5))
    axes = list(grid.flat)
    if flat:
        # panels 1-4 as before, in the first two columns; flat costs in the third
        axes = [axes[0], axes[1], axes[3], axes[4]]
        flat_panels(flat, grid[0][2], grid[1][2])
    for ax, (ptitle, key, scale, series) in zip(axes, panels, strict=False):
        width = 0.8 / len(series)
        for j, s in enumerate(series):
            vals = []
            for r in runs:
                v = r["estimate"]["bytes"] if s == "estimate" else m(r, key, s)
                vals.append(0.0 if v is None else v * scale)
            xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(ns))]
            bars = ax.bar(xs, vals, width, label=labels[s], color=colors[s])
            for b, v in zip(bars, vals, strict=True):
                if v > 0:
                    ax.annotate(
                        f"{v:.3g}",
                        (b.get_x() + b.get_width() / 2, v),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                        rotation=90,
                        xytext=(0, 2),
                        textcoords="offset points",
                    )
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _pos: f"{v:g}")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(ns)), [f"N={n}" for n in ns])
        ax.set_title(ptitle, fontsize=10)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.margins(y=0.25)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def flat_panels(flat: dict[str, Any], batch_ax: Any, sample_ax: Any) -> None:
    """The flat-cost figures (flat.py): a new process's batch, and sample(n=5)."""
    rounds = flat["rounds"]
    bars = [
        ("empty store", flat["batch_empty"]),
        (f"N={flat['n']:,}", flat["batch_n"]),
        ("1 edit round", flat["batch_round_1"]),
        (f"{rounds} edit rounds", flat[f"batch_round_{rounds}"]),
    ]
    vals = [1e3 * (med(v) or 0.0) for _, v in bars]
    batch_ax.bar(range(len(bars)), vals, color="#1b9e77")
    batch_ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    batch_ax.set_title("a new process's 100-record batch (ms)", fontsize=10)
    samples = [
        (f"N={flat['base_n']:,}", flat[f"sample_ms_{flat['base_n']}"]),
        (f"N={flat['n']:,}", flat[f"sample_ms_{flat['n']}"]),
    ]
    svals = [med(v) or 0.0 for _, v in samples]
    sample_ax.bar(range(len(samples)), svals, color="#1b9e77")
    sample_ax.axhline(5.0, color="#d95f02", linestyle="--", linewidth=1, label="goal 5 ms")
    sample_ax.set_xticks(range(len(samples)), [s[0] for s in samples], fontsize=8)
    sample_ax.set_title("sample(n=5) of the largest checkpoint (ms)", fontsize=10)
    sample_ax.legend(fontsize=8)
    for ax, vs in ((batch_ax, vals), (sample_ax, svals)):
        for i, v in enumerate(vs):
            ax.annotate(f"{v:.3g}", (i, v), ha="center", va="bottom", fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.2)
