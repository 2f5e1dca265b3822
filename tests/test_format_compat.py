"""A store written by the last format-1 release (0ec3cf0) keeps working with today's code.

The fixtures under tests/fixtures/format1*/ were written by that release
(tests/fixtures/make_format1.py says how); each test copies one to tmp and
opens it with today's package: no upgrade step, old files are read as they are
and new ones are written in format 2 beside them (docs/format.md, "Format versions").
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_json_identical, disk_bytes, tree_snapshot
from docetl_checkpoint import (
    CheckpointManager,
    CorruptCheckpointError,
    cli,
    read_table,
    record_hash,
)

FIXTURES = Path(__file__).parent / "fixtures"
STORE_DIR = ".docetl_checkpoint"
# values the fixture shares between checkpoints (make_format1.LONG, NESTED)
LONG = "The quick brown fox jumps over the lazy dog. " * 4
NESTED = {
    "entities": [{"name": "Ada", "score": 0.5}, {"name": "Grace", "tags": ["a", "b"]}],
    "depth": {"x": {"y": [1, 2.5, None, True, -0.0]}},
}
KINDS = ["folder", "file-url"]


def from_json(value: Any) -> Any:
    """Undoes make_format1.to_json: {"$f64": hex bits} -> that exact float."""
    if isinstance(value, dict):
        if list(value) == ["$f64"]:
            return struct.unpack(">d", bytes.fromhex(value["$f64"]))[0]
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def expected(kind: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    text = (FIXTURES / fixture_name(kind) / "expected.json").read_text(encoding="utf-8")
    return {(e["step"], e["op"]): from_json(e["records"]) for e in json.loads(text)}


def fixture_name(kind: str) -> str:
    return "format1" if kind == "folder" else "format1-file-url"


class Old:
    """A copy of a fixture store in tmp: where it is and how to open it."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind = kind
        self.root = root
        self.data = root / STORE_DIR
        self.location = os.fspath(root) if kind == "folder" else f"file://{root}"
        self.expected = expected(kind)

    def open(self) -> CheckpointManager:
        return CheckpointManager(self.location)

    def data_files(self, folder: str) -> list[str]:
        return sorted(os.listdir(self.data / folder))


def copy_fixture(kind: str, tmp_path: Path) -> Old:
    src = FIXTURES / fixture_name(kind)
    root = tmp_path / "old-store"
    shutil.copytree(src / "store", root)
    if kind == "folder":
        # git keeps no hardlinks: make each <step>/<op>.parquet one again
        for alias, target in json.loads((src / "links.json").read_text()).items():
            assert (root / alias).read_bytes() == (root / target).read_bytes()
            (root / alias).unlink()
            os.link(root / target, root / alias)
    return Old(kind, root)


@pytest.fixture(params=KINDS)
def old(request: pytest.FixtureRequest, tmp_path: Path) -> Old:
    return copy_fixture(request.param, tmp_path)


def file_format(path: str | Path) -> dict[str, Any]:
    """The FileMeta JSON of a checkpoint file."""
    meta = pq.read_schema(os.fspath(path).removeprefix("file://")).metadata
    return json.loads(meta[b"docetl_checkpoint"])


def assert_same_table(got: pa.Table, want: pa.Table) -> None:
    """Same schema and rows, floats bit for bit (Table.equals has NaN != NaN)."""
    assert got.schema == want.schema
    assert_json_identical(got.to_pylist(), want.to_pylist())


def assert_loads_exactly(m: CheckpointManager, want: dict[tuple[str, str], list[Any]]) -> None:
    for (step, op), records in want.items():
        assert_json_identical(m.load(step, op), records)
        # record hashes are unchanged by format 2 (canonical encoding kept)
        assert m.record_hashes(step, op) == [record_hash(r) for r in records]


# -- the fixture itself ------------------------------------------------------


def test_fixture_is_format_1_and_small(old: Old) -> None:
    files = [old.data / "files" / f for f in old.data_files("files")]
    assert len(files) == len(old.expected)
    assert all(file_format(f)["format"] == 1 for f in files)
    assert not any("origin" in file_format(f) for f in files)
    assert disk_bytes(FIXTURES / fixture_name(old.kind)) < 200_000
    # what it covers: a batch, a big int, NaN and -0.0, a shared large value
    summarize = old.expected[("extract", "summarize")]
    assert ("classify_batches", "batch_0") in old.expected
    assert any(r.get("big") == 2**70 for r in summarize)
    scores = [r["score"] for r in summarize if isinstance(r.get("score"), float)]
    assert any(s != s for s in scores) and any(str(s) == "-0.0" for s in scores)
    assert sum(LONG in json.dumps(r) for r in old.expected.values()) >= 3


