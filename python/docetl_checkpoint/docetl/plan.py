"""A dry run: which operations a DocETL run would reuse or recompute, and why.

`plan(runner)` calls no LLM and writes nothing. It reads the store's manifest
(or DocETL's JSON config, for a folder the store would adopt on first use)
and the input files' digests, judges every checkpoint by
`CheckpointStore.load`'s rules (`provenance.Checker`), and walks DocETL's
operation graph the way the runner pulls it: from the last operation
backwards, stopping at the first checkpoint it reuses on each path. An
operation behind a reused checkpoint is neither loaded nor run; it is
reported as `reuse` with the note `not needed`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from docetl_checkpoint.docetl import cost, folders
from docetl_checkpoint.docetl.inputs import InputTracker
from docetl_checkpoint.docetl.provenance import Checker, op_ref_name, snapshot

NO_INTERMEDIATE_DIR = "pipeline.output.intermediate_dir is not set: DocETL keeps no checkpoints"
NOT_NEEDED = "not needed: a later operation's checkpoint is reused"


@dataclass
class Decision:
    step: str
    op: str
    action: str  # "reuse" or "run"
    reasons: list[str] = field(default_factory=list)
    note: str | None = None
    last_cost: dict[str, Any] | None = None  # what its current checkpoint cost to compute

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "op": self.op,
            "action": self.action,
            "reasons": list(self.reasons),
        }
        if self.note:
            out["note"] = self.note
        out["last_cost"] = self.last_cost
        return out


def _is_url(path: str) -> bool:
    return path.startswith(("s3://", "s3a://", "file://"))


def _json_layout_info(base: str) -> dict[tuple[str, str], dict[str, Any]]:
    """Checkpoints DocETL's JSON store left in `base`, as the store would adopt them."""
    try:
        with open(os.path.join(base, folders.CONFIG_NAME), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for step, ops in (config if isinstance(config, dict) else {}).items():
        for op, op_hash in (ops if isinstance(ops, dict) else {}).items():
            if os.path.isfile(os.path.join(base, step, f"{op}.json")):
                # adopted with the inputs' current digests: trusted, as DocETL would
                found[(step, op)] = {"meta": {folders.META_OP_HASH: str(op_hash)}}
    return found


def entries_reader(intermediate_dir: str) -> Any:
    """(step, op) -> manifest entry or None, reading the folder without writing to it."""
    local = not _is_url(intermediate_dir)
    if local and not os.path.isdir(intermediate_dir):
        return lambda step, op: None  # opening a store must not create the folder
    from docetl_checkpoint.docetl.store import CheckpointStore

    store = CheckpointStore(intermediate_dir, {}, adopt=False)  # adopting would write
    legacy = _json_layout_info(intermediate_dir) if local else {}

    def info(step: str, op: str) -> dict[str, Any] | None:
        entry: dict[str, Any] | None = store.info(step, op)
        # adoption imports the JSON file over the store's checkpoint
        return legacy.get((step, op), entry)

    return info


def operations(runner: Any) -> list[tuple[str, str]]:
    """Every (step, op) DocETL would checkpoint, in pipeline order."""
    return [
        (step.name, op_ref_name(entry))
        for step in runner.pipeline.steps
        for entry in step.operations or []
    ]


def plan(runner: Any) -> list[Decision]:
    """What running `runner`'s pipeline now would reuse and recompute, in pipeline order."""
    ops = operations(runner)
    if not runner.intermediate_dir:
        return [Decision(s, o, "run", [NO_INTERMEDIATE_DIR]) for s, o in ops]
    info = entries_reader(str(runner.intermediate_dir))
    tracker = InputTracker(runner)
    checker = Checker(runner, info, tracker.current, tracker.file_datasets(), snapshot(runner))

    actions: dict[tuple[str, str], str] = {}
    stack = [runner.last_op_container] if runner.last_op_container else []
    while stack:  # DocETL's pull, depth first
        container = stack.pop()
        kind = container.config.get("type")
        key = (container.step_name, container.op_name)
        if kind not in ("scan", "step_boundary"):
            if key in actions:  # pulled again: its fresh checkpoint is loaded
                continue
            actions[key] = "run" if checker.reasons(*key) else "reuse"
            if actions[key] == "reuse":
                continue
        stack.extend(reversed(container.children))

    decisions = []
    for step, op in ops:
        entry = info(step, op)
        spent = cost.cost_of((entry or {}).get("meta"))
        action = actions.get((step, op))
        if action is None:
            decisions.append(Decision(step, op, "reuse", [], NOT_NEEDED, spent))
        else:
            reasons = checker.reasons(step, op) if action == "run" else []
            decisions.append(Decision(step, op, action, list(reasons), None, spent))
    return decisions


def load_runner(pipeline_yaml: str) -> Any:
    """A `DSLRunner` for the YAML, built silently: nothing runs, nothing is written.

    DocETL's construction checks the operations' syntax and hashes them; its
    console output (and anything DocETL prints while building) goes nowhere.
    """
    import contextlib
    import io
    import sys
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from docetl.runner import DSLRunner
        from rich.console import Console

        with contextlib.redirect_stdout(sys.stderr):
            return DSLRunner.from_yaml(pipeline_yaml, console=Console(file=io.StringIO()))
