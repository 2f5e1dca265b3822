"""Which flushed batches of an operation belong to its current run.

Batch files are named by index only (`<op>_batches/batch_<i>`), so a run that
flushes batch 0 leaves batches 1 and 2 of an earlier run (other config, other
input, more documents) beside it. Each batch records the op hash and input
digests it was computed with (`flush_batch`); a batch belongs to the current
run when both equal the current ones (batches imported from DocETL's JSON
layout without their pipeline carry neither, and are taken only while the op
has no other). A store that knows no current op hash
for the operation (opened on its own, `CheckpointStore(dir, {})`) takes the
batches recorded like the most recently written one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docetl_checkpoint.docetl.folders import META_INPUTS, META_OP_HASH
from docetl_checkpoint.docetl.inputs import decode, encode

if TYPE_CHECKING:
    from docetl_checkpoint.docetl.store import CheckpointStore


def _meta(entry: dict[str, Any]) -> dict[str, str]:
    return entry.get("meta") or {}


def current_indexes(store: CheckpointStore, op: str) -> list[int]:
    """The indexes of `op`'s batches that belong to its current run, ascending."""
    entries = [e for e in store.manager.entries() if e["kind"] == "batch" and e["batch_of"] == op]
    step = store._step_of(op)
    if step is None:
        if not entries:
            return []
        newest = max(entries, key=lambda e: float(e["created_at"]))

        def run_of(entry: dict[str, Any]) -> tuple[str | None, str | None]:
            meta = _meta(entry)
            return meta.get(META_OP_HASH), meta.get(META_INPUTS)

        return sorted(e["batch_index"] for e in entries if run_of(e) == run_of(newest))
    op_hash = store.op_hashes[step][op]
    if not any(META_OP_HASH in _meta(e) for e in entries):
        # only batches of unknown runs (imported without their pipeline): no better answer
        return sorted(e["batch_index"] for e in entries)
    checked: dict[str, bool] = {}  # one input check per distinct recorded digest set
    keep: list[int] = []
    for entry in entries:
        meta = _meta(entry)
        recorded = decode(meta.get(META_INPUTS))
        if meta.get(META_OP_HASH) != op_hash or recorded is None:
            continue
        key = encode(recorded)
        if key not in checked:
            checked[key] = store.inputs.current(step, recorded) == recorded
        if checked[key]:
            keep.append(entry["batch_index"])
    return sorted(keep)
