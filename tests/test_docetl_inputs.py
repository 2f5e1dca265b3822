"""End-to-end: everything DocETL reads to build a dataset counts toward reuse.

Real DocETL 0.3.0 pipelines, offline, side by side with DocETL's own store:
files opened by parsing tools, folder datasets holding what DocETL skips,
inputs edited while a run reads them, in-memory DataFrames, and the code of
user-defined parsing tools. Each scenario first shows what DocETL's store
does (the reference), then that ours never reuses a checkpoint computed from
other content. A counted code operation proves what actually ran.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_json_identical
from docetl_checkpoint.docetl import CheckpointStore, install, is_installed, uninstall
from docetl_helpers import DOCETL_MARKS, LOG_ENV, Run, run_pipeline

pytestmark = DOCETL_MARKS

MEASURE = f"""
def transform(arg):
    import os
    with open(os.path.join(os.environ[{LOG_ENV!r}], "measure"), "a") as f:
        f.write("1\\n")
    text = arg.get("content", arg.get("text", ""))
    return {{"length": len(text), "head": str(text)[:40]}}
"""


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any) -> Iterator[Path]:
    log = tmp_path / "calls"
    log.mkdir()
    monkeypatch.setenv(LOG_ENV, str(log))
    yield tmp_path
    uninstall()


def measured(root: Path) -> int:
    path = root / "calls" / "measure"
    return len(path.read_text().splitlines()) if path.exists() else 0


def config(
    root: Path, name: str, dataset: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One step reading `dataset`, one counted code_map."""
    cfg: dict[str, Any] = {
        "default_model": "gpt-4o-mini",
        "datasets": {"files": dataset},
        "operations": [{"name": "measure", "type": "code_map", "code": MEASURE}],
        "pipeline": {
            "steps": [{"name": "read", "input": "files", "operations": ["measure"]}],
            "output": {
                "type": "file",
                "path": str(root / name / "out.json"),
                "intermediate_dir": str(root / name / "inter"),
            },
        },
    }
    cfg.update(extra or {})
    return cfg


def run_ours(cfg: dict[str, Any]) -> Run:
    with install():
        run = run_pipeline(cfg)
    assert isinstance(run.store, CheckpointStore)
    return run


def run_docetl(cfg: dict[str, Any]) -> Run:
    assert not is_installed()
    return run_pipeline(cfg)


