"""What a user of the installed wheel does first, run inside a fresh virtualenv.

    python smoke.py EXPECTED_VERSION

Run by check_wheel.py with no Rust toolchain on PATH and from a folder outside
the repository, so only the installed package can be imported.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"smoke test failed: {message}")


def main(expected_version: str) -> None:
    for tool in ("cargo", "rustc"):
        check(shutil.which(tool) is None, f"{tool} is on PATH: the wheel must not need it")

    import docetl_checkpoint
    from docetl_checkpoint import CheckpointManager

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    package = Path(docetl_checkpoint.__file__).resolve().parent
    check(package.parent == site, f"imported {package}, not the installed wheel in {site}")
    core = [p.name for p in package.iterdir() if p.name.startswith("_core") and p.suffix == ".so"]
    check(core == ["_core.abi3.so"], f"expected one abi3 extension, found {core}")

    dist = importlib.metadata.distribution("docetl-checkpoint")
    check(docetl_checkpoint.__version__ == expected_version, "__version__ is not Cargo.toml's")
    check(dist.version == expected_version, f"wheel version {dist.version} != {expected_version}")
    check(dist.metadata["License-Expression"] == "MIT", "License-Expression is not MIT")
    licenses = [f for f in dist.files or [] if f.name == "LICENSE"]
    check(len(licenses) == 1 and "MIT License" in licenses[0].read_text(), "no LICENSE file")

    records = [
        {"id": 1, "text": "x" * 200, "score": 0.5, "big": 2**80, "nan": math.nan},
        {"id": 2, "text": "x" * 200, "tags": ["a", "b"], "nested": {"k": None}},
    ]
    folder = Path(tempfile.mkdtemp(prefix="docetl-checkpoint-smoke-"))
    store = CheckpointManager(folder)
    path = store.save("extract", "summarize", records)
    check(Path(path).name == "summarize.parquet", f"save returned {path}")
    loaded = store.load("extract", "summarize")
    check(loaded is not None and len(loaded) == 2, "load did not return the records")
    assert loaded is not None
    check(math.isnan(loaded[0].pop("nan")) and loaded[0]["big"] == 2**80, "values changed")
    check(loaded[1] == records[1], "a record changed on its way through the store")

    import pyarrow

    table = store.table("extract", "summarize")
    check(isinstance(table, pyarrow.Table) and table.num_rows == 2, "table() is not a table")
    frame = store.to_pandas("extract", "summarize")
    check(frame is not None and list(frame["id"]) == [1, 2], "to_pandas() lost rows")

    cli = Path(sys.executable).parent / "docetl-checkpoint"
    version = subprocess.run([cli, "--version"], capture_output=True, text=True, check=True)
    check(expected_version in version.stdout, f"--version printed {version.stdout!r}")
    listing = subprocess.run([cli, "ls", folder, "--json"], capture_output=True, text=True)
    check(listing.returncode == 0, f"ls failed: {listing.stderr}")
    check(json.loads(listing.stdout)[0]["op"] == "summarize", "ls --json is wrong")
    shown = subprocess.run([cli, "show", folder, "extract", "summarize"], capture_output=True)
    check(shown.returncode == 0 and b"(2 of 2 rows" in shown.stdout, "show failed")

    import docetl_checkpoint.docetl as adapter

    check(callable(adapter.install), "the DocETL adapter has no install()")
    check("docetl" not in sys.modules, "importing the adapter imported DocETL")

    shutil.rmtree(folder)
    print(f"smoke test passed: Python {sys.version.split()[0]}, {core[0]}")


if __name__ == "__main__":
    main(sys.argv[1])
