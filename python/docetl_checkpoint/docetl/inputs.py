"""Content digests of what a DocETL pipeline step descends from.

DocETL's operation hash covers the pipeline configuration, including each
dataset's *config* (its path), but not what the file holds: edit `data.json` in
place and DocETL reuses checkpoints computed from the old content. The store
therefore records, with every checkpoint, the digests of everything DocETL
read to build the datasets its step descends from, and reuses a checkpoint
only when they still match: each `file` dataset's file or folder, the files
its shipped parsing tools opened (noted by `docetl_checkpoint.docetl.scans`),
the code of its user-defined parsing tools, and in-memory DataFrames by their
data (DocETL hashes those through `str(df)`, which elides).

Lineage is followed through the pipeline's steps the way DocETL's
`compute_operation_hashes` follows it: a step reads its `input` (a dataset, or
the output of an earlier step, whose lineage it inherits) and, for an
equijoin, the `left` and `right` inputs.

A file's digest is blake2b-256 over its bytes; a folder dataset's digest covers
the relative path and content of every non-hidden file under it (the files
DocETL's `DataLoader` reads; entries it skips, such as broken symlinks and
sockets, count as markers). Digests are cached per file by its stat signature
(size, mtime, ctime, inode), so an unchanged multi-GB input is not re-read on
every operation; a file modified in the last two seconds is always re-read,
since timestamps are coarser than the writes that can change it ("racy git").
A missing input file has the digest `missing`, which never matches a digest
recorded from real content.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
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


def _entry_digest(path: str) -> str:
    """Digest of one entry of a folder dataset, never raising for what DocETL skips.

    DocETL reads each entry as text and skips (with a warning) what it cannot
    open: a broken symlink, a socket, a file it may not read. Such an entry
    gets a marker instead of a digest, so it costs no error here, and its
    becoming readable later still changes the folder's digest. Nothing but a
    regular file is opened (a FIFO would block).
    """
    try:
        st = os.stat(path)
    except OSError:
        return "unreadable"
    if not stat.S_ISREG(st.st_mode):
        return "special"
    try:
        return file_digest(path)
    except OSError:
        return "unreadable"


def path_digest(path: str) -> str:
    """Digest of a `file` dataset's path: a file, a folder, or `missing`."""
    if os.path.isdir(path):
        h = hashlib.blake2b(digest_size=32)
        for name in _folder_files(path):
            rel = os.path.relpath(name, path).encode("utf-8", "surrogateescape")
            h.update(rel + b"\0" + _entry_digest(name).encode() + b"\n")
        return "dir:" + h.hexdigest()
    digest = _entry_digest(path)
    if digest == "unreadable" and not os.path.lexists(path):
        return "missing"
    return digest if digest in ("unreadable", "special") else "blake2b:" + digest


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


# Keys of the digests beside a dataset's own (`<dataset>`): the files its parsing
# tools opened, and the code of its user-defined parsing tools.
_PARSED = "|file:"
_TOOL = "|tool:"
# Prefix of a digest taken from a file that changed while it was being read:
# it never equals a digest of content at rest, so what was computed from it is
# never reused.
UNSTABLE = "changed-while-read:"


def parsed_key(dataset: str, path: str) -> str:
    """The digest key of a file a parsing tool of `dataset` opened."""
    return dataset + _PARSED + path


def _belongs(key: str, dataset: str) -> bool:
    return key == dataset or key.startswith(dataset + _PARSED) or key.startswith(dataset + _TOOL)


def settled_digest(before: str, after: str) -> str:
    """What a read between two digests of the same path saw: `after`, unless it changed."""
    return after if before == after else UNSTABLE + after


def _plain(value: Any) -> Any:
    """JSON stand-in for what a DataFrame cell may hold besides JSON types."""
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, whole
    if callable(tolist):
        return tolist()
    isoformat = getattr(value, "isoformat", None)  # Timestamp, datetime, date
    if callable(isoformat):
        return isoformat()
    return repr(value)


