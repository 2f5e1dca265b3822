"""Run `pipeline.yaml` twice under docetl-checkpoint's store, then look at its intermediates.

    pip install 'docetl-checkpoint[docetl]' pandas
    python examples/docetl/walkthrough.py

The pipeline needs no LLM and no network. The first run computes every
operation; the second loads the last checkpoint and computes nothing. Then
the intermediates are read as pandas DataFrames, and the folder is compared
with what DocETL's own JSON store would have written (an export).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def folder_bytes(path: str) -> int:
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for name in files:
            st = os.stat(os.path.join(root, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def offline_environment() -> None:
    # litellm must not fetch its model list; `split` needs a tokenizer litellm ships.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    spec = importlib.util.find_spec("litellm")
    if spec and spec.submodule_search_locations:
        tokenizers = Path(list(spec.submodule_search_locations)[0], "litellm_core_utils/tokenizers")
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(tokenizers))


def main() -> None:
    os.chdir(HERE)  # the YAML's paths are relative, as in DocETL's own examples
    offline_environment()
    shutil.rmtree("intermediates", ignore_errors=True)
    shutil.rmtree("intermediates_as_docetl_json", ignore_errors=True)

    import docetl_checkpoint.docetl
    from docetl.runner import DSLRunner

    # The one line: every DSLRunner built from here on uses our store.
    with docetl_checkpoint.docetl.install():
        for attempt in (1, 2):
            started = time.perf_counter()
            runner = DSLRunner.from_yaml("pipeline.yaml")
            runner.load_run_save()
            print(f"\nrun {attempt}: {time.perf_counter() - started:.2f} s")

        manager = runner.checkpoints.manager  # a docetl_checkpoint.CheckpointManager

    print("\ncheckpoints (step, op, rows, bytes on disk):")
    for step, op in manager.list():
        info = manager.info(step, op)
        print(f"  {step:10} {op:14} {info['num_rows']:5} {info['size_bytes']:8}")

    import pandas as pd

    with pd.option_context(
        "display.width", 120, "display.max_columns", None, "display.max_colwidth", 40
    ):
        chunks = manager.to_pandas("prepare", "follow_ups")
        print("\nprepare/follow_ups as pandas:")
        print(chunks[["id", "system", "chunk_chunk_num", "words", "follow_ups"]].head(8))
        print("\nincidents and chunks per system:")
        print(
            chunks.groupby("system").agg(incidents=("id", "nunique"), chunks=("chunk_id", "count"))
        )
        print("\nsummarize/by_system:")
        summary = manager.to_pandas("summarize", "by_system")
        summary["distinct_follow_ups"] = summary["follow_ups"].map(len)
        print(summary[["system", "incidents", "distinct_follow_ups"]])

    # What DocETL's JSON store would hold for the same run (also how to switch back).
    docetl_checkpoint.docetl.export_docetl("intermediates", "intermediates_as_docetl_json")
    ours, theirs = folder_bytes("intermediates"), folder_bytes("intermediates_as_docetl_json")
    print(f"\nintermediate folder: {ours:,} B, as DocETL JSON: {theirs:,} B ({ours / theirs:.2f}x)")
    print("store stats:", manager.stats())


if __name__ == "__main__":
    main()