# -- reading -----------------------------------------------------------------


def test_every_checkpoint_loads_exactly(old: Old) -> None:
    m = old.open()
    assert_loads_exactly(m, old.expected)
    summarize = old.expected[("extract", "summarize")]
    assert_json_identical(m.head("extract", "summarize", 2), summarize[:2])
    assert_json_identical(list(m.iter_records("extract", "summarize", chunk_rows=4)), summarize)
    assert m.list_batches("classify") == [0, 1]
    assert_json_identical(
        m.load_batches("classify"),
        [old.expected[("classify_batches", f"batch_{i}")] for i in (0, 1)],
    )
    assert m.load("scratch", "tmp") is None  # deleted and gc'd by the old release


def test_tables_samples_readers_and_dataframes(old: Old) -> None:
    m = old.open()
    for (step, op), records in old.expected.items():
        table = m.table(step, op)
        assert table is not None and table.num_rows == len(records)
        keys = list(dict.fromkeys(k for r in records for k in r))
        assert table.column_names == keys
        reader = m.reader(step, op)
        assert reader is not None
        assert_same_table(reader.read_all(), table)
        # min(): pyarrow gives a zero-column table as many rows as a slice asks for
        assert_same_table(m.sample(step, op, n=2), table.slice(0, min(2, len(records))))
        assert m.to_pandas(step, op).shape == (len(records), len(keys))
    summarize = old.expected[("extract", "summarize")]
    table = m.table("extract", "summarize")
    # typed columns keep their values bit for bit; a key missing from a record is null
    assert table.schema.field("id").type == pa.int64()
    assert table.schema.field("score").type == pa.float64()
    got = [struct.pack("<d", x) if x is not None else None for x in table["score"].to_pylist()]
    want = [struct.pack("<d", r["score"]) if "score" in r else None for r in summarize]
    assert got == want
    assert table["text"].to_pylist() == [r.get("text") for r in summarize]
    narrow = m.table("extract", "summarize", columns=["text"])
    assert narrow.column_names == ["text"] and narrow["text"].to_pylist() == [
        r.get("text") for r in summarize
    ]


def test_inspection_and_verify(old: Old) -> None:
    m = old.open()
    checkpoints = sorted(k for k in old.expected if not k[0].endswith("_batches"))
    assert m.list() == checkpoints
    entries = {(e["step"], e["op"]): e for e in m.entries()}
    assert set(entries) == set(old.expected)
    assert entries[("classify_batches", "batch_1")]["kind"] == "batch"
    assert entries[("classify_batches", "batch_1")]["batch_of"] == "classify"
    info = m.info("transform", "reduce")
    assert info["meta"] == {"docetl_op_hash": "0ec3cf0-fixture"}
    assert info["num_rows"] == 1 and info["column_names"] == list(
        old.expected[("transform", "reduce")][0]
    )
    stats = m.stats()
    assert stats["checkpoints"] == len(checkpoints)
    assert stats["batches"] == 2
    assert stats["logical_records"] == sum(len(r) for r in old.expected.values())
    report = m.verify()
    assert report["ok"], report
    assert sorted(report["intact"]) == sorted(old.expected)
    assert report["files_checked"] == len(old.data_files("files")) + len(old.data_files("values"))


def test_read_table_of_an_old_link(tmp_path: Path) -> None:
    old = copy_fixture("folder", tmp_path)
    m = old.open()
    links = json.loads((FIXTURES / "format1" / "links.json").read_text())
    assert len(links) == len(old.expected)
    for alias, data_file in links.items():
        step, op = alias.removesuffix(".parquet").split("/")
        assert_same_table(read_table(old.root / alias), m.table(step, op))
        assert_same_table(read_table(old.root / data_file), m.table(step, op))


