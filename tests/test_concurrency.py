"""Concurrent writers, readers and gc on one folder (DESIGN invariant 5, issue 5).

Processes are separate interpreters (helpers/worker.py) released together; threads
run inside them or inside this process, with shared or separate managers.
"""

from __future__ import annotations

import threading
from pathlib import Path

from conftest import is_url
from docetl_checkpoint import CheckpointManager
from helpers.data import digest, same_records, save_records
from helpers.procs import Workers
from helpers.store import check_collected

Key = tuple[str, str]


def assert_store_holds(store: Path, expected: dict[Key, str], ctx: str = "") -> CheckpointManager:
    mgr = CheckpointManager(store)
    for key, want in sorted(expected.items()):
        got = mgr.load(*key)
        assert got is not None, f"{ctx}: {key} lost"
        assert digest(got) == want, f"{ctx}: {key} has the wrong content"
    report = mgr.verify()
    assert report["ok"] is True and report["damaged"] == [], f"{ctx}: verify {report}"
    assert sorted(map(tuple, report["intact"])) == sorted(expected), f"{ctx}: verify {report}"
    return mgr


def run_in_threads(n: int, target) -> None:
    errors: list[str] = []
    barrier = threading.Barrier(n)

    def wrap(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:
            errors.append(f"thread {i}: {exc!r}")

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_processes_and_threads_save_distinct_checkpoints(
    tmp_path: Path, store_location: str
) -> None:
    store = store_location
    w = Workers(store, tmp_path / "sync")
    try:
        for p in range(3):  # the third process gives every thread its own manager
            w.start("save", f"p{p}", step=f"proc{p}", threads=3, count=4, shared=p != 2)
        w.go()

        def local(t: int) -> None:  # and threads of this process write at the same time
            mgr = CheckpointManager(store)
            for k in range(4):
                mgr.save("main", f"t{t}_{k}", save_records("main", t, k))

        run_in_threads(2, local)
        w.wait(list(w.procs))
    finally:
        w.kill_all()
    expected = {
        (f"proc{p}", f"t{t}_{k}"): digest(save_records(f"proc{p}", t, k))
        for p in range(3)
        for t in range(3)
        for k in range(4)
    }
    expected |= {
        ("main", f"t{t}_{k}"): digest(save_records("main", t, k))
        for t in range(2)
        for k in range(4)
    }
    mgr = assert_store_holds(store, expected, "distinct checkpoints")
    assert mgr.list() == sorted(expected)


def test_threads_with_own_managers_in_one_process(tmp_path: Path, store_location: str) -> None:
    """flock, unlike fcntl locks, also serializes two managers of one process."""
    store = store_location

    def saver(t: int) -> None:
        mgr = CheckpointManager(store)
        for k in range(6):
            mgr.save("thr", f"t{t}_{k}", save_records("thr", t, k))
            mgr.save_batch(f"thr{t}", k, save_records("thrb", t, k))

    run_in_threads(4, saver)
    expected = {
        ("thr", f"t{t}_{k}"): digest(save_records("thr", t, k)) for t in range(4) for k in range(6)
    }
    expected |= {
        (f"thr{t}_batches", f"batch_{k}"): digest(save_records("thrb", t, k))
        for t in range(4)
        for k in range(6)
    }
    mgr = assert_store_holds(store, expected, "threads")
    assert all(mgr.list_batches(f"thr{t}") == list(range(6)) for t in range(4))


def test_two_writer_processes_of_one_checkpoint_end_with_one_version(
    tmp_path: Path, store_location: str
) -> None:
    store = store_location
    w = Workers(store, tmp_path / "sync")
    try:
        w.start("same", "a", version=1, repeat=10)
        w.start("same", "b", version=2, repeat=10)
        w.go()
        w.wait(["a", "b"])
    finally:
        w.kill_all()
    mgr = CheckpointManager(store)
    versions = {digest(same_records(1)), digest(same_records(2))}
    for key in [("same", "x"), ("same_batches", "batch_0")]:
        got = mgr.load(*key)
        assert got is not None and digest(got) in versions, f"{key} is neither complete version"
    assert mgr.list() == [("same", "x")] and mgr.list_batches("same") == [0]
    assert mgr.verify()["ok"] is True


def test_two_writer_threads_of_one_checkpoint_end_with_one_version(
    tmp_path: Path, store_location: str
) -> None:
    store = store_location
    shared = CheckpointManager(store)

    def writer(t: int) -> None:
        mgr = shared if t < 2 else CheckpointManager(store)
        for _ in range(8):
            mgr.save("same", "x", same_records(t))

    run_in_threads(4, writer)
    got = CheckpointManager(store).load("same", "x")
    assert got is not None and digest(got) in {digest(same_records(t)) for t in range(4)}
    assert shared.verify()["ok"] is True


def test_readers_never_see_partial_state(tmp_path: Path, store_location: str) -> None:
    store = store_location
    versions = [digest(same_records(1)), digest(same_records(2))]
    allowed = [[["same", "x"], versions], [["same_batches", "batch_0"], versions]]
    w = Workers(store, tmp_path / "sync")
    try:
        for r in range(2):
            w.start("read", f"r{r}", allowed=allowed)
        w.start("same", "a", version=1, repeat=12)
        w.start("same", "b", version=2, repeat=12)
        w.go()
        w.wait(["a", "b"])
        w.stop()
        readers = w.wait(["r0", "r1"])
    finally:
        w.kill_all()
    for res in readers.values():  # each reader's last pass ran after every commit
        assert res["saw_data"] == 2 and res["loads"] >= 2


def test_reader_thread_beside_writer_thread_sharing_a_manager(
    tmp_path: Path, store_location: str
) -> None:
    store = store_location
    mgr = CheckpointManager(store)
    versions = {digest(same_records(v)) for v in (1, 2, 3)}
    done = threading.Event()
    bad: list[str] = []

    def work(i: int) -> None:
        if i == 0:
            for r in range(24):
                mgr.save("same", "x", same_records(1 + r % 3))
            done.set()
            return
        seen = False
        while True:
            last = done.is_set()
            got = mgr.load("same", "x")
            if got is None:
                if seen:
                    bad.append("None after a commit")
            elif digest(got) not in versions:
                bad.append("a state never committed")
            else:
                seen = True
            if last:
                break

    run_in_threads(2, work)
    assert not bad, bad[:5]


def test_gc_beside_writers_never_removes_what_a_commit_needs(
    tmp_path: Path, store_location: str
) -> None:
    """Writers overwrite checkpoints whose values come from a shared pool, so values
    keep turning into garbage and back into live data while gc runs in a loop."""
    store = store_location
    w = Workers(store, tmp_path / "sync")
    try:
        w.start("gc", "gc")
        w.start("churn", "w1", keys=["a", "b"], rounds=10)
        w.start("churn", "w2", keys=["c", "d"], rounds=10)
        w.go()
        writers = w.wait(["w1", "w2"])
        w.stop()
        assert w.wait(["gc"])["gc"]["rounds"] >= 1
    finally:
        w.kill_all()
    expected = {("churn", k): d for res in writers.values() for k, d in res["final"].items()}
    mgr = assert_store_holds(store, expected, "after gc loop")
    mgr.gc()
    assert_store_holds(store, expected, "after a final gc")
    if not is_url(store):  # an object store spares young unnamed objects (grace period)
        assert check_collected(store, list(expected), list(expected)) == []


def test_readers_beside_gc_and_overwrites_never_fail(tmp_path: Path, store_location: str) -> None:
    """A reader racing an overwrite and a gc must still get a committed version:
    not an error about a file gc just removed, not None."""
    store = store_location
    versions = [digest(same_records(1)), digest(same_records(2))]
    allowed = [[["same", "x"], versions], [["same_batches", "batch_0"], versions]]
    w = Workers(store, tmp_path / "sync")
    try:
        w.start("read", "r0", allowed=allowed)
        w.start("gc", "gc")
        w.start("same", "a", version=1, repeat=12)
        w.start("same", "b", version=2, repeat=12)
        w.go()
        w.wait(["a", "b"])
        w.stop()
        w.wait(["r0", "gc"])
    finally:
        w.kill_all()


def test_gc_never_starves_writers(tmp_path: Path, s3_env: None, s3_url: str) -> None:
    """16 writer processes saving back to back beside a gc loop on S3: every
    save commits (a commit lost to gc is retried without counting against the
    writer's limit; gc is the one that yields)."""
    w = Workers(s3_url, tmp_path / "sync")
    names = [f"w{i}" for i in range(16)]
    try:
        w.start("gc", "gc")
        for name in names:
            w.start("churn", name, keys=[name], rounds=4)
        w.go(timeout=300)
        writers = w.wait(names, timeout=600)
        w.stop()
        assert w.wait(["gc"])["gc"]["rounds"] >= 1
    finally:
        w.kill_all()
    expected = {("churn", k): d for res in writers.values() for k, d in res["final"].items()}
    assert len(expected) == 16
    assert_store_holds(s3_url, expected, "after 16 writers beside a gc loop")
