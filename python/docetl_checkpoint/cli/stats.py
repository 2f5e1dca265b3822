"""`stats`: what the folder holds, what dedup saved, and bytes on disk."""

from __future__ import annotations

import argparse
import math
from typing import Any

from docetl_checkpoint.cli import provenance, render
from docetl_checkpoint.cli.common import EXIT_OK, open_store
from docetl_checkpoint.docetl.cost import run_of


def count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def size(n: float) -> str:
    return f"{render.human_bytes(n)} ({n:,})"


def saved_text(logical: int, on_disk: int) -> str:
    """What dedup and compression saved, or by how much the files outweigh the records
    (a small store: Parquet footers and the manifest cost more than they save)."""
    if on_disk > logical:
        ratio = on_disk / logical
        times = f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"
        return (
            f"nothing: the files take {render.human_bytes(on_disk - logical)} more "
            f"than the records ({times} the logical size)"
        )
    fraction = 1 - on_disk / logical
    if fraction < 0.005:
        return "nothing: the files take about the logical size"
    # floored, so a store that saved 99.96% does not claim 100%
    percent = f"{fraction:.0%}" if fraction < 0.995 else f"{math.floor(fraction * 1000) / 10}%"
    text = f"{render.human_bytes(logical - on_disk)}, {percent} of the logical size"
    if on_disk and logical / on_disk >= 1.5:
        text += f" ({logical / on_disk:,.1f}x smaller)"
    return text


def stats_lines(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The keys `stats()` documents, read together; any others after them as they are."""
    s = dict(stats)
    pairs: list[tuple[str, str]] = []
    if "checkpoints" in s:
        text = count(s.pop("checkpoints"), "checkpoint")
        if "batches" in s:
            text += " and " + count(s.pop("batches"), "batch", "batches")
        pairs.append(("checkpoints", text))
    if "unique_records" in s and "logical_records" in s:
        unique, logical = s.pop("unique_records"), s.pop("logical_records")
        saved = f" (dedup saves {1 - unique / logical:.0%})" if logical else ""
        pairs.append(("records", f"{logical:,} in checkpoints, {unique:,} unique{saved}"))
    if "stored_values" in s and "value_refs" in s:
        stored, refs = s.pop("stored_values"), s.pop("value_refs")
        pairs.append(("large values", f"{refs:,} references to {count(stored, 'stored value')}"))
    logical_bytes = s.pop("logical_bytes", None)
    if logical_bytes is not None:
        pairs.append(("logical size", size(logical_bytes) + " (the records before dedup)"))
    total = s.pop("total_size_bytes", None)
    if total is not None:
        parts = [
            f"{name} {render.human_bytes(s.pop(key))}"
            for key, name in (
                ("dataset_size_bytes", "value segments"),
                ("index_size_bytes", "checkpoint files and manifest"),
            )
            if key in s
        ]
        pairs.append(("on disk", size(total) + (f": {', '.join(parts)}" if parts else "")))
        if logical_bytes:
            pairs.append(("saved", saved_text(logical_bytes, total)))
    for key, value in s.items():
        if key.endswith("_bytes") and isinstance(value, (int, float)):
            text = size(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        else:
            text = render.one_line(value)
        pairs.append((key.removesuffix("_bytes").replace("_", " "), text))
    return pairs


def cmd_stats(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    stats = store.stats()
    # what reuse saved the latest DocETL run (the note: a run that only reused)
    latest = provenance.latest_run(store.entries(), run_of(store.notes()))
    if args.json:
        print(render.dumps(dict(stats, latest_run=latest) if latest else stats))
        return EXIT_OK
    pairs = [("store", args.dir)] + stats_lines(stats)
    if latest:
        pairs.append(("latest run", provenance.latest_run_text(latest)))
    print("\n".join(render.aligned(pairs)))
    return EXIT_OK
