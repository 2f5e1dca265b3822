"""Versions and runs as the manager lists them, from the manifest alone.

Every save of a checkpoint makes a version; the DocETL adapter stamps each
with its run (`docetl_run`: id, start time, pipeline) and cost
(`docetl_cost`), and the op hash it was computed under (`docetl_op_hash`).
"""

from __future__ import annotations

from typing import Any

from docetl_checkpoint.docetl.cost import cost_of, run_of

# as `docetl_checkpoint.docetl.folders` writes it (importing that module
# here would import the manager it builds on)
META_OP_HASH = "docetl_op_hash"


def version_view(entry: dict[str, Any]) -> dict[str, Any]:
    """One version as `versions()` lists it."""
    meta = entry.get("meta") or {}
    cost = cost_of(meta)
    run = run_of(meta)
    return {
        "version": entry["version"],
        "created_at": entry["created_at"],
        "num_rows": entry["num_rows"],
        "logical_bytes": entry["logical_bytes"],
        "op_hash": meta.get(META_OP_HASH),
        "run_id": None if run is None else run.get("id"),
        "cost": None if cost is None else float(cost["dollars"]),
        "pinned": entry["pinned"],
        "latest": entry["latest"],
        "path": entry["path"],
    }


def runs_of(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs (oldest first) and the checkpoint versions each wrote."""
    runs: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e["kind"] != "checkpoint":
            continue
        meta = e.get("meta") or {}
        run = run_of(meta)
        if run is None or not isinstance(run.get("id"), str):
            continue
        out = runs.setdefault(
            run["id"],
            {
                "run_id": run["id"],
                "pipeline": run.get("pipeline"),
                "started_at": float(run["started"]),
                "checkpoints": [],
                "rows": 0,
                "cost": None,
            },
        )
        out["checkpoints"].append(
            {
                "step": e["step"],
                "op": e["op"],
                "version": e["version"],
                "num_rows": e["num_rows"],
                "latest": e["latest"],
                "pinned": e["pinned"],
            }
        )
        out["rows"] += e["num_rows"]
        cost = cost_of(meta)
        if cost is not None:
            out["cost"] = (out["cost"] or 0.0) + float(cost["dollars"])
    for run in runs.values():
        run["checkpoints"].sort(key=lambda c: (c["step"], c["op"], c["version"]))
    return sorted(runs.values(), key=lambda r: (r["started_at"], r["run_id"]))
