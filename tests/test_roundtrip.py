"""Losslessness: `load` gives exactly `json.loads(json.dumps(records))` (DESIGN.md invariant 1).

Every check is made on the manager that saved and on a freshly constructed one
over the same folder, so nothing can come from an in-memory cache.
"""

from __future__ import annotations

import collections
import copy
import enum
import secrets
import struct
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_json_identical, assert_roundtrip, json_roundtrip
from docetl_checkpoint import CheckpointManager
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# -- strategies ---------------------------------------------------------------

# Strings over 1 KB, reused across records so the value store sees repeats.
LONG_STRINGS = [
    secrets.token_hex(800),
    "\U0001f600é\x00\x1f\u2028" * 300,
    "word " * 400,
]
# Nested values big enough to be content addressed.
BIG_NESTED: list[Any] = [
    list(range(-200, 200)),
    {f"k{i}": "v" * 12 for i in range(150)},
    {"z": [{"deep": "x" * 50, "n": i} for i in range(40)], "a": None},
]
BOUNDARY_INTS = [
    0,
    -1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    -(2**64),
    10**40,
    -(10**60),
]
SPECIAL_FLOATS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    0.0,
    5e-324,
    1.7976931348623157e308,
    1e-7,
    0.1,
    1e22,
    2.0**53,
    -1.5,
]

chars = st.characters(exclude_categories=("Cs",))
text = st.one_of(
    st.text(chars, max_size=16),
    st.text(st.characters(max_codepoint=0x1F), max_size=4),  # control characters
    st.text(st.characters(min_codepoint=0x10000, exclude_categories=("Cs",)), max_size=4),
)
strings = st.one_of(text, st.sampled_from(LONG_STRINGS))
keys = st.one_of(st.sampled_from(["id", "text", "meta", "", "a", "a.b"]), text)
ints = st.one_of(st.integers(min_value=-(2**256), max_value=2**256), st.sampled_from(BOUNDARY_INTS))
floats = st.one_of(st.floats(), st.sampled_from(SPECIAL_FLOATS))
scalars = st.one_of(st.none(), st.booleans(), ints, floats, strings)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(values, st.sampled_from(BIG_NESTED))
records = st.dictionaries(keys, field_values, max_size=6)
record_lists = st.lists(records, max_size=8)

HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def store_dir(store_location: str) -> str:
    """The explicit cases run on a local folder and on S3 (hypothesis runs locally)."""
    return store_location


def fresh_dir(factory: pytest.TempPathFactory) -> str:
    return tempfile.mkdtemp(dir=factory.getbasetemp()) + "/store"


def check_both(
    store_dir: str | Path, step: str, op: str, original: Any, saver: CheckpointManager | None = None
) -> None:
    """The saving manager and a reopened one both load exactly the JSON round-trip."""
    expected = json_roundtrip(original)
    if saver is not None:
        assert_json_identical(saver.load(step, op), expected)
    assert_json_identical(CheckpointManager(str(store_dir)).load(step, op), expected)


def save_and_check(store_dir: Path, data: list[Any], step: str = "s", op: str = "o") -> None:
    m = CheckpointManager(str(store_dir))
    m.save(step, op, data)
    check_both(store_dir, step, op, data, saver=m)


# -- property tests -------------------------------------------------------------


