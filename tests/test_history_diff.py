"""The diff engine (docetl_checkpoint.history): matching, field changes, output shapes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from docetl_checkpoint import CheckpointError, CheckpointManager
from docetl_checkpoint.history import Diff, NoSuchVersionError, diff, open_side
from docetl_checkpoint.history.values import display_text, from_display, same_value, value_text
from docetl_checkpoint.history.words import clip, word_diff

TEXT = "lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 30  # ~1.7 KB


def docs(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "text": f"document {i}: {TEXT}", "n": i} for i in range(n)]


def diff_of(
    tmp_path: Path,
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    key: str | None = None,
) -> Diff:
    """The diff of two versions of one checkpoint (one version when they are equal:
    saving the same records again makes none)."""
    manager = CheckpointManager(tmp_path / "store")
    manager.save("s", "c", old)
    manager.save("s", "c", new)
    return diff(manager, "s", "c", old=1, new=-1, key=key)


def strict_loads(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


# -- matching ------------------------------------------------------------------


def test_added_removed_changed_by_id(tmp_path: Path) -> None:
    old = docs(10)
    new = [dict(r) for r in old]
    new[3]["text"] = new[3]["text"].replace("dolor", "pain", 1)
    new[5]["n"] = "5"
    del new[9]
    new.append({"id": 42, "text": "new document", "n": 42})
    result = diff_of(tmp_path, old, new)
    assert result.key == "id"
    assert (result.added, result.removed, result.changed, result.unchanged) == (1, 1, 2, 7)
    assert result.differs
    changed = {c["key"]: c for c in result.changes if c["change"] == "changed"}
    assert set(changed) == {3, 5}
    assert list(changed[3]["fields"]) == ["text"]
    assert changed[5]["fields"] == {"n": {"old": 5, "new": "5"}}
    assert (changed[5]["old_row"], changed[5]["new_row"]) == (5, 5)
    added = [c for c in result.changes if c["change"] == "added"]
    removed = [c for c in result.changes if c["change"] == "removed"]
    assert added == [
        {"change": "added", "key": 42, "old_row": None, "new_row": 9, "record": new[9]}
    ]
    assert removed[0]["key"] == 9 and removed[0]["record"] == old[9]
    assert removed[0]["new_row"] is None and removed[0]["old_row"] == 9


def test_records_moved_are_unchanged(tmp_path: Path) -> None:
    old = docs(6)
    new = old[::-1]
    result = diff_of(tmp_path, old, new)
    assert (result.added, result.removed, result.changed, result.unchanged) == (0, 0, 0, 6)
    assert not result.differs and result.changes == []
    assert result.to_arrow().num_rows == 0


def test_id_like_field_is_found_when_id_is_not_unique(tmp_path: Path) -> None:
    # an unnest: `id` repeats, `row_id` is unique
    old = [{"id": i // 3, "row_id": f"r{i}", "theme": f"t{i}"} for i in range(9)]
    new = [dict(r) for r in old]
    new[4]["theme"] = "other"
    new.insert(0, new.pop(7))  # moved and unchanged
    result = diff_of(tmp_path, old, new)
    assert result.key == "row_id"
    assert (result.changed, result.unchanged) == (1, 8)
    assert result.changes[0]["key"] == "r4"


def test_positional_fallback_without_a_unique_key(tmp_path: Path) -> None:
    # unnested rows: `id` repeats, no other key; rows 3 and 4 rewritten in place
    old = [{"id": i // 2, "theme": f"t{i}", "text": TEXT} for i in range(8)]
    new = [dict(r) for r in old]
    new[3] = dict(new[3], theme="changed 3")
    new[4] = dict(new[4], theme="changed 4")
    new.append({"id": 99, "theme": "extra", "text": TEXT})
    result = diff_of(tmp_path, old, new)
    assert result.key is None
    assert (result.added, result.removed, result.changed, result.unchanged) == (1, 0, 2, 6)
    assert result.changed_rows == [(3, 3), (4, 4)]
    assert result.added_rows == [8]
    assert all(c["key"] is None for c in result.changes)
    assert result.changes[0]["fields"] == {"theme": {"old": "t3", "new": "changed 3"}}


def test_positional_pairs_within_the_gap_a_change_is_in(tmp_path: Path) -> None:
    old = [{"x": i} for i in range(6)]
    new = [{"x": 0}, {"x": 10}, {"x": 2}, {"x": 3}, {"x": 30}, {"x": 31}, {"x": 5}]
    result = diff_of(tmp_path, old, new)
    # x=1 -> 10 between 0 and 2; x=4 -> 30 between 3 and 5, and 31 is extra
    assert result.changed_rows == [(1, 1), (4, 4)]
    assert result.added_rows == [5] and result.removed_rows == []


def test_positional_pairing_ignores_a_moved_record(tmp_path: Path) -> None:
    old = [{"x": i} for i in range(6)]
    # x=3 moved to the front (unchanged), x=1 rewritten in place
    new = [{"x": 3}, {"x": 0}, {"x": 10}, {"x": 2}, {"x": 4}, {"x": 5}]
    result = diff_of(tmp_path, old, new)
    assert result.unchanged == 5
    assert result.changed_rows == [(1, 2)] and not result.added_rows and not result.removed_rows


def test_duplicates_compare_as_multisets(tmp_path: Path) -> None:
    old = [{"x": 1}, {"x": 2}, {"x": 2}, {"x": 2}]
    new = [{"x": 2}, {"x": 1}, {"x": 1}]
    result = diff_of(tmp_path, old, new)
    # one {x: 1} and one {x: 2} are in both; two {x: 2} went, one {x: 1} came
    assert result.unchanged == 2
    assert result.added + result.changed == 1 and result.removed + result.changed == 2


def test_explicit_key_not_unique_is_a_value_error_naming_it(tmp_path: Path) -> None:
    old = [{"k": 1, "v": 1}, {"k": 1, "v": 2}]
    new = [{"k": 1, "v": 3}]
    with pytest.raises(
        ValueError,
        match=r"key 'k' cannot match records of .*s/c v1.*"
        r"the value 1 is in 2 records",
    ):
        diff_of(tmp_path, old, new, key="k")


def test_explicit_key_missing_or_null_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="key 'nope' is not a field of"):
        diff_of(tmp_path, docs(2), docs(2), key="nope")
    with pytest.raises(ValueError, match="key 'k'.*1 of its records have no value"):
        diff_of(tmp_path / "2", [{"k": 1}, {"k": None}], [{"k": 1}], key="k")


def test_explicit_key_is_used(tmp_path: Path) -> None:
    old = [{"name": "a", "v": 1}, {"name": "b", "v": 2}]
    new = [{"name": "b", "v": 3}, {"name": "a", "v": 1}]
    result = diff_of(tmp_path, old, new, key="name")
    assert result.key == "name" and result.changed == 1 and result.changes[0]["key"] == "b"
    assert diff_of(tmp_path / "p", old, new).key is None  # no id-like field: by position


def test_keys_of_different_types_do_not_match(tmp_path: Path) -> None:
    # old ids are ints (an int64 column); new ones mix "1" and 2 (a JSON text column)
    old = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    new = [{"id": "1", "v": "a2"}, {"id": 2, "v": "b2"}]
    result = diff_of(tmp_path, old, new)
    assert result.key == "id"
    assert (result.changed, result.added, result.removed) == (1, 1, 1)
    assert [c["key"] for c in result.changes] == [2, "1", 1]


# -- field values --------------------------------------------------------------


def test_type_changes_are_changes(tmp_path: Path) -> None:
    old = [{"id": 0, "a": 1, "b": 1, "c": 0.0, "d": True, "e": None}]
    new = [{"id": 0, "a": "1", "b": 1.0, "c": -0.0, "d": 1, "e": "null"}]
    result = diff_of(tmp_path, old, new)
    assert list(result.changes[0]["fields"]) == ["a", "b", "c", "d", "e"]
    table = result.to_arrow().to_pylist()
    assert [(r["field"], r["old"], r["new"]) for r in table] == [
        ("a", "1", '"1"'),
        ("b", "1", "1.0"),
        ("c", "0.0", "-0.0"),
        ("d", "true", "1"),
        ("e", "null", '"null"'),
    ]


def test_missing_key_is_not_null(tmp_path: Path) -> None:
    result = diff_of(tmp_path, [{"id": 0, "x": None}], [{"id": 0}])
    assert result.changes[0]["fields"] == {"x": {"old": None}}
    row = result.to_arrow().to_pylist()[0]
    assert (row["old"], row["new"]) == ("null", None)


def test_nested_values(tmp_path: Path) -> None:
    old = [{"id": 0, "meta": {"tags": ["a", "b"], "year": 2020}}]
    new = [{"id": 0, "meta": {"tags": ["a", "c"], "year": 2020}}]
    result = diff_of(tmp_path, old, new)
    assert result.changes[0]["fields"]["meta"] == {"old": old[0]["meta"], "new": new[0]["meta"]}
    row = result.to_arrow().to_pylist()[0]
    assert json.loads(row["old"]) == old[0]["meta"] and json.loads(row["new"]) == new[0]["meta"]


def test_nan_equals_nan_and_shows_as_nan(tmp_path: Path) -> None:
    old = [{"id": 0, "x": math.nan}, {"id": 1, "x": math.nan}]
    new = [{"id": 0, "x": math.nan}, {"id": 1, "x": math.inf}]
    result = diff_of(tmp_path, old, new)
    assert (result.unchanged, result.changed) == (1, 1)
    row = result.to_arrow().to_pylist()[0]
    assert (row["old"], row["new"]) == ("NaN", "Infinity")


def test_lone_surrogates(tmp_path: Path) -> None:
    old = [{"id": 0, "s": "ok \ud800 here"}]
    new = [{"id": 0, "s": "ok \udfff here"}]
    result = diff_of(tmp_path, old, new)
    assert result.changes[0]["fields"]["s"] == {"old": old[0]["s"], "new": new[0]["s"]}
    row = result.to_arrow().to_pylist()[0]
    assert json.loads(row["old"]) == old[0]["s"] and json.loads(row["new"]) == new[0]["s"]
    assert "\\ud800" in result._repr_html_()


def test_key_order_only(tmp_path: Path) -> None:
    result = diff_of(tmp_path, [{"id": 0, "a": 1, "b": 2}], [{"id": 0, "b": 2, "a": 1}])
    assert result.changed == 1
    change = result.changes[0]
    assert change["fields"] == {} and change["key_order"] == [["id", "a", "b"], ["id", "b", "a"]]
    row = result.to_arrow().to_pylist()[0]
    assert row["field"] is None and json.loads(row["new"]) == ["id", "b", "a"]


def test_empty_sides(tmp_path: Path) -> None:
    result = diff_of(tmp_path, [], docs(3))
    assert (result.added, result.removed, result.changed, result.unchanged) == (3, 0, 0, 0)
    assert [c["new_row"] for c in result.changes] == [0, 1, 2]
    result = diff_of(tmp_path / "2", docs(2), [])
    assert (result.added, result.removed, result.unchanged) == (0, 2, 0)
    result = diff_of(tmp_path / "3", [], [])
    assert not result.differs and result.to_pandas().empty
    assert list(result.to_pandas().columns) == [
        "change",
        "key",
        "old_row",
        "new_row",
        "field",
        "old",
        "new",
    ]


def test_to_arrow_has_one_row_per_field(tmp_path: Path) -> None:
    old = docs(3)
    new = [dict(old[0], n=100, extra=[1]), old[1], {"id": 7, "text": "t", "n": 7}]
    result = diff_of(tmp_path, old, new)
    table = result.to_arrow()
    assert table.column_names == ["change", "key", "old_row", "new_row", "field", "old", "new"]
    rows = [(r["change"], r["key"], r["field"]) for r in table.to_pylist()]
    assert rows == [
        ("changed", "0", "n"),
        ("changed", "0", "extra"),
        ("added", "7", "id"),
        ("added", "7", "text"),
        ("added", "7", "n"),
        ("removed", "2", "id"),
        ("removed", "2", "text"),
        ("removed", "2", "n"),
    ]
    frame = result.to_pandas()
    assert len(frame) == 8 and frame["new"].iloc[1] == "[1]"


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The rows of every `records_at` call the diff makes (whole loads are not)."""
    calls: list[list[int]] = []
    real = CheckpointManager.records_at

    def spy(self: CheckpointManager, step: str, op: str, rows: list[int], **kw: Any) -> Any:
        calls.append(list(rows))
        return real(self, step, op, rows, **kw)

    monkeypatch.setattr(CheckpointManager, "records_at", spy)
    return calls


