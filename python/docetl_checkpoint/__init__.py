"""docetl-checkpoint: a deduplicating, crash-safe checkpoint store for DocETL.

`CheckpointManager` saves, loads, lists and samples the intermediate outputs of
DocETL pipelines. Large field values are stored once per store, whatever the
number of operations, batches or reruns that carry them.
"""

import os as _os

# The extension allocates with mimalloc, which reads its options from the
# environment once, as the extension loads. With arenas committed eagerly it
# keeps the pages it purges resident: holding a 2,000-document pipeline loaded
# took 30 MB more RSS than with glibc. Off, RSS matches glibc's and freed
# buffers are still reused. Set for that load only, unless the user set it.
_EAGER_COMMIT = "MIMALLOC_ARENA_EAGER_COMMIT"
_ours = _EAGER_COMMIT not in _os.environ
if _ours:
    _os.environ[_EAGER_COMMIT] = "0"
try:
    from docetl_checkpoint._core import (
        CheckpointError,
        CommitConflictError,
        CorruptCheckpointError,
        __version__,
        canonical_hash,
        record_hash,
    )
finally:
    if _ours:
        del _os.environ[_EAGER_COMMIT]
from docetl_checkpoint.manager import CheckpointManager  # noqa: E402
from docetl_checkpoint.read_path import read_table  # noqa: E402

__all__ = [
    "CheckpointError",
    "CheckpointManager",
    "CommitConflictError",
    "CorruptCheckpointError",
    "__version__",
    "canonical_hash",
    "read_table",
    "record_hash",
]
