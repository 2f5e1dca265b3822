"""A missing file of any kind is loud or harmless, never silent loss (issue 16).

Each kind a sync tool, a partial copy or a careless `rm` can remove: a
checkpoint file, a value segment, the manifest, the files/ or values/ folder
(damage: every read path returns exactly what it did or names what is missing;
verify fails), a `<step>/<op>.parquet` link or the lock file (housekeeping:
every read is exact, verify passes, and the store repairs it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError
from helpers.damage import build
from helpers.read_paths import Baseline
from helpers.store import data_files, link_path, manifest, meta_dir, value_files

# removes one kind of file from a store; returns the names an error may give it
Remove = Callable[[Path], list[str]]


def one_file(pick: Callable[[Path], list[Path]], index: int) -> Remove:
    def remove(store: Path) -> list[str]:
        target = pick(store)[index]
        target.unlink()
        return [target.name]

    return remove


def folder(name: str) -> Remove:
    def remove(store: Path) -> list[str]:
        names = [p.name for p in (meta_dir(store) / name).iterdir()]
        shutil.rmtree(meta_dir(store) / name)
        return names

    return remove


def the_manifest(store: Path) -> list[str]:
    manifest(store).unlink()
    return ["manifest"]


DAMAGE: dict[str, Remove] = {
    "checkpoint file": one_file(data_files, 0),
    "last checkpoint file": one_file(data_files, -1),
    "value segment": one_file(value_files, 0),
    "last value segment": one_file(value_files, -1),
    "manifest": the_manifest,
    "files folder": folder("files"),
    "values folder": folder("values"),
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return Baseline(tmp_path_factory.mktemp("missing"), build)


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_missing_file_is_named_by_every_read_path(
    baseline: Baseline, tmp_path: Path, kind: str
) -> None:
    store = baseline.copy(tmp_path / "case")
    names = DAMAGE[kind](store)
    assert not (found := baseline.check(store, names)), "\n".join(found)
    report = CheckpointManager(store).verify()
    assert report["ok"] is False
    assert any(n in str(report) for n in names), report


def test_a_missing_manifest_fails_every_read(baseline: Baseline, tmp_path: Path) -> None:
    """Not one read may answer from a store whose manifest is gone (it would
    look empty): each raises, naming the manifest and the way out."""
    store = baseline.copy(tmp_path / "case")
    manifest(store).unlink()
    mgr = CheckpointManager(store)
    reads = [
        lambda: mgr.load("s1", "map"),
        lambda: mgr.head("s1", "map", 1),
        lambda: mgr.sample("s1", "map", 1),
        lambda: mgr.reader("s1", "map"),
        lambda: list(mgr.iter_records("s1", "map")),
        lambda: mgr.record_hashes("s1", "map"),
        lambda: mgr.load("never", "saved"),  # not a None: the store cannot know
    ]
    for read in reads:
        with pytest.raises(CorruptCheckpointError, match="manifest is missing.*recover"):
            read()


def test_a_missing_link_is_housekeeping_gc_restores(baseline: Baseline, tmp_path: Path) -> None:
    store = baseline.copy(tmp_path / "case")
    links = [link_path(store, k) for k in baseline.keys]
    for link in links[::2]:
        link.unlink()
    assert not (found := baseline.check(store, [], damaged=False)), "\n".join(found)
    mgr = CheckpointManager(store)
    assert mgr.verify()["ok"] is True
    mgr.gc()
    assert all(link.exists() for link in links)


def test_a_missing_lock_file_is_recreated(baseline: Baseline, tmp_path: Path) -> None:
    store = baseline.copy(tmp_path / "case")
    lock = meta_dir(store) / "lock"
    lock.unlink()
    assert not (found := baseline.check(store, [], damaged=False)), "\n".join(found)
    mgr = CheckpointManager(store)
    mgr.save("after", "lock", [{"ok": True}])
    assert lock.exists()
    assert CheckpointManager(store).load("after", "lock") == [{"ok": True}]
    assert mgr.verify()["ok"] is True


@pytest.mark.parametrize("kind", ["checkpoint file", "manifest", "values folder"])
def test_the_cli_names_a_missing_file_in_one_line(
    baseline: Baseline, tmp_path: Path, kind: str
) -> None:
    """In a real process: no traceback and no Rust panic message on stderr."""
    store = baseline.copy(tmp_path / "case")
    names = DAMAGE[kind](store)
    out = str(tmp_path / "out.jsonl")
    for args in (["ls"], ["stats"], ["show", "s1", "map"], ["export", "s1", "map", out]):
        done = subprocess.run(
            [sys.executable, "-m", "docetl_checkpoint.cli", args[0], str(store), *args[1:]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode == 0:  # ls and stats read only the manifest
            assert args[0] in ("ls", "stats") and kind != "manifest", done.stdout
            continue
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert len(done.stderr.splitlines()) == 1, done.stderr
        assert any(n in done.stderr for n in names), done.stderr
        assert "panicked" not in done.stderr and "Traceback" not in done.stderr
