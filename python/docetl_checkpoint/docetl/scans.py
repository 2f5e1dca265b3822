"""Digests of the bytes DocETL's dataset loading actually reads (patched in by `install()`).

A checkpoint must be tagged with the content it was computed from. Taking a
digest before DocETL reads a file is not enough: an edit between the digest
and the read (or during a long read) would tag results of the edited content
with the old digest. So, while an installed store serves the runner:

- `DataLoader.load` is wrapped: the dataset's file or folder (or in-memory
  DataFrame) is digested right before and right after DocETL reads it;
- `docetl.dataset.get_parser` is wrapped while a load runs, so each call of a
  parsing function DocETL ships digests the local file or folder named by
  the item's `input_key`, right before and right after the call.

A digest is recorded only when before and after agree; otherwise it is
marked `changed-while-read:`, which matches nothing, so what was computed
from that read is never reused. Not tracked: what a user-defined parsing
function (top-level `parsing_tools`) opens itself, and anything fetched over
the network (`llama_index_wikipedia_reader`, `azure_di_read` with `use_url`).
"""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable
from typing import Any

from docetl_checkpoint.docetl.inputs import (
    UNSTABLE,
    Digests,
    parsed_key,
    path_digest,
    settled_digest,
)

# Shipped parsing functions whose input is not a local file.
_NETWORK_PARSERS = frozenset({"llama_index_wikipedia_reader"})

_local = threading.local()


class _Reads:
    """The files parsing functions read during one dataset load (any thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.files: Digests = {}

    def note(self, path: str, before: str, after: str) -> None:
        digest = settled_digest(before, after)
        with self._lock:
            earlier = self.files.get(path)
            if earlier is not None and earlier != digest and not earlier.startswith(UNSTABLE):
                digest = UNSTABLE + after  # two reads of one file saw different bytes
            if earlier is None or not earlier.startswith(UNSTABLE):
                self.files[path] = digest


def _our_store(loader: Any) -> Any:
    """The docetl-checkpoint store the loader's runner already built, if any."""
    from docetl_checkpoint.docetl.store import CheckpointStore

    runner = getattr(loader, "runner", None)
    store = getattr(runner, "_checkpoints", None)  # never build a store from here
    return store if isinstance(store, CheckpointStore) else None


def wrap_load(original: Callable[..., Any]) -> Callable[..., Any]:
    """`DataLoader.load` that reports the digests of what it read to the runner's store."""

    @functools.wraps(original)
    def load(self: Any, *args: Any, **kwargs: Any) -> Any:
        store = _our_store(self)
        inputs = store.inputs if store is not None else None
        name = inputs.dataset_of_loader(self) if inputs is not None else None
        if inputs is None or name is None or name not in inputs.tracked():
            return original(self, *args, **kwargs)
        reads = _Reads()
        before = inputs.source_digest(name)
        outer = getattr(_local, "reads", None)
        _local.reads = reads
        try:
            result = original(self, *args, **kwargs)
        finally:
            _local.reads = outer
        digests = {name: settled_digest(before, inputs.source_digest(name))}
        digests.update({parsed_key(name, p): d for p, d in sorted(reads.files.items())})
        inputs.note_loaded(name, digests)
        return result

    return load


def _input_key_default(func: Callable[..., Any]) -> Any:
    try:
        # not following __wrapped__: DocETL's decorator adds `input_key` itself
        parameter = inspect.signature(func, follow_wrapped=False).parameters.get("input_key")
    except (TypeError, ValueError):
        return None
    return None if parameter is None else parameter.default


def _local_path(item: Any, key: Any, kwargs: dict[str, Any]) -> str | None:
    if kwargs.get("use_url") or not isinstance(item, dict):
        return None
    value = item.get(key)
    if not isinstance(value, str) or not value or not os.path.lexists(value):
        return None
    return os.path.abspath(value)


def _recording(func: Callable[..., Any], reads: _Reads) -> Callable[..., Any]:
    default_key = _input_key_default(func)

    @functools.wraps(func)
    def parse(item: Any, *args: Any, **kwargs: Any) -> Any:
        path = _local_path(item, kwargs.get("input_key", default_key), kwargs)
        if path is None:
            return func(item, *args, **kwargs)
        before = path_digest(path)
        result = func(item, *args, **kwargs)
        reads.note(path, before, path_digest(path))
        return result

    return parse


def wrap_get_parser(original: Callable[[str], Any]) -> Callable[[str], Any]:
    """`docetl.dataset.get_parser` that, inside a wrapped load, records each file parsed.

    DocETL calls it in the loading thread, then runs the function on a
    thread pool; the returned wrapper carries the load's record with it.
    """

    @functools.wraps(original)
    def get_parser(name: str) -> Any:
        func = original(name)
        reads = getattr(_local, "reads", None)
        if reads is None or name in _NETWORK_PARSERS:
            return func
        return _recording(func, reads)

    return get_parser
