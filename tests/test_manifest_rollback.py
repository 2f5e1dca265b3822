"""Deleting the newest manifest generation of an object-store layout (S3 and
`file://`; issue 16).

The store cannot tell a deleted newest generation from one never written: it
rolls back to the previous generation (docs/reliability.md says so). What holds
either way: every read then shows exactly what that earlier commit held, or
names the damage; never wrong data, never a mix of two generations; and no
commit made after the deletion is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError
from helpers.s3objects import delete_objects, list_objects

Open = Callable[[], CheckpointManager]


@pytest.fixture(params=["s3", "file"])
def layout(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Open, Callable[[], None]]:
    """(open a manager, delete the newest manifest generation behind its back)."""
    if request.param == "file":
        folder = tmp_path / "store"
        manifests = folder / ".docetl_checkpoint" / "manifests"
        return (
            lambda: CheckpointManager(f"file://{folder}"),
            lambda: max(manifests.iterdir()).unlink(),
        )
    url: str = request.getfixturevalue("s3_url")
    options: dict[str, str] = request.getfixturevalue("s3_options")

    def delete_newest() -> None:
        keys = [k for k in list_objects(options["endpoint"], url) if "/manifests/" in "/" + k]
        delete_objects(options["endpoint"], url, [max(keys)])

    return lambda: CheckpointManager(url, storage_options=options), delete_newest


def test_a_deleted_newest_generation_shows_the_one_before_exactly(
    layout: tuple[Open, Callable[[], None]],
) -> None:
    open_store, delete_newest = layout
    mgr = open_store()
    first = [{"id": i, "text": f"first {i} " * 40} for i in range(5)]
    mgr.save("s", "a", first)
    mgr.save("s", "b", [{"text": "second " * 60}])
    delete_newest()
    fresh = open_store()
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
    layout: tuple[Open, Callable[[], None]],
) -> None:
    """The generation number is taken again by the next save; the store stays whole."""
    open_store, delete_newest = layout
    mgr = open_store()
    mgr.save("s", "a", [{"x": 1}])
    mgr.save("s", "b", [{"x": 2}])
    delete_newest()
    try:
        open_store().save("s", "c", [{"x": 3}])
    except CorruptCheckpointError:
        pytest.skip("the rollback is detected: nothing commits on top of it")
    again = open_store()
    assert again.list() == [("s", "a"), ("s", "c")]
    assert again.load("s", "c") == [{"x": 3}]
    assert again.verify()["ok"] is True


def test_a_manager_that_saw_the_deleted_generation_loses_no_later_commit(
    layout: tuple[Open, Callable[[], None]],
) -> None:
    """A manager opened before the deletion knows generation g (now gone); after
    another writer commits a new g on top of g-1, its reads and commits must
    not be based on the g it remembers: nothing the other writer saved is lost."""
    open_store, delete_newest = layout
    old = open_store()
    old.save("s", "a", [{"x": 1}])
    old.save("s", "b", [{"x": 2}])
    delete_newest()
    try:
        open_store().save("s", "c", [{"x": 3}])
    except CorruptCheckpointError:
        pytest.skip("the rollback is detected: nothing commits on top of it")
    try:
        old.save("s", "d", [{"x": 4}])
    except CorruptCheckpointError:
        return  # detected on this side: loud, nothing lost
    final = open_store()
    assert ("s", "c") in final.list(), final.list()
    assert final.load("s", "c") == [{"x": 3}]
    assert final.load("s", "d") == [{"x": 4}]
