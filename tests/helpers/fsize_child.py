"""Full-disk simulation: saves under RLIMIT_FSIZE (SIGXFSZ ignored, so writes past the
limit fail with EFBIG), in its own process.

Usage: fsize_child.py STORE SCENARIO

Prints one JSON line: what the failing save raised, what a fresh manager then saw
(still under the limit), and whether the same manager could save once the limit was
lifted. The parent test asserts on it.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from docetl_checkpoint import CheckpointManager  # noqa: E402

from helpers.data import big_string, digest  # noqa: E402


def new_records(scenario: str) -> list[dict]:
    rng = random.Random(f"fsize-{scenario}")
    if scenario in ("segment", "zero", "overwrite"):  # one large value: the segment is big
        return [{"id": 1, "text": big_string(rng, 300_000, 300_000), "n": 2}]
    return [{"id": i, "word": f"w{i}"} for i in range(3)]  # manifest: small data, big manifest


def main() -> None:
    store, scenario = sys.argv[1:3]
    mgr = CheckpointManager(store)
    key = ("s", "c0") if scenario == "overwrite" else ("s", "new")
    records = new_records(scenario)
    limit = {
        "segment": 64 * 1024,
        "zero": 0,
        "overwrite": 64 * 1024,
        "manifest": os.path.getsize(os.path.join(store, ".docetl_checkpoint", "manifest.json")),
    }[scenario]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    out: dict = {"limit": limit}
    try:
        mgr.save(*key, records)
        out["raised"] = None
    except BaseException as exc:
        out["raised"] = type(exc).__name__
        out["is_oserror"] = isinstance(exc, OSError)
        out["errno"] = getattr(exc, "errno", None)
        out["message"] = str(exc)[:500]
    fresh = CheckpointManager(store)  # still under the limit: reading must work
    got = fresh.load(*key)
    out["after_failure"] = None if got is None else digest(got)
    out["list"] = fresh.list()
    out["verify_ok"] = fresh.verify()["ok"]
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    try:
        mgr.save(*key, records)
        got = mgr.load(*key)
        out["retry"] = "ok" if got is not None and digest(got) == digest(records) else "wrong data"
    except BaseException as exc:
        out["retry"] = repr(exc)
    out["digest"] = digest(records)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
