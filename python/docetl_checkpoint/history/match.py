"""Which records of two versions are the same, and which differing ones pair up.

1. Records are the same when their record hashes are (as multisets: a record
   twice in the old version and once in the new one is once removed).
2. The rest pair up by a key field, unique in both versions, when there is one;
3. else by position: rows in the same gap between records both versions hold
   in the same order pair up, row by row (as a replaced block in difflib).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import Any

from docetl_checkpoint.history.sides import Side
from docetl_checkpoint.history.values import key_identity, value_text

Pair = tuple[int, int]  # (row in old, row in new)


def unmatched(mine: Sequence[bytes], theirs: Sequence[bytes]) -> list[int]:
    """Rows of `mine` whose hash `theirs` does not hold (as a multiset; the first
    copies of a repeated record are the matched ones)."""
    budget = Counter(theirs)
    out = []
    for i, h in enumerate(mine):
        if budget[h] > 0:
            budget[h] -= 1
        else:
            out.append(i)
    return out


# -- by position ---------------------------------------------------------------


def anchors(old: Sequence[bytes], new: Sequence[bytes]) -> list[Pair]:
    """Rows whose record is unique in both versions, kept in the same order in
    both (the longest such chain, as patience diff does)."""
    once_old = {h for h, n in Counter(old).items() if n == 1}
    once_new = {h: j for j, h in enumerate(new)}
    repeated_new = {h for h, n in Counter(new).items() if n > 1}
    common = [
        (i, once_new[h])
        for i, h in enumerate(old)
        if h in once_old and h in once_new and h not in repeated_new
    ]
    if all(a[1] < b[1] for a, b in zip(common, common[1:], strict=False)):
        return common  # nothing moved: the whole chain (the usual rerun)
    return longest_increasing(common)


def longest_increasing(pairs: list[Pair]) -> list[Pair]:
    """The longest subsequence of `pairs` (ordered by their first item) whose
    second items increase (patience sorting, O(n log n))."""
    tails: list[int] = []  # smallest second item ending a chain of length k + 1
    tail_at: list[int] = []  # index in pairs of that item
    before = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_at.append(n)
        else:
            tails[k] = j
            tail_at[k] = n
        before[n] = tail_at[k - 1] if k else -1
    chain = []
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        chain.append(pairs[n])
        n = before[n]
    return chain[::-1]


def pair_by_position(
    old: Sequence[bytes], new: Sequence[bytes], removed: list[int], added: list[int]
) -> list[Pair]:
    """Removed and added rows that sit in the same gap between anchors, paired
    in order (the first removed row of a gap with its first added row...)."""
    chain = anchors(old, new)
    old_cuts = [i for i, _ in chain]
    new_cuts = [j for _, j in chain]
    gaps: dict[int, tuple[list[int], list[int]]] = {}
    for i in removed:
        gaps.setdefault(bisect_right(old_cuts, i), ([], []))[0].append(i)
    for j in added:
        gaps.setdefault(bisect_right(new_cuts, j), ([], []))[1].append(j)
    pairs: list[Pair] = []
    for gap in sorted(gaps):
        rows_old, rows_new = gaps[gap]
        pairs.extend(zip(rows_old, rows_new, strict=False))
    return pairs


# -- by key --------------------------------------------------------------------


def key_candidates(old: Side, new: Side) -> list[str]:
    """Fields both versions have that look like ids: `id`, then names ending in
    `_id`, then other names ending in `id` (in column order)."""
    both = [c for c in old.column_names if c in set(new.column_names)]
    lower = {c: c.lower() for c in both}
    ranked = [c for c in both if lower[c] == "id"]
    ranked += [c for c in both if lower[c].endswith("_id") and c not in ranked]
    ranked += [c for c in both if lower[c].endswith("id") and c not in ranked]
    return ranked


def why_not_unique(side: Side, name: str, explain: bool = True) -> str | None:
    """Why field `name` of `side` cannot match records, or None when it can:
    every record has a scalar value for it, and no two the same. Without
    `explain`, a repeated value is not shown (showing it may read a record)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = side.column(name)
    kind = column.type
    if pa.types.is_nested(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return f"it holds {kind} values"
    if column.null_count:
        return f"{column.null_count:,} of its records have no value (missing or null)"
    if len(column) < 2:
        return None
    counts = pc.value_counts(column)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated) and not explain:
        return "a value is in several records"
    if len(repeated):
        first = repeated[0].as_py()
        shown = first["values"]
        if is_json_text(side, name):
            shown = json.loads(shown)
        return f"the value {value_text(shown)} is in {first['counts']:,} records"
    return None


def is_json_text(side: Side, name: str) -> bool:
    """True when a string column holds JSON text (the key's values are of several
    types, docs/format.md), told apart by one record read exactly."""
    if name not in side.json_text:
        side.json_text[name] = _probe_json_text(side, name)
    return side.json_text[name]


def _probe_json_text(side: Side, name: str) -> bool:
    import pyarrow as pa
    import pyarrow.compute as pc

    column = side.column(name)
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return False
    valid = pc.index(pc.is_valid(column), True).as_py()
    if valid < 0:
        return False
    exact = side.rows([valid])[valid].get(name)
    return not (isinstance(exact, str) and exact == column[valid].as_py())


def keys_at(side: Side, name: str, rows: list[int]) -> list[Any]:
    """The exact values of field `name` at `rows` (from the projected column)."""
    import pyarrow as pa

    if not rows:
        return []
    values: list[Any] = side.column(name).take(pa.array(rows, pa.int64())).to_pylist()
    if is_json_text(side, name):
        values = [None if v is None else json.loads(v) for v in values]
    return values


def pair_by_key(
    old: Side, new: Side, key: str, removed: list[int], added: list[int]
) -> tuple[list[Pair], dict[int, Any], dict[int, Any]]:
    """Removed and added rows with the same key value paired; and the key value
    of every removed (old) and added (new) row."""
    old_keys = dict(zip(removed, keys_at(old, key, removed), strict=True))
    new_keys = dict(zip(added, keys_at(new, key, added), strict=True))
    waiting = {key_identity(v): i for i, v in old_keys.items()}
    pairs = []
    for j, value in new_keys.items():
        i = waiting.get(key_identity(value))
        if i is not None:
            pairs.append((i, j))
    return pairs, old_keys, new_keys


def choose_key(old: Side, new: Side, key: str | None) -> str | None:
    """The field to match by: `key` (ValueError when it cannot be used), else the
    first id-like field unique in both versions, else None (by position)."""
    if key is not None:
        for side in (old, new):
            if key not in side.column_names:
                raise ValueError(f"key {key!r} is not a field of {side.name}")
            reason = why_not_unique(side, key)
            if reason is not None:
                raise ValueError(
                    f"key {key!r} cannot match records of {side.name}: {reason}; "
                    "give a field unique in both versions, or none to match by position"
                )
        return key
    for name in key_candidates(old, new):
        if why_not_unique(old, name, False) is None and why_not_unique(new, name, False) is None:
            return name
    return None
