"""Damage to a store's files, and the store the damage matrices start from.

Shared by tests/test_corruption.py (what load, head, table, list and verify do)
and tests/test_read_paths_damage.py (every other read path and the CLI).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from docetl_checkpoint import CheckpointManager

from helpers.data import big_string
from helpers.store import data_files, manifest, value_files

DAMAGES = [
    "flip_start",
    "flip_quarter",
    "flip_middle",
    "flip_3quarter",
    "flip_end",
    "truncate_half",
    "truncate_last",
    "truncate_all",
    "delete",
]
TARGETS = ["manifest", "files", "values"]


def build(path: Path) -> None:
    fill(CheckpointManager(path))


def fill(mgr: CheckpointManager) -> None:
    """Checkpoints sharing large values, one with small values only, batches."""
    rng = random.Random("corruption")
    pool = [big_string(rng, 8_000, 12_000) for _ in range(6)]
    mapped = [{"id": i, "text": pool[i], "summary": f"s{i}", "score": i / 3} for i in range(4)]
    mgr.save("s1", "map", mapped)
    mgr.save("s1", "filter", [dict(r, keep=True) for r in mapped[:2]])
    mgr.save(
        "s2", "unnest", [{"id": i, "word": f"w{i}", "n": i * 1.5, "flag": None} for i in range(5)]
    )
    mgr.save(
        "s2",
        "reduce",
        [{"group": "g", "all": big_string(rng, 20_000, 30_000), "ids": [0, 1, 2, 3]}],
    )
    mgr.save_batch("map", 0, [{"id": 0, "text": pool[4], "x": big_string(rng, 5_000, 6_000)}])
    mgr.save_batch("map", 1, [{"id": 1, "text": pool[5], "x": {"nested": [1, 2.5, "three"]}}])


def damage(path: Path, kind: str) -> None:
    data = path.read_bytes()
    n = len(data)
    if kind.startswith("flip"):
        offset = {"flip_start": 0, "flip_quarter": n // 4, "flip_middle": n // 2}.get(kind)
        offset = {"flip_3quarter": 3 * n // 4, "flip_end": n - 1}.get(kind, offset)
        buf = bytearray(data)
        buf[offset] ^= 0x01  # a single bit: the subtlest damage
        path.write_bytes(bytes(buf))  # same inode, so the hardlinks see it too
    elif kind == "truncate_half":
        os.truncate(path, n // 2)
    elif kind == "truncate_last":
        os.truncate(path, n - 1)
    elif kind == "truncate_all":
        os.truncate(path, 0)
    else:
        path.unlink()


def targets(store: Path, which: str) -> list[Path]:
    if which == "manifest":
        return [manifest(store)]
    return data_files(store) if which == "files" else value_files(store)
