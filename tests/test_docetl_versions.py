"""Which DocETL releases the `docetl` extra accepts, and the warning outside the tested ones."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint.docetl import install, uninstall, versions
from docetl_helpers import DOCETL_MARKS

pytestmark = DOCETL_MARKS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, docetl: Any) -> Any:
    monkeypatch.setattr(versions, "_warned", set())
    yield
    uninstall()


def test_the_extra_accepts_every_0_3_release() -> None:
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python 3.11+")
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["docetl"] == ["docetl>=0.3,<0.4"]


def test_the_installed_docetl_is_a_tested_release_and_installs_silently() -> None:
    assert versions.installed_docetl_version() in versions.TESTED
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        install()


def test_an_untested_release_is_named_in_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "installed_docetl_version", lambda: "0.3.9")
    with pytest.warns(UserWarning, match=r"DocETL 0\.3\.9 is installed") as caught:
        install()
    assert len(caught) == 1
    assert "0.3.0" in str(caught[0].message)  # and what the tests cover
    uninstall()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        install()  # once per process: no second warning
