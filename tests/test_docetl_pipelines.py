"""End-to-end: real DocETL 0.3.0 pipelines, offline, under our store and under DocETL's.

Each scenario runs the same pipeline under DocETL's own JSON store and under
ours (`docetl_checkpoint.docetl.install()`), and compares what was computed,
what was reused and what came out. Code operations count their calls in
files (see `docetl_helpers`), so "not executed" is proven by the operation
itself, not by the store's word.

Warnings (pytest runs with filterwarnings=error): DocETL's import emits a
PydanticDeprecatedSince20 (`min_items`, docetl/operations/extract.py), ignored
by message inside `import_docetl()`; the two warnings DocETL and litellm emit
while running are ignored by `DOCETL_MARKS` (docetl_helpers); nothing else.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_json_identical, disk_bytes
from docetl_checkpoint import CheckpointManager
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
    TAG,
    Run,
    calls,
    docetl_json_checkpoints,
    label_config,
    make_docs,
    no_network,
    normalize_ids,
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
    log: Path

    def inter(self, name: str) -> Path:
        return self.root / name / "intermediates"

    def config(self, name: str, **kwargs: Any) -> dict[str, Any]:
        return pipeline_config(self.data, self.inter(name), self.root / name / "out.json", **kwargs)

    def calls(self) -> dict[str, int]:
        return calls(self.log)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any) -> Iterator[Work]:
    log = tmp_path / "calls"
    log.mkdir()
    monkeypatch.setenv(LOG_ENV, str(log))
    data = tmp_path / "data.json"
    write_json(data, make_docs())
    yield Work(tmp_path, data, log)
    uninstall()


def run_ours(config: dict[str, Any]) -> Run:
    with install():
        run = run_pipeline(config)
    assert isinstance(run.store, CheckpointStore)
    return run


def run_docetl(config: dict[str, Any]) -> Run:
    import docetl.checkpoint

    assert not is_installed()
    run = run_pipeline(config)
    assert type(run.store) is docetl.checkpoint.CheckpointStore
    return run


def edited_tag() -> str:
    return TAG.replace('"version": 1', '"version": 2')


def ran(before: dict[str, int], after: dict[str, int]) -> set[str]:
    """The counted operations whose function ran between two snapshots."""
    return {op for op in after if after[op] != before[op]}


# -- first run -------------------------------------------------------------------


def test_first_run_gives_docetl_output_and_intermediates(work: Work) -> None:
    theirs = run_docetl(work.config("docetl"))
    ours = run_ours(work.config("ours"))

    assert ours.saved == theirs.saved == ALL_OPS
    assert_json_identical(ours.output, theirs.output)
    expected = docetl_json_checkpoints(work.inter("docetl"))
    manager = ours.store.manager
    assert manager.list() == sorted(expected)
    for (step, op), records in expected.items():
        assert_json_identical(normalize_ids(manager.load(step, op)), normalize_ids(records))
        assert (work.inter("ours") / step / f"{op}.parquet").is_file()
        assert not (work.inter("ours") / step / f"{op}.json").exists()
        meta = manager.info(step, op)["meta"]
        assert meta["docetl_op_hash"] == theirs.runner.step_op_hashes[step][op]
        assert json.loads(meta["docetl_inputs"])["docs"].startswith("blake2b:")
    assert not (work.inter("ours") / CONFIG_NAME).exists()


def test_intermediate_folder_is_at_most_015x_docetl(work: Work) -> None:
    run_docetl(work.config("docetl"))
    ours = run_ours(work.config("ours"))
    theirs_bytes = disk_bytes(work.inter("docetl"))
    ours_bytes = disk_bytes(work.inter("ours"))
    ratio = ours_bytes / theirs_bytes
    print(f"\nintermediate folder: docetl {theirs_bytes} B, ours {ours_bytes} B, ratio {ratio:.3f}")
    assert ours.store.manager.verify()["ok"]
    assert ratio <= 0.15, (theirs_bytes, ours_bytes)


# -- reruns ---------------------------------------------------------------------


@pytest.mark.parametrize("which", ["ours", "docetl"])
def test_second_run_reuses_only_the_last_checkpoint(work: Work, which: str) -> None:
    run = run_ours if which == "ours" else run_docetl
    config = work.config(which)
    first = run(config)
    before = work.calls()
    second = run(config)
    assert second.reused == [LAST]
    assert second.saved == []
    assert work.calls() == before  # no operation function ran
    assert_json_identical(second.output, first.output)


@pytest.mark.parametrize("which", ["ours", "docetl"])
def test_editing_one_operation_recomputes_it_and_downstream(work: Work, which: str) -> None:
    run = run_ours if which == "ours" else run_docetl
    first = run(work.config(which))
    before = work.calls()
    second = run(work.config(which, tag_code=edited_tag()))
    assert second.reused == [("enrich", "ctx")]
    assert second.saved == [("enrich", "tag"), ("report", "per_keyword"), LAST]
    assert ran(before, work.calls()) == {"tag", "by_kw"}
    assert second.output == first.output  # `version` is not reduced into the output


def test_changed_input_content_is_never_reused_stale(work: Work) -> None:
    ours_config, docetl_config = work.config("ours"), work.config("docetl")
    stale = run_ours(ours_config).output
    assert_json_identical(run_docetl(docetl_config).output, stale)

    docs = make_docs()
    docs[0]["text"] = docs[0]["text"] + " copper" * 40  # same path, new content
    write_json(work.data, docs)
    fresh = run_docetl(work.config("fresh")).output
    assert fresh != stale

    theirs = run_docetl(docetl_config)  # DocETL: same config hash, stale result
    assert theirs.reused == [LAST]
    assert theirs.output == stale

    before = work.calls()
    ours = run_ours(ours_config)  # ours: the input changed, everything recomputes
    assert ours.reused == []
    assert ours.saved == ALL_OPS
    assert ran(before, work.calls()) == {"stats", "long_enough", "tag", "by_kw"}
    assert_json_identical(ours.output, fresh)

    again = run_ours(ours_config)  # and the new content's checkpoints are reused
    assert again.reused == [LAST]
    assert again.saved == []


def test_input_edited_during_a_run_is_not_taken_for_the_content_read(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The input digest is the one taken before DocETL read the file, not at save time."""
    edited = make_docs()
    edited[1]["text"] = edited[1]["text"] + " willow" * 30
    edited_path = work.root / "edited.json"
    write_json(edited_path, edited)
    monkeypatch.setenv("DOCETL_CHECKPOINT_TEST_EDIT", f"{edited_path}|{work.data}")
    # `tag` runs after the scan read the file: it replaces the input, once.
    tag_code = TAG.replace(
        "    return {",
        "    src, dst = os.environ['DOCETL_CHECKPOINT_TEST_EDIT'].split('|')\n"
        "    try:\n"
        "        fd = os.open(src + '.done', os.O_CREAT | os.O_EXCL)\n"
        "    except FileExistsError:\n"
        "        pass\n"
        "    else:\n"
        "        os.close(fd)\n"
        "        os.replace(src, dst)\n"
        "    return {",
    )
    assert tag_code != TAG
    config = work.config("ours", tag_code=tag_code)
    first = run_ours(config)
    assert not edited_path.exists()  # the input was replaced mid-run
    second = run_ours(config)
    assert second.reused == []
    assert second.saved == ALL_OPS
    assert second.output != first.output
    fresh = run_docetl(work.config("fresh", tag_code=tag_code))
    assert_json_identical(second.output, fresh.output)


