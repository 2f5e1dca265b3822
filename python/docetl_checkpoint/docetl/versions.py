"""Which DocETL releases the adapter is tested with; `install()` warns once outside them.

The `docetl` extra accepts `docetl>=0.3,<0.4`: the store relies on DocETL
0.3's `CheckpointStore` interface, `DSLRunner.checkpoints` property,
`DataLoader.load` and its optimizers' readers. The end-to-end tests run
against the releases listed here; another 0.3.x release most likely works,
but nothing has proven it.
"""

from __future__ import annotations

import threading
import warnings

TESTED = ("0.3.0",)

_lock = threading.Lock()
_warned: set[str] = set()


def installed_docetl_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("docetl")
    except PackageNotFoundError:  # imported from a source tree
        return None


def check_docetl_version(found: str | None = None) -> str | None:
    """Warn (once per version and process) when DocETL is not a tested release.

    Returns the version found (None when it cannot be told).
    """
    found = installed_docetl_version() if found is None else found
    if found is None or found in TESTED:
        return found
    with _lock:
        if found in _warned:
            return found
        _warned.add(found)
    warnings.warn(
        f"docetl-checkpoint is tested with DocETL {', '.join(TESTED)}; "
        f"DocETL {found} is installed, which the tests do not cover",
        UserWarning,
        stacklevel=3,
    )
    return found
