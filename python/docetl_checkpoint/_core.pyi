"""Type stubs for the Rust extension module `docetl_checkpoint._core`."""

from typing import Any, final

import pyarrow

__all__ = [
    "__version__",
    "CheckpointError",
    "CorruptCheckpointError",
    "Store",
    "canonical_hash",
    "record_hash",
]

__version__: str

class CheckpointError(Exception):
    """Base class of every error the store raises about its own files."""

class CorruptCheckpointError(CheckpointError):
    """A store file is damaged, truncated or missing; the message names it."""

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
    def load(self, step: str, op: str) -> list[dict[str, Any]] | None: ...
    def head(self, step: str, op: str, n: int) -> list[dict[str, Any]] | None: ...
    def table(
        self, step: str, op: str, columns: list[str] | None = None
    ) -> pyarrow.Table | None: ...
    def sample(
        self, step: str, op: str, n: int, columns: list[str] | None = None
    ) -> pyarrow.Table | None: ...
    def record_hashes(self, step: str, op: str) -> list[bytes] | None: ...
    def entries(self) -> list[dict[str, Any]]: ...
    def info(self, step: str, op: str) -> dict[str, Any] | None: ...
    def delete(self, step: str, op: str) -> bool: ...
    def clear(self) -> int: ...
    def gc(self) -> dict[str, int]: ...
    def stats(self) -> dict[str, Any]: ...
    def verify(self) -> dict[str, Any]: ...
    def _table_with_buffer_addresses(
        self, step: str, op: str
    ) -> tuple[pyarrow.Table, list[int]] | None: ...

def canonical_hash(value: Any) -> bytes: ...
def record_hash(record: dict[str, Any]) -> bytes: ...
