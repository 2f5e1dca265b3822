"""Crash-test writer: a deterministic-random sequence of store operations.

Usage: writer.py STORE JOURNAL SEED POOL_SEED MAX_OPS

Before each operation it appends `{"ev": "begin", ...}` to JOURNAL (fsync), after the
operation returns `{"ev": "commit", "result": ...}` (fsync). The parent kills this
process with SIGKILL at a random instant and checks the store against the journal.
"""

from __future__ import annotations

import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from docetl_checkpoint import CheckpointManager  # noqa: E402

from helpers.data import (  # noqa: E402
    BATCH_INDEXES,
    BATCH_OPS,
    OPS,
    STEPS,
    all_keys,
    digest,
    make_pool,
    make_records,
)


def main() -> None:
    store, journal, seed, pool_seed, max_ops = sys.argv[1:6]
    rng = random.Random(f"writer-{seed}")
    pool = make_pool(pool_seed)
    mgr = CheckpointManager(store)
    fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(event: dict) -> None:
        os.write(fd, (json.dumps(event) + "\n").encode())
        os.fsync(fd)

    log({"ev": "ready"})
    for _ in range(int(max_ops)):
        r = rng.random()
        if r < 0.45:
            step, op = rng.choice(STEPS), rng.choice(OPS)
            records = make_records(rng, pool)
            log({"ev": "begin", "kind": "save", "key": [step, op], "digest": digest(records)})
            result = mgr.save(step, op, records)
        elif r < 0.65:
            bop, idx = rng.choice(BATCH_OPS), rng.choice(BATCH_INDEXES)
            records = make_records(rng, pool)
            key = [f"{bop}_batches", f"batch_{idx}"]
            log({"ev": "begin", "kind": "save", "key": key, "digest": digest(records)})
            result = mgr.save_batch(bop, idx, records)
        elif r < 0.85:
            key = list(rng.choice(all_keys()))
            log({"ev": "begin", "kind": "delete", "key": key})
            result = mgr.delete(*key)
        else:
            log({"ev": "begin", "kind": "gc"})
            result = mgr.gc()
        log({"ev": "commit", "result": result})
    os.close(fd)


if __name__ == "__main__":
    main()
