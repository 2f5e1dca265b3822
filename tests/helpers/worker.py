"""Worker process of the concurrency tests.

Usage: worker.py MODE STORE SYNC_DIR NAME [ARGS_JSON]

Every worker first touches SYNC_DIR/ready.NAME, then waits for SYNC_DIR/go so all
workers start together. It prints one JSON line (its result) and exits 0; on a
violated property it prints the problems and exits 1. Workers stop on SYNC_DIR/stop
where they loop until told to.

Modes:
  save     threads T save checkpoints (STEP, t{t}_{k}) k < K, shared or own manager
  same     save version V of one checkpoint and one batch, R times
  churn    overwrite own checkpoints R times from a shared pool, load back each one
  read     poll load() of given keys until stop; each load must be an allowed digest
  gc       run gc() in a loop until stop
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from docetl_checkpoint import CheckpointManager  # noqa: E402

from helpers.data import churn_records, digest, same_records, save_records  # noqa: E402


def wait_go(sync: Path, name: str) -> None:
    (sync / f"ready.{name}").touch()
    while not (sync / "go").exists():
        time.sleep(0.002)


def run_threads(n: int, target) -> list[str]:
    errors: list[str] = []

    def wrap(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # report, don't die silently in a thread
            errors.append(f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def main() -> None:
    mode, store, sync, name = sys.argv[1:5]
    args = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    sync_dir = Path(sync)
    shared = CheckpointManager(store)
    problems: list[str] = []
    result: dict = {}
    wait_go(sync_dir, name)
    stop = sync_dir / "stop"

    if mode == "save":
        step, threads, count = args["step"], args["threads"], args["count"]

        def saver(t: int) -> None:
            mgr = shared if args.get("shared", True) else CheckpointManager(store)
            for k in range(count):
                mgr.save(step, f"t{t}_{k}", save_records(step, t, k))

        problems += run_threads(threads, saver)
    elif mode == "same":
        records = same_records(args["version"])
        for _ in range(args["repeat"]):
            shared.save("same", "x", records)
            shared.save_batch("same", 0, records)
    elif mode == "churn":
        final = {}
        for r in range(args["rounds"]):
            for key in args["keys"]:
                records = churn_records(name, key, r)
                shared.save("churn", key, records)
                got = shared.load("churn", key)
                if got is None or digest(got) != digest(records):
                    problems.append(
                        f"round {r}: ('churn', {key!r}) read back wrong right after save"
                    )
                final[key] = digest(records)
        result["final"] = final
    elif mode == "read":
        allowed = {tuple(k): set(v) for k, v in args["allowed"]}
        loads = 0
        seen_data = {k: False for k in allowed}
        while True:
            last = stop.exists()
            for key, digests in allowed.items():
                try:
                    got = shared.load(*key)
                except Exception as exc:
                    problems.append(f"load{key} raised {exc!r}")
                    continue
                loads += 1
                if got is None:
                    if seen_data[key]:
                        problems.append(f"load{key} returned None after a committed version")
                    continue
                seen_data[key] = True
                if digest(got) not in digests:
                    problems.append(f"load{key} returned a state never committed (partial/mixed)")
            if last or len(problems) > 20:
                break
        result.update(loads=loads, saw_data=sum(seen_data.values()))
    elif mode == "gc":
        from docetl_checkpoint import CommitConflictError

        rounds = yielded = 0
        while not stop.exists():
            try:
                shared.gc()
            except CommitConflictError:  # gc yields to writers; it runs again later
                yielded += 1
            rounds += 1
        result["rounds"] = rounds
        result["yielded"] = yielded
    else:
        raise SystemExit(f"unknown mode {mode}")

    print(json.dumps({"name": name, "problems": problems, **result}))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
