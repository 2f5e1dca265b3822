"""DocETL's own readers of `<dir>/<step>/<op>.json` read the store after `install()`.

`FastShouldOptimizeAnalyzer.load_operation_data` and `FastDecomposer.load_sample_data`
(DocETL's optimizers, called by its DocWrangler server) open the JSON files
directly. Checked against the real DocETL 0.3.0 classes, offline: after
`install()` they return what DocETL's JSON files hold for the same pipeline,
from our store; they still read DocETL's JSON folders; without the patch
(`uninstall()`) they fail on our folder, as the issue reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import assert_json_identical
from docetl_checkpoint.docetl import install, is_installed, uninstall
from docetl_helpers import (
    ALL_OPS,
    DOCETL_MARKS,
    ENRICH_OPS,
    LOG_ENV,
    docetl_json_checkpoints,
    docetl_json_files,
    make_docs,
    normalize_ids,
    pipeline_config,
    run_pipeline,
    write_json,
)

pytestmark = DOCETL_MARKS


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, docetl: Any) -> Iterator[dict[str, Path]]:
    """The test pipeline run once under each store: its two intermediate folders."""
    root = tmp_path_factory.mktemp("readers")
    log = root / "calls"
    log.mkdir()
    saved_log = os.environ.get(LOG_ENV)
    os.environ[LOG_ENV] = str(log)
    data = root / "data.json"
    write_json(data, make_docs(8))
    out: dict[str, Path] = {}
    for name in ("docetl", "ours"):
        inter = root / name / "intermediates"
        config = pipeline_config(data, inter, root / name / "out.json")
        (root / f"{name}.yaml").write_text(yaml.safe_dump(config))
        if name == "ours":
            with install():
                run_pipeline(config)
        else:
            assert not is_installed()
            run_pipeline(config)
        out[name] = inter
        out[f"{name}.yaml"] = root / f"{name}.yaml"
    yield out
    uninstall()
    if saved_log is None:
        os.environ.pop(LOG_ENV, None)
    else:
        os.environ[LOG_ENV] = saved_log


def analyzer(folder: Path) -> Any:
    from docetl.optimizers.fast_should_optimize import FastShouldOptimizeAnalyzer

    return FastShouldOptimizeAnalyzer(str(folder))


def same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert_json_identical(normalize_ids(ours), normalize_ids(theirs))  # split's ids are random


def test_without_the_patch_docetl_readers_fail_on_our_folder(folders: dict[str, Path]) -> None:
    assert not is_installed()
    with pytest.raises(FileNotFoundError):
        analyzer(folders["ours"]).load_operation_data("enrich", "stats")


def test_should_optimize_reader_reads_the_store(folders: dict[str, Path]) -> None:
    reference = docetl_json_checkpoints(folders["docetl"])
    with install():
        ours = analyzer(folders["ours"])
        theirs = analyzer(folders["docetl"])  # DocETL's JSON folders still read
        for step, op in ALL_OPS:
            same(ours.load_operation_data(step, op), reference[(step, op)])
            assert_json_identical(theirs.load_operation_data(step, op), reference[(step, op)])
        with pytest.raises(FileNotFoundError):  # DocETL's own error when neither has it
            ours.load_operation_data("enrich", "no_such_op")
    assert docetl_json_files(folders["ours"]) == []  # reading wrote nothing


def test_decomposer_sample_reader_reads_the_store(folders: dict[str, Path]) -> None:
    from docetl.optimizers.fast_decomposer import FastDecomposer

    reference = docetl_json_checkpoints(folders["docetl"])
    with install():
        ours = FastDecomposer(str(folders["ours.yaml"]), sample_size=3)
        theirs = FastDecomposer(str(folders["docetl.yaml"]), sample_size=3)
        for previous, op in zip(ENRICH_OPS, ENRICH_OPS[1:], strict=False):
            sample = ours.load_sample_data("enrich", op)
            same(sample, reference[("enrich", previous)][:3])
            assert_json_identical(
                theirs.load_sample_data("enrich", op), reference[("enrich", previous)][:3]
            )
        # the first operation samples the dataset file, as DocETL does
        assert_json_identical(ours.load_sample_data("enrich", "stats"), make_docs(8)[:3])


def test_a_newer_docetl_json_file_wins_over_the_store(
    folders: dict[str, Path], tmp_path: Path
) -> None:
    """A run with DocETL's own store after `uninstall()` writes fresher JSON beside ours."""
    folder = tmp_path / "mixed"
    from docetl_checkpoint import CheckpointManager

    manager = CheckpointManager(str(folder))
    manager.save("enrich", "stats", [{"v": "store"}])
    (folder / "enrich").mkdir(exist_ok=True)
    json_file = folder / "enrich" / "stats.json"
    json_file.write_text(json.dumps([{"v": "json"}]))
    created = float(manager.info("enrich", "stats")["created_at"])
    with install():
        os.utime(json_file, (created + 10, created + 10))
        assert analyzer(folder).load_operation_data("enrich", "stats") == [{"v": "json"}]
        os.utime(json_file, (created - 10, created - 10))
        assert analyzer(folder).load_operation_data("enrich", "stats") == [{"v": "store"}]
