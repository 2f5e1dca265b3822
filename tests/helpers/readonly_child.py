"""Read-only store probe, run as a user who cannot write the store.

Usage: readonly_child.py STORE KEYS_JSON

Prints one JSON line: for each write call, the exception it raised ([type, is
OSError, message]) or null if it returned; the digest each key loaded (or the
error); list() and verify()."""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from docetl_checkpoint import CheckpointManager  # noqa: E402

from helpers.data import digest  # noqa: E402


def attempt(call):
    try:
        return ["returned", call()]
    except BaseException as exc:
        return [type(exc).__name__, isinstance(exc, OSError), str(exc)[:300]]


def main() -> None:
    store, keys = sys.argv[1], [tuple(k) for k in json.loads(sys.argv[2])]
    out: dict = {"euid": os.geteuid(), "can_write": os.access(store, os.W_OK)}
    mgr = CheckpointManager(store)
    out["reads"] = {
        "/".join(k): attempt(lambda k=k: (lambda r: None if r is None else digest(r))(mgr.load(*k)))
        for k in keys
    }
    out["list"] = attempt(mgr.list)
    out["verify"] = attempt(lambda: mgr.verify()["ok"])
    out["writes"] = {
        "save": attempt(lambda: mgr.save("s", "new", [{"a": 1}])),
        "overwrite": attempt(lambda: mgr.save("s", "c0", [{"a": 2}])),
        "save_batch": attempt(lambda: mgr.save_batch("m", 5, [{"a": 3}])),
        "delete": attempt(lambda: mgr.delete("s", "c1")),
        # dropping the replaced version must write
        "gc": attempt(lambda: mgr.gc(keep_versions=1)),
    }
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
