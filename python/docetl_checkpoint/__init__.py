"""docetl-checkpoint: a deduplicating, crash-safe checkpoint store for DocETL.

`CheckpointManager` saves, loads, lists and samples the intermediate outputs of
DocETL pipelines. Large field values are stored once per store, whatever the
number of operations, batches or reruns that carry them.
"""

from docetl_checkpoint._core import (
    CheckpointError,
    CorruptCheckpointError,
    __version__,
    canonical_hash,
    record_hash,
)
from docetl_checkpoint.manager import CheckpointManager

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "CorruptCheckpointError",
    "__version__",
    "canonical_hash",
    "record_hash",
]
