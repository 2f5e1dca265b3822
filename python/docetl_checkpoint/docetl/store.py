"""`CheckpointStore`: DocETL's checkpoint store interface over `CheckpointManager`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from docetl_checkpoint.docetl import batches, folders
from docetl_checkpoint.docetl.folders import META_INPUTS, META_OP_HASH, META_ORIGIN
from docetl_checkpoint.docetl.inputs import Digests, InputTracker, decode, encode
from docetl_checkpoint.docetl.runlog import RunLog
from docetl_checkpoint.manager import CheckpointManager

Record = dict[str, Any]


class CheckpointStore:
    """A drop-in for `docetl.checkpoint.CheckpointStore` backed by `CheckpointManager`.

    Same constructor, methods and attributes as DocETL 0.3.0's store, so
    `DSLRunner` uses it unchanged (see `docetl_checkpoint.docetl.install`).
    What differs:

    - Checkpoints are deduplicating Parquet files (`<dir>/<step>/<op>.parquet`,
      batches at `<dir>/<op>_batches/batch_<i>.parquet`), committed atomically
      with their op hash through the store's manifest.
    - A checkpoint is reused only when its op hash equals the current one *and*
      what DocETL read to build the datasets its step descends from is
      unchanged: dataset files and folders, files opened by DocETL's parsing
      tools, user-defined parsing tools' code, in-memory DataFrames (see
      `docetl_checkpoint.docetl.inputs`). DocETL's store checks the op hash only.
    - `list_batches`/`load_batches`/`load_batch` see only the op's current
      run's batches (see `docetl_checkpoint.docetl.batches`).
    - A folder written by DocETL's JSON store is adopted on first use: its
      checkpoints and batches are imported with their op hashes (trusted to
      match the inputs as they are then, as DocETL would) and the JSON files
      removed once imported. `export_docetl()` writes the JSON layout back.

    Args:
        base_dir: the intermediate folder (`pipeline.output.intermediate_dir`).
        op_hashes: step -> op -> hash. Kept by reference: the runner refills
            this very dict in place.
        bypass: when true, `load` always misses (DocETL's `bypass_cache`).
        runner: the `DSLRunner` whose input datasets are tracked; `install()`
            binds it. Without it, `datasets` (name -> path) applies to every
            step, and with neither only op hashes are checked.
        adopt: import a DocETL JSON layout found in `base_dir` (default true).
    """

    def __init__(
        self,
        base_dir: str,
        op_hashes: dict[str, dict[str, str]],
        bypass: bool = False,
        *,
        runner: Any = None,
        datasets: Mapping[str, str] | None = None,
        adopt: bool = True,
    ) -> None:
        self.base_dir = base_dir
        self.op_hashes = op_hashes
        self.bypass = bypass
        self.inputs = InputTracker(runner, datasets)
        # why each op runs or is reused, and its cost (needs the runner)
        self.runlog = RunLog()
        if runner is not None:
            self.runlog.bind(runner)
        self._adopt = adopt
        self._adopted = False
        self._manager: CheckpointManager | None = None
        self._running: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"docetl_checkpoint.docetl.CheckpointStore({os.fspath(self.base_dir)!r})"

    def __bool__(self) -> bool:
        # DocETL tests `if runner.checkpoints:`; never let a size make this falsy.
        return True

    def bind_runner(self, runner: Any) -> None:
        """Track the input datasets of `runner` (done by `install()` for you)."""
        self.inputs.bind(runner)
        self.runlog.bind(runner)

    @property
    def manager(self) -> CheckpointManager:
        """The underlying `CheckpointManager` (pandas, Arrow, stats, gc...).

        The first access adopts a DocETL JSON layout found in the folder.
        """
        manager = self._open()
        if self._adopt and not self._adopted:
            self._adopted = True
            self.adopt_docetl_json()
        return manager

    def _open(self) -> CheckpointManager:
        if self._manager is None or os.fspath(self._manager.intermediate_dir) != os.fspath(
            self.base_dir
        ):
            self._manager = CheckpointManager(self.base_dir)
            self._adopted = False
        return self._manager

    # -- DocETL's interface ----------------------------------------------------

    def load(self, step_name: str, op_name: str) -> list[Record] | None:
        """The checkpoint of (step, op) if it is current, else None.

        None when bypassed, when the op has no hash (scans), when there is no
        checkpoint, when its op hash differs from the current one, or when an
        input file it descends from changed since it was computed.
        Tells the runner's console which, and why (see `runlog`).
        """
        data = self._load_current(step_name, op_name)
        self.runlog.loaded(self, step_name, op_name, data is not None)
        return data

    def _load_current(self, step_name: str, op_name: str) -> list[Record] | None:
        if self.bypass:
            return None
        current_hash = self._current_hash(step_name, op_name)
        if current_hash is None:
            return None
        manager = self.manager
        entry = manager.info(step_name, op_name)
        if entry is None:
            return None
        meta = entry.get("meta") or {}
        if meta.get(META_OP_HASH) != current_hash:
            return None
        recorded = meta.get(META_INPUTS)
        if recorded is None and self.inputs.knows_inputs and self._tag_imported():
            entry = manager.info(step_name, op_name)  # now with recorded inputs
            meta = (entry or {}).get("meta") or {}
            if entry is None or meta.get(META_OP_HASH) != current_hash:
                return None
            recorded = meta.get(META_INPUTS)
        digests = self.inputs.current(step_name, decode(recorded))
        # a folder imported without its pipeline (`adopt_docetl_folder`) and read
        # without one has no recorded inputs: like DocETL, trusted on its op hash
        if recorded is not None and decode(recorded) != digests:
            return None
        data = manager.load(step_name, op_name)
        if data is not None:
            self.inputs.note_reused(digests)
        return data

    def _tag_imported(self) -> bool:
        """Record input digests with the checkpoints imported without their pipeline.

        `docetl-checkpoint import-docetl` cannot know a folder's input files.
        The first run that checks such a checkpoint knows them: every imported
        checkpoint whose op hash matches this pipeline's is tagged with the
        current digests of its inputs (trusted to match them, as in-run
        adoption does), so later input edits invalidate it. Values are shared:
        each costs one small file. Returns whether any was tagged.
        """
        tagged = False
        for entry in self.manager.entries():
            meta = entry.get("meta") or {}
            if entry["kind"] != "checkpoint" or META_INPUTS in meta:
                continue
            step, op = entry["step"], entry["op"]
            op_hash = meta.get(META_OP_HASH)
            if op_hash is None or op_hash != self._current_hash(step, op):
                continue
            data = self.manager.load(step, op)
            now = self.manager.info(step, op)
            if data is None or now is None or now.get("file") != entry.get("file"):
                continue  # replaced or removed by another process meanwhile
            origin = meta.get(META_ORIGIN) or "docetl-json"
            self._save(step, op, data, self.inputs.current(step), origin, op_hash)
            tagged = True
        return tagged

    def save(self, step_name: str, op_name: str, data: list[Record]) -> str:
        """Commit `data` as (step, op) with its op hash and input digests; returns the path."""
        extra = self.runlog.save_meta(self, step_name, op_name)
        return self._save(
            step_name, op_name, data, self.inputs.for_save(step_name), "run", extra=extra
        )

    def clear_stale(self, step_name: str, op_name: str) -> None:
        """Drop (step, op) before DocETL recomputes it, as DocETL's store does."""
        self.runlog.clearing(self, step_name, op_name)
        self.inputs.note_scan(step_name, op_name)
        self._running[op_name] = step_name  # whose batches `flush_batch` writes next
        self.manager.delete(step_name, op_name)

    def clear_all(self) -> None:
        """Remove every checkpoint and batch of the folder (`DSLRunner.clear_intermediate()`).

        DocETL's store deletes the folder; this one empties it through the
        store (so other processes see a consistent, empty store), keeping each
        checkpoint's versions in its history until retention drops them, and
        collects the garbage. DocETL's JSON layout in the folder (its config, every
        `<step>/<op>.json`, every batch file) is deleted unread, as DocETL
        would: a damaged config cannot stop the clearing.
        """
        self._open().clear(keep_history=True)
        folders.remove_json_layout(self.base_dir)
        self._adopted = True  # nothing left to adopt

    def flush_batch(self, op_name: str, batch_index: int, data: list[Record]) -> str:
        """Commit a partial result of `op_name`; returns its path.

        Values it shares with the operation's final output are stored once.
        """
        meta: dict[str, str] = {}
        step = self._step_of(op_name)
        if step is not None:
            meta[META_OP_HASH] = self.op_hashes[step][op_name]
            meta[META_INPUTS] = encode(self.inputs.for_save(step))
        return self.manager.save_batch(op_name, batch_index, data, meta=meta)

    def _step_of(self, op_name: str) -> str | None:
        """The step `op_name` runs in: the one DocETL is computing, else its only one."""
        running = self._running.get(op_name)
        if running is not None and self._current_hash(running, op_name) is not None:
            return running
        steps = [s for s, ops in self.op_hashes.items() if op_name in ops]
        return steps[0] if len(steps) == 1 else None

    def has_hash(self, step_name: str, op_name: str) -> bool:
        return op_name in self.op_hashes.get(step_name, {})

    def info(self, step_name: str, op_name: str) -> dict[str, Any] | None:
        """The manifest entry of (step, op) as DocETL names them (with its `meta`), or None."""
        return self.manager.info(step_name, op_name)

    # -- batches ------------------------------------------------------------------

    def list_batches(self, op_name: str) -> list[int]:
        """The batch indexes of `op_name`'s current run, ascending (see `batches`)."""
        return batches.current_indexes(self, op_name)

    def load_batch(self, op_name: str, batch_index: int) -> list[Record] | None:
        """Batch `batch_index` of the current run of `op_name`, or None."""
        if batch_index not in self.list_batches(op_name):
            return None
        return self.manager.load_batch(op_name, batch_index)

    def load_batches(self, op_name: str) -> list[list[Record]]:
        """The batches of `op_name`'s current run, in batch order (e.g. after a crash).

        Never batches an earlier run left behind: see `docetl_checkpoint.docetl.batches`.
        `manager.load_batches(op)` returns every stored batch.
        """
        return [self.manager.load_batch(op_name, i) or [] for i in self.list_batches(op_name)]

    # -- folders --------------------------------------------------------------

    def adopt_docetl_json(self) -> list[tuple[str, str]]:
        """Import a DocETL JSON layout found in the folder; returns what was imported.

        Each `<step>/<op>.json` listed in `.docetl_intermediate_config.json` is
        saved with its recorded op hash and tagged with the current digests of
        its inputs; each `<op>_batches/batch_<i>.json` becomes a batch. A JSON
        file is removed only after its import is committed, and the config
        last, so an interrupted adoption resumes where it stopped.
        """
        manager = self._open()
        return folders.adopt_json_layout(
            manager,
            self.base_dir,
            lambda step, op, data, op_hash: self._save(
                step, op, data, self.inputs.current(step), "docetl-json", op_hash, manager
            ),
            self._adopted_batch_meta,
        )

    def _adopted_batch_meta(self, op_name: str) -> dict[str, str]:
        """An adopted batch is trusted to be of the op's current run, as adopted checkpoints are."""
        step = self._step_of(op_name)
        if step is None:
            return {}
        digests = self.inputs.current(step)
        return {META_OP_HASH: self.op_hashes[step][op_name], META_INPUTS: encode(digests)}

    def export_docetl(self, dest_dir: str | os.PathLike[str] | None = None) -> list[str]:
        """Write the checkpoints in DocETL's JSON layout (see `export_docetl`)."""
        return folders.export_json_layout(self.manager, dest_dir or self.base_dir)

    # -- internals ----------------------------------------------------------

    def _current_hash(self, step_name: str, op_name: str) -> str | None:
        # `.get` on the runner's defaultdict: never insert a step as a side effect.
        ops = self.op_hashes.get(step_name)
        return None if ops is None else ops.get(op_name)

    def _save(
        self,
        step_name: str,
        op_name: str,
        data: list[Record],
        digests: Digests,
        origin: str,
        op_hash: str | None = None,
        manager: CheckpointManager | None = None,
        extra: dict[str, str] | None = None,
    ) -> str:
        if op_hash is None:
            op_hash = self.op_hashes[step_name][op_name]
        meta = {META_OP_HASH: op_hash, META_INPUTS: encode(digests), META_ORIGIN: origin}
        meta.update(extra or {})
        return (manager or self.manager).save(step_name, op_name, data, meta=meta)