def frame_digest(frame: Any) -> str:
    """Digest of an in-memory `pandas.DataFrame` dataset: every cell, no elision.

    DocETL's op hash serializes a DataFrame through `str(df)`, which shows
    only some rows and the first ~50 characters of a cell. This covers what
    DocETL loads from it (`to_dict(orient="records")`) plus column names and
    dtypes.
    """
    h = hashlib.blake2b(digest_size=32)
    header = [[str(c) for c in frame.columns], [str(t) for t in frame.dtypes]]
    h.update(json.dumps(header).encode())
    records = frame.to_dict(orient="records")
    text = json.dumps(records, default=_plain, ensure_ascii=False)
    h.update(text.encode("utf-8", "surrogatepass"))
    return "frame:" + h.hexdigest()


def _code_digest(code: str) -> str:
    data = code.encode("utf-8", "surrogatepass")
    return "blake2b:" + hashlib.blake2b(data, digest_size=32).hexdigest()


@functools.lru_cache(maxsize=1)
def _shipped_parsers() -> frozenset[str]:
    """Names DocETL resolves to its own parsing functions (entry points win over user tools)."""
    from importlib.metadata import entry_points

    return frozenset(ep.name for ep in entry_points(group="docetl.parser"))


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


class InputTracker:
    """What each step descends from, and what its content was.

    Bound to a `DSLRunner` (held weakly), it reads the pipeline's steps and
    datasets each time, so `runner.reload(config)` is followed. Without a
    runner, `datasets` (name -> path) applies to every step; with neither,
    nothing is tracked and every digest set is empty.

    A step's digests, keyed by dataset name: each `file` dataset's file or
    folder (`path_digest`), each in-memory DataFrame dataset's data
    (`frame_digest`), each file a shipped parsing tool of the dataset opened
    (`<dataset>|file:<abs path>`) and the code of each user-defined parsing
    tool it uses (`<dataset>|tool:<name>`).

    Timing matters: a checkpoint must be tagged with the content its data was
    computed from, not with what the file holds when the operation finishes.
    With `install()`, DocETL's dataset loading is wrapped (`docetl.scans`):
    each file is digested right before and right after it is read, and the
    digest is recorded only if both agree (`note_loaded`); a checkpoint
    validated and reused passes its digests on (`note_reused`). `for_save`
    returns those.
    """

    def __init__(self, runner: Any = None, datasets: Mapping[str, str] | None = None) -> None:
        self._runner: weakref.ReferenceType[Any] | None = None
        self._explicit = dict(datasets) if datasets is not None else None
        # dataset name -> the digests noted when it was last loaded or reused
        self._seen: dict[str, Digests] = {}
        if runner is not None:
            self.bind(runner)

    def bind(self, runner: Any) -> None:
        self._runner = weakref.ref(runner)

    @property
    def bound(self) -> bool:
        return self._runner is not None and self._runner() is not None

    @property
    def knows_inputs(self) -> bool:
        """Whether there is a pipeline (or explicit datasets) to take digests from."""
        return self._explicit is not None or self.bound

    # -- what the pipeline reads -------------------------------------------

    def _live_runner(self) -> Any:
        return self._runner() if self._runner is not None else None

    def _pipeline(self) -> Any:
        runner = self._live_runner()
        return None if runner is None else getattr(runner, "pipeline", None)

    def _datasets(self) -> dict[str, Any]:
        pipeline = self._pipeline()
        found = getattr(pipeline, "datasets", None) if pipeline is not None else None
        return dict(found or {})

    def file_datasets(self) -> dict[str, str]:
        """name -> path of every `file` dataset of the pipeline."""
        if self._explicit is not None:
            return dict(self._explicit)
        found: dict[str, str] = {}
        for name, ds in self._datasets().items():
            path = _field(ds, "path")
            if _field(ds, "type") == "file" and isinstance(path, str):
                found[name] = path
        return found

    def tracked(self) -> list[str]:
        """Every dataset with a digest: `file` ones and in-memory DataFrames."""
        names = set(self.file_datasets())
        if self._explicit is None:
            for name, ds in self._datasets().items():
                if _field(ds, "type") == "memory" and _is_frame(_field(ds, "path")):
                    names.add(name)
        return sorted(names)

    def _lineage(self) -> tuple[dict[str, set[str]], dict[str, set[str]]] | None:
        """(step -> datasets it descends from, step -> datasets its scans read)."""
        pipeline = self._pipeline()
        if pipeline is None:
            return None
        datasets = set(self.tracked())
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
        """The tracked datasets `step` descends from (all of them for an unknown step)."""
        graph = self._lineage()
        if graph is None or step not in graph[0]:
            return self.tracked()
        return sorted(graph[0][step])

    def dataset_of_loader(self, loader: Any) -> str | None:
        """The pipeline's name for a DocETL `DataLoader` the runner holds, if any."""
        runner = self._live_runner()
        for name, held in (getattr(runner, "datasets", None) or {}).items():
            if held is loader:
                return str(name)
        return None

    # -- digests -------------------------------------------------------------

    def source_digest(self, name: str) -> str:
        """The digest of dataset `name` itself, as it is now."""
        path = self.file_datasets().get(name)
        if path is not None:
            return path_digest(path)
        ds = self._datasets().get(name)
        return frame_digest(_field(ds, "path")) if ds is not None else "missing"

    def tool_digests(self, name: str) -> Digests:
        """Digests of the code of the user-defined parsing tools dataset `name` uses.

        DocETL's op hash holds the tool's name, not its `function_code`.
        """
        runner = self._live_runner()
        ds = self._datasets().get(name)
        tools = getattr(runner, "parsing_tool_map", None) or {}
        out: Digests = {}
        for entry in _field(ds, "parsing") or []:
            function = entry.get("function") if isinstance(entry, dict) else None
            if not isinstance(function, str) or function not in tools:
                continue
            if function in _shipped_parsers():
                continue  # DocETL runs its own function of that name
            code = _field(tools[function], "function_code")
            if isinstance(code, str):
                out[name + _TOOL + function] = _code_digest(code)
        return out

    def current(self, step: str, recorded: Digests | None = None) -> Digests:
        """Digests of what `step` descends from, as it is now.

        The files parsing tools opened are known from the run that recorded
        `recorded`; each of them listed there is digested again.
        """
        out: Digests = {}
        for name in self.datasets_of(step):
            out[name] = self.source_digest(name)
            out.update(self.tool_digests(name))
            for key in recorded or {}:
                if key.startswith(name + _PARSED):
                    out[key] = path_digest(key[len(name + _PARSED) :])
        return out

    def for_save(self, step: str) -> Digests:
        """Digests of the content the checkpoint of `step` was computed from."""
        out: Digests = {}
        for name in self.datasets_of(step):
            if name not in self._seen:
                self._seen[name] = {name: self.source_digest(name)}
            out.update(self._seen[name])
            out.update(self.tool_digests(name))
        return out

    def note_scan(self, step: str, op: str) -> None:
        """DocETL is about to run `op` of `step`; if it scans a dataset, note its content.

        A fallback for runs whose loading is not wrapped (no `install()`):
        `note_loaded`, called after the read, replaces what this notes.
        """
        if not op.startswith("scan_"):
            return
        name = op[len("scan_") :]
        graph = self._lineage()
        if name not in self.tracked():
            return
        if graph is not None and name not in graph[1].get(step, set()):
            return  # a scan of an earlier step's output that shares a dataset's name
        self._seen[name] = {name: self.source_digest(name)}

    def note_loaded(self, name: str, digests: Digests) -> None:
        """Dataset `name` was just read; `digests` describe the bytes read."""
        self._seen[name] = dict(digests)

    def note_reused(self, digests: Digests) -> None:
        """A checkpoint validated against `digests` is reused: its descendants derive from them."""
        for name in self.tracked():
            mine = {k: v for k, v in digests.items() if _belongs(k, name)}
            if name in mine:
                self._seen[name] = mine


def _is_frame(value: Any) -> bool:
    """A pandas DataFrame, recognized without importing pandas."""
    return any(
        cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")
        for cls in type(value).__mro__
    )
