"""Kill -9 at random instants (DESIGN invariant 5, issue 5).

A writer process (helpers/writer.py) runs random saves, overwrites, batch saves,
deletes and gc, journaling each operation before it starts and after it returns.
We SIGKILL it at a random instant; a fresh manager must then show exactly what the
journal reports committed, the interrupted operation either not at all or fully,
verify() must pass, and gc() must leave no temp or unreferenced file behind.

Normal run: 5 stores x 6 kills. DOCETL_CHECKPOINT_SLOW=1 or --run-slow: 50 stores x 10.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest
from conftest import is_url
from docetl_checkpoint import CheckpointManager
from helpers.data import BATCH_OPS, all_keys, digest
from helpers.s3objects import store_objects
from helpers.store import HELPERS, PYTHON, check_collected, disk_usage, link_path

SLOW_STORES, STORES, RUNS_PER_STORE = 50, 5, 6
MAX_SLEEP = 0.4  # seconds between the writer being ready and the kill
UNIVERSE = all_keys()
BATCH_STEPS = {f"{op}_batches": op for op in BATCH_OPS}

Key = tuple[str, str]


def read_journal(path: Path) -> list[dict]:
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the last line, cut by the kill
    return events


def run_and_kill(
    store: Path | str, journal: Path, seed: str, pool_seed: str, rng: random.Random
) -> None:
    """Start a writer and SIGKILL it: half the time at a random instant, half the
    time a few ms after it began its k-th operation (to land inside operations)."""
    errlog = journal.with_suffix(".stderr")
    cmd = [PYTHON, str(HELPERS / "writer.py"), str(store), str(journal), seed, pool_seed, "100000"]
    with open(errlog, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    begins, delay = (rng.randint(1, 12), rng.uniform(0, 0.03)) if rng.random() < 0.5 else (0, 0.0)
    try:
        deadline = time.monotonic() + 60
        while True:
            text = journal.read_text() if journal.exists() else ""
            if text.startswith('{"ev": "ready"}') and text.count('"ev": "begin"') >= begins:
                break
            if proc.poll() is not None:
                pytest.fail(f"writer {seed} died (rc {proc.returncode}): {errlog.read_text()}")
            assert time.monotonic() < deadline, "writer never got there"
            time.sleep(0.001)
        time.sleep(delay if begins else rng.uniform(0, MAX_SLEEP))
        if proc.poll() is not None:
            pytest.fail(f"writer {seed} failed (rc {proc.returncode}): {errlog.read_text()}")
    finally:
        proc.kill()
        proc.wait()


# gc's report beside its counts: the net change, and what its policy dropped
NOT_COUNTS = ("bytes_freed", "dropped", "dry_run")


def replay(store: Path | str, events: list[dict], model: dict[Key, str], ctx: str) -> dict | None:
    """Apply committed operations to `model`; return the in-flight one (or None)."""
    pending = None
    for ev in events:
        if ev["ev"] == "begin":
            pending = ev
        elif ev["ev"] == "commit":
            assert pending is not None
            key = tuple(pending.get("key", ()))
            if pending["kind"] == "save" and is_url(store):
                assert ev["result"].startswith(f"{store}/.docetl_checkpoint/files/"), ctx
                model[key] = pending["digest"]
            elif pending["kind"] == "save":
                assert os.path.abspath(ev["result"]) == os.path.abspath(link_path(store, key)), ctx
                model[key] = pending["digest"]
            elif pending["kind"] == "delete":
                assert ev["result"] == (key in model), f"{ctx}: delete{key} returned {ev['result']}"
                model.pop(key, None)
            else:
                # gc's counts; bytes_freed is a net change, below 0 when what gc
                # wrote (a rewritten segment, a manifest generation) outweighs it
                counts = {k: v for k, v in ev["result"].items() if k not in NOT_COUNTS}
                assert all(isinstance(v, int) and v >= 0 for v in counts.values()), ctx
                assert isinstance(ev["result"]["bytes_freed"], int), ctx
            pending = None
    return pending


def observe(mgr: CheckpointManager, ctx: str) -> dict[Key, str | None]:
    seen: dict[Key, str | None] = {}
    for key in UNIVERSE:
        try:
            got = mgr.load(*key)
        except Exception as exc:  # a crash must never leave an unreadable store
            raise AssertionError(f"{ctx}: load{key} raised {exc!r}") from exc
        seen[key] = None if got is None else digest(got)
    return seen


def check_store(mgr: CheckpointManager, model: dict[Key, str], ctx: str) -> None:
    seen = observe(mgr, ctx)
    for key in UNIVERSE:
        assert seen[key] == model.get(key), (
            f"{ctx}: {key} loads {seen[key]}, committed {model.get(key)}"
        )
    assert mgr.list() == sorted(k for k in model if k[0] not in BATCH_STEPS), ctx
    for step, bop in BATCH_STEPS.items():
        want = sorted(int(o.removeprefix("batch_")) for s, o in model if s == step)
        assert mgr.list_batches(bop) == want, ctx
    report = mgr.verify()
    assert report["ok"] is True and report["damaged"] == [], f"{ctx}: verify {report}"
    assert sorted(map(tuple, report["intact"])) == sorted(model), f"{ctx}: verify {report}"


def check_gc(store: Path, mgr: CheckpointManager, model: dict[Key, str], ctx: str) -> None:
    first = mgr.gc()  # the default policy: earlier versions stay
    assert all(
        isinstance(first[k], int) and first[k] >= 0 for k in ("files_removed", "values_removed")
    ), ctx
    assert isinstance(first["bytes_freed"], int), ctx  # a net change: may be below 0
    check_store(mgr, model, ctx + " after gc")
    mgr.gc(keep_versions=1)  # history dropped: now nothing but the live data stays
    check_store(mgr, model, ctx + " after gc without history")
    second = mgr.gc(keep_versions=1)
    assert (second["files_removed"], second["bytes_freed"], second["values_removed"]) == (
        0,
        0,
        0,
    ), f"{ctx}: a second gc still freed {second} (the first left unreferenced data)"
    problems = check_collected(store, list(model), UNIVERSE)
    assert not problems, f"{ctx}: {problems}"
    check_indexes(store, mgr, model, ctx)


def check_indexes(store: Path, mgr: CheckpointManager, model: dict[Key, str], ctx: str) -> None:
    """After gc, the dedup index files are exactly those the manifest names, and
    a new process's save of stored records (looked up there) stores no value."""
    manifest = json.loads(
        (store / ".docetl_checkpoint" / "manifest.json").read_text().splitlines()[0]
    )
    named = {s["index"] for s in manifest["segments"] if s.get("index")}
    on_disk = {f"values/{p.name}" for p in (store / ".docetl_checkpoint" / "values").glob("*.idx")}
    assert on_disk == named, f"{ctx}: index files {sorted(on_disk)}, manifest names {sorted(named)}"
    if not model:
        return
    key = sorted(model)[0]
    records = mgr.load(*key)
    before = mgr.stats()["stored_values"]
    CheckpointManager(store).save("_index_check", "copy", records)
    assert CheckpointManager(store).stats()["stored_values"] == before, f"{ctx}: {key} stored again"
    mgr.delete("_index_check", "copy")


