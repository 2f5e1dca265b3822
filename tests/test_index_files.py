"""Persisted dedup indexes (issue 12): every save on a local folder indexes the
segment it writes, so a new process's first save looks its hashes up there
instead of reading every segment. Index files are derived data: damaged or
missing, they cost no value and no duplicate (the save reads the segments and
indexes them again), and verify reports them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from docetl_checkpoint import CheckpointManager
from helpers.damage import DAMAGES, damage
from helpers.store import index_files, meta_dir, value_files

SAVES = 30


def doc(i: int) -> dict[str, object]:
    return {"id": i, "text": f"document {i} " + os.urandom(2000).hex()}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """30 saves of 20 new documents each: 30 segments, none compacted."""
    root = tmp_path_factory.mktemp("index") / "store"
    m = CheckpointManager(root)
    docs = [doc(i) for i in range(SAVES * 20)]
    for s in range(SAVES):
        m.save("s", f"op{s}", docs[20 * s : 20 * s + 20])
    return root, docs


def copy(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)  # keeps hardlinks
    return dst


def manifest_json(root: Path) -> dict:
    return json.loads((meta_dir(root) / "manifest.json").read_text().splitlines()[0])


def rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_a_new_process_save_reads_no_segment(pristine, tmp_path: Path) -> None:
    root = copy(pristine[0], tmp_path / "s")
    docs = pristine[1]
    segments = manifest_json(root)["segments"]
    assert len(segments) == SAVES and all(s.get("index") for s in segments)
    # a binary counter of merged files: far fewer index files than segments
    assert len(index_files(root)) <= 5, index_files(root)
    segment_bytes = sum(p.stat().st_size for p in value_files(root))
    # the same save into a copy without index files reads every segment's hashes
    unindexed = copy(root, tmp_path / "unindexed")
    for p in index_files(unindexed):
        p.unlink()
    records = [docs[i] for i in range(0, len(docs), 7)] + [doc(10_000)]
    before = rchar()
    CheckpointManager(unindexed).save("s", "picked", records)
    read_all = rchar() - before
    m = CheckpointManager(root)
    before = rchar()
    m.save("s", "picked", records)
    read = rchar() - before
    # the 86 stored texts are found in the index files: a fraction of what
    # reading the segments' hash columns takes, nothing like their size
    assert read < read_all / 4, (read, read_all)
    assert read < segment_bytes / 20, (read, segment_bytes)
    assert m.stats()["stored_values"] == SAVES * 20 + 1
    assert CheckpointManager(root).load("s", "picked") == records


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_index_loses_nothing_and_verify_names_it(
    pristine, tmp_path: Path, kind: str
) -> None:
    root = copy(pristine[0], tmp_path / "s")
    docs = pristine[1]
    target = index_files(root)[0]
    damage(target, kind)
    m = CheckpointManager(root)
    for s in range(SAVES):
        assert m.load("s", f"op{s}") == docs[20 * s : 20 * s + 20]
    report = m.verify()
    assert report["ok"] is False
    assert target.name in str(report["damaged_segments"]), report
    assert len(report["intact"]) == SAVES and report["damaged"] == []
    # a new process's save stores no value twice, and indexes the segments
    # it had to read: the damaged file is replaced
    fresh = CheckpointManager(root)
    fresh.save("s", "again", docs[::3])
    assert fresh.stats()["stored_values"] == SAVES * 20
    assert CheckpointManager(root).load("s", "again") == docs[::3]
    assert not target.exists() or kind == "delete"
    assert CheckpointManager(root).verify()["ok"] is True


def test_gc_removes_index_files_with_their_segments(pristine, tmp_path: Path) -> None:
    root = copy(pristine[0], tmp_path / "s")
    m = CheckpointManager(root)
    for s in range(SAVES):
        if s % 3:
            m.delete("s", f"op{s}")
    m.gc(keep_versions=1)  # the deleted checkpoints keep no version
    named = {s["index"] for s in manifest_json(root)["segments"] if s.get("index")}
    assert {f"values/{p.name}" for p in index_files(root)} == named
    for s in range(SAVES):
        m.delete("s", f"op{s}")
    m.gc(keep_versions=1)
    assert index_files(root) == [] and value_files(root) == []
