"""`docetl-checkpoint run PIPELINE.yaml [options]` against DocETL's own `docetl run`.

Both commands run in fresh interpreters, as a user types them, offline. The
same pipeline gives the same output file and exit status; ours keeps its
intermediates in the store and reuses them on the next run; failures and
usage errors exit as DocETL's do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import assert_json_identical
from docetl_helpers import (
    DOCETL_MARKS,
    LOG_ENV,
    calls,
    docetl_json_files,
    make_docs,
    normalize_ids,
    pipeline_config,
    set_offline_env,
    write_json,
)

pytestmark = DOCETL_MARKS


@pytest.fixture(scope="module", autouse=True)
def offline(tmp_path_factory: pytest.TempPathFactory) -> None:
    set_offline_env(tmp_path_factory.mktemp("docetl-home"))  # inherited by the commands


def command(which: str, *args: Any, log: Path | None = None) -> subprocess.CompletedProcess[str]:
    if which == "docetl":  # the `docetl` script DocETL installs
        argv = [str(Path(sys.executable).with_name("docetl")), "run"]
    else:
        argv = [sys.executable, "-m", "docetl_checkpoint.cli", "run"]
    env = dict(os.environ, COLUMNS="200")
    if log is not None:
        env[LOG_ENV] = str(log)
    return subprocess.run(
        [*argv, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def write_pipeline(root: Path, name: str, data: Path, **kwargs: Any) -> Path:
    config = pipeline_config(
        data, root / name / "intermediates", root / name / "out.json", **kwargs
    )
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_gives_docetl_output_and_status_and_uses_the_store(tmp_path: Path) -> None:
    log = tmp_path / "calls"
    log.mkdir()
    data = tmp_path / "data.json"
    write_json(data, make_docs(6))
    their_yaml = write_pipeline(tmp_path, "docetl", data)
    theirs = command("docetl", their_yaml, "--max-threads", 2, log=log)
    assert theirs.returncode == 0, theirs.stderr
    ours_yaml = write_pipeline(tmp_path, "ours", data)
    before = calls(log)
    ours = command("ours", ours_yaml, "--max-threads", 2, log=log)
    assert ours.returncode == 0, ours.stderr
    assert calls(log) != before  # it ran the operations

    out = json.loads((tmp_path / "ours" / "out.json").read_text())
    reference = json.loads((tmp_path / "docetl" / "out.json").read_text())
    assert_json_identical(normalize_ids(out), normalize_ids(reference))
    inter = tmp_path / "ours" / "intermediates"
    assert (inter / "report" / "by_kw.parquet").is_file()
    assert docetl_json_files(inter) == []  # nothing in DocETL's layout: the store was used
    assert docetl_json_files(tmp_path / "docetl" / "intermediates")
    assert "Saved to" in ours.stderr + ours.stdout  # DocETL's own console output

    before = calls(log)
    again = command("ours", ours_yaml, log=log)
    assert again.returncode == 0, again.stderr
    assert calls(log) == before  # everything reused
    assert "Loaded checkpoint for operation 'by_kw'" in again.stderr + again.stdout


def test_a_failing_pipeline_exits_as_docetl_does(tmp_path: Path) -> None:
    data = tmp_path / "data.json"
    write_json(data, make_docs(3))
    broken = "def transform(arg):\n    raise RuntimeError('tag is broken on purpose')\n"
    results = {
        which: command(which, write_pipeline(tmp_path, which, data, tag_code=broken), log=tmp_path)
        for which in ("docetl", "ours")
    }
    assert results["ours"].returncode == results["docetl"].returncode != 0
    for result in results.values():
        assert "tag is broken on purpose" in result.stderr


@pytest.mark.parametrize("args", [[], ["--help"]])
def test_usage_errors_and_help_are_docetls(args: list[str]) -> None:
    theirs, ours = command("docetl", *args), command("ours", *args)
    assert ours.returncode == theirs.returncode
    assert normalize(ours.stdout, "docetl-checkpoint") == normalize(theirs.stdout, "docetl")
    assert normalize(ours.stderr, "docetl-checkpoint") == normalize(theirs.stderr, "docetl")


def normalize(text: str, prog: str) -> str:
    """The program name out, and the padding the longer name takes from a help box."""
    return re.sub(r" +", " ", text.replace(f"{prog} run", "PROG run"))


def test_run_is_listed_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    from docetl_checkpoint.cli import main

    assert main(["--help"]) == 0
    assert "run a pipeline as `docetl run` does" in capsys.readouterr().out


def test_run_without_docetl_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from docetl_checkpoint.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "docetl" else real(name, *a)
    )
    assert main(["run", "p.yaml"]) == 2
    assert "needs DocETL" in capsys.readouterr().err