# -- DocETL's cache switches ---------------------------------------------------------


@pytest.mark.parametrize("which", ["ours", "docetl"])
def test_bypass_cache_recomputes_and_still_saves(work: Work, which: str) -> None:
    run = run_ours if which == "ours" else run_docetl
    bypass = work.config(which, extra={"bypass_cache": True})
    run(bypass)
    before = work.calls()
    second = run(bypass)
    assert second.reused == []
    assert second.saved == ALL_OPS
    assert ran(before, work.calls()) == {"stats", "long_enough", "tag", "by_kw"}
    third = run(work.config(which))  # what bypassed runs saved is reused afterwards
    assert third.reused == [LAST]
    assert_json_identical(third.output, second.output)


@pytest.mark.parametrize("which", ["ours", "docetl"])
def test_clear_intermediate_forgets_everything(work: Work, which: str) -> None:
    run = run_ours if which == "ours" else run_docetl
    first = run(work.config(which))
    first.runner.clear_intermediate()
    inter = work.inter(which)
    if which == "ours":
        manager = CheckpointManager(str(inter))
        assert manager.list() == []
        assert manager.entries() == []
        # no `<step>/<op>.parquet` is left; each op's output stays as an
        # earlier version (history) until retention drops it
        assert not [p for p in inter.rglob("*.parquet") if ".docetl_checkpoint" not in p.parts]
        assert all(len(manager.versions(s, o)) == 1 for s, o in ALL_OPS)
        manager.gc(keep_versions=1)
        assert not list(inter.rglob("*.parquet"))
    else:
        assert not inter.exists()  # DocETL removes the folder
    before = work.calls()
    second = run(work.config(which))
    assert second.reused == []
    assert second.saved == ALL_OPS
    assert ran(before, work.calls()) == {"stats", "long_enough", "tag", "by_kw"}
    assert_json_identical(second.output, first.output)


