"""Content digests of the input datasets a DocETL pipeline step descends from.

DocETL's operation hash covers the pipeline configuration, including each
dataset's *config* (its path), but not what the file holds: edit `data.json` in
place and DocETL reuses checkpoints computed from the old content. The store
therefore records, with every checkpoint, the digests of the input dataset
files its step descends from, and reuses a checkpoint only when they still
match.

Lineage is followed through the pipeline's steps the way DocETL's
`compute_operation_hashes` follows it: a step reads its `input` (a dataset, or
the output of an earlier step, whose lineage it inherits) and, for an
equijoin, the `left` and `right` inputs. Only `file` datasets are digested
(file or folder); `memory` datasets are already covered by DocETL's op hash,
which serializes their data.

A file's digest is blake2b-256 over its bytes; a folder dataset's digest covers
the relative path and content of every non-hidden file under it (the files
DocETL's `DataLoader` reads). Digests are cached per file by its stat signature
(size, mtime, ctime, inode), so an unchanged multi-GB input is not re-read on
every operation; a file modified in the last two seconds is always re-read,
since timestamps are coarser than the writes that can change it ("racy git").
A missing input file has the digest `missing`, which never matches a digest
recorded from real content.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

Digests = dict[str, str]

_RACY_SECONDS = 2.0
_CHUNK = 1 << 20

_cache_lock = threading.Lock()
# absolute path -> (stat signature, hex digest)
_file_cache: dict[str, tuple[tuple[int, ...], str]] = {}


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def file_digest(path: str) -> str:
    """blake2b-256 hex digest of a file's bytes, cached by stat signature."""
    key = os.path.abspath(path)
    before = os.stat(key)
    sig = _signature(before)
    with _cache_lock:
        hit = _file_cache.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    h = hashlib.blake2b(digest_size=32)
    with open(key, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    after = os.stat(key)
    settled = time.time() - max(after.st_mtime, after.st_ctime) > _RACY_SECONDS
    if _signature(after) == sig and settled:
        with _cache_lock:
            _file_cache[key] = (sig, digest)
    return digest


def _folder_files(root: str) -> list[str]:
    """The files DocETL reads for a folder dataset: non-hidden, recursive, sorted."""
    files: list[str] = []
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        files.extend(os.path.join(dirpath, n) for n in names if not n.startswith("."))
    files.sort()
    return files


def path_digest(path: str) -> str:
    """Digest of a `file` dataset's path: a file, a folder, or `missing`."""
    if os.path.isdir(path):
        h = hashlib.blake2b(digest_size=32)
        for name in _folder_files(path):
            rel = os.path.relpath(name, path).encode("utf-8", "surrogateescape")
            h.update(rel + b"\0" + file_digest(name).encode() + b"\n")
        return "dir:" + h.hexdigest()
    try:
        return "blake2b:" + file_digest(path)
    except FileNotFoundError:
        return "missing"


def encode(digests: Digests) -> str:
    """The text stored in a checkpoint's manifest metadata."""
    return json.dumps(digests, sort_keys=True, separators=(",", ":"))


def decode(text: str | None) -> Digests | None:
    """Parse what `encode` wrote; None for absent or unreadable metadata."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return None
    return value


class InputTracker:
    """Which input files each step descends from, and what their content was.

    Bound to a `DSLRunner` (held weakly), it reads the pipeline's steps and
    datasets each time, so `runner.reload(config)` is followed. Without a
    runner, `datasets` (name -> path) applies to every step; with neither,
    nothing is tracked and every digest set is empty.

    Timing matters: a checkpoint must be tagged with the content its data was
    computed from, not with what the file holds when the operation finishes
    (an edit during a long run would otherwise make stale results look
    fresh). So the digest of a dataset is taken when its scan starts, right
    before DocETL reads it (`note_scan`), or when a checkpoint descending from
    it is validated and reused (`note_reused`); `for_save` returns those.
    """

    def __init__(self, runner: Any = None, datasets: Mapping[str, str] | None = None) -> None:
        self._runner: weakref.ReferenceType[Any] | None = None
        self._explicit = dict(datasets) if datasets is not None else None
        self._seen: Digests = {}
        if runner is not None:
            self.bind(runner)

    def bind(self, runner: Any) -> None:
        self._runner = weakref.ref(runner)

    @property
    def bound(self) -> bool:
        return self._runner is not None and self._runner() is not None

    # -- what the pipeline reads -------------------------------------------

    def _pipeline(self) -> Any:
        runner = self._runner() if self._runner is not None else None
        return None if runner is None else getattr(runner, "pipeline", None)

    def file_datasets(self) -> dict[str, str]:
        """name -> path of every `file` dataset of the pipeline."""
        if self._explicit is not None:
            return dict(self._explicit)
        pipeline = self._pipeline()
        if pipeline is None:
            return {}
        found: dict[str, str] = {}
        for name, ds in (getattr(pipeline, "datasets", None) or {}).items():
            kind = ds.get("type") if isinstance(ds, dict) else getattr(ds, "type", None)
            path = ds.get("path") if isinstance(ds, dict) else getattr(ds, "path", None)
            if kind == "file" and isinstance(path, str):
                found[name] = path
        return found

    def _lineage(self) -> tuple[dict[str, set[str]], dict[str, set[str]]] | None:
        """(step -> datasets it descends from, step -> datasets its scans read)."""
        pipeline = self._pipeline()
        if pipeline is None:
            return None
        datasets = self.file_datasets()
        lineage: dict[str, set[str]] = {}
        direct: dict[str, set[str]] = {}
        for step in getattr(pipeline, "steps", None) or []:
            sources: list[Any] = [step.input] if getattr(step, "input", None) else []
            for entry in step.operations or []:
                if isinstance(entry, dict):  # equijoin: {name: {left: ..., right: ...}}
                    for join in entry.values():
                        if isinstance(join, dict):
                            sources += [join.get("left"), join.get("right")]
            names: set[str] = set()
            reads: set[str] = set()
            for source in sources:
                if not isinstance(source, str):
                    continue
                if source in lineage:  # an earlier step: DocETL resolves steps first
                    names |= lineage[source]
                elif source in datasets:
                    names.add(source)
                    reads.add(source)
            lineage[step.name] = names
            direct[step.name] = reads
        return lineage, direct

    def datasets_of(self, step: str) -> list[str]:
        """The file datasets `step` descends from (all of them for an unknown step)."""
        graph = self._lineage()
        if graph is None or step not in graph[0]:
            return sorted(self.file_datasets())
        return sorted(graph[0][step])

    # -- digests -------------------------------------------------------------

    def current(self, step: str) -> Digests:
        """Digests of the files `step` descends from, as they are now."""
        paths = self.file_datasets()
        return {name: path_digest(paths[name]) for name in self.datasets_of(step)}

    def for_save(self, step: str) -> Digests:
        """Digests of the content the checkpoint of `step` was computed from."""
        paths = self.file_datasets()
        out: Digests = {}
        for name in self.datasets_of(step):
            if name not in self._seen:
                self._seen[name] = path_digest(paths[name])
            out[name] = self._seen[name]
        return out

    def note_scan(self, step: str, op: str) -> None:
        """DocETL is about to run `op` of `step`; if it scans a dataset, note its content."""
        if not op.startswith("scan_"):
            return
        name = op[len("scan_") :]
        graph = self._lineage()
        paths = self.file_datasets()
        if name not in paths:
            return
        if graph is not None and name not in graph[1].get(step, set()):
            return  # a scan of an earlier step's output that shares a dataset's name
        self._seen[name] = path_digest(paths[name])

    def note_reused(self, digests: Digests) -> None:
        """A checkpoint validated against `digests` is reused: its descendants derive from them."""
        self._seen.update(digests)
