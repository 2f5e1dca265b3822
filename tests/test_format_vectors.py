"""Properties of the canonical hash seen from Python (golden vectors are checked by cargo test).

The hash is over the JSON value a record stands for, so it must be stable across
processes, equal for inputs json.dumps maps to the same JSON, and distinct
wherever `load` must give back a different value or type.
"""

from __future__ import annotations

import collections
import itertools
import json
import subprocess
import sys
from typing import Any

import pytest
from conftest import assert_json_identical, json_roundtrip
from docetl_checkpoint import CheckpointManager, canonical_hash, record_hash
from hypothesis import given, settings
from hypothesis import strategies as st

# Values a content-addressed store must never confuse: each differs from the others in
# value or in type, so sharing one hash would make `load` return the wrong one.
DISTINCT: list[Any] = [
    None,
    "null",
    "",
    [],
    {},
    [None],
    {"": None},
    True,
    False,
    1,
    0,
    -1,
    1.0,
    0.0,
    -0.0,
    "1",
    "true",
    [1],
    {"1": 1},
    2**63 - 1,
    2**63,
    2**64,
    float(2**64),
    -(2**63),
    10**30,
    float("nan"),
    float("inf"),
    float("-inf"),
    "NaN",
    "a",
    ["a"],
    {"a": None},
    {"a": "a"},
    ["a", "b"],
    ["ab"],
    [["a"], "b"],
    ["a", ["b"]],
    {"a": 1, "b": 2},
    {"a": {"b": 2}},
    {"ab": 2},
    [{"a": 1}, {"b": 2}],
    [{"a": 1, "b": 2}],
    "\x00",
    "\U0001f600",
    "e\u0301",
    "\u00e9",
]


def test_hash_is_32_bytes() -> None:
    for value in DISTINCT:
        digest = canonical_hash(value)
        assert type(digest) is bytes and len(digest) == 32


def test_distinct_values_have_distinct_hashes() -> None:
    hashes = [canonical_hash(v) for v in DISTINCT]
    for (i, a), (j, b) in itertools.combinations(enumerate(hashes), 2):
        assert a != b, f"{DISTINCT[i]!r} and {DISTINCT[j]!r} share a hash"


def test_hash_is_stable_across_processes() -> None:
    here = [canonical_hash(v).hex() for v in DISTINCT]
    script = (
        "import json, sys\n"
        "from docetl_checkpoint import canonical_hash\n"
        "values = json.loads(sys.stdin.read())\n"
        "print(json.dumps([canonical_hash(v).hex() for v in values]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(DISTINCT),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(proc.stdout) == here


@pytest.mark.parametrize(
    "given_value, json_value",
    [
        ((1, (2, "x")), [1, [2, "x"]]),
        (
            {1: "a", None: "b", False: "c", 1.5: "d"},
            {"1": "a", "null": "b", "false": "c", "1.5": "d"},
        ),
        (collections.OrderedDict([("b", 1), ("a", 2)]), {"b": 1, "a": 2}),
        (-float("nan"), float("nan")),
    ],
    ids=["tuple", "non-str keys", "OrderedDict", "negative NaN"],
)
def test_inputs_json_maps_together_hash_together(given_value: Any, json_value: Any) -> None:
    assert_json_identical(json_roundtrip(given_value), json_value)
    assert canonical_hash(given_value) == canonical_hash(json_value)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**100), 2**100),
        st.floats(),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
    ),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(value=json_values)
def test_hash_of_a_value_equals_hash_of_its_json_round_trip(value: Any) -> None:
    assert canonical_hash(value) == canonical_hash(json_roundtrip(value))


def test_record_hashes_identify_records(manager: CheckpointManager) -> None:
    records: list[dict[str, Any]] = [
        {"id": 1, "text": "x" * 5000, "meta": {"tags": ["a", "b"]}},
        {"id": 2, "score": -0.0, "big": 2**70, "none": None},
        {},
        {"id": 1, "text": "x" * 5000, "meta": {"tags": ["a", "b"]}},
        {"id": 2, "score": 0.0, "big": 2**70, "none": None},
        {"id": 2, "score": -0.0, "big": 2**70},
        {"score": -0.0, "id": 2, "big": 2**70, "none": None},
        {"id": 1.0, "text": "x" * 5000, "meta": {"tags": ["a", "b"]}},
    ]
    manager.save("s", "o", records)
    manager.save("s", "copy", [dict(r) for r in records])
    hashes = manager.record_hashes("s", "o")
    assert hashes is not None and len(hashes) == len(records)
    assert all(type(h) is bytes and len(h) == 16 for h in hashes)
    assert hashes == [record_hash(r) for r in records]
    assert hashes[0] == hashes[3]
    assert len(set(hashes)) == len(records) - 1  # only the exact repeat shares a hash
    assert CheckpointManager(manager.intermediate_dir).record_hashes("s", "copy") == hashes
    assert manager.record_hashes("s", "absent") is None


def test_record_hash_golden_vector() -> None:
    # docs/format.md: the record hash of {"b": 1, "a": True}
    assert record_hash({"b": 1, "a": True}).hex() == "444a9a36fec51c300979f9c107ab8d26"
