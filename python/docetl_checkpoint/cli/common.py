"""What every command shares: opening a folder, finding a checkpoint, errors."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docetl_checkpoint import CheckpointManager

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A message for the user and an exit status; printed without a traceback."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def store_error_types() -> tuple[type[Exception], ...]:
    try:
        from docetl_checkpoint import CheckpointError
    except ImportError:
        return ()
    return (CheckpointError,)


def is_url(path: str) -> bool:
    """True for object-store locations: `s3://bucket/prefix` (configured by `AWS_*`)
    and `file:///folder`."""
    return path.startswith(("s3://", "s3a://", "file://"))


def open_store(path: str) -> CheckpointManager:
    """The manager of an existing folder; a missing folder is an error, not a new store."""
    if not is_url(path) and not os.path.exists(path):
        raise CliError(f"no such folder: {path}")
    if not is_url(path) and not os.path.isdir(path):
        raise CliError(f"not a folder: {path}")
    try:
        from docetl_checkpoint import CheckpointManager
    except ImportError as error:
        raise CliError(f"cannot load the docetl_checkpoint extension: {error}") from None
    try:
        return CheckpointManager(path)
    except ValueError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def entry_name(entry: dict[str, Any]) -> str:
    return f"{entry.get('step', '?')}/{entry.get('op', '?')}"


def require(store: Any, step: str, op: str) -> dict[str, Any]:
    """The manifest entry of (step, op), or a CliError listing what there is."""
    entry: dict[str, Any] | None = store.info(step, op)
    if entry is not None:
        return entry
    names = sorted(entry_name(e) for e in store.entries())
    message = f"no checkpoint {step}/{op} in {os.fspath(store.intermediate_dir)}"
    if not names:
        message += " (the folder holds no checkpoints)"
    else:
        same_step = [n for n in names if n.startswith(step + "/")]
        shown = (same_step or names)[:8]
        more = len(same_step or names) - len(shown)
        message += "; there is " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")
    raise CliError(message)
