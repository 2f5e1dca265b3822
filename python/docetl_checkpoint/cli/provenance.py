"""What the DocETL adapter records with a checkpoint, for `info`, `ls` and `stats`.

The adapter (docetl_checkpoint.docetl) stores, as JSON text in a
checkpoint's meta: why the run recomputed it (`docetl_reasons`), what it
cost (`docetl_cost`), which run computed it (`docetl_run`) and what it was
computed from (`docetl_provenance`). Checkpoints saved otherwise have none
of these; every function here then shows nothing.
"""

from __future__ import annotations

from typing import Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.docetl.cost import META_COST, META_RUN, cost_of, describe, dollars, run_of
from docetl_checkpoint.docetl.provenance import (
    META_PROVENANCE,
    META_REASONS,
    decode_json,
    recorded_reasons,
)

# shown decoded, so not again as raw `meta` lines
DECODED_KEYS = (META_REASONS, META_COST, META_RUN, META_PROVENANCE)


def info_pairs(meta: dict[str, str]) -> list[tuple[str, str]]:
    """`info` lines: cost, the run that computed it, and why."""
    pairs: list[tuple[str, str]] = []
    spent = cost_of(meta)
    if spent is not None:
        pairs.append(("cost", describe(spent)))
    run = run_of(meta)
    if run is not None:
        pairs.append(
            ("computed by run", f"{run.get('id', '?')} started {render.local_time(run['started'])}")
        )
    reasons = recorded_reasons(meta)
    if reasons is not None:
        for i, reason in enumerate(reasons or ["(none recorded)"]):
            pairs.append(("recomputed because" if i == 0 else "", render.one_line(reason)))
    return pairs


def info_json(meta: dict[str, str]) -> dict[str, Any]:
    """`info --json` keys: the same, decoded; none for a checkpoint without them."""
    found = {
        "reasons": recorded_reasons(meta),
        "cost": cost_of(meta),
        "run": run_of(meta),
        "provenance": decode_json(meta.get(META_PROVENANCE)),
    }
    return {k: v for k, v in found.items() if v is not None}


def cost_cell(entry: dict[str, Any]) -> str:
    spent = cost_of(entry.get("meta"))
    return "" if spent is None else dollars(float(spent["dollars"]))


def latest_run(
    entries: list[dict[str, Any]], noted: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The latest run: what it recomputed, what reuse saved it.

    Every checkpoint the latest run did not recompute was reused by it (loaded,
    or not needed); what those cost when they were computed is what reuse
    saved. `noted` is the run the store's note names (`run_of(notes)`): a run
    that reused every checkpoint saved none, and only the note knows it ran.
    """
    checkpoints = [e for e in entries if e.get("kind", "checkpoint") == "checkpoint"]
    runs = [(run, e) for e in checkpoints if (run := run_of(e.get("meta"))) is not None]
    known = [run for run, _ in runs] + ([noted] if noted and "started" in noted else [])
    if not known:
        return None
    latest = max(known, key=lambda r: r["started"])
    mine = [e for run, e in runs if run.get("id") == latest.get("id")]
    others = [e for e in checkpoints if not any(e is m for m in mine)]

    def total(group: list[dict[str, Any]]) -> tuple[float, int]:
        costs = [c for e in group if (c := cost_of(e.get("meta"))) is not None]
        return sum(float(c["dollars"]) for c in costs), len(group) - len(costs)

    spent, _ = total(mine)
    saved, unknown = total(others)
    return {
        "id": latest.get("id"),
        "started": latest["started"],
        "started_iso": render.iso_time(latest["started"]),
        "recomputed": len(mine),
        "recomputed_dollars": spent,
        "reused": len(others),
        "reused_dollars": saved,
        "reused_without_cost": unknown,
    }


def latest_run_text(run: dict[str, Any]) -> str:
    def n(k: int) -> str:
        return f"{k:,} checkpoint{'s' * (k != 1)}"

    text = (
        f"started {render.local_time(run['started'])}: recomputed {n(run['recomputed'])} "
        f"for {dollars(run['recomputed_dollars'])}, reused {n(run['reused'])} "
        f"that cost {dollars(run['reused_dollars'])} to compute"
    )
    if run["reused_without_cost"]:
        text += f" ({run['reused_without_cost']:,} with no recorded cost)"
    return text
