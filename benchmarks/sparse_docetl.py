"""A DocETL pipeline whose records each get a key of their own (issue 12).

N documents (default 10,000) go through two offline `code_map` operations:
`extract` adds `key_<id>` (a different key per record), `score` adds `n`.
Each run is a fresh process-local folder; prints the intermediate folder's
bytes (each inode once) and the run's seconds, with DocETL's own JSON store
(`docetl`) or docetl-checkpoint installed (`ours`).

    python benchmarks/sparse_docetl.py docetl|ours [N]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

from docetl_helpers import import_docetl, run_pipeline, set_offline_env  # noqa: E402

EXTRACT = "def transform(d):\n    return {f\"key_{d['id']}\": d['id']}\n"
SCORE = "def transform(d):\n    return {'n': 1}\n"


def folder_bytes(path: Path) -> int:
    seen: set[int] = set()
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def main() -> None:
    mode = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    work = Path(tempfile.mkdtemp(prefix="sparse-docetl-"))
    try:
        set_offline_env(work / "home")
        import_docetl()
        if mode == "ours":
            import docetl_checkpoint.docetl

            docetl_checkpoint.docetl.install()
        data = work / "docs.json"
        data.write_text(json.dumps([{"id": i, "text": f"doc {i}"} for i in range(n)]))
        config = {
            "default_model": "gpt-4o-mini",
            "datasets": {"docs": {"type": "file", "path": str(data)}},
            "operations": [
                {"name": "extract", "type": "code_map", "code": EXTRACT},
                {"name": "score", "type": "code_map", "code": SCORE},
            ],
            "pipeline": {
                "steps": [{"name": "s", "input": "docs", "operations": ["extract", "score"]}],
                "output": {
                    "type": "file",
                    "path": str(work / "out.json"),
                    "intermediate_dir": str(work / "inter"),
                },
            },
        }
        start = time.perf_counter()
        run = run_pipeline(config)
        seconds = time.perf_counter() - start
        assert len(run.output) == n
        print(f"{mode} N={n}: intermediate {folder_bytes(work / 'inter')} bytes, {seconds:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
