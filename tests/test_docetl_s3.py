"""DocETL 0.3.0 with `intermediate_dir: s3://...`: a real pipeline, offline, its
checkpoints on the SeaweedFS test server through the adapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.docetl import CheckpointStore, install, uninstall
from docetl_helpers import (
    ALL_OPS,
    DOCETL_MARKS,
    LOG_ENV,
    TAG,
    calls,
    make_docs,
    pipeline_config,
    run_pipeline,
    write_json,
)

pytestmark = DOCETL_MARKS


def test_pipeline_checkpoints_on_s3_are_reused_by_a_second_run(
    docetl: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_url: str,
    s3_env: None,
) -> None:
    log = tmp_path / "calls"
    log.mkdir()
    monkeypatch.setenv(LOG_ENV, str(log))
    data = tmp_path / "data.json"
    write_json(data, make_docs())
    config = pipeline_config(data, s3_url, tmp_path / "out.json")
    try:
        with install():
            first = run_pipeline(config)
        assert isinstance(first.store, CheckpointStore)
        assert sorted(first.saved) == sorted(ALL_OPS) and first.reused == []
        stored = CheckpointManager(s3_url)
        assert sorted(stored.list()) == sorted(ALL_OPS)
        assert stored.verify()["ok"] is True

        before = calls(log)
        with install():
            second = run_pipeline(config)
        assert second.output == first.output
        assert second.saved == [], "every operation was reused from S3"
        assert calls(log) == before, "no operation ran again"

        edited = pipeline_config(
            data,
            s3_url,
            tmp_path / "out.json",
            tag_code=TAG.replace('"version": 1', '"version": 2'),
        )
        with install():
            third = run_pipeline(edited)
        assert ("enrich", "tag") in third.saved
        assert all(r["version"] == 2 for r in CheckpointManager(s3_url).load("enrich", "tag"))
    finally:
        uninstall()
