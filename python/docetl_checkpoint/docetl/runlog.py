"""What `CheckpointStore` tells while a runner works: why each operation runs, what it cost.

The store hears about every operation DocETL pulls: `load` (reused or not),
`clear_stale` (right before it recomputes) and `save`. `RunLog` turns those
calls into one console line per operation (`reuse` or `run` with its reasons,
through DocETL's console) and into the meta saved with each checkpoint: its
provenance, the reasons it was recomputed, and its cost.

Reasons are worked out at `load`, while the old checkpoint still exists
(`clear_stale` deletes it next); an operation with `bypass_cache` is never
loaded, so its reason is known at `clear_stale`.
"""

from __future__ import annotations

import json
import os
import weakref
from typing import TYPE_CHECKING, Any

from docetl_checkpoint.docetl import cost as cost_meta
from docetl_checkpoint.docetl import provenance
from docetl_checkpoint.docetl.provenance import META_PROVENANCE, META_REASONS, Checker

if TYPE_CHECKING:
    from docetl_checkpoint.docetl.store import CheckpointStore

PREFIX = "docetl-checkpoint"


class RunLog:
    def __init__(self) -> None:
        self._runner: weakref.ReferenceType[Any] | None = None
        self._pending: dict[tuple[str, str], list[str]] = {}
        # provenance of every op, taken before any op runs: some operations
        # edit their config dict while running (e.g. map's `_append_document_to_prompt`)
        self._snapshot: tuple[str, dict[provenance.OpKey, provenance.Provenance]] | None = None
        self.meter = cost_meta.CostMeter()
        self._noted = False

    def bind(self, runner: Any) -> None:
        self._runner = weakref.ref(runner)
        name = pipeline_name(runner)
        if name is not None:
            self.meter.run["pipeline"] = name

    @property
    def runner(self) -> Any:
        return self._runner() if self._runner is not None else None

    def _provenance(self, runner: Any) -> dict[provenance.OpKey, provenance.Provenance]:
        key = json.dumps(runner.step_op_hashes, sort_keys=True)
        if self._snapshot is None or self._snapshot[0] != key:  # runner.reload() rehashes
            self._snapshot = (key, provenance.snapshot(runner))
        return self._snapshot[1]

    def checker(self, store: CheckpointStore) -> Checker | None:
        runner = self.runner
        if runner is None:
            return None
        return Checker(
            runner,
            store.info,
            store.inputs.current,
            store.inputs.file_datasets(),
            self._provenance(runner),
        )

    def _say(self, text: str) -> None:
        console = getattr(self.runner, "console", None)
        if console is None:
            return
        # DocETL's console is rich's: a reason holding "[...]" must not read as markup
        from rich.markup import escape

        safe = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
        console.log(f"[dim]{PREFIX}:[/dim] {escape(safe)}")

    # -- the store's calls ----------------------------------------------------

    def loaded(self, store: CheckpointStore, step: str, op: str, hit: bool) -> None:
        runner = self.runner
        if runner is None:
            return
        if hit:
            if not self._noted:
                # a run that reuses every checkpoint saves none: the store's
                # note is what tells `stats` it ran
                store.manager.set_note(cost_meta.META_RUN, cost_meta.run_text(self.meter.run))
                self._noted = True
            self._pending.pop((step, op), None)
            entry = store.info(step, op) or {}
            spent = cost_meta.cost_of(entry.get("meta"))
            note = f" (computing it cost {cost_meta.describe(spent)})" if spent else ""
            self._say(f"reuse {step}/{op}{note}")
        elif store.has_hash(step, op):
            checker = self.checker(store)
            if checker is not None:
                self._pending[(step, op)] = checker.reasons(step, op)
        self.meter.mark(runner)

    def clearing(self, store: CheckpointStore, step: str, op: str) -> None:
        runner = self.runner
        if runner is None:
            return
        reasons = self._pending.get((step, op))
        if reasons is None and store.has_hash(step, op):
            checker = self.checker(store)
            # not loaded first: bypass_cache (or an optimizer's sample run, not saved)
            if checker is not None and checker.bypass_op(op):
                reasons = self._pending[(step, op)] = checker.reasons(step, op)
        if reasons is not None:
            self._say(f"run {step}/{op}: " + "; ".join(reasons or ["recomputed"]))
        self.meter.mark(runner)

    def save_meta(self, store: CheckpointStore, step: str, op: str) -> dict[str, str]:
        """Provenance, reasons and cost of (step, op), saved now; empty without a runner."""
        runner = self.runner
        if runner is None:
            return {}
        out = self.meter.meta(runner)
        prov = self._provenance(runner).get((step, op))
        if prov is not None:
            out[META_PROVENANCE] = provenance.encode(prov)
        reasons = self._pending.pop((step, op), None)
        if reasons is not None:
            out[META_REASONS] = json.dumps(reasons)  # ASCII, as `provenance.encode`
        self.meter.mark(runner)
        return out


def pipeline_name(runner: Any) -> str | None:
    """What `runs()` calls a pipeline: its config's `name`, else its output
    file's name (DocETL pipelines need not be named)."""
    config = getattr(runner, "config", None)
    if not isinstance(config, dict):
        return None
    name = config.get("name")
    if isinstance(name, str) and name:
        return name
    output = (config.get("pipeline") or {}).get("output") or {}
    path = output.get("path") if isinstance(output, dict) else None
    return os.path.basename(path) if isinstance(path, str) and path else None
