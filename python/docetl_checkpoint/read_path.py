"""`read_table(path)`: the checkpoint behind a file another tool would open.

A checkpoint's `.parquet` file holds references into the store's value
segments, so reading it with pandas or DuckDB directly gives internal columns
(named `__c<i>`), not the records. This opens the store the file belongs to
and returns the real table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from docetl_checkpoint.manager import CheckpointManager

if TYPE_CHECKING:
    import pyarrow

STORE_DIR = ".docetl_checkpoint"
LAYOUT_KEY = b"docetl_checkpoint"


def read_table(path: str | os.PathLike[str], columns: list[str] | None = None) -> pyarrow.Table:
    """The checkpoint a `<dir>/<step>/<op>.parquet` path (as `save()` returns it)
    or a data file under `<dir>/.docetl_checkpoint/files/` holds, as a table.

    Raises `FileNotFoundError` when there is no such file and `ValueError` when
    the file is not a live checkpoint of a docetl-checkpoint store.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no checkpoint file at {os.fspath(path)!r}")
    if file.parent.name == "files" and file.parent.parent.name == STORE_DIR:
        root = file.parent.parent.parent
    else:
        root = file.parent.parent
    manager = CheckpointManager(root)
    key = _step_op(manager, file)
    if key is None:
        raise ValueError(
            f"{os.fspath(path)!r} is not a live checkpoint of the store at {os.fspath(root)!r}"
        )
    table = manager.table(*key, columns=columns)
    if table is None:
        raise ValueError(f"{os.fspath(path)!r}: checkpoint {key[0]}/{key[1]} is gone")
    return table


def _step_op(manager: CheckpointManager, file: Path) -> tuple[str, str] | None:
    """(step, op) of the entry whose data file is `file` (same inode: the
    `<step>/<op>.parquet` names are hardlinks of the data files)."""
    stat = file.stat()
    for entry in manager.entries():
        try:
            other = os.stat(entry["file"])
        except FileNotFoundError:
            continue
        if (other.st_ino, other.st_dev) == (stat.st_ino, stat.st_dev):
            return entry["step"], entry["op"]
    return _copy_of_live(manager, file)


def _copy_of_live(manager: CheckpointManager, file: Path) -> tuple[str, str] | None:
    """(step, op) of a copy of a data file (another inode) when the live
    checkpoint of the name it was saved as holds the same records."""
    import pyarrow.parquet as pq

    metadata = pq.read_schema(file).metadata or {}
    origin = json.loads(metadata.get(LAYOUT_KEY, b"{}")).get("origin")
    if origin is None:
        return None
    live = manager.info(origin["step"], origin["op"])
    if live is None or live["records_digest"] != origin["records_digest"]:
        return None
    return origin["step"], origin["op"]
