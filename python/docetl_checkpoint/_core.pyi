"""Type stubs for the Rust extension module `docetl_checkpoint._core`."""

from typing import Any, final

import pyarrow

__all__ = [
    "__version__",
    "CheckpointError",
    "CommitConflictError",
    "CorruptCheckpointError",
    "Store",
    "canonical_hash",
    "record_hash",
    "_force_panic",
]

__version__: str

class CheckpointError(Exception):
    """Base class of every error the store raises about its own files."""

class CorruptCheckpointError(CheckpointError):
    """A store file is damaged, truncated or missing; the message names it."""

class CommitConflictError(CheckpointError):
    """A commit lost to concurrent writers too many times, or the manifest kept
    changing while being read: nothing was written; retrying may succeed."""

@final
class Store:
    """The Rust store at a folder or `s3://` URL. Use `CheckpointManager` instead."""

    def __new__(cls, path: str, options: dict[str, str] | None = None) -> Store: ...
    def io_counters(self) -> dict[str, int]: ...
    @property
    def path(self) -> str: ...
    def save(
        self,
        step: str,
        op: str,
        records: list[dict[str, Any]],
        meta: dict[str, str] | None = None,
    ) -> str: ...
    def save_batch(
        self,
        op: str,
        batch_index: int,
        records: list[dict[str, Any]],
        meta: dict[str, str] | None = None,
    ) -> str: ...
    def load(
        self, step: str, op: str, version: int | None = None
    ) -> list[dict[str, Any]] | None: ...
    def head(
        self, step: str, op: str, n: int, version: int | None = None
    ) -> list[dict[str, Any]] | None: ...
    def load_rows(
        self, step: str, op: str, start: int, n: int, version: int | None = None
    ) -> list[dict[str, Any]] | None: ...
    def load_rows_at(
        self, step: str, op: str, rows: list[int], version: int | None = None
    ) -> list[dict[str, Any]] | None: ...
    def table(
        self, step: str, op: str, columns: list[str] | None = None, version: int | None = None
    ) -> pyarrow.Table | None: ...
    def sample(
        self,
        step: str,
        op: str,
        n: int,
        columns: list[str] | None = None,
        version: int | None = None,
    ) -> pyarrow.Table | None: ...
    def reader(
        self, step: str, op: str, columns: list[str] | None = None, version: int | None = None
    ) -> pyarrow.RecordBatchReader | None: ...
    def record_hashes(
        self, step: str, op: str, version: int | None = None
    ) -> list[bytes] | None: ...
    def entries(self) -> list[dict[str, Any]]: ...
    def info(self, step: str, op: str, version: int | None = None) -> dict[str, Any] | None: ...
    def versions(self, step: str, op: str) -> list[dict[str, Any]]: ...
    def all_versions(self) -> list[dict[str, Any]]: ...
    def set_pinned(self, step: str, op: str, version: int, pinned: bool) -> bool: ...
    def delete(self, step: str, op: str) -> bool: ...
    def clear(self, keep_history: bool = False) -> int: ...
    def gc(
        self,
        keep_versions: int | None = 5,
        older_than: float | None = None,
        max_bytes: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]: ...
    def compact(self) -> dict[str, int]: ...
    def stats(self) -> dict[str, Any]: ...
    def verify(self) -> dict[str, Any]: ...
    def recover(self) -> dict[str, Any]: ...
    def notes(self) -> dict[str, str]: ...
    def set_note(self, key: str, value: str | None) -> None: ...
    def _table_with_buffer_addresses(
        self, step: str, op: str
    ) -> tuple[pyarrow.Table, list[int]] | None: ...

def canonical_hash(value: Any) -> bytes: ...
def _force_panic(what: str | None = None) -> None: ...
def record_hash(record: dict[str, Any]) -> bytes: ...
