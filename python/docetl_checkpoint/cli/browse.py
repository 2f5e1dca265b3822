"""Read-only commands: `ls`, `show`, `info`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from docetl_checkpoint.cli import provenance, render
from docetl_checkpoint.cli.common import EXIT_OK, CliError, open_store, require

# where an op hash is kept in a checkpoint's meta: by callers of `save(meta=...)`,
# and by the DocETL adapter (docetl_checkpoint.docetl)
OP_HASH_KEYS = ("op_hash", "docetl_op_hash")
# what DocETL 0.3.0's JSON checkpoint store writes beside its files
DOCETL_CONFIG = ".docetl_intermediate_config.json"


def sort_key(entry: dict[str, Any]) -> tuple[str, int, str]:
    """Steps by name, batches by number (batch_2 before batch_10)."""
    index = entry.get("batch_index")
    return (entry["step"], index if isinstance(index, int) else -1, entry["op"])


def cmd_ls(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    entries = sorted(store.entries(), key=sort_key)
    if args.json:
        print(
            render.dumps(
                [dict(e, created_at_iso=render.iso_time(e["created_at"])) for e in entries]
            )
        )
        return EXIT_OK
    if not entries:
        print(f"no checkpoints in {args.dir}")
        if os.path.exists(os.path.join(args.dir, DOCETL_CONFIG)):
            print(
                "it holds DocETL's own JSON checkpoints: "
                f"`docetl-checkpoint import-docetl {args.dir}` adopts them"
            )
        return EXIT_OK
    logical = all("logical_bytes" in e for e in entries)
    headers = ["STEP", "OP", "ROWS", "COLS", "LOGICAL", "ON DISK", "CREATED"]
    rows = [
        [
            e["step"],
            e["op"],
            f"{e['num_rows']:,}",
            str(len(e["column_names"])),
            render.human_bytes(e["logical_bytes"]) if logical else "",
            render.human_bytes(e["size_bytes"]),
            render.local_time(e["created_at"]),
        ]
        for e in entries
    ]
    if not logical:  # a core that does not report it
        del headers[4]
        for row in rows:
            del row[4]
    if any(provenance.cost_cell(e) for e in entries):  # what DocETL's LLM calls cost
        headers.insert(-1, "COST")
        for row, e in zip(rows, entries, strict=True):
            row.insert(-1, provenance.cost_cell(e))
    width = render.terminal_width()
    mark = render.ellipsis()
    right = [h in ("ROWS", "COLS", "LOGICAL", "ON DISK", "COST") for h in headers]
    lines = render.table_lines(headers, rows, width, right, mark)
    if lines is None:  # a very narrow terminal
        lines = [" ".join(r) for r in rows]
    print("\n".join(lines))
    checkpoints = sum(e["kind"] == "checkpoint" for e in entries)
    batches = len(entries) - checkpoints
    total_rows = sum(e["num_rows"] for e in entries)
    print(
        f"\n{checkpoints} checkpoint{'s' * (checkpoints != 1)}, {batches} "
        f"batch{'es' * (batches != 1)}, {total_rows:,} rows"
    )
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    entry = require(store, args.step, args.op)
    known = list(entry["column_names"])
    if args.columns:
        unknown = [c for c in args.columns if c not in known]
        if unknown:
            raise CliError(
                f"{args.step}/{args.op} has no column {', '.join(unknown)}; "
                f"its columns are {', '.join(known) or '(none)'}"
            )
        table = store.sample(args.step, args.op, args.head, args.columns)
        records = [] if table is None else table.to_pylist()
        columns = list(args.columns)
    else:
        records = store.head(args.step, args.op, args.head) or []
        columns = known + [k for r in records for k in r if k not in known]
        columns = list(dict.fromkeys(columns))
    print_records(records, columns, entry, args.vertical)
    return EXIT_OK


MISSING = object()


def print_records(
    records: list[dict[str, Any]], columns: list[str], entry: dict[str, Any], vertical: bool
) -> None:
    width = render.terminal_width()
    mark = render.ellipsis()
    lines = None
    if not vertical:
        headers = ["#"] + columns
        rows = [
            [str(i)] + [cell(r.get(c, MISSING)) for c in columns] for i, r in enumerate(records)
        ]
        right = [True] + [
            all(render.is_number(r.get(c)) for r in records if r.get(c) is not None)
            and any(r.get(c) is not None for r in records)
            for c in columns
        ]
        lines = render.table_lines(headers, rows, width, right, mark)
    if lines is None:
        lines = render.record_lines(
            [
                (f"row {i}", [(c, cell(r.get(c, MISSING))) for c in columns if c in r])
                for i, r in enumerate(records)
            ],
            width,
            mark,
        )
    if lines:
        print("\n".join(lines))
    total = entry["num_rows"]
    print(
        f"({len(records):,} of {total:,} row{'s' * (total != 1)}, "
        f"{len(columns)} column{'s' * (len(columns) != 1)})"
    )


def cell(value: Any) -> str:
    return "" if value is MISSING else render.one_line(value)


def schema_of(store: Any, step: str, op: str) -> list[tuple[str, str]]:
    empty = store.sample(step, op, 0)
    if empty is None:
        return []
    return [(field.name, str(field.type)) for field in empty.schema]


def cmd_info(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    entry = require(store, args.step, args.op)
    schema = schema_of(store, args.step, args.op)
    meta = dict(entry.get("meta") or {})
    op_hash = next((meta[k] for k in OP_HASH_KEYS if meta.get(k)), None)
    if args.json:
        out = dict(
            entry,
            created_at_iso=render.iso_time(entry["created_at"]),
            num_columns=len(entry["column_names"]),
            op_hash=op_hash,
            schema=[{"name": n, "type": t} for n, t in schema],
            **provenance.info_json(meta),
        )
        print(render.dumps(out))
        return EXIT_OK
    pairs = [
        (
            "checkpoint",
            f"{entry['step']}/{entry['op']}"
            + (
                f"  (batch {entry['batch_index']} of {entry['batch_of']})"
                if entry.get("kind") == "batch"
                else ""
            ),
        ),
        ("path", str(entry.get("path", ""))),
        ("rows", f"{entry['num_rows']:,}"),
        ("columns", str(len(entry["column_names"]))),
        ("bytes", f"{render.human_bytes(entry['size_bytes'])} ({entry['size_bytes']:,}) on disk"),
        ("created", render.local_time(entry["created_at"])),
        ("op hash", op_hash or "-"),
    ]
    if "logical_bytes" in entry:
        pairs.insert(
            5,
            (
                "logical bytes",
                f"{render.human_bytes(entry['logical_bytes'])} "
                f"({entry['logical_bytes']:,}) before dedup",
            ),
        )
    if "value_refs" in entry:
        pairs.insert(6, ("large values", f"{entry['value_refs']:,} references"))
    if entry.get("file"):
        pairs.insert(2, ("file", str(entry["file"])))
    if entry.get("records_digest"):
        pairs.append(("records digest", str(entry["records_digest"])))
    pairs += provenance.info_pairs(meta)
    hidden = OP_HASH_KEYS + provenance.DECODED_KEYS
    pairs += [(f"meta {k}", str(v)) for k, v in sorted(meta.items()) if k not in hidden]
    print("\n".join(render.aligned(pairs)))
    print("schema")
    for line in render.aligned([(f"  {n}", t) for n, t in schema]):
        print(line)
    return EXIT_OK