def test_only_the_rows_that_differ_are_read(tmp_path: Path, reads: list[Any]) -> None:
    old = docs(3000)
    new = [dict(r) for r in old]
    for i in (10, 1500, 2990):
        new[i]["n"] = -i
    result = diff_of(tmp_path, old, new)
    assert result.changed == 3 and reads == [], "counting reads no record"
    assert len(result.changes) == 3
    assert reads == [[10, 1500, 2990], [10, 1500, 2990]], "those rows of each side, once"


def test_a_side_read_whole_gives_the_same_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[Any]
) -> None:
    from docetl_checkpoint.history import sides

    old = docs(300)
    new = [dict(r, n=-r["n"]) if r["id"] % 3 else r for r in old] + [{"id": 900}]
    result = diff_of(tmp_path, old, new)
    assert result.changed == 200 and result.added == 1
    whole = result.to_arrow()
    assert reads == [], "every third row differs: both versions are read whole"
    monkeypatch.setattr(sides, "WHOLE_READ_MAX_ROWS", 0)  # by rows only
    by_rows = diff_of(tmp_path / "2", old, new)
    assert by_rows.to_arrow().equals(whole)
    changed = [i for i in range(300) if i % 3]
    assert sorted(reads) == [changed, [*changed, 300]], "the changed rows, and the added one"


