"""Deleting the newest manifest generation of an S3 store (issue 16).

The store cannot tell a deleted newest generation from one never written: it
rolls back to the previous generation (docs/reliability.md says so). What holds
either way: every read then shows exactly what that earlier commit held, or
names the damage; never wrong data, never a mix of two generations."""

from __future__ import annotations

import pytest
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError
from helpers.s3objects import delete_objects, list_objects


def test_a_deleted_newest_generation_shows_the_one_before_exactly(
    s3_url: str, s3_options: dict[str, str]
) -> None:
    mgr = CheckpointManager(s3_url, storage_options=s3_options)
    first = [{"id": i, "text": f"first {i} " * 40} for i in range(5)]
    mgr.save("s", "a", first)
    mgr.save("s", "b", [{"text": "second " * 60}])
    manifests = sorted(
        k for k in list_objects(s3_options["endpoint"], s3_url) if "/manifests/" in "/" + k
    )
    delete_objects(s3_options["endpoint"], s3_url, [manifests[-1]])

    fresh = CheckpointManager(s3_url, storage_options=s3_options)
    try:
        listed = fresh.list()
    except CorruptCheckpointError as exc:  # detected: it must say what is missing
        assert "manifest" in str(exc)
        return
    assert listed == [("s", "a")]
    assert fresh.load("s", "a") == first
    assert fresh.load("s", "b") is None
    assert fresh.verify()["ok"] is True


def test_a_writer_after_the_rollback_commits_on_top(
    s3_url: str, s3_options: dict[str, str]
) -> None:
    """The generation number is taken again by the next save; the store stays whole."""
    mgr = CheckpointManager(s3_url, storage_options=s3_options)
    mgr.save("s", "a", [{"x": 1}])
    mgr.save("s", "b", [{"x": 2}])
    manifests = sorted(
        k for k in list_objects(s3_options["endpoint"], s3_url) if "/manifests/" in "/" + k
    )
    delete_objects(s3_options["endpoint"], s3_url, [manifests[-1]])
    fresh = CheckpointManager(s3_url, storage_options=s3_options)
    try:
        fresh.save("s", "c", [{"x": 3}])
    except CorruptCheckpointError:
        pytest.skip("the rollback is detected: nothing commits on top of it")
    again = CheckpointManager(s3_url, storage_options=s3_options)
    assert again.list() == [("s", "a"), ("s", "c")]
    assert again.load("s", "c") == [{"x": 3}]
    assert again.verify()["ok"] is True


def test_a_manager_that_saw_the_deleted_generation_loses_no_later_commit(
    s3_url: str, s3_options: dict[str, str]
) -> None:
    """A manager opened before the deletion knows generation g (now gone); after
    another writer commits a new g on top of g-1, its reads and commits must
    not be based on the g it remembers: nothing the other writer saved is lost."""
    old = CheckpointManager(s3_url, storage_options=s3_options)
    old.save("s", "a", [{"x": 1}])
    old.save("s", "b", [{"x": 2}])
    manifests = sorted(
        k for k in list_objects(s3_options["endpoint"], s3_url) if "/manifests/" in "/" + k
    )
    delete_objects(s3_options["endpoint"], s3_url, [manifests[-1]])
    other = CheckpointManager(s3_url, storage_options=s3_options)
    try:
        other.save("s", "c", [{"x": 3}])
    except CorruptCheckpointError:
        pytest.skip("the rollback is detected: nothing commits on top of it")
    try:
        old.save("s", "d", [{"x": 4}])
    except CorruptCheckpointError:
        return  # detected on this side: loud, nothing lost
    final = CheckpointManager(s3_url, storage_options=s3_options)
    assert ("s", "c") in final.list(), final.list()
    assert final.load("s", "c") == [{"x": 3}]
    assert final.load("s", "d") == [{"x": 4}]
