"""Helpers for the end-to-end tests against a real DocETL 0.3.0 install.

DocETL runs offline for pipelines made only of code_map, code_filter,
code_reduce, unnest, split, gather and sample, given
`LITELLM_LOCAL_MODEL_COST_MAP=True` (litellm does not fetch its model map) and
`TIKTOKEN_CACHE_DIR` pointing at the tokenizer files litellm ships (`split`
needs one). A `map` with `litellm_completion_kwargs: {mock_response: ...}`
makes no LLM call either. `DOCETL_HOME_DIR` keeps DocETL's LLM cache out of
the home folder.

Every code operation of the test pipeline appends a line to
`$DOCETL_CHECKPOINT_TEST_LOG/<op>` each time its function runs, so a test can
prove an operation was (not) executed, whatever the store reports.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import random
import socket
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DOCETL_AVAILABLE = importlib.util.find_spec("docetl") is not None
SKIP_REASON = (
    "docetl is not importable: the end-to-end tests need docetl==0.3.0 "
    "(pip install 'docetl-checkpoint[docetl]'; the Makefile's test set-up installs it)"
)

# Marks of every end-to-end module: the `docetl` marker, a skip without
# DocETL, and the two warnings DocETL 0.3.0 and litellm emit while running
# (pytest runs with filterwarnings=error):
# - DocETL calls pydantic's deprecated `.dict()` on every DSLRunner
#   (docetl/graph_builder.py:22);
# - litellm's first completion builds pydantic schemas of TypedDicts that use
#   `ReadOnly` (pydantic/_internal/_generate_schema.py).
DOCETL_MARKS = [
    pytest.mark.docetl,
    pytest.mark.skipif(not DOCETL_AVAILABLE, reason=SKIP_REASON),
    pytest.mark.filterwarnings(
        "ignore:The `dict` method is deprecated:DeprecationWarning:docetl.graph_builder"
    ),
    pytest.mark.filterwarnings("ignore:Items? .* using the `ReadOnly` qualifier:UserWarning"),
]

LOG_ENV = "DOCETL_CHECKPOINT_TEST_LOG"

# DocETL 0.3.0 warns on import (docetl/operations/extract.py uses pydantic's
# deprecated `min_items`); pytest runs with filterwarnings=error, so exactly
# that warning is ignored while DocETL is imported, nothing else.
_IMPORT_WARNING = r".*`min_items` is deprecated.*"


def litellm_tokenizers() -> str:
    """The tokenizer folder litellm ships, found without importing litellm."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations
    return os.path.join(
        list(spec.submodule_search_locations)[0], "litellm_core_utils", "tokenizers"
    )


def set_offline_env(home: Path) -> None:
    """The environment DocETL needs to run offline; before DocETL is imported."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", litellm_tokenizers())
    os.environ.setdefault("DOCETL_HOME_DIR", str(home))


def import_docetl() -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_IMPORT_WARNING, category=DeprecationWarning)
        import docetl
        import docetl.checkpoint
        import docetl.runner
    return docetl


# -- data -------------------------------------------------------------------

WORDS = (
    "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river "
    "mountain ledger contract invoice shipment audit clause harbor meadow copper "
    "lantern orchard quarry saddle timber valley willow".split()
)


def make_docs(
    n: int = 14, seed: int = 7, words: tuple[int, int] = (450, 800)
) -> list[dict[str, Any]]:
    """`n` documents with a text of a few KB each."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(*words)))
        docs.append({"id": i, "title": f"doc {i}", "category": "abc"[i % 3], "text": text})
    return docs


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value))


# -- the test pipeline ------------------------------------------------------


def _counted(name: str, body: str) -> str:
    """A `transform` function that records each of its calls, then runs `body`."""
    return (
        f"def transform(arg):\n"
        f"    import os\n"
        f"    with open(os.path.join(os.environ[{LOG_ENV!r}], {name!r}), 'a') as f:\n"
        f"        f.write('1\\n')\n" + textwrap.indent(textwrap.dedent(body), "    ")
    )


STATS = _counted(
    "stats",
    """
    words = arg["text"].split()
    return {"word_count": len(words), "keywords": sorted(set(words[:3]))}
    """,
)
LONG_ENOUGH = _counted("long_enough", 'return arg["word_count"] >= 500\n')
TAG = _counted("tag", 'return {"chunk_len": len(arg["text_chunk"]), "version": 1}\n')
BY_KEYWORD = _counted(
    "by_kw",
    """
    return {"docs": len(arg), "words": sum(r["word_count"] for r in arg),
            "chunk_chars": sum(r["chunk_len"] for r in arg)}
    """,
)

COUNTED_OPS = ("stats", "long_enough", "tag", "by_kw")
ENRICH_OPS = ["stats", "long_enough", "chunk", "ctx", "tag"]
REPORT_OPS = ["per_keyword", "by_kw"]
ALL_OPS = [("enrich", op) for op in ENRICH_OPS] + [("report", op) for op in REPORT_OPS]