def test_first_reads_only_the_records_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads: list[Any]
) -> None:
    from docetl_checkpoint.history import sides

    monkeypatch.setattr(sides, "WHOLE_READ_MAX_ROWS", 0)  # small: it would read whole
    old = docs(400)
    new = [dict(r, n=-1) for r in old[:300]] + [{"id": 1000 + i} for i in range(50)]
    result = diff_of(tmp_path, old, new)
    assert (result.changed, result.added, result.removed) == (300, 50, 100)
    first = result.first(2)
    assert reads == [[0, 1, 300, 301], [0, 1, 300, 301]], "old and new rows 0-1, 300-301"
    assert [(c["change"], c["key"]) for c in first] == [
        ("changed", 0),
        ("changed", 1),
        ("added", 1000),
        ("added", 1001),
        ("removed", 300),
        ("removed", 301),
    ]
    assert first == [c for c in result.changes if c["key"] in {0, 1, 1000, 1001, 300, 301}]


# -- errors --------------------------------------------------------------------


def test_a_missing_checkpoint_is_a_lookup_error(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "a", docs(1))
    with pytest.raises(NoSuchVersionError, match="no checkpoint s/nope"):
        open_side(manager, "s", "nope")


# -- notebook view and words ---------------------------------------------------


def test_html_escapes_cuts_and_marks(tmp_path: Path) -> None:
    old = [{"id": "<b>", "text": "<script>alert(1)</script> " + TEXT * 3 + " the old end"}]
    new = [{"id": "<b>", "text": "<script>alert(1)</script> " + TEXT * 3 + " the new end"}]
    html = diff_of(tmp_path, old, new)._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" not in html  # cut: far from the change
    assert "&lt;b&gt;" in html and "<b><b>" not in html
    assert "the <del>old</del> end" in html and "the <ins>new</ins> end" in html
    assert len(html) < 4000  # 5 KB values, cut to the change


