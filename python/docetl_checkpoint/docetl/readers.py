"""DocETL's own readers of `<dir>/<step>/<op>.json`, taught to read the store (by `install()`).

DocETL 0.3.x has two: `FastShouldOptimizeAnalyzer.load_operation_data`
(docetl/optimizers/fast_should_optimize.py) and, for every operation but the
first, `FastDecomposer.load_sample_data` (docetl/optimizers/fast_decomposer.py).
Both open the JSON file directly and raise `FileNotFoundError` in a folder
our store keeps. Patched, each returns the store's checkpoint, or DocETL's
JSON file where the folder has one and it is newer than the store's (a run
with DocETL's own store after `uninstall()`); with neither, DocETL's own code
runs and raises as before.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from docetl_checkpoint.docetl.folders import local_folder
from docetl_checkpoint.manager import CheckpointManager

Records = list[dict[str, Any]]
_STORE_FOLDER = ".docetl_checkpoint"


def store_records(intermediate_dir: Any, step: str, op: str) -> Records | None:
    """The store's checkpoint (step, op), unless a DocETL JSON file for it is newer.

    None means: let DocETL read its JSON file (or report it missing). Opening
    a folder that holds no store creates nothing.
    """
    if not intermediate_dir:
        return None
    base = os.fspath(intermediate_dir)
    folder = local_folder(base)
    if folder is not None and not os.path.isdir(os.path.join(folder, _STORE_FOLDER)):
        return None
    manager = CheckpointManager(base)
    entry = manager.info(step, op)
    if entry is None:
        return None
    if folder is not None:
        try:
            json_mtime = os.stat(os.path.join(folder, step, f"{op}.json")).st_mtime
        except OSError:
            json_mtime = None
        if json_mtime is not None and json_mtime > float(entry["created_at"]):
            return None
    return manager.load(step, op)


def wrap_load_operation_data(original: Callable[..., Records]) -> Callable[..., Records]:
    """`FastShouldOptimizeAnalyzer.load_operation_data` over the store."""

    @functools.wraps(original)
    def load_operation_data(self: Any, step_name: str, op_name: str) -> Records:
        records = store_records(self.intermediate_dir, step_name, op_name)
        return records if records is not None else original(self, step_name, op_name)

    return load_operation_data


def wrap_load_sample_data(original: Callable[..., Records]) -> Callable[..., Records]:
    """`FastDecomposer.load_sample_data` over the store.

    DocETL reads the previous operation's output (in config order) from the
    intermediate folder for every operation but the first, which reads the
    dataset file (left to DocETL).
    """

    @functools.wraps(original)
    def load_sample_data(self: Any, step_name: str, op_name: str) -> Records:
        names = [op.get("name") for op in self.operators]
        if op_name in names and names.index(op_name) > 0:
            previous = names[names.index(op_name) - 1]
            records = store_records(self.intermediate_dir, step_name, previous)
            if records is not None:
                return records[: self.sample_size]
        return original(self, step_name, op_name)

    return load_sample_data
