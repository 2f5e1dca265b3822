"""History under real DocETL 0.3.0 runs (offline): every run that recomputes
an operation adds a version stamped with the run, reruns are reused as before,
and `runs()` tells the runs apart (docs/history.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.docetl import install, uninstall
from docetl_helpers import (
    ALL_OPS,
    DOCETL_MARKS,
    LOG_ENV,
    TAG,
    Run,
    make_docs,
    pipeline_config,
    run_pipeline,
    write_json,
)

pytestmark = DOCETL_MARKS


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any) -> Iterator[Path]:
    log = tmp_path / "calls"
    log.mkdir()
    monkeypatch.setenv(LOG_ENV, str(log))
    write_json(tmp_path / "data.json", make_docs())
    yield tmp_path
    uninstall()


def run(root: Path, tag_code: str = TAG) -> Run:
    config = pipeline_config(
        root / "data.json", root / "inter", root / "out.json", tag_code=tag_code
    )
    with install():
        return run_pipeline(config)


def test_an_edit_adds_versions_of_what_it_recomputed_only(setup: Path) -> None:
    first = run(setup)
    assert first.saved == ALL_OPS
    second = run(setup)  # nothing changed: everything reused, no version added
    assert second.saved == []
    third = run(setup, TAG.replace('"version": 1', '"version": 2'))
    assert set(third.saved) == {("enrich", "tag"), ("report", "per_keyword"), ("report", "by_kw")}
    m = CheckpointManager(setup / "inter")
    tag = m.versions("enrich", "tag")
    assert [(v["version"], v["latest"]) for v in tag] == [(1, False), (2, True)]
    assert tag[0]["op_hash"] != tag[1]["op_hash"] and all(v["op_hash"] for v in tag)
    assert [v["version"] for v in m.versions("enrich", "stats")] == [1]
    old, new = m.load("enrich", "tag", version=-2), m.load("enrich", "tag")
    assert {r["version"] for r in old} == {1} and {r["version"] for r in new} == {2}
    # each version names the run that computed it
    runs = m.runs()
    assert len(runs) == 2
    assert runs[0]["run_id"] == tag[0]["run_id"] and runs[1]["run_id"] == tag[1]["run_id"]
    assert runs[0]["pipeline"] == "out.json"  # unnamed pipelines go by their output file
    assert {(c["step"], c["op"]) for c in runs[0]["checkpoints"]} == set(ALL_OPS)
    assert {(c["step"], c["op"]) for c in runs[1]["checkpoints"]} == set(third.saved)
    assert runs[0]["started_at"] < runs[1]["started_at"]
    # the DocETL run reuses the latest version, whatever history holds
    assert run(setup, TAG.replace('"version": 1', '"version": 2')).saved == []


def test_clear_intermediate_keeps_history_and_retention_drops_it(setup: Path) -> None:
    first = run(setup)
    first.runner.clear_intermediate()
    m = CheckpointManager(setup / "inter")
    assert m.list() == []
    assert all([v["version"] for v in m.versions(s, o)] == [1] for s, o in ALL_OPS)
    assert run(setup).saved == ALL_OPS  # nothing reused from history
    assert all(len(m.versions(s, o)) == 2 for s, o in ALL_OPS)
    m.gc(keep_versions=1)
    assert all(len(m.versions(s, o)) == 1 for s, o in ALL_OPS)
