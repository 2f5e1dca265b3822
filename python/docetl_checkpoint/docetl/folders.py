"""DocETL's JSON intermediate layout: adopting it into the store, exporting to it.

DocETL 0.3.0's store writes `<dir>/<step>/<op>.json` (`json.dump(records)`),
`<dir>/<op>_batches/batch_<i>.json` for partial results, and
`<dir>/.docetl_intermediate_config.json` mapping step -> op -> op hash.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from typing import Any

from docetl_checkpoint.manager import CheckpointManager

CONFIG_NAME = ".docetl_intermediate_config.json"

# Keys of the string metadata committed with each checkpoint in the manifest.
META_OP_HASH = "docetl_op_hash"
META_INPUTS = "docetl_inputs"
META_ORIGIN = "docetl_origin"
_BATCH_FILE = re.compile(r"batch_(\d+)\.json")

SaveFn = Callable[[str, str, list[dict[str, Any]], str], object]


_GONE: Any = object()


def _read_json(path: str) -> Any:
    """The JSON in `path`; `_GONE` if it vanished (another process adopted it)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return _GONE
    except ValueError as e:
        raise ValueError(f"cannot adopt DocETL checkpoint file {path}: {e}") from e


def _unlink(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _write_json(path: str, value: Any, indent: int | None = None) -> None:
    """Write `value` as DocETL does (`json.dump`), through a temp file and a rename."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=indent)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass


def local_folder(base_dir: str | os.PathLike[str]) -> str | None:
    """The local folder of a path or `file://` URL; None for object storage (`s3://...`).

    DocETL's JSON layout only exists in local folders (its store uses `os.path`).
    """
    base = os.fspath(base_dir)
    if base.startswith("file://"):
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(base)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"not a local file URL: {base}")
        return unquote(parts.path)
    return None if "://" in base else base


def has_json_layout(base_dir: str | os.PathLike[str]) -> bool:
    """Whether the folder holds anything DocETL's JSON store wrote."""
    base = local_folder(base_dir)
    if base is None:
        return False
    if os.path.exists(os.path.join(base, CONFIG_NAME)):
        return True
    return any(True for _ in _batch_files(base))


def _batch_files(base: str) -> list[tuple[str, int, str]]:
    """(op, batch index, path) of every `<op>_batches/batch_<i>.json`."""
    found: list[tuple[str, int, str]] = []
    if not os.path.isdir(base):
        return found
    for folder in sorted(os.scandir(base), key=lambda e: e.name):
        if not (folder.is_dir() and folder.name.endswith("_batches")):
            continue
        op = folder.name[: -len("_batches")]
        for f in sorted(os.scandir(folder.path), key=lambda e: e.name):
            m = _BATCH_FILE.fullmatch(f.name)
            if m and f.is_file():
                found.append((op, int(m.group(1)), f.path))
    return found


def adopt_json_layout(
    manager: CheckpointManager,
    base_dir: str | os.PathLike[str],
    save: SaveFn,
    batch_meta: Callable[[str], dict[str, str]] | None = None,
) -> list[tuple[str, str]]:
    """Import DocETL's JSON checkpoints and batches into `manager`'s store.

    `save(step, op, records, op_hash)` commits one checkpoint; `batch_meta(op)`
    gives what to record with an imported batch of `op`. A JSON file is
    removed once its import is committed, the config file last, so an
    interrupted adoption resumes where it stopped. A JSON checkpoint equal to
    the store's current one with the same op hash (an in-place export read
    back) is not re-imported, so the store's own input digests survive.
    Returns the (step, op) pairs imported, batches as (`<op>_batches`, `batch_<i>`).
    """
    base = local_folder(base_dir)
    imported: list[tuple[str, str]] = []
    if base is None:
        return imported
    config_path = os.path.join(base, CONFIG_NAME)
    config = _read_json(config_path) if os.path.exists(config_path) else _GONE
    if config is not _GONE:
        if not isinstance(config, dict):
            raise ValueError(f"cannot adopt {config_path}: not a JSON object")
        for step, ops in config.items():
            if not isinstance(ops, dict):
                continue
            for op, op_hash in ops.items():
                path = os.path.join(base, step, f"{op}.json")
                records = _read_json(path) if os.path.isfile(path) else _GONE
                if records is _GONE:
                    continue
                entry = manager.info(step, op)
                same = (
                    entry is not None
                    and (entry.get("meta") or {}).get(META_OP_HASH) == op_hash
                    and manager.load(step, op) == records
                )
                if not same:
                    save(step, op, records, str(op_hash))
                    imported.append((step, op))
                _unlink(path)
            _remove_if_empty(os.path.join(base, step))
    for op, index, path in _batch_files(base):
        records = _read_json(path)
        if records is _GONE:
            continue
        meta = {**(batch_meta(op) if batch_meta else {}), META_ORIGIN: "docetl-json"}
        manager.save_batch(op, index, records, meta=meta)
        imported.append((f"{op}_batches", f"batch_{index}"))
        _unlink(path)
        _remove_if_empty(os.path.dirname(path))
    _unlink(config_path)
    return imported


def export_json_layout(manager: CheckpointManager, dest_dir: str | os.PathLike[str]) -> list[str]:
    """Write every checkpoint and batch of `manager` in DocETL's JSON layout under `dest_dir`.

    Checkpoint files are what DocETL's own store would have written
    (`json.dump(records)`); the config maps each checkpoint to the op hash
    recorded with it (merged into an existing config). DocETL's store then
    reuses them as if it had written them. Returns the paths written.
    """
    dest = local_folder(dest_dir)
    if dest is None:
        raise ValueError(
            f"cannot export to {os.fspath(dest_dir)}: DocETL's JSON layout is written to a "
            "local folder (a path or file:// URL)"
        )
    written: list[str] = []
    hashes: dict[str, dict[str, str]] = {}
    for entry in manager.entries():
        if entry["kind"] == "batch":
            op, index = entry["batch_of"], entry["batch_index"]
            records = manager.load_batch(op, index)
            path = os.path.join(dest, f"{op}_batches", f"batch_{index}.json")
        else:
            step, op = entry["step"], entry["op"]
            records = manager.load(step, op)
            path = os.path.join(dest, step, f"{op}.json")
            op_hash = (entry.get("meta") or {}).get(META_OP_HASH)
            if op_hash:
                hashes.setdefault(step, {})[op] = op_hash
        if records is None:  # removed by another process meanwhile
            continue
        _write_json(path, records)
        written.append(path)
    config_path = os.path.join(dest, CONFIG_NAME)
    config: dict[str, Any] = {}
    if os.path.exists(config_path):
        try:
            found = _read_json(config_path)
        except ValueError:
            found = {}  # as DocETL's own store does with a damaged config
        config = found if isinstance(found, dict) else {}
    for step, ops in hashes.items():
        config.setdefault(step, {}).update(ops)
    _write_json(config_path, config, indent=2)
    written.append(config_path)
    return written


def remove_json_layout(base_dir: str | os.PathLike[str]) -> list[str]:
    """Delete what DocETL's JSON store writes in the folder, without reading any of it.

    What `DSLRunner.clear_intermediate()` removes under DocETL's store (which
    deletes the whole folder): the config, every `<step>/<op>.json` (any JSON
    file one level down, outside hidden folders such as the store's own) and
    every batch file. Folders left empty are removed. Returns the paths deleted.
    """
    base = local_folder(base_dir)
    removed: list[str] = []
    if base is None or not os.path.isdir(base):
        return removed
    for folder in sorted(os.scandir(base), key=lambda e: e.name):
        if folder.name.startswith(".") or not folder.is_dir(follow_symlinks=False):
            continue
        for f in sorted(os.scandir(folder.path), key=lambda e: e.name):
            if f.name.endswith(".json") and f.is_file(follow_symlinks=False):
                _unlink(f.path)
                removed.append(f.path)
        _remove_if_empty(folder.path)
    config_path = os.path.join(base, CONFIG_NAME)
    if os.path.lexists(config_path):
        _unlink(config_path)
        removed.append(config_path)
    return removed
