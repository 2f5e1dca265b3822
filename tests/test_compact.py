"""Compaction (issue 12): small segments merged into large ones at a strong
level, every checkpoint unchanged, safe beside writers; gc ends with it."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from pathlib import Path

from docetl_checkpoint import CheckpointManager
from helpers.store import index_files, value_files


def segments(store: Path) -> list[Path]:
    """The value segments (not their persisted indexes)."""
    return [p for p in value_files(store) if p.suffix == ".parquet"]


def indexes(store: Path) -> list[Path]:
    return index_files(store)


def words(rng: random.Random, n: int) -> str:
    vocab = ["court", "filing", "motion", "order", "party", "claim", "the", "of", "and", "a"]
    return " ".join(rng.choice(vocab) + str(rng.randrange(50)) for _ in range(n))


def many_saves(mgr: CheckpointManager, rounds: int = 12) -> dict[tuple[str, str], list]:
    rng = random.Random(7)
    saved = {}
    for r in range(rounds):
        records = [{"id": i, "text": words(rng, 600), "round": r} for i in range(8)]
        mgr.save(f"step{r % 3}", f"op{r}", records)
        saved[(f"step{r % 3}", f"op{r}")] = records
    return saved


def test_compaction_merges_and_keeps_every_checkpoint(store_dir: Path) -> None:
    mgr = CheckpointManager(store_dir)
    saved = many_saves(mgr)
    count, size = (
        len(segments(store_dir)),
        sum(p.stat().st_size for p in segments(store_dir)),
    )
    assert count == 12
    report = mgr.compact()
    assert report["segments_merged"] == 12 and report["segments_written"] == 1
    assert report["bytes_after"] < report["bytes_before"] == size
    assert len(segments(store_dir)) == 1
    assert len(indexes(store_dir)) == 1  # its persisted dedup index
    fresh = CheckpointManager(store_dir)
    for key, records in saved.items():
        assert fresh.load(*key) == records
        assert fresh.sample(*key, 2).num_rows == 2
    assert fresh.verify()["ok"] is True
    assert fresh.compact()["segments_merged"] == 0  # compacted segments stay
    # new saves dedup against compacted values and are merged by the next gc
    fresh.save("again", "op", saved[("step0", "op0")])
    assert len(segments(store_dir)) == 1
    # gc compacts once 16 segments saves wrote have piled up, not before
    for i in range(15):
        fresh.save("new", f"op{i}", [{"text": f"fresh text {i} " * 500}])
    assert fresh.gc()["segments_compacted"] == 0
    fresh.save("new", "op15", [{"text": "fresh text 15 " * 500}])
    assert fresh.gc()["segments_compacted"] == 16
    assert len(segments(store_dir)) == 2 and len(indexes(store_dir)) == 2
    assert fresh.load("new", "op3") == [{"text": "fresh text 3 " * 500}]


def test_compaction_beside_a_writer(store_location: str) -> None:
    mgr = CheckpointManager(store_location)
    saved = many_saves(mgr, rounds=6)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            other = CheckpointManager(store_location)
            rng = random.Random(3)
            for i in range(6):
                records = [{"id": i, "text": words(rng, 400)}]
                other.save("writer", f"w{i}", records)
                saved[("writer", f"w{i}")] = records
        except BaseException as e:  # noqa: B036 (reported below)
            errors.append(e)

    thread = threading.Thread(target=write)
    thread.start()
    for _ in range(3):
        CheckpointManager(store_location).compact()
    thread.join()
    assert not errors, errors
    CheckpointManager(store_location).compact()
    fresh = CheckpointManager(store_location)
    for key, records in saved.items():
        assert fresh.load(*key) == records, key
    assert fresh.verify()["ok"] is True


def test_compact_from_the_cli(store_dir: Path) -> None:
    many_saves(CheckpointManager(store_dir), rounds=4)
    done = subprocess.run(
        [sys.executable, "-m", "docetl_checkpoint.cli", "compact", str(store_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("merged 4 value segments into 1")