def check_size_vs_fresh(
    store: Path, tmp: Path, mgr: CheckpointManager, model: dict[Key, str], ctx: str
) -> None:
    fresh_dir = tmp / "fresh"
    fresh = CheckpointManager(fresh_dir)
    for key in sorted(model):
        records = mgr.load(*key)
        if key[0] in BATCH_STEPS:
            fresh.save_batch(BATCH_STEPS[key[0]], int(key[1].removeprefix("batch_")), records)
        else:
            fresh.save(*key, records)
    want = disk_usage(fresh_dir)
    if want >= 64 * 1024:  # below that, fixed per-file overhead dominates the ratio
        got = disk_usage(store)
        assert abs(got - want) <= 0.10 * want, f"{ctx}: {got} bytes after gc vs {want} fresh"


def slow(config: pytest.Config) -> bool:
    return os.environ.get("DOCETL_CHECKPOINT_SLOW") == "1" or bool(
        config.getoption("--run-slow", default=False)
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_seed" in metafunc.fixturenames:
        long = slow(metafunc.config)
        seeds = [
            (s, 10 if long else RUNS_PER_STORE) for s in range(SLOW_STORES if long else STORES)
        ]
        metafunc.parametrize(("store_seed", "runs"), seeds, ids=[f"store{s}" for s, _ in seeds])


def test_kill9_at_random_instants(tmp_path: Path, store_seed: int, runs: int) -> None:
    store = tmp_path / "store"
    model = kill_and_check(store, tmp_path, store_seed, runs)
    mgr = CheckpointManager(store)
    check_size_vs_fresh(store, tmp_path, mgr, model, f"store_seed={store_seed}")


@pytest.mark.parametrize("seed", [100, 101])
def test_kill9_mid_commit_on_s3(
    tmp_path: Path, seed: int, s3_url: str, s3_env: None, s3_endpoint: str
) -> None:
    """Writers on S3 killed at random instants: the store stays exactly what was
    committed, and gc (grace 0) then leaves no object a manifest does not name."""
    model = kill_and_check(s3_url, tmp_path, seed, RUNS_PER_STORE)
    CheckpointManager(s3_url, {"gc_grace_seconds": "0"}).gc()
    check_store(CheckpointManager(s3_url), model, "after gc with no grace")
    assert_bucket_collected(s3_endpoint, s3_url)


def assert_bucket_collected(endpoint: str, url: str) -> None:
    """Every data object is named by the manifest; one manifest generation is left."""
    manifests = store_objects(endpoint, url, "manifests")
    assert len(manifests) == 1, sorted(manifests)
    info = CheckpointManager(url).stats()
    files = store_objects(endpoint, url, "files")
    values = store_objects(endpoint, url, "values")
    assert sum(files.values()) + sum(values.values()) == info["dataset_size_bytes"] + (
        info["index_size_bytes"] - manifests[max(manifests)] + info["history_size_bytes"]
    ), (sorted(files), sorted(values), info)
    # live checkpoints and the earlier versions the policy kept
    versions = CheckpointManager(url)._store.all_versions()
    named = {e["file"].removeprefix(url + "/") for e in versions}
    assert set(files) == named, (sorted(files), sorted(named))


def kill_and_check(store: Path | str, tmp_path: Path, store_seed: int, runs: int) -> dict[Key, str]:
    """Kill writers `runs` times; after each, the store is exactly what was committed."""
    rng = random.Random(f"crash-{store_seed}")
    model: dict[Key, str] = {}
    commits = 0
    for run in range(runs):
        ctx = f"store_seed={store_seed} run={run}"
        journal = tmp_path / f"journal_{run}.jsonl"
        run_and_kill(store, journal, f"{store_seed}-{run}", str(store_seed), rng)
        events = read_journal(journal)
        commits += sum(ev["ev"] == "commit" for ev in events)
        inflight = replay(store, events, model, ctx)

        mgr = CheckpointManager(store)
        if inflight is not None and inflight["kind"] in ("save", "delete"):
            key = tuple(inflight["key"])
            now = observe(mgr, ctx)[key]
            allowed = {model.get(key), inflight.get("digest")}
            assert now in allowed, (
                f"{ctx}: interrupted {inflight['kind']}{key} left {now}, allowed {allowed}"
            )
            if now is None:
                model.pop(key, None)
            else:
                model[key] = now
        check_store(mgr, model, ctx)
        if not is_url(store) and (run % 2 == 1 or run == runs - 1):
            check_gc(Path(store), mgr, model, ctx)
    assert commits > 0, "the writer never committed anything: the test proved nothing"
    return model
