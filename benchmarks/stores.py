"""The stores the benchmark compares, behind one small interface.

- ``ours``: `docetl_checkpoint.CheckpointManager`.
- ``json``: what DocETL 0.3.0 does (`docetl/checkpoint.py`, `CheckpointStore`):
  `json.dump` to ``<dir>/<step>/<op>.json`` and ``<dir>/<op>_batches/batch_<i>.json``,
  and after each checkpoint a read-modify-write of ``.docetl_intermediate_config.json``
  (step -> op -> config hash); `json.load` back.
- ``parquet``: one Parquet file per checkpoint, ``pyarrow.Table.from_pylist`` +
  ``pyarrow.parquet.write_table(..., compression="zstd")``, same paths with
  ``.parquet``; ``read_table`` back, then ``to_pylist()`` / ``to_pandas()``.

A checkpoint is addressed by a `Key`: ``("checkpoint", step, op)`` or
``("batch", op, index)``, the first three fields of a `workload.Save`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from typing import Any

Record = dict[str, Any]
Key = tuple[str, str, Any]

STORE_NAMES = ("ours", "json", "parquet")


def key_of(save: Any) -> Key:
    return (save.kind, save.step_or_op, save.name_or_index)


def rel_path(key: Key, ext: str) -> str:
    """DocETL's layout: ``<step>/<op>.<ext>`` or ``<op>_batches/batch_<i>.<ext>``."""
    kind, a, b = key
    if kind == "batch":
        return os.path.join(f"{a}_batches", f"batch_{int(b)}.{ext}")
    return os.path.join(a, f"{b}.{ext}")


def dir_bytes(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(bytes, files) under `path`, each inode counted once (hardlinks share one)."""
    seen: set[tuple[int, int]] = set()
    total = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(root, name))
            ident = (st.st_dev, st.st_ino)
            if ident in seen:
                continue
            seen.add(ident)
            total += st.st_size
            files += 1
    return total, files


class OursStore:
    name = "ours"

    def __init__(self, path: str) -> None:
        from docetl_checkpoint import CheckpointManager

        self.path = path
        self.m = CheckpointManager(path)

    def save(self, key: Key, records: list[Record]) -> None:
        kind, a, b = key
        if kind == "batch":
            self.m.save_batch(a, int(b), records)
        else:
            self.m.save(a, b, records)

    def _sk(self, key: Key) -> tuple[str, str]:
        kind, a, b = key
        return (f"{a}_batches", f"batch_{int(b)}") if kind == "batch" else (a, b)

    def load(self, key: Key) -> list[Record] | None:
        return self.m.load(*self._sk(key))

    def table(self, key: Key) -> Any:
        return self.m.table(*self._sk(key))

    def to_pandas(self, key: Key) -> Any:
        step, op = self._sk(key)
        return self.m.load_checkpoint_as_dataframe(step, op)

    def sample(self, key: Key, n: int) -> Any:
        return self.m.sample(*self._sk(key), n=n)


class JsonStore:
    """DocETL 0.3.0's `CheckpointStore`, reproduced (save, flush_batch, load)."""

    name = "json"

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def _config_path(self) -> str:
        return os.path.join(self.path, ".docetl_intermediate_config.json")

    def save(self, key: Key, records: list[Record]) -> None:
        path = os.path.join(self.path, rel_path(key, "json"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(records, f)
        if key[0] == "batch":
            return  # flush_batch writes no config
        step, op = key[1], key[2]
        cfg: dict[str, dict[str, str]] = {}
        if os.path.exists(self._config_path):
            try:
                with open(self._config_path) as f:
                    cfg = json.load(f)
            except json.JSONDecodeError:
                cfg = {}
        cfg.setdefault(step, {})[op] = hashlib.sha256(f"{step}/{op}".encode()).hexdigest()
        with open(self._config_path, "w") as f:
            json.dump(cfg, f, indent=2)

    def load(self, key: Key) -> list[Record] | None:
        path = os.path.join(self.path, rel_path(key, "json"))
        if not os.path.exists(path):
            return None
        with open(path) as f:
            result: list[Record] = json.load(f)
            return result


class ParquetStore:
    name = "parquet"

    def __init__(self, path: str) -> None:
        self.path = path

    def file(self, key: Key) -> str:
        return os.path.join(self.path, rel_path(key, "parquet"))

    def save(self, key: Key, records: list[Record]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.file(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(pa.Table.from_pylist(records), path, compression="zstd")

    def table(self, key: Key) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self.file(key))

    def load(self, key: Key) -> list[Record] | None:
        path = self.file(key)
        if not os.path.exists(path):
            return None
        return self.table(key).to_pylist()  # type: ignore[no-any-return]

    def to_pandas(self, key: Key) -> Any:
        return self.table(key).to_pandas()

    def sample(self, key: Key, n: int) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(self.file(key)).iter_batches(batch_size=n))
        return pa.Table.from_batches([batch])


def open_store(name: str, path: str) -> Any:
    return {"ours": OursStore, "json": JsonStore, "parquet": ParquetStore}[name](path)


def save_all(store: Any, saves: Iterable[Any]) -> None:
    for s in saves:
        store.save(key_of(s), s.records)