# -- folders of the other store ------------------------------------------------------


def test_adopts_a_folder_written_by_docetl_store(work: Work) -> None:
    config = work.config("shared")
    inter = work.inter("shared")
    theirs = run_docetl(config)
    written = docetl_json_checkpoints(inter)
    hashes = json.loads((inter / CONFIG_NAME).read_text())

    before = work.calls()
    ours = run_ours(config)
    assert ours.reused == [LAST]
    assert ours.saved == []
    assert work.calls() == before
    assert_json_identical(ours.output, theirs.output)

    manager = ours.store.manager
    assert manager.list() == sorted(written)
    for (step, op), records in written.items():
        assert manager.info(step, op)["meta"]["docetl_op_hash"] == hashes[step][op]
        assert_json_identical(manager.load(step, op), records)
        assert not (inter / step / f"{op}.json").exists()
    assert not (inter / CONFIG_NAME).exists()

    # the adopted checkpoints upstream of an edit are reused too
    edited = run_ours(work.config("shared", tag_code=edited_tag()))
    assert edited.reused == [("enrich", "ctx")]
    assert edited.saved == [("enrich", "tag"), ("report", "per_keyword"), LAST]


def test_export_lets_docetl_store_reuse_our_checkpoints(work: Work) -> None:
    config = work.config("shared")
    inter = work.inter("shared")
    ours = run_ours(config)
    written = export_docetl(str(inter))
    assert str(inter / CONFIG_NAME) in written

    before = work.calls()
    theirs = run_docetl(config)
    assert theirs.reused == [LAST]
    assert theirs.saved == []
    assert work.calls() == before
    assert_json_identical(theirs.output, ours.output)

    reference = work.inter("reference")  # what DocETL's own store writes
    run_docetl(work.config("reference"))
    assert json.loads((inter / CONFIG_NAME).read_text()) == json.loads(
        (reference / CONFIG_NAME).read_text()
    )
    for step, op in ALL_OPS:
        ours_file = (inter / step / f"{op}.json").read_bytes()
        their_file = (reference / step / f"{op}.json").read_bytes()
        if op in ("stats", "long_enough"):  # before `split` adds random ids: byte for byte
            assert ours_file == their_file
        else:
            assert normalize_ids(json.loads(ours_file)) == normalize_ids(json.loads(their_file))

    edited = run_docetl(work.config("shared", tag_code=edited_tag()))
    assert edited.reused == [("enrich", "ctx")]


# -- partial results ----------------------------------------------------------------


