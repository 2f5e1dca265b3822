"""End-to-end: folders written by DocETL's store, exports, and flushed batches.

Real DocETL 0.3.0 pipelines, offline, DocETL's own store as the reference:
`clear_intermediate()` on a folder whose DocETL config is damaged, folders
imported with `docetl-checkpoint import-docetl` gaining input digests once a
run checked them, `export_docetl` to a `file://` URL, and `load_batches`
returning only the current run's batches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_json_identical
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.cli import main as cli_main
from docetl_checkpoint.docetl import (
    CONFIG_NAME,
    CheckpointStore,
    export_docetl,
    install,
    is_installed,
    uninstall,
)
from docetl_helpers import (
    ALL_OPS,
    DOCETL_MARKS,
    LOG_ENV,
    Run,
    calls,
    docetl_json_checkpoints,
    docetl_json_files,
    label_config,
    make_docs,
    no_network,
    pipeline_config,
    run_pipeline,
    write_json,
)

pytestmark = DOCETL_MARKS

LAST = ("report", "by_kw")


@dataclass
class Work:
    root: Path
    data: Path

    def inter(self, name: str) -> Path:
        return self.root / name / "intermediates"

    def config(self, name: str) -> dict[str, Any]:
        return pipeline_config(self.data, self.inter(name), self.root / name / "out.json")


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any) -> Iterator[Work]:
    (tmp_path / "calls").mkdir()
    monkeypatch.setenv(LOG_ENV, str(tmp_path / "calls"))
    data = tmp_path / "data.json"
    write_json(data, make_docs(8))
    yield Work(tmp_path, data)
    uninstall()


def run_ours(config: dict[str, Any]) -> Run:
    with install():
        run = run_pipeline(config)
    assert isinstance(run.store, CheckpointStore)
    return run


def run_docetl(config: dict[str, Any]) -> Run:
    assert not is_installed()
    return run_pipeline(config)


def edit_input(work: Work) -> None:
    docs = make_docs(8)
    docs[2]["text"] += " harbor" * 50
    write_json(work.data, docs)


# -- clear_intermediate() ----------------------------------------------------------------


def test_clear_intermediate_with_a_damaged_docetl_config_recovers_as_docetl(work: Work) -> None:
    from docetl.runner import DSLRunner

    for name in ("docetl", "ours"):
        run_docetl(work.config(name))
        (work.inter(name) / CONFIG_NAME).write_text('{"enrich": {"stats": ')  # cut short
    DSLRunner(work.config("docetl")).clear_intermediate()
    assert not work.inter("docetl").exists()  # DocETL deletes the folder

    with install():
        DSLRunner(work.config("ours")).clear_intermediate()  # used to raise ValueError
    assert docetl_json_files(work.inter("ours")) == []
    assert CheckpointManager(str(work.inter("ours"))).entries() == []
    again = run_ours(work.config("ours"))
    assert again.reused == []
    assert again.saved == ALL_OPS


# -- import-docetl -------------------------------------------------------------------------


def test_imported_checkpoints_gain_input_digests_once_a_run_checked_them(
    work: Work, capsys: pytest.CaptureFixture[str]
) -> None:
    config = work.config("shared")
    inter = work.inter("shared")
    theirs = run_docetl(config)
    assert cli_main(["import-docetl", str(inter)]) == 0
    capsys.readouterr()
    manager = CheckpointManager(str(inter))
    assert all("docetl_inputs" not in manager.info(s, o)["meta"] for s, o in ALL_OPS)

    checked = run_ours(config)  # reused on the op hash alone, as DocETL would
    assert checked.reused == [LAST]
    assert_json_identical(checked.output, theirs.output)
    for step, op in ALL_OPS:  # every imported checkpoint of this pipeline is tagged now
        recorded = json.loads(manager.info(step, op)["meta"]["docetl_inputs"])
        assert recorded["docs"].startswith("blake2b:")

    edit_input(work)
    before = calls(work.root / "calls")
    after_edit = run_ours(config)
    assert after_edit.reused == []  # nothing computed from the old input is reused
    assert after_edit.saved == ALL_OPS
    assert calls(work.root / "calls") != before
    fresh = run_docetl(work.config("fresh"))
    assert len(after_edit.output) == len(fresh.output)
    assert after_edit.output != checked.output


# -- export_docetl to a file:// URL -----------------------------------------------------------


def test_export_to_a_file_url_writes_that_folder(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_ours(work.config("ours"))
    cwd = work.root / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    dest = work.root / "exported"
    written = export_docetl(str(work.inter("ours")), dest.as_uri())
    assert str(dest / CONFIG_NAME) in written
    assert list(cwd.iterdir()) == []  # no folder named `file:` here
    exported = docetl_json_checkpoints(dest)
    manager = CheckpointManager(str(work.inter("ours")))
    assert sorted(exported) == manager.list()
    for (step, op), records in exported.items():
        assert_json_identical(records, manager.load(step, op))

    with pytest.raises(ValueError, match="local folder"):
        export_docetl(str(work.inter("ours")), "s3://bucket/prefix")


# -- load_batches ---------------------------------------------------------------------------


def test_load_batches_returns_only_the_current_runs_batches(work: Work) -> None:
    write_json(work.data, make_docs(10))
    configs = {
        name: label_config(work.data, work.inter(name), work.root / name / "out.json")
        for name in ("docetl", "ours")
    }
    with no_network():
        run_docetl(configs["docetl"])
        first = run_ours(configs["ours"])
        assert first.store.list_batches("label") == [0, 1, 2]
        write_json(work.data, make_docs(3))  # a smaller input: one batch this time
        run_docetl(configs["docetl"])
        second = run_ours(configs["ours"])

    # DocETL's folder: the new batch 0 beside batches 1 and 2 of the first run
    their_batches = sorted(p.name for p in (work.inter("docetl") / "label_batches").iterdir())
    assert their_batches == ["batch_0.json", "batch_1.json", "batch_2.json"]
    store = second.store
    assert store.manager.list_batches("label") == [0, 1, 2]  # all kept on disk...
    assert store.list_batches("label") == [0]  # ...but only this run's are its batches
    batches = store.load_batches("label")
    assert [len(b) for b in batches] == [3]
    assert_json_identical(batches[0], store.manager.load("tag", "label"))
    assert store.load_batch("label", 1) is None

    alone = CheckpointStore(str(work.inter("ours")), {})  # no pipeline: the latest run's
    assert alone.list_batches("label") == [0]
    assert [len(b) for b in alone.load_batches("label")] == [3]