@HYPOTHESIS
@given(data=record_lists)
def test_arbitrary_records_roundtrip(
    data: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    d = fresh_dir(tmp_path_factory)
    untouched = copy.deepcopy(data)
    m = CheckpointManager(d)
    m.save("step", "op", data)
    assert_json_identical(data, untouched)  # save does not mutate its input
    check_both(d, "step", "op", data, saver=m)


@HYPOTHESIS
@given(a=record_lists, b=record_lists, n=st.integers(0, 10))
def test_many_checkpoints_in_one_store(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    n: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    d = fresh_dir(tmp_path_factory)
    m = CheckpointManager(d)
    m.save("s1", "map", a)
    m.save("s2", "map", b)
    m.save_batch("map", 0, b)
    m.save("s1", "map2", a)
    m.save("s1", "map", b)  # overwrite
    check_both(d, "s1", "map", b, saver=m)
    check_both(d, "s2", "map", b, saver=m)
    check_both(d, "s1", "map2", a, saver=m)
    check_both(d, "map_batches", "batch_0", b, saver=m)
    reopened = CheckpointManager(d)
    assert_roundtrip(reopened.load_batch("map", 0), b)
    assert_roundtrip(reopened.head("s1", "map2", n), a[:n])


# -- explicit cases ---------------------------------------------------------------


def test_empty_list_of_records(store_dir: Path) -> None:
    save_and_check(store_dir, [])


def test_empty_records(store_dir: Path) -> None:
    save_and_check(store_dir, [{}, {}, {"a": 1}, {}])


def test_none_is_distinct_from_missing_key(store_dir: Path) -> None:
    save_and_check(store_dir, [{"a": None}, {}, {"a": 1}, {"b": None, "a": None}])


def test_top_level_key_order_is_kept_per_record(store_dir: Path) -> None:
    save_and_check(store_dir, [{"a": 1, "b": 2}, {"b": 3, "a": 4}, {"c": 0, "a": 1}, {"b": 0}])


def test_types_mixed_under_one_key(store_dir: Path) -> None:
    mixed = [1, 1.0, True, False, 0, "1", None, [1], {"1": 1}, 2**64, -0.0, "", [], {}]
    save_and_check(store_dir, [{"x": v} for v in mixed])


def test_object_string_and_list_under_one_key(store_dir: Path) -> None:
    save_and_check(
        store_dir,
        [
            {"meta": {"year": 2020, "tags": ["a"]}},
            {"meta": "plain"},
            {"meta": ["x", {"y": 1}]},
            {"meta": {"year": "twenty"}},
        ],
    )


@pytest.mark.parametrize("nested", [False, True])
def test_special_floats_bit_for_bit(store_dir: Path, nested: bool) -> None:
    data = [{"f": [x] if nested else x} for x in SPECIAL_FLOATS]
    save_and_check(store_dir, data)


def test_nan_with_sign_or_payload_loads_as_json_nan(store_dir: Path) -> None:
    # json.dumps writes every NaN as `NaN`, which json.loads reads as float("nan").
    odd_nans = [-float("nan"), struct.unpack("<d", bytes.fromhex("0100000000f8ff7f"))[0]]
    save_and_check(store_dir, [{"f": x, "l": [x]} for x in odd_nans])


@pytest.mark.parametrize("nested", [False, True])
def test_ints_of_any_size(store_dir: Path, nested: bool) -> None:
    big = BOUNDARY_INTS + [2**1000, -(2**1000) + 1]
    save_and_check(store_dir, [{"i": {"v": x} if nested else x} for x in big])


def test_deep_nesting(store_dir: Path) -> None:
    deep_list: Any = "bottom"
    deep_dict: Any = 1.5
    mixed: Any = None
    for i in range(200):
        deep_list = [deep_list, i]
        deep_dict = {f"k{i}": deep_dict}
        mixed = {"l": [mixed]} if i % 2 else [{"d": mixed}]
    save_and_check(store_dir, [{"l": deep_list, "d": deep_dict, "m": mixed}, {"l": deep_dict}])


def test_non_str_keys_are_coerced_like_json(store_dir: Path) -> None:
    data: list[Any] = [
        {1: "int"},
        {1.5: "float"},
        {True: "true"},
        {False: "false"},
        {None: "null"},
        {2**70: "big"},
        {float("inf"): "inf"},
        {-0.0: "negzero"},
        {1e16: "exp"},
        {"m": {7: {8: "nested"}, None: [{False: 0}]}},
    ]
    save_and_check(store_dir, data)


def test_coerced_keys_colliding_with_str_keys(store_dir: Path) -> None:
    # json.loads keeps the first position and the last value of a repeated key.
    data: list[Any] = [{"a": 0, 1: "int", "b": 2, "1": "str"}]
    assert json_roundtrip(data) == [{"a": 0, "1": "str", "b": 2}]
    save_and_check(store_dir, data)


def test_tuples_become_lists(store_dir: Path) -> None:
    save_and_check(store_dir, [{"t": (1, 2, (3, "x"))}, {"t": ()}, {"u": ({"a": (None,)},)}])


class Color(enum.IntEnum):
    RED = 1


class Name(str):
    pass


class Ratio(float):
    pass


class Count(int):
    pass


class MyDict(dict):  # type: ignore[type-arg]
    pass


class MyList(list):  # type: ignore[type-arg]
    pass


def test_subclasses_become_plain_json_types(store_dir: Path) -> None:
    data: list[Any] = [
        collections.OrderedDict([("b", 1), ("a", Color.RED)]),
        MyDict(s=Name("n"), r=Ratio(0.25), c=Count(3), l=MyList([Count(1), Name("x")])),
        {"nested": collections.OrderedDict(z=MyDict(y=MyList()))},
    ]
    save_and_check(store_dir, data)


def test_unicode_and_control_characters(store_dir: Path) -> None:
    odd = ["", "\x00", "\x1f\x7f", "\u2028\u2029", "\U0001f600", "e\u0301", "\ufeff", "\\\"'"]
    data = [{k: v} for k in odd for v in odd]
    data.append({k: {k: [k]} for k in odd})
    data.append({"long": "\U0001f600\x00é" * 1000})
    save_and_check(store_dir, data)


def test_large_values_repeated_across_rows_and_checkpoints(store_dir: Path) -> None:
    texts = [secrets.token_hex(4000) for _ in range(3)]
    docs = [{"id": i, "text": texts[i % 3], "n": i} for i in range(12)]
    m = CheckpointManager(str(store_dir))
    m.save("a", "map", docs)
    unnested = [{**d, "theme": t} for d in docs for t in ("x", "y")]
    m.save("a", "unnest", unnested)
    m.save_batch("map", 0, docs[:5])
    check_both(store_dir, "a", "map", docs, saver=m)
    check_both(store_dir, "a", "unnest", unnested, saver=m)
    check_both(store_dir, "map_batches", "batch_0", docs[:5], saver=m)


def test_large_nested_values_keep_their_own_key_order(store_dir: Path) -> None:
    items = [(f"k{i}", "v" * 40) for i in range(100)]
    forward, backward = dict(items), dict(reversed(items))
    m = CheckpointManager(str(store_dir))
    m.save("s", "one", [{"m": forward}, {"m": backward}])
    m.save("s", "two", [{"m": backward}, {"m": forward}])
    check_both(store_dir, "s", "one", [{"m": forward}, {"m": backward}], saver=m)
    check_both(store_dir, "s", "two", [{"m": backward}, {"m": forward}], saver=m)


def test_loaded_records_are_independent_objects(store_dir: Path) -> None:
    m = CheckpointManager(str(store_dir))
    data = [{"x": [1, 2], "m": {"k": "v"}}]
    m.save("s", "o", data)
    first = m.load("s", "o")
    assert first is not None
    first[0]["x"].append(3)
    first[0]["m"]["k"] = "changed"
    first.append({})
    check_both(store_dir, "s", "o", data, saver=m)
