"""docs/reliability.md is a list of guarantees, each naming the tests that
prove it: every `file.py::test` it names must exist, so a renamed or removed
test cannot leave a guarantee pointing at nothing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "reliability.md"


def test_every_test_the_reliability_page_names_exists() -> None:
    named = re.findall(r"`(test_\w+\.py)::(\w+)`", PAGE.read_text())
    assert len(named) > 40, "the page names its tests as `test_x.py::test_y`"
    missing = []
    for file, test in sorted(set(named)):
        path = ROOT / "tests" / file
        source = path.read_text() if path.exists() else ""
        if not re.search(rf"^(def {test}\(|{test} = )", source, re.MULTILINE):
            missing.append(f"{file}::{test}")
    assert not missing, f"docs/reliability.md names tests that do not exist: {missing}"