def test_flush_batch_stores_partial_results_deduplicated(work: Work) -> None:
    write_json(work.data, make_docs(10))
    configs = {
        name: label_config(work.data, work.inter(name), work.root / name / "out.json")
        for name in ("docetl", "ours")
    }
    with no_network() as attempts:
        theirs = run_docetl(configs["docetl"])
        ours = run_ours(configs["ours"])
    assert attempts == []  # the mocked LLM call made no DNS lookup or connection
    assert_json_identical(ours.output, theirs.output)
    assert len({r["label"] for r in ours.output}) == 1

    their_batches = [
        json.loads((work.inter("docetl") / "label_batches" / f"batch_{i}.json").read_text())
        for i in range(3)
    ]
    store = ours.store
    assert store.list_batches("label") == [0, 1, 2]
    batches = store.load_batches("label")
    assert_json_identical(batches, their_batches)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert (work.inter("ours") / "label_batches" / "batch_0.parquet").is_file()
    final = store.manager.load("tag", "label")
    assert_json_identical([r for b in batches for r in b], final)
    entry = next(e for e in store.manager.entries() if e["kind"] == "batch")
    assert entry["meta"]["docetl_op_hash"] == ours.runner.step_op_hashes["tag"]["label"]

    # dedup: the batches add no stored value beyond what the final checkpoints hold
    alone = CheckpointManager(str(work.root / "final-only"))
    for step, op in store.manager.list():
        alone.save(step, op, store.manager.load(step, op))
    assert store.manager.stats()["stored_values"] == alone.stats()["stored_values"]


# -- installing ------------------------------------------------------------------------


def test_install_uninstall_and_context_manager(work: Work, docetl: Any) -> None:
    from docetl.runner import DSLRunner

    original_store = docetl.checkpoint.CheckpointStore
    original_property = DSLRunner.__dict__["checkpoints"]
    config = work.config("ours")

    def store_of() -> Any:
        return DSLRunner(config).checkpoints

    assert not is_installed()
    assert type(store_of()) is original_store
    with install():
        assert is_installed()
        assert docetl.checkpoint.CheckpointStore is CheckpointStore
        with install():  # nested: leaves it installed on exit
            pass
        assert is_installed()
        runner = DSLRunner(config)
        store = runner.checkpoints
        assert isinstance(store, CheckpointStore)
        assert bool(store) is True
        assert store.op_hashes is runner.step_op_hashes  # the runner's dict, not a copy
        assert (store.base_dir, store.bypass) == (str(work.inter("ours")), False)
        assert store.inputs.bound
        old = store.op_hashes["enrich"]["tag"]
        runner.reload(work.config("ours", tag_code=edited_tag()))
        assert store.op_hashes is runner.step_op_hashes
        assert store.op_hashes["enrich"]["tag"] != old
        assert runner.checkpoints is store
    assert not is_installed()
    assert docetl.checkpoint.CheckpointStore is original_store
    assert DSLRunner.__dict__["checkpoints"] is original_property
    assert type(store_of()) is original_store

    install()
    try:
        assert isinstance(store_of(), CheckpointStore)
    finally:
        uninstall()
    uninstall()  # no-op
    assert type(store_of()) is original_store


def test_relative_intermediate_dir_as_in_docetl_examples(
    work: Work, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intermediate_dir: intermediates` is resolved against the working directory."""
    monkeypatch.chdir(work.root)
    config = pipeline_config("data.json", "intermediates", "out.json")
    first = run_ours(config)
    assert first.saved == ALL_OPS
    assert os.path.isfile(os.path.join("intermediates", "enrich", "stats.parquet"))
    second = run_ours(config)
    assert second.reused == [LAST]


def test_example_walkthrough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], docetl: Any
) -> None:
    """examples/docetl/walkthrough.py runs as shipped (on a copy of the folder)."""
    example = tmp_path / "example"
    shutil.copytree(Path(__file__).parent.parent / "examples" / "docetl", example)
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(example / "walkthrough.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert not is_installed()
    assert "run 2:" in out
    manager = CheckpointManager(str(example / "intermediates"))
    assert len(manager.list()) == 7
    assert (example / "intermediates_as_docetl_json" / CONFIG_NAME).is_file()
    ratio = disk_bytes(example / "intermediates") / disk_bytes(
        example / "intermediates_as_docetl_json"
    )
    assert ratio <= 0.15
