"""The declared floors of the runtime dependencies, pinned: `pyarrow>=15` -> `pyarrow==15`.

    python tests/packaging/min_deps.py [EXTRA...]

Prints one requirement a line, from pyproject.toml's `dependencies` and the given
extras, so `make test-min-deps` installs exactly the versions the package claims
to work with. A requirement without a `>=` floor is an error: it claims nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
FLOOR = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][0-9.]*)(,.*)?$")


def pins(extras: list[str]) -> list[str]:
    with open(PYPROJECT, "rb") as f:
        project = tomllib.load(f)["project"]
    declared = list(project["dependencies"])
    for extra in extras:
        declared += project["optional-dependencies"][extra]
    out = []
    for requirement in declared:
        match = FLOOR.match(requirement)
        if match is None:
            sys.exit(f"{requirement!r} has no '>=' floor to test")
        out.append(f"{match[1]}=={match[2]}")
    return out


if __name__ == "__main__":
    print("\n".join(pins(sys.argv[1:])))
