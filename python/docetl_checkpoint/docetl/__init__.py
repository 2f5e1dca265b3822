"""DocETL integration: our store under every `DSLRunner`, with one line.

    import docetl_checkpoint.docetl
    docetl_checkpoint.docetl.install()

From then on every `DSLRunner` whose checkpoint store is created afterwards
keeps its intermediates in a deduplicating `CheckpointStore` instead of
DocETL's JSON files, and a checkpoint is reused only when its op hash matches
and the input files it descends from are unchanged. `uninstall()` puts
DocETL's store back; `with docetl_checkpoint.docetl.install(): ...` scopes it.

DocETL is imported only by `install()`/`uninstall()`: importing this module,
and using `CheckpointStore` directly, never needs DocETL.

How it hooks in (DocETL 0.3.0): `DSLRunner.checkpoints` imports
`docetl.checkpoint.CheckpointStore` lazily each time it builds a store, so
replacing that attribute is enough for the runner to use ours. `install()`
also wraps the `checkpoints` property so the store learns its runner (held
weakly): that is how it knows the pipeline's input datasets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from docetl_checkpoint.docetl.folders import CONFIG_NAME, has_json_layout
from docetl_checkpoint.docetl.store import CheckpointStore

__all__ = [
    "CONFIG_NAME",
    "CheckpointStore",
    "adopt_docetl_folder",
    "export_docetl",
    "has_json_layout",
    "install",
    "is_installed",
    "uninstall",
]

_lock = threading.Lock()
# What install() replaced: DocETL's store class and the runner's property.
_saved: dict[str, Any] = {}


class Installation:
    """Returned by `install()`; as a context manager, restores the previous state on exit."""

    def __init__(self, was_installed: bool) -> None:
        self._was_installed = was_installed

    def __enter__(self) -> Installation:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._was_installed:
            uninstall()


def is_installed() -> bool:
    return bool(_saved)


def _patches() -> list[tuple[Any, str, Callable[[Any], Any]]]:
    """(owner, attribute, wrap) of what `install()` patches in DocETL besides its store.

    The optimizers' readers of the JSON layout (`readers`) and dataset loading
    (`scans`: input digests of the bytes actually read).
    """
    import docetl.dataset
    import docetl.optimizers.fast_decomposer as fast_decomposer
    import docetl.optimizers.fast_should_optimize as fast_should_optimize

    from docetl_checkpoint.docetl import readers, scans

    return [
        (
            fast_should_optimize.FastShouldOptimizeAnalyzer,
            "load_operation_data",
            readers.wrap_load_operation_data,
        ),
        (fast_decomposer.FastDecomposer, "load_sample_data", readers.wrap_load_sample_data),
        (docetl.dataset.DataLoader, "load", scans.wrap_load),
        (docetl.dataset, "get_parser", scans.wrap_get_parser),
    ]


def install() -> Installation:
    """Make every `DSLRunner` that builds its store from now on use `CheckpointStore`.

    Also teaches DocETL's optimizers to read checkpoints from the store and
    wraps its dataset loading to digest what it reads. Idempotent. Usable as
    a context manager, which undoes the install on exit unless it was already
    installed on entry. Needs DocETL (imported here); warns once when its
    version is not one the tests cover.
    """
    import docetl.checkpoint
    import docetl.runner

    from docetl_checkpoint.docetl.versions import check_docetl_version

    with _lock:
        if _saved:
            return Installation(True)
        check_docetl_version()
        runner_cls = docetl.runner.DSLRunner
        original = runner_cls.__dict__["checkpoints"]
        if not isinstance(original, property) or original.fget is None:
            raise RuntimeError("DSLRunner.checkpoints is not a property: unsupported DocETL")
        fget = original.fget

        def checkpoints(self: Any) -> Any:
            store = fget(self)
            if isinstance(store, CheckpointStore) and not store.inputs.bound:
                store.bind_runner(self)
            return store

        patched = []
        for owner, name, wrap in _patches():
            previous = owner.__dict__[name]
            patched.append((owner, name, previous))
            setattr(owner, name, wrap(previous))
        _saved["store"] = docetl.checkpoint.CheckpointStore
        _saved["property"] = original
        _saved["patched"] = patched
        docetl.checkpoint.CheckpointStore = CheckpointStore
        runner_cls.checkpoints = property(checkpoints, doc=original.__doc__)
        return Installation(False)


def uninstall() -> None:
    """Give DocETL its own store (and readers, and loading) back.

    Affects runners that build their store from now on: a runner that
    already built one of ours keeps it until its `intermediate_dir` changes.
    No-op when not installed.
    """
    import docetl.checkpoint
    import docetl.runner

    with _lock:
        if not _saved:
            return
        for owner, name, previous in reversed(_saved.pop("patched")):
            setattr(owner, name, previous)
        docetl.checkpoint.CheckpointStore = _saved.pop("store")
        docetl.runner.DSLRunner.checkpoints = _saved.pop("property")


def export_docetl(
    intermediate_dir: str | os.PathLike[str], dest_dir: str | os.PathLike[str] | None = None
) -> list[str]:
    """Write the store at `intermediate_dir` in DocETL's JSON layout (in place by default).

    For switching back to DocETL's own store: every checkpoint becomes
    `<dest>/<step>/<op>.json` and `.docetl_intermediate_config.json` records
    its op hash, so DocETL reuses it without recomputing. Batches become
    `<dest>/<op>_batches/batch_<i>.json`. Does not need DocETL.
    """
    from docetl_checkpoint.docetl.folders import export_json_layout
    from docetl_checkpoint.manager import CheckpointManager

    return export_json_layout(
        CheckpointManager(intermediate_dir), dest_dir if dest_dir is not None else intermediate_dir
    )


def adopt_docetl_folder(intermediate_dir: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """Import a folder written by DocETL's JSON store, in place, without its pipeline.

    What `docetl-checkpoint import-docetl DIR` runs. Each checkpoint keeps its
    op hash; with no pipeline at hand its input files are unknown, so (as in
    DocETL) it is reused on its op hash alone. A pipeline run with `install()`
    adopts such a folder by itself and records the input digests too.
    Returns the (step, op) pairs imported, batches as (`<op>_batches`, `batch_<i>`).
    """
    from docetl_checkpoint.docetl.folders import META_OP_HASH, META_ORIGIN, adopt_json_layout
    from docetl_checkpoint.manager import CheckpointManager

    manager = CheckpointManager(intermediate_dir)
    return adopt_json_layout(
        manager,
        intermediate_dir,
        lambda step, op, data, op_hash: manager.save(
            step, op, data, meta={META_OP_HASH: op_hash, META_ORIGIN: "docetl-json"}
        ),
    )
