"""`CheckpointReader`: a checkpoint as a stream of record batches.

It wraps the `pyarrow.RecordBatchReader` the Rust core streams through the
Arrow C stream interface. Iterated from Python, a failure mid-stream raises
the store's own exception (`CorruptCheckpointError` naming the damaged file),
not the `ArrowInvalid` pyarrow wraps it in. Consumers of `__arrow_c_stream__`
(polars, DuckDB) see the same message through their own error type.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from docetl_checkpoint._core import CheckpointError, CommitConflictError, CorruptCheckpointError

if TYPE_CHECKING:
    import pyarrow

# how the core's errors begin (src/error.rs), as pyarrow shows them
_EXTERNAL = "External error: "
_KINDS: list[tuple[str, type[CheckpointError]]] = [
    ("corrupt checkpoint store file ", CorruptCheckpointError),
    ("malformed canonical value ", CorruptCheckpointError),
]


def _store_error(error: Exception) -> Exception:
    """The store's exception for an error pyarrow raised while pulling a batch."""
    message = str(error)
    if not message.startswith(_EXTERNAL):
        return error
    message = message[len(_EXTERNAL) :]
    for prefix, kind in _KINDS:
        if message.startswith(prefix):
            return kind(message)
    if "while it was streamed" in message:
        return CommitConflictError(message)
    if message.startswith(("read ", "open ")):  # an OS error on a named file
        return OSError(message)
    return CheckpointError(message)


class CheckpointReader:
    """Record batches of one checkpoint, of bounded size, pulled as consumed."""

    def __init__(self, reader: pyarrow.RecordBatchReader) -> None:
        self._reader = reader

    @property
    def schema(self) -> pyarrow.Schema:
        return self._reader.schema

    def __iter__(self) -> Iterator[pyarrow.RecordBatch]:
        while True:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                return
            except Exception as error:
                raise _store_error(error) from error
            yield batch

    def read_next_batch(self) -> pyarrow.RecordBatch:
        try:
            return self._reader.read_next_batch()
        except StopIteration:
            raise
        except Exception as error:
            raise _store_error(error) from error

    def read_all(self) -> pyarrow.Table:
        """The rest of the stream as one (chunked) table."""
        try:
            return self._reader.read_all()
        except Exception as error:
            raise _store_error(error) from error

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._reader.__arrow_c_stream__(requested_schema)
