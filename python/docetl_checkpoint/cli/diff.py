"""`diff`: records added, removed and changed between two checkpoints.

Records are compared by their record hash (`record_hashes()`), as multisets:
a record present twice in A and once in B counts as one removed. When both
checkpoints have an `id` column, a removed and an added record with the same
`id` are paired and reported as one changed record instead.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.cli.common import EXIT_OK, EXIT_USAGE, CliError, open_store, require

ID_KEY = "id"


@dataclass
class Side:
    store: Any
    dir: str
    step: str
    op: str
    entry: dict[str, Any]
    hashes: list[bytes]

    @property
    def name(self) -> str:
        return f"{self.dir}: {self.step}/{self.op}"

    def describe(self) -> dict[str, Any]:
        return {"dir": self.dir, "step": self.step, "op": self.op, "rows": len(self.hashes)}

    def column(self, name: str) -> list[Any]:
        table = self.store.table(self.step, self.op, [name])
        return [] if table is None else table.column(name).to_pylist()

    def rows(self, indexes: list[int]) -> list[dict[str, Any]]:
        """The exact records at `indexes` (missing keys stay missing)."""
        if not indexes:
            return []
        records = self.store.load(self.step, self.op) or []
        return [records[i] for i in indexes]


def open_side(dir: str, step: str, op: str) -> Side:
    store = open_store(dir)
    entry = require(store, step, op)
    hashes = store.record_hashes(step, op)
    if hashes is None:  # deleted between the two calls
        raise CliError(f"no checkpoint {step}/{op} in {dir}")
    return Side(store, dir, step, op, entry, list(hashes))


def unmatched(mine: list[bytes], theirs: list[bytes]) -> list[int]:
    """Row indexes of `mine` whose hash `theirs` does not have (as a multiset)."""
    budget = Counter(theirs)
    out = []
    for i, h in enumerate(mine):
        if budget[h] > 0:
            budget[h] -= 1
        else:
            out.append(i)
    return out


def id_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def pair_by_id(
    a: Side, b: Side, removed: list[int], added: list[int]
) -> list[tuple[int, int, Any]]:
    """(row in a, row in b, id) of removed and added records sharing an id."""
    if not removed or not added:
        return []
    if ID_KEY not in a.entry["column_names"] or ID_KEY not in b.entry["column_names"]:
        return []
    ids_a, ids_b = a.column(ID_KEY), b.column(ID_KEY)
    waiting: dict[str, list[int]] = defaultdict(list)
    for i in removed:
        if ids_a[i] is not None:
            waiting[id_key(ids_a[i])].append(i)
    pairs = []
    for j in added:
        rows = waiting.get(id_key(ids_b[j])) if ids_b[j] is not None else None
        if rows:
            pairs.append((rows.pop(0), j, ids_b[j]))
    return pairs


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = list(dict.fromkeys(list(old) + list(new)))
    return [k for k in keys if k not in old or k not in new or id_key(old[k]) != id_key(new[k])]


def compare(a: Side, b: Side, examples: int) -> dict[str, Any]:
    removed = unmatched(a.hashes, b.hashes)
    added = unmatched(b.hashes, a.hashes)
    pairs = pair_by_id(a, b, removed, added)
    paired_a = {i for i, _, _ in pairs}
    paired_b = {j for _, j, _ in pairs}
    removed = [i for i in removed if i not in paired_a]
    added = [j for j in added if j not in paired_b]
    shown = pairs[:examples]
    rows_a = a.rows(removed[:examples] + [i for i, _, _ in shown])
    rows_b = b.rows(added[:examples] + [j for _, j, _ in shown])
    n_rem, n_add = len(removed[:examples]), len(added[:examples])
    changed = [
        {
            "id": ident,
            "row_a": i,
            "row_b": j,
            "fields": changed_fields(old, new),
            "a": old,
            "b": new,
        }
        for (i, j, ident), old, new in zip(shown, rows_a[n_rem:], rows_b[n_add:], strict=True)
    ]
    return {
        "a": a.describe(),
        "b": b.describe(),
        "paired_by": ID_KEY if pairs or has_id(a, b) else None,
        "unchanged": len(a.hashes) - len(removed) - len(pairs),
        "added": len(added),
        "removed": len(removed),
        "changed": len(pairs),
        "examples": {
            "added": examples_of(added[:n_add], rows_b[:n_add]),
            "removed": examples_of(removed[:n_rem], rows_a[:n_rem]),
            "changed": changed,
        },
    }


def examples_of(rows: list[int], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"row": i, "record": r} for i, r in zip(rows, records, strict=True)]


def has_id(a: Side, b: Side) -> bool:
    return ID_KEY in a.entry["column_names"] and ID_KEY in b.entry["column_names"]


def cmd_diff(args: argparse.Namespace) -> int:
    if args.against is None and args.to is None:
        raise CliError(
            "diff needs something to compare with: --against DIR2 and/or --to STEP2 OP2", EXIT_USAGE
        )
    a = open_side(args.dir, args.step, args.op)
    step2, op2 = args.to if args.to else (args.step, args.op)
    b = open_side(args.against or args.dir, step2, op2)
    result = compare(a, b, args.examples)
    if args.json:
        print(render.dumps(result))
    else:
        print("\n".join(diff_lines(result, a, b)))
    return EXIT_OK


CONTEXT = 16  # characters kept before the first difference of two long values


def around_difference(old: str, new: str, mark: str) -> tuple[str, str]:
    """Both texts from a little before where they first differ, so a cut shows it."""
    same = len(os.path.commonprefix([old, new]))
    if same <= CONTEXT * 2:
        return old, new
    start = same - CONTEXT
    return mark + old[start:], mark + new[start:]


def diff_lines(result: dict[str, Any], a: Side, b: Side) -> list[str]:
    width = render.terminal_width()
    mark = render.ellipsis()
    out = [
        render.cut(f"a  {a.name}  ({len(a.hashes):,} records)", width, mark),
        render.cut(f"b  {b.name}  ({len(b.hashes):,} records)", width, mark),
        "",
        f"unchanged {result['unchanged']:,}   changed {result['changed']:,}   "
        f"added {result['added']:,}   removed {result['removed']:,}"
        + (
            f"   (changed = same {result['paired_by']!r}, different content)"
            if result["paired_by"]
            else ""
        ),
    ]
    ex = result["examples"]
    if ex["changed"]:
        out += ["", f"changed (first {len(ex['changed'])} of {result['changed']:,}):"]
        for c in ex["changed"]:
            out.append(
                render.cut(
                    f"  {ID_KEY}={render.one_line(c['id'])}  fields: {', '.join(c['fields'])}",
                    width,
                    mark,
                )
            )
            for field in c["fields"][:3]:
                old, new = (
                    render.one_line(rec[field]) if field in rec else "(missing)"
                    for rec in (c["a"], c["b"])
                )
                old, new = around_difference(old, new, mark)
                out.append(render.cut(f"    - {field}: {old}", width, mark))
                out.append(render.cut(f"    + {field}: {new}", width, mark))
    for kind, sign in (("added", "+"), ("removed", "-")):
        if ex[kind]:
            out += ["", f"{kind} (first {len(ex[kind])} of {result[kind]:,}):"]
            out += [
                render.cut(f"  {sign} row {e['row']}: {render.one_line(e['record'])}", width, mark)
                for e in ex[kind]
            ]
    return out