def test_html_of_identical_versions(tmp_path: Path) -> None:
    html = diff_of(tmp_path, docs(2), docs(2))._repr_html_()
    assert "0 changed, 0 added, 0 removed, 2 unchanged" in html and "<table>" not in html


def test_word_diff_marks_changed_words() -> None:
    old, new = word_diff("the quick brown fox", "the quick red fox")
    assert old == [(False, "the quick "), (True, "brown"), (False, " fox")]
    assert new == [(False, "the quick "), (True, "red"), (False, " fox")]
    long_old, _ = word_diff("a " * 100 + "x" + " b" * 100, "a " * 100 + "y" + " b" * 100)
    clipped = clip(long_old, "…", 10)
    assert clipped[1] == (True, "x")
    assert clipped[0][1].startswith("…") and len(clipped[0][1]) == 11


def test_values_are_exact() -> None:
    assert not same_value(1, 1.0) and not same_value(1, True) and not same_value(0.0, -0.0)
    assert same_value(math.nan, math.nan) and same_value({"a": [1]}, {"a": [1]})
    assert not same_value({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert value_text("1") == '"1"' and value_text(2**70) == str(2**70)
    assert strict_loads(value_text({"a": "é"})) == {"a": "é"}


@pytest.mark.parametrize(
    "value",
    [
        "text",
        "1",
        " 1",
        "null",
        "",
        "  ",
        '"q"',
        'q"',
        "[1",
        "\\ud800 literal",
        "a\ud800",
        1,
        -0.0,
        math.inf,
        None,
        True,
        [1, "a"],
        {"k": "v"},
        2**70,
    ],
)
def test_display_text_tells_the_value(value: Any) -> None:
    back = from_display(display_text(value))
    assert same_value(back, value), (value, display_text(value))


# -- versions (the history core) ---------------------------------------------------


def test_diff_of_versions_resolves_them_once(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "map", docs(5))
    manager.save("s", "map", [dict(r, n=-r["n"]) if r["id"] == 2 else r for r in docs(5)])
    result = diff(manager, "s", "map")
    assert (result.old.version, result.new.version) == (1, 2)
    assert (result.changed, result.unchanged) == (1, 4)
    manager.save("s", "map", docs(1))  # a newer version: the diff still reads 1 and 2
    assert result.changes[0]["fields"] == {"n": {"old": 2, "new": -2}}
    assert diff(manager, "s", "map", old=1, new=2).changed == 1
    assert diff(manager, "s", "map").removed == 4  # now 2 -> 3
    assert manager.diff("s", "map", old=1, new=-1).removed == 4


def test_versions_out_of_range(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "map", docs(2))
    manager.save("s", "map", docs(3))
    with pytest.raises(ValueError, match="s/map has no version 7: it has versions 1-2"):
        diff(manager, "s", "map", old=1, new=7)
    with pytest.raises(LookupError, match="s/map has no version -3: it has versions 1-2"):
        diff(manager, "s", "map", old=-3)
    with pytest.raises(ValueError, match="there is no version 0"):
        diff(manager, "s", "map", old=0)
    with pytest.raises(TypeError, match="a version is an int"):
        diff(manager, "s", "map", old="1")  # type: ignore[arg-type]
    with pytest.raises(NoSuchVersionError, match="no checkpoint s/nope"):
        diff(manager, "s", "nope")


def test_a_version_dropped_before_its_rows_are_read(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path)
    manager.save("s", "map", docs(3))
    manager.save("s", "map", docs(2))
    result = diff(manager, "s", "map")
    assert result.removed == 1  # its record is read from version 1
    manager.gc(keep_versions=1)
    with pytest.raises(CheckpointError, match="was dropped while it was compared"):
        _ = result.changes