def pipeline_config(
    data: Path | str,
    intermediate_dir: Path | str,
    output: Path | str,
    *,
    tag_code: str = TAG,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Two steps, seven operations, all offline.

    enrich (input: the docs file): stats (code_map) -> long_enough
    (code_filter) -> chunk (split) -> ctx (gather) -> tag (code_map);
    report (input: enrich): per_keyword (unnest) -> by_kw (code_reduce).
    Every record carries its document's text through every operation.
    """
    config: dict[str, Any] = {
        "default_model": "gpt-4o-mini",
        "datasets": {"docs": {"type": "file", "path": str(data)}},
        "operations": [
            {"name": "stats", "type": "code_map", "code": STATS},
            {"name": "long_enough", "type": "code_filter", "code": LONG_ENOUGH},
            {
                "name": "chunk",
                "type": "split",
                "split_key": "text",
                "method": "token_count",
                "method_kwargs": {"num_tokens": 400},
            },
            {
                "name": "ctx",
                "type": "gather",
                "content_key": "text_chunk",
                "doc_id_key": "chunk_id",
                "order_key": "chunk_chunk_num",
                "peripheral_chunks": {"previous": {"tail": {"count": 1}}},
            },
            {"name": "tag", "type": "code_map", "code": tag_code},
            {"name": "per_keyword", "type": "unnest", "unnest_key": "keywords"},
            {"name": "by_kw", "type": "code_reduce", "reduce_key": "keywords", "code": BY_KEYWORD},
        ],
        "pipeline": {
            "steps": [
                {"name": "enrich", "input": "docs", "operations": list(ENRICH_OPS)},
                {"name": "report", "input": "enrich", "operations": list(REPORT_OPS)},
            ],
            "output": {
                "type": "file",
                "path": str(output),
                "intermediate_dir": str(intermediate_dir),
            },
        },
    }
    config.update(extra or {})
    return config


def label_config(
    data: Path | str, intermediate_dir: Path | str, output: Path | str, batch_size: int = 4
) -> dict[str, Any]:
    """A `map` that flushes partial results; its LLM answer is mocked (no call)."""
    return {
        "default_model": "gpt-4o-mini",
        "datasets": {"docs": {"type": "file", "path": str(data)}},
        "operations": [
            {
                "name": "label",
                "type": "map",
                "prompt": "Give a label to {{ input.title }}",
                "output": {"schema": {"label": "string"}},
                "max_batch_size": batch_size,
                "flush_partial_results": True,
                "litellm_completion_kwargs": {"mock_response": '{"label": "x"}'},
            },
            {"name": "stats", "type": "code_map", "code": STATS},
        ],
        "pipeline": {
            "steps": [{"name": "tag", "input": "docs", "operations": ["label", "stats"]}],
            "output": {
                "type": "file",
                "path": str(output),
                "intermediate_dir": str(intermediate_dir),
            },
        },
    }


# -- running it ---------------------------------------------------------------


@dataclass
class Run:
    output: list[dict[str, Any]]
    store: Any
    runner: Any
    saved: list[tuple[str, str]] = field(default_factory=list)
    reused: list[tuple[str, str]] = field(default_factory=list)
    log: str = ""


def run_pipeline(config: dict[str, Any]) -> Run:
    """Run `config` with whatever store DocETL builds now; record what it saved and reused.

    The store's own methods are wrapped on the instance (for DocETL's store
    and ours alike): `saved` lists each (step, op) computed and saved,
    `reused` each (step, op) whose checkpoint was loaded.
    """
    from docetl.runner import DSLRunner
    from rich.console import Console

    buffer = io.StringIO()
    runner = DSLRunner(config, console=Console(file=buffer, width=200))
    store = runner.checkpoints
    saved: list[tuple[str, str]] = []
    reused: list[tuple[str, str]] = []
    orig_save, orig_load = store.save, store.load

    def save(step: str, op: str, data: list[dict[str, Any]]) -> str:
        saved.append((step, op))
        return str(orig_save(step, op, data))

    def load(step: str, op: str) -> list[dict[str, Any]] | None:
        result: list[dict[str, Any]] | None = orig_load(step, op)
        if result is not None:
            reused.append((step, op))
        return result

    store.save, store.load = save, load
    runner.load_run_save()
    assert runner.checkpoints is store
    output = json.loads(Path(config["pipeline"]["output"]["path"]).read_text())
    return Run(output, store, runner, saved, reused, buffer.getvalue())


def calls(log_dir: Path) -> dict[str, int]:
    """How many times each counted operation's function ran so far."""
    counts = {}
    for name in COUNTED_OPS:
        path = log_dir / name
        counts[name] = len(path.read_text().splitlines()) if path.exists() else 0
    return counts


def normalize_ids(records: list[dict[str, Any]], key: str = "chunk_id") -> list[dict[str, Any]]:
    """Replace split's random uuids by their order of first appearance."""
    seen: dict[Any, str] = {}
    out = []
    for record in records:
        if key in record:
            record = {**record, key: seen.setdefault(record[key], f"id-{len(seen)}")}
        out.append(record)
    return out


def docetl_json_checkpoints(folder: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """What DocETL's own store holds: (step, op) -> records."""
    config = json.loads((folder / ".docetl_intermediate_config.json").read_text())
    return {
        (step, op): json.loads((folder / step / f"{op}.json").read_text())
        for step, ops in config.items()
        for op in ops
    }


@contextlib.contextmanager
def no_network() -> Iterator[list[Any]]:
    """Fail, and record, every DNS lookup or socket connection made inside."""
    attempts: list[Any] = []

    def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        attempts.append(("getaddrinfo", args[:2]))
        raise OSError("network disabled by the test")

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(("connect", address))
        raise OSError("network disabled by the test")

    def connect_ex(self: socket.socket, address: Any) -> int:
        attempts.append(("connect_ex", address))
        return 111

    patches = {
        (socket, "getaddrinfo"): getaddrinfo,
        (socket.socket, "connect"): connect,
        (socket.socket, "connect_ex"): connect_ex,
    }
    originals = {key: getattr(*key) for key in patches}
    for (owner, name), replacement in patches.items():
        setattr(owner, name, replacement)
    try:
        yield attempts
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


def docetl_json_files(folder: Path) -> list[Path]:
    """The JSON files of DocETL's layout under `folder` (not the store's own manifest)."""
    return sorted(p for p in folder.rglob("*.json") if ".docetl_checkpoint" not in p.parts)
