"""`diff`: records added, removed and changed between two versions or checkpoints.

The comparison is `docetl_checkpoint.history` 's (one implementation for the
API, the notebook and the CLI); this file picks the two sides from the
arguments and prints the result. `diff DIR --runs A B` is in cli/runs_diff.py.
"""

from __future__ import annotations

import argparse
from typing import Any

from docetl_checkpoint.cli import marks, render
from docetl_checkpoint.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    open_store,
    require,
)
from docetl_checkpoint.history import Diff, compare, open_side
from docetl_checkpoint.history.sides import NoSuchVersionError, Side

MAX_FIELDS = 5  # changed fields shown per example record


def sides(args: argparse.Namespace) -> tuple[Side, Side]:
    """The two sides the arguments name (usage errors exit 2)."""
    by_version = args.previous or args.versions is not None
    by_place = args.against is not None or args.to is not None
    if args.step is None or args.op is None:
        raise CliError("diff needs STEP and OP (or --runs A B for a whole pipeline)", EXIT_USAGE)
    if by_version and by_place:
        raise CliError(
            "--previous and --versions compare versions of one checkpoint: "
            "not with --against or --to",
            EXIT_USAGE,
        )
    if args.previous and args.versions is not None:
        raise CliError("give --previous or --versions A B, not both", EXIT_USAGE)
    if not by_version and not by_place:
        raise CliError(
            "diff needs something to compare with: --previous, --versions A B, "
            "--against DIR2 and/or --to STEP2 OP2",
            EXIT_USAGE,
        )
    store = open_store(args.dir)
    if not by_version or not store.versions(args.step, args.op):
        require(store, args.step, args.op)  # names the checkpoints there are
    if by_version:
        old, new = (-2, -1) if args.previous else args.versions
        return side(store, args.step, args.op, old), side(store, args.step, args.op, new)
    other = open_store(args.against) if args.against is not None else store
    step2, op2 = args.to if args.to else (args.step, args.op)
    require(other, step2, op2)
    return side(store, args.step, args.op, None), side(other, step2, op2, None)


def side(store: Any, step: str, op: str, version: int | None) -> Side:
    try:
        return open_side(store, step, op, version)
    except NoSuchVersionError as error:
        raise CliError(str(error)) from None
    except ValueError as error:
        raise CliError(str(error), EXIT_USAGE) from None


def cmd_diff(args: argparse.Namespace) -> int:
    if args.runs is not None:
        from docetl_checkpoint.cli.runs_diff import cmd_diff_runs

        if args.step is not None:
            raise CliError("--runs compares whole runs: give DIR only, not STEP OP", EXIT_USAGE)
        return cmd_diff_runs(args)
    old, new = sides(args)
    try:
        result = compare(old, new, args.key)
    except ValueError as error:  # a --key that cannot match records
        raise CliError(str(error), EXIT_USAGE) from None
    if args.json:
        print(render.dumps(as_json(result, old, new, args.examples)))
    else:
        print("\n".join(diff_lines(result, args.examples)))
    return EXIT_FAILURE if args.exit_code and result.differs else EXIT_OK


def describe(s: Side) -> dict[str, Any]:
    out: dict[str, Any] = {"dir": str(s.manager.intermediate_dir), "step": s.step, "op": s.op}
    if s.version is not None:
        out["version"] = s.version
    out["rows"] = s.num_rows
    return out


def as_json(result: Diff, old: Side, new: Side, examples: int) -> dict[str, Any]:
    changes = result.changes
    kinds = {
        kind: [c for c in changes if c["change"] == kind]
        for kind in ("changed", "added", "removed")
    }
    return {
        "a": describe(old),
        "b": describe(new),
        "key": result.key,
        "paired_by": result.key,
        **result.counts(),
        "changes": changes,
        # the first examples of each kind, in the shape of earlier releases
        "examples": {
            "added": [
                {"row": c["new_row"], "record": c["record"]} for c in kinds["added"][:examples]
            ],
            "removed": [
                {"row": c["old_row"], "record": c["record"]} for c in kinds["removed"][:examples]
            ],
            "changed": [
                {
                    "id": c["key"],
                    "row_a": c["old_row"],
                    "row_b": c["new_row"],
                    "fields": list(c["fields"]),
                    "a": old_record,
                    "b": new_record,
                }
                for c, (old_record, new_record) in zip(
                    kinds["changed"][:examples], changed_records(result, examples), strict=True
                )
            ],
        },
    }


def changed_records(result: Diff, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    olds, news = result.records()
    return [(olds[i], news[j]) for i, j in result.changed_rows[:n]]


def where(result: Diff, change: dict[str, Any]) -> str:
    if result.key is not None:
        return f"{result.key}={render.one_line(change['key'])}"
    i, j = change["old_row"], change["new_row"]
    return f"row {'-' if i is None else i} -> {'-' if j is None else j}"


def diff_lines(result: Diff, examples: int) -> list[str]:
    width = render.terminal_width()
    mark = render.ellipsis()
    old, new = result.old, result.new
    by = (
        f"   (changed = same {result.key!r}, different content)"
        if result.key
        else "   (changed = same place, different content)"
        if result.changed
        else ""
    )
    out = [
        render.cut(f"a  {old.name}  ({old.num_rows:,} records)", width, mark),
        render.cut(f"b  {new.name}  ({new.num_rows:,} records)", width, mark),
        "",
        f"unchanged {result.unchanged:,}   changed {result.changed:,}   "
        f"added {result.added:,}   removed {result.removed:,}" + by,
    ]
    if not examples or not result.differs:
        return out
    first = result.first(examples)
    shown = [c for c in first if c["change"] == "changed"]
    if shown:
        out += ["", f"changed (first {len(shown)} of {result.changed:,}):"]
        for change in shown:
            out += changed_lines(result, change, width, mark)
    for kind, sign, row in (("added", "+", "new_row"), ("removed", "-", "old_row")):
        items = [c for c in first if c["change"] == kind]
        if items:
            total = getattr(result, kind)
            out += ["", f"{kind} (first {len(items)} of {total:,}):"]
            out += [
                render.cut(f"  {sign} row {c[row]}: {render.one_line(c['record'])}", width, mark)
                for c in items
            ]
    return out


def changed_lines(result: Diff, change: dict[str, Any], width: int, mark: str) -> list[str]:
    fields = change["fields"]
    names = ", ".join(fields) if fields else "(only the order of the keys)"
    out = [render.cut(f"  {where(result, change)}  fields: {names}", width, mark)]
    items = list(fields.items())
    if not items:
        items = [("(keys)", {"old": change["key_order"][0], "new": change["key_order"][1]})]
    name_width = min(20, max(render.display_width(n) for n, _ in items[:MAX_FIELDS]))
    # "    NAME  OLD │ NEW": the two values share what the name leaves
    half = max(8, (width - 4 - name_width - 2 - 3) // 2)
    style = marks.marks()
    for name, values in items[:MAX_FIELDS]:
        if "old" in values and "new" in values:
            left, right = marks.side_by_side(values["old"], values["new"], half, style, mark)
        else:
            left, right = (
                marks.paint([(False, marks.show(values[s]))], half, ("", ""), style, mark)
                if s in values
                else render.pad("(missing)", half)
                for s in ("old", "new")
            )
        label = render.pad(render.cut(name, name_width, mark), name_width)
        out.append(f"    {label}  {left} │ {right}".rstrip())
    if len(items) > MAX_FIELDS:
        out.append(f"    {mark} and {len(items) - MAX_FIELDS} more fields")
    return out
