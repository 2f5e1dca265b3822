"""What a new process pays on a saved store (run by scale.py): reopen,
sample, load everything, a new batch, gc, verify. Prints one JSON line.

    python benchmarks/scale_reader.py STORE STEP OP
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pyarrow  # noqa: F401 (imported before timing: a notebook has it loaded)
from docetl_checkpoint import CheckpointManager


def main() -> None:
    path, step, op = sys.argv[1:4]
    out: dict[str, Any] = {}

    def timed(name: str, fn: Any) -> Any:
        t = time.perf_counter()
        result = fn()
        out[name] = time.perf_counter() - t
        return result

    m = timed("reopen", lambda: CheckpointManager(path))
    keys = timed("list", m.list)
    timed("sample5", lambda: m.sample(step, op, 5))
    out["rows_loaded"] = timed("load_all", lambda: sum(len(m.load(*k) or []) for k in keys))
    batch = [{"id": f"n{i}", "text": f"new text {i} " * 200} for i in range(100)]
    timed("new_batch", lambda: m.save_batch("late", 0, batch))
    out["gc_report"] = timed("gc", m.gc)
    out["verify_ok"] = timed("verify", m.verify)["ok"]
    # gc compacted the store: a new manager (its own, empty dedup index, as a
    # new process has) saves a batch, looking hashes up in the persisted index
    again = [{"id": f"m{i}", "text": f"other text {i} " * 200} for i in range(100)]
    fresh = CheckpointManager(path)
    timed("new_batch_after_gc", lambda: fresh.save_batch("late", 1, again))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