def by_path(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parsing tools run on a thread pool: DocETL's output order is not fixed."""
    return sorted(records, key=lambda r: json.dumps(r, sort_keys=True))


def parse_dataset(listing: Path, function: str, **kwargs: Any) -> dict[str, Any]:
    tool = {"function": function, "input_key": "path", "output_key": "content", **kwargs}
    if function == "llama_index_simple_directory_reader":  # it takes no output_key
        del tool["output_key"]
    return {"type": "file", "path": str(listing), "parsing": [tool]}


def write_listing(root: Path, names: list[str]) -> Path:
    listing = root / "files.json"
    listing.write_text(json.dumps([{"path": str(root / "docs" / n)} for n in names]))
    return listing


# -- files opened by parsing tools ----------------------------------------------------


def test_file_read_by_txt_to_string_counts(root: Path) -> None:
    """The issue's reproduction: an edited `docs/d2.txt` is never reused stale."""
    (root / "docs").mkdir()
    for i in range(3):
        (root / "docs" / f"d{i}.txt").write_text(f"document {i} " * 20)
    dataset = parse_dataset(write_listing(root, ["d0.txt", "d1.txt", "d2.txt"]), "txt_to_string")
    ours_cfg, docetl_cfg = config(root, "ours", dataset), config(root, "docetl", dataset)
    first = run_ours(ours_cfg)
    assert_json_identical(by_path(first.output), by_path(run_docetl(docetl_cfg).output))
    meta = first.store.manager.info("read", "measure")["meta"]
    recorded = json.loads(meta["docetl_inputs"])
    edited = str(root / "docs" / "d2.txt")
    assert recorded[f"files|file:{edited}"].startswith("blake2b:")
    assert len([k for k in recorded if k.startswith("files|file:")]) == 3

    (root / "docs" / "d2.txt").write_text("an edited document")
    fresh = run_docetl(config(root, "fresh", dataset)).output
    theirs = run_docetl(docetl_cfg)  # DocETL: same op hash, stale output
    assert theirs.reused == [("read", "measure")]
    assert by_path(theirs.output) != by_path(fresh)

    before = measured(root)
    ours = run_ours(ours_cfg)
    assert ours.reused == []
    assert ours.saved == [("read", "measure")]
    assert measured(root) == before + 3
    assert_json_identical(by_path(ours.output), by_path(fresh))
    again = run_ours(ours_cfg)
    assert again.reused == [("read", "measure")]


def test_relative_paths_in_the_listing_as_in_the_issue(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`files.json` lists `{"path": "docs/d2.txt"}`, read relative to where the run starts."""
    monkeypatch.chdir(root)
    (root / "docs").mkdir()
    (root / "docs" / "d2.txt").write_text("the first version")
    (root / "files.json").write_text(json.dumps([{"path": "docs/d2.txt"}]))
    dataset = parse_dataset(Path("files.json"), "txt_to_string")
    cfg = config(root, "ours", dataset)
    assert run_ours(cfg).output[0]["head"] == "the first version"
    (root / "docs" / "d2.txt").write_text("the second version")
    rerun = run_ours(cfg)
    assert rerun.reused == []
    assert rerun.output[0]["head"] == "the second version"
    recorded = json.loads(rerun.store.manager.info("read", "measure")["meta"]["docetl_inputs"])
    assert f"files|file:{root / 'docs' / 'd2.txt'}" in recorded  # keyed by absolute path


class _Cell:
    def __init__(self, value: Any, column: int) -> None:
        self.value = value
        self.column_letter = "ABCDEFGH"[column - 1]


class _Sheet:
    """Enough of an openpyxl worksheet for `xlsx_to_string` (rows of a CSV-like text)."""

    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = rows
        self.max_column = len(rows[0])

    def __getitem__(self, key: Any) -> list[_Cell]:
        if isinstance(key, int):
            return [_Cell(v, c + 1) for c, v in enumerate(self.rows[key - 1])]
        column = "ABCDEFGH".index(key)
        return [_Cell(row[column], column + 1) for row in self.rows]

    def cell(self, row: int, column: int) -> _Cell:
        return _Cell(self.rows[row - 1][column - 1], column)


def _read(path: Any) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _fake_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for the libraries DocETL's parsers import (not installed here).

    Each reads the file it is given, as the real library would; none touches
    the network (the Azure client is a local fake).
    """
    ns = types.SimpleNamespace

    docx = types.ModuleType("docx")
    docx.Document = lambda path: ns(  # type: ignore[attr-defined]
        paragraphs=[ns(text=line) for line in _read(path).splitlines()]
    )
    pptx = types.ModuleType("pptx")
    pptx.Presentation = lambda path: ns(  # type: ignore[attr-defined]
        slides=[ns(shapes=[ns(text=_read(path))])]
    )
    openpyxl = types.ModuleType("openpyxl")
    openpyxl.load_workbook = lambda path: ns(  # type: ignore[attr-defined]
        active=_Sheet([line.split(",") for line in _read(path).splitlines()])
    )
    llama_index = types.ModuleType("llama_index")
    llama_core = types.ModuleType("llama_index.core")

    class SimpleDirectoryReader:
        def __init__(self, folder: str) -> None:
            self.folder = folder

        def load_data(self) -> list[Any]:
            names = sorted(n for n in os.listdir(self.folder) if not n.startswith("."))
            return [
                ns(text=_read(os.path.join(self.folder, n)), metadata={"file_name": n})
                for n in names
            ]

    llama_core.SimpleDirectoryReader = SimpleDirectoryReader  # type: ignore[attr-defined]
    llama_index.core = llama_core  # type: ignore[attr-defined]

    class Pdf:  # fitz (PyMuPDF): one page whose text is the file's
        def __init__(self, path: str) -> None:
            self.text = _read(path)

        def __enter__(self) -> Pdf:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def __len__(self) -> int:
            return 1

        def __getitem__(self, index: int) -> Any:
            return ns(get_text=lambda: self.text, get_images=lambda full: [])

    fitz = types.ModuleType("fitz")
    fitz.open = Pdf  # type: ignore[attr-defined]
    paddleocr = types.ModuleType("paddleocr")
    paddleocr.PaddleOCR = lambda **kwargs: None  # type: ignore[attr-defined]

    class Client:  # Azure Document Intelligence: sends the file, gets its lines back
        def __init__(self, endpoint: str, credential: Any) -> None:
            pass

        def begin_analyze_document(self, model: str, document: Any) -> Any:
            text = document.read().decode()
            page = ns(lines=[ns(content=text)], selection_marks=None)
            return ns(result=lambda: ns(styles=[], pages=[page], content=text))

    azure_di = types.ModuleType("azure.ai.documentintelligence")
    azure_di.DocumentIntelligenceClient = Client  # type: ignore[attr-defined]
    azure_models = types.ModuleType("azure.ai.documentintelligence.models")
    azure_models.AnalyzeDocumentRequest = dict  # type: ignore[attr-defined]
    azure_credentials = types.ModuleType("azure.core.credentials")
    azure_credentials.AzureKeyCredential = str  # type: ignore[attr-defined]
    monkeypatch.setenv("DOCUMENTINTELLIGENCE_API_KEY", "test-key")
    monkeypatch.setenv("DOCUMENTINTELLIGENCE_ENDPOINT", "http://127.0.0.1:9")
    for name, module in {
        "docx": docx,
        "pptx": pptx,
        "openpyxl": openpyxl,
        "llama_index": llama_index,
        "llama_index.core": llama_core,
        "fitz": fitz,
        "paddleocr": paddleocr,
        "azure": types.ModuleType("azure"),
        "azure.ai": types.ModuleType("azure.ai"),
        "azure.ai.documentintelligence": azure_di,
        "azure.ai.documentintelligence.models": azure_models,
        "azure.core": types.ModuleType("azure.core"),
        "azure.core.credentials": azure_credentials,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    import litellm

    def transcription(model: str, file: Any) -> Any:
        return ns(text=file.read().decode())

    monkeypatch.setattr(litellm, "transcription", transcription)


# Every parsing function DocETL 0.3.0 ships (entry points `docetl.parser`): the
# ones run here, and why the others cannot be run offline.
RUN_HERE = {
    "txt_to_string": "d.txt",
    "docx_to_string": "d.docx",
    "pptx_to_string": "d.pptx",
    "xlsx_to_string": "d.xlsx",
    "whisper_speech_to_text": "d.mp3",
    "llama_index_simple_directory_reader": "folder",
    "paddleocr_pdf_to_string": "d.pdf",
    "azure_di_read": "d.pdf",
}
NOT_RUN = {
    "llama_index_wikipedia_reader": "fetches pages over the network: cannot be tracked",
}


def test_the_parsers_listed_are_all_docetl_ships(docetl: Any) -> None:
    from importlib.metadata import entry_points

    shipped = {ep.name for ep in entry_points(group="docetl.parser")}
    assert shipped == set(RUN_HERE) | set(NOT_RUN)


@pytest.mark.parametrize("function", sorted(RUN_HERE))
def test_every_shipped_parser_counts_the_file_it_reads(
    root: Path, monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    _fake_modules(monkeypatch)
    (root / "docs").mkdir()
    name = RUN_HERE[function]
    target = root / "docs" / name
    if name == "folder":
        target.mkdir()
        (target / "a.txt").write_text("alpha " * 10)
        (target / "b.txt").write_text("beta " * 10)
        edit = target / "b.txt"
    else:
        target.write_text("col,row\nx,1\n" if function == "xlsx_to_string" else "first text")
        edit = target
    dataset = parse_dataset(write_listing(root, [name]), function)
    cfg = config(root, "ours", dataset)
    first = run_ours(cfg)
    assert first.saved == [("read", "measure")]
    assert run_ours(cfg).reused == [("read", "measure")]

    edit.write_text("col,row\ny,22\n" if function == "xlsx_to_string" else "second, longer text")
    before = measured(root)
    second = run_ours(cfg)
    assert second.reused == []
    assert measured(root) > before
    assert second.output != first.output
    assert_json_identical(
        by_path(second.output), by_path(run_docetl(config(root, "fresh", dataset)).output)
    )


# -- folder datasets ------------------------------------------------------------------


def test_folder_with_broken_symlink_and_socket_is_read_as_docetl_reads_it(root: Path) -> None:
    folder = root / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha " * 30)
    (folder / "dangling.txt").symlink_to(folder / "nowhere.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock_path = folder / "s.sock"
    try:
        sock.bind(str(sock_path))
    except OSError as e:  # path too long for AF_UNIX, or not allowed
        sock.close()
        pytest.skip(f"cannot bind a unix socket here: {e}")
    try:
        dataset = {"type": "file", "path": str(folder)}
        theirs = run_docetl(config(root, "docetl", dataset))  # DocETL skips both
        cfg = config(root, "ours", dataset)
        ours = run_ours(cfg)
        assert_json_identical(ours.output, theirs.output)
        assert [r["filename"] for r in ours.output] == ["a.txt"]
        assert run_ours(cfg).reused == [("read", "measure")]

        (folder / "nowhere.txt").write_text("now the link resolves")
        fixed = run_ours(cfg)  # DocETL now reads two more files (the link and its target)
        assert fixed.reused == []
        assert len(fixed.output) == 3
    finally:
        sock.close()


# -- inputs edited while a run reads them -----------------------------------------------


def test_input_edited_after_scan_started_then_put_back_is_not_reused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edited between clear_stale (where the digest used to be taken) and the read."""
    data = root / "data.json"
    original = json.dumps([{"text": "original content " * 5}])
    data.write_text(original)
    cfg = config(root, "ours", {"type": "file", "path": str(data)})
    clear_stale = CheckpointStore.clear_stale

    def edit_then_clear(self: CheckpointStore, step: str, op: str) -> None:
        clear_stale(self, step, op)
        if op == "scan_files":
            data.write_text(json.dumps([{"text": "edited while the run started"}]))

    monkeypatch.setattr(CheckpointStore, "clear_stale", edit_then_clear)
    first = run_ours(cfg)
    assert first.output[0]["head"].startswith("edited")
    monkeypatch.undo()
    monkeypatch.setenv(LOG_ENV, str(root / "calls"))

    data.write_text(original)  # put back
    second = run_ours(cfg)
    assert second.reused == []
    assert second.output[0]["head"].startswith("original")


def test_input_edited_during_the_read_is_never_reused(
    root: Path, monkeypatch: pytest.MonkeyPatch, docetl: Any
) -> None:
    """DocETL read the old bytes, the file changed before the load returned: no reuse."""
    data = root / "data.json"
    data.write_text(json.dumps([{"text": "old content " * 5}]))
    cfg = config(root, "ours", {"type": "file", "path": str(data)})
    import docetl.dataset

    apply = docetl.dataset.DataLoader._apply_parsing_tools

    def apply_then_edit(self: Any, records: Any) -> Any:
        data.write_text(json.dumps([{"text": "new content"}]))
        return apply(self, records)

    monkeypatch.setattr(docetl.dataset.DataLoader, "_apply_parsing_tools", apply_then_edit)
    first = run_ours(cfg)
    assert first.output[0]["head"].startswith("old")
    monkeypatch.undo()
    monkeypatch.setenv(LOG_ENV, str(root / "calls"))
    recorded = json.loads(first.store.manager.info("read", "measure")["meta"]["docetl_inputs"])
    assert recorded["files"].startswith("changed-while-read:")

    second = run_ours(cfg)  # the file was not put back: it still differs from what was read
    assert second.reused == []
    assert second.output[0]["head"].startswith("new")
    assert run_ours(cfg).reused == [("read", "measure")]


# -- in-memory DataFrames -------------------------------------------------------------------


def test_dataframe_dataset_is_fingerprinted_by_its_data(root: Path) -> None:
    import pandas as pd

    rows = [{"text": f"row {i} " + "x" * 80} for i in range(100)]
    frame = pd.DataFrame(rows)
    docetl_cfg = config(root, "docetl", {"type": "memory", "path": frame})
    ours_cfg = config(root, "ours", {"type": "memory", "path": frame})
    run_docetl(docetl_cfg)
    run_ours(ours_cfg)

    frame.loc[30, "text"] = "row 30 " + "x" * 70 + "EDITED"  # past what str(df) shows
    theirs = run_docetl(docetl_cfg)
    assert theirs.reused == [("read", "measure")]  # DocETL: str(df) did not change
    assert all("EDITED" not in r["head"] for r in theirs.output)
    ours = run_ours(ours_cfg)
    assert ours.reused == []
    assert ours.output[30]["length"] == len(frame.loc[30, "text"])
    assert run_ours(ours_cfg).reused == [("read", "measure")]


# -- user-defined parsing tools -------------------------------------------------------------


def tool_code(suffix: str) -> str:
    return f"def shout(item):\n    return [{{'content': item['text'].upper() + {suffix!r}}}]\n"


def test_editing_a_parsing_tool_function_code_invalidates(root: Path) -> None:
    data = root / "data.json"
    data.write_text(json.dumps([{"text": "quiet words"}]))
    dataset = {"type": "file", "path": str(data), "parsing": [{"function": "shout"}]}

    def cfg(name: str, suffix: str) -> dict[str, Any]:
        tools = {"parsing_tools": [{"name": "shout", "function_code": tool_code(suffix)}]}
        return config(root, name, dataset, tools)

    run_docetl(cfg("docetl", "!"))
    run_ours(cfg("ours", "!"))
    theirs = run_docetl(cfg("docetl", "?"))
    assert theirs.reused == [("read", "measure")]  # DocETL: the code is not in its op hash
    assert theirs.output[0]["head"] == "QUIET WORDS!"
    ours = run_ours(cfg("ours", "?"))
    assert ours.reused == []
    assert ours.output[0]["head"] == "QUIET WORDS?"
    assert run_ours(cfg("ours", "?")).reused == [("read", "measure")]
