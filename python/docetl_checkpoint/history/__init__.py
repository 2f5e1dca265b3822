"""The history of a checkpoint: compare its versions.

`diff(manager, step, op)` compares the latest version of a checkpoint with the
one before; see docs/history.md.
"""

from docetl_checkpoint.history.diff import Diff, compare, diff
from docetl_checkpoint.history.sides import NoSuchVersionError, Side, open_side

__all__ = ["Diff", "NoSuchVersionError", "Side", "compare", "diff", "open_side"]
