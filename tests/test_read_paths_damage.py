"""Damage is loud on every read path (issue 16): for every file of a store and
each kind of damage, every API read (load, head, table, sample, reader,
iter_records, info, record_hashes, list, entries, stats; with and without
column choices) and every CLI read command (ls, show, info, stats, verify,
export, diff) returns exactly what it returned before the damage, or names the
damaged file: CorruptCheckpointError from the API, one line on stderr and a
non-zero status from the CLI. tests/test_corruption.py checks the rest of the
contract (which loads must fail, what verify reports)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.damage import TARGETS, build, damage, targets
from helpers.read_paths import Baseline, Outcome

# tests/test_corruption.py tries every kind of damage on load, head and table;
# here one of each family keeps the matrix (11 files x 6 kinds x ~100 reads) fast.
DAMAGES = ["flip_start", "flip_middle", "flip_end", "truncate_half", "truncate_all", "delete"]
CASES = [(t, d) for t in TARGETS for d in DAMAGES if (t, d) != ("manifest", "delete")]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    return Baseline(tmp_path_factory.mktemp("read-paths"), build)


def test_baseline_reads_all_succeed(baseline: Baseline) -> None:
    assert len(baseline.keys) == 6
    failed = {n: o for n, o in baseline.api.items() if o.error is not None}
    failed |= {n: o for n, o in baseline.cli.items() if o.status != 0 or o.error is not None}
    assert not failed, failed
    assert all(isinstance(o, Outcome) for o in baseline.api.values())


@pytest.mark.parametrize(("which", "kind"), CASES)
def test_every_read_path_is_exact_or_names_the_damage(
    baseline: Baseline, tmp_path: Path, which: str, kind: str
) -> None:
    found = []
    for i, target in enumerate(targets(baseline.pristine, which)):
        store = baseline.copy(tmp_path / f"case{i}")
        damage(targets(store, which)[i], kind)
        found += [
            f"[{which}/{target.name} {kind}] {p}" for p in baseline.check(store, [target.name])
        ]
    assert not found, "\n".join(found)
