"""Deterministic record generators and digests shared by tests and worker processes.

Everything here depends only on its seed, so a worker process and the test that
checks its output compute the same records and digests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from typing import Any

Record = dict[str, Any]

# The key universe of the crash writer: a few steps/ops so ops collide often.
STEPS = ("s0", "s1", "s2")
OPS = ("map", "filter", "reduce")
BATCH_OPS = ("extract", "classify")
BATCH_INDEXES = (0, 1, 2)


def batch_key(op: str, index: int) -> tuple[str, str]:
    """Same as `docetl_checkpoint.manager.batch_key`, importable without the extension."""
    return f"{op}_batches", f"batch_{index}"


def all_keys() -> list[tuple[str, str]]:
    keys = [(s, o) for s in STEPS for o in OPS]
    keys += [batch_key(o, i) for o in BATCH_OPS for i in BATCH_INDEXES]
    return keys


def digest(records: Any) -> str:
    """sha256 of json.dumps: equal iff values, types, key order and missing keys are equal."""
    return hashlib.sha256(json.dumps(records).encode()).hexdigest()


def big_string(rng: random.Random, lo: int, hi: int) -> str:
    """An incompressible-ish (base64 of random bytes) string of lo..hi characters."""
    n = rng.randint(lo, hi)
    return base64.b64encode(rng.randbytes(n * 3 // 4 + 3)).decode()[:n]


def make_pool(seed: Any, n: int = 8, lo: int = 4_000, hi: int = 16_000) -> list[str]:
    """Large values shared between checkpoints (dedup candidates)."""
    rng = random.Random(f"pool-{seed}")
    return [big_string(rng, lo, hi) for _ in range(n)]


def make_records(
    rng: random.Random,
    pool: list[str],
    n_min: int = 1,
    n_max: int = 5,
    p_shared: float = 0.5,
    big: tuple[int, int] = (2_000, 20_000),
) -> list[Record]:
    """DocETL-shaped records: a large text (shared from `pool` or fresh), small typed fields."""
    if rng.random() < 0.04:
        return []
    records = []
    for i in range(rng.randint(n_min, n_max)):
        text = rng.choice(pool) if rng.random() < p_shared else big_string(rng, *big)
        rec: Record = {
            "id": rng.randrange(-(2**40), 2**40),
            "text": text,
            "summary": f"summary {rng.random():.6f}",
            "score": rng.random() * 100,
            "ok": rng.random() < 0.5,
            "tags": [f"t{rng.randrange(9)}" for _ in range(rng.randrange(4))],
            "meta": {"row": i, "src": rng.choice(["a", "b", None])},
        }
        if rng.random() < 0.3:
            rec["extra"] = None
        if rng.random() < 0.2:
            del rec["summary"]
        if rng.random() < 0.2:
            rec["notes"] = big_string(rng, *big)
        records.append(rec)
    return records


def seeded_records(*seed_parts: Any, pool: list[str] | None = None, **kw: Any) -> list[Record]:
    """Records determined by `seed_parts` alone (used by workers and their checkers)."""
    rng = random.Random("-".join(map(str, seed_parts)))
    return make_records(rng, pool if pool is not None else make_pool("default"), **kw)


# -- records of the concurrency workers (helpers/worker.py) --------------------


def save_records(step: str, t: int, k: int) -> list[Record]:
    return seeded_records("save", step, t, k)


def same_records(version: int) -> list[Record]:
    return seeded_records("same", version, n_min=2, n_max=6)


def churn_records(name: str, key: str, round_: int) -> list[Record]:
    rng = random.Random(f"churn-{name}-{key}-{round_}")
    return make_records(rng, make_pool("churn", n=6), n_min=2, n_max=5, p_shared=0.8)