def test_cli_reads_the_old_store(old: Old, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["verify", old.location]) == 0
    assert "ok: nothing damaged" in capsys.readouterr().out
    assert cli.main(["ls", old.location, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == len(old.expected)
    assert cli.main(["show", old.location, "extract", "summarize", "-n", "2"]) == 0
    assert "quick brown fox" in capsys.readouterr().out
    assert cli.main(["stats", old.location]) == 0


def snapshot(root: Path) -> tuple[Any, dict[str, int], list[list[str]]]:
    """Contents, mtimes and hardlink groups of every file under root."""
    mtimes: dict[str, int] = {}
    inodes: dict[int, list[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            st = path.stat()
            mtimes[rel] = st.st_mtime_ns
            inodes.setdefault(st.st_ino, []).append(rel)
    return tree_snapshot(root), mtimes, sorted(inodes.values())


def test_reads_do_not_rewrite_the_old_store(old: Old) -> None:
    before = snapshot(old.root)
    m = old.open()
    for step, op in old.expected:
        m.load(step, op)
        m.table(step, op)
        m.sample(step, op, n=1)
        m.reader(step, op).read_all()
        m.info(step, op)
        m.record_hashes(step, op)
    m.list()
    m.stats()
    assert m.verify()["ok"]
    assert cli.main(["ls", old.location]) == cli.main(["verify", old.location]) == 0
    if old.kind == "folder":
        read_table(old.root / "extract" / "summarize.parquet")
    assert old.open().recover()["needed"] is False  # a readable manifest is left alone
    assert snapshot(old.root) == before


# -- writing -----------------------------------------------------------------


def test_a_new_save_dedups_against_the_old_values(old: Old) -> None:
    m = old.open()
    stats = m.stats()
    segments = [v for v in old.data_files("values") if not v.endswith(".idx")]
    path = m.save("extract", "again", [{"text": LONG, "nested": NESTED}])
    # both values are in the old segments: no new segment, no new stored value
    values = old.data_files("values")
    assert [v for v in values if not v.endswith(".idx")] == segments
    # on a folder the save indexed the old segments it read (for the next
    # process); object stores keep no index files
    indexes = [v for v in values if v.endswith(".idx")]
    assert len(indexes) == (1 if old.kind == "folder" else 0), values
    after = m.stats()
    assert after["stored_values"] == stats["stored_values"]
    assert after["value_refs"] == stats["value_refs"] + 2
    # the new file is format 2, beside the old format-1 ones
    assert file_format(path)["format"] == 2
    assert file_format(path)["origin"]["step"] == "extract"
    fresh = old.open()
    assert_json_identical(fresh.load("extract", "again"), [{"text": LONG, "nested": NESTED}])
    assert_loads_exactly(fresh, old.expected)
    assert fresh.verify()["ok"]


def test_overwriting_an_old_checkpoint_and_new_values(old: Old) -> None:
    m = old.open()
    m.save("extract", "summarize", [{"text": LONG, "new": "a value no format-1 file holds" * 2}])
    m.save_batch("classify", 2, [{"doc": LONG}])
    # one new segment, for the new value only (and, on a folder, the index of
    # every segment that save wrote and read)
    segments = [v for v in old.data_files("values") if not v.endswith(".idx")]
    assert len(segments) == 5
    fresh = old.open()
    want = dict(old.expected)
    want[("extract", "summarize")] = [{"text": LONG, "new": "a value no format-1 file holds" * 2}]
    want[("classify_batches", "batch_2")] = [{"doc": LONG}]
    assert_loads_exactly(fresh, want)
    assert fresh.list_batches("classify") == [0, 1, 2]
    assert fresh.verify()["ok"]


def test_gc_keeps_everything_live(old: Old) -> None:
    m = old.open()
    m.save("extract", "again", [{"text": LONG}])
    report = m.gc()
    # the old release left one dead value (summarize's first version); gc drops
    # only it, rewriting the one segment that held it
    assert report["values_removed"] == 1
    assert report["segments_rewritten"] == 1
    fresh = old.open()
    assert_loads_exactly(fresh, {**old.expected, ("extract", "again"): [{"text": LONG}]})
    assert fresh.verify()["ok"]
    assert fresh.gc()["values_removed"] == 0


# -- recover -----------------------------------------------------------------


def lose_manifest(old: Old) -> None:
    if old.kind == "folder":
        (old.data / "manifest.json").unlink()
    else:
        shutil.rmtree(old.data / "manifests")


def test_a_lost_manifest_is_reported_not_guessed(old: Old) -> None:
    lose_manifest(old)
    with pytest.raises(CorruptCheckpointError, match="recover"):
        old.open().load("extract", "summarize")


def test_recover_restores_old_checkpoints_through_their_links(tmp_path: Path) -> None:
    old = copy_fixture("folder", tmp_path)
    lose_manifest(old)
    report = old.open().recover()
    assert report["needed"] is True
    assert sorted(report["restored"]) == sorted(old.expected)
    assert report["not_restored"] == []
    fresh = old.open()
    assert_loads_exactly(fresh, old.expected)
    assert fresh.list_batches("classify") == [0, 1]
    assert fresh.verify()["ok"]
    fresh.gc()
    assert_loads_exactly(old.open(), old.expected)


def test_recover_keeps_an_old_file_without_a_link_under_a_name_of_its_own(
    tmp_path: Path,
) -> None:
    old = copy_fixture("folder", tmp_path)
    gone = old.open().info("transform", "reduce")["file"]
    lose_manifest(old)
    (old.root / "transform" / "reduce.parquet").unlink()
    report = old.open().recover()
    kept = {k: v for k, v in old.expected.items() if k != ("transform", "reduce")}
    unnamed = ("_recovered", Path(gone).stem)
    assert sorted(report["restored"]) == sorted([*kept, unnamed])
    assert report["not_restored"] == []
    fresh = old.open()
    assert fresh.info("transform", "reduce") is None
    assert fresh.info(*unnamed)["meta"] == {"recovered_from": f"files/{Path(gone).name}"}
    assert_loads_exactly(fresh, {**kept, unnamed: old.expected[("transform", "reduce")]})
    assert fresh.verify()["ok"]


def test_recover_of_an_old_file_url_store_keeps_every_file(tmp_path: Path) -> None:
    # object stores keep no <step>/<op>.parquet links and format-1 files no
    # origin: no name is guessed, but every file is kept (a gc after recover
    # must not delete a store's data), under _recovered/<file name>
    old = copy_fixture("file-url", tmp_path)
    files = old.data_files("files")
    lose_manifest(old)
    report = old.open().recover()
    assert report["needed"] is True and report["not_restored"] == []
    assert sorted(op for _, op in report["restored"]) == sorted(Path(f).stem for f in files)
    assert {step for step, _ in report["restored"]} == {"_recovered"}
    assert report["segments"] == len(old.data_files("values"))
    fresh = old.open()
    fresh.gc()
    restored = sorted(tuple(map(record_hash, fresh.load(*key))) for key in fresh.list())
    assert restored == sorted(tuple(map(record_hash, v)) for v in old.expected.values())


# -- what the fixture found (fixed): links of format-1 names -------------------
# Format 1 took `%` in names as is (rank/top%2F10.parquet links rank/"top%2F10").
# Format 2 keeps every name format 1 accepted as it is, and escapes only names
# format 1 refused (with `/` or `\`), marked by a `\` no format-1 name holds.

PERCENT = ("rank", "top%2F10")


def test_info_path_of_an_old_name_with_percent_exists(tmp_path: Path) -> None:
    # (was rank/top%252F10.parquet, which no one created)
    old = copy_fixture("folder", tmp_path)
    path = old.open().info(*PERCENT)["path"]
    assert os.path.exists(path), path


def test_a_new_name_does_not_take_an_old_checkpoints_link(tmp_path: Path) -> None:
    # (saving rank/"top/10" replaced the link rank/top%2F10.parquet, so that
    # file showed the new checkpoint's rows instead of rank/"top%2F10"'s)
    old = copy_fixture("folder", tmp_path)
    link = old.root / "rank" / "top%2F10.parquet"
    before = link.read_bytes()
    old.open().save("rank", "top/10", [{"other": True}])
    assert link.read_bytes() == before


def test_recover_after_gc_keeps_an_old_name_with_percent(tmp_path: Path) -> None:
    # (gc relinked the old file at rank/top%252F10.parquet and recover read
    # that link name as is: the checkpoint came back as "top%252F10".)
    # (Unescaping every link name would not do: the old release's own link,
    # rank/top%2F10.parquet, would then read as "top/10"; see
    # test_recover_restores_old_checkpoints_through_their_links)
    old = copy_fixture("folder", tmp_path)
    old.open().gc()
    lose_manifest(old)
    report = old.open().recover()
    assert sorted(report["restored"]) == sorted(old.expected)
    assert_loads_exactly(old.open(), old.expected)


def test_recover_with_a_file_beside_the_step_folders(tmp_path: Path) -> None:
    # (origin_from_alias, src/store/recover.rs, gave up at the first entry
    # of the store folder that is not a folder: `read_dir(..).ok()?`)
    # so a .DS_Store or an exported file there leaves the format-1 files of
    # the step folders listed after it "not restored". read_dir order is the
    # file system's: add files until one is listed before a step folder
    old = copy_fixture("folder", tmp_path)
    steps = {step for step, _ in old.expected}
    for i in range(100):
        (old.root / f".DS_Store{i or ''}").write_bytes(b"")
        listed = os.listdir(old.root)
        first_file = min(j for j, n in enumerate(listed) if (old.root / n).is_file())
        if any(n in steps for n in listed[first_file:]):
            break
    lose_manifest(old)
    report = old.open().recover()
    assert sorted(report["restored"]) == sorted(old.expected), report["not_restored"]
