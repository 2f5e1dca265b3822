"""`log`, `runs`, `pin`, `unpin`: the versions and runs a store keeps (manifest only)."""

from __future__ import annotations

import argparse
from typing import Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.cli.common import EXIT_OK, EXIT_USAGE, CliError, open_store, require
from docetl_checkpoint.history.sides import NoSuchVersionError, resolve_version

SHORT = 12  # hex digits shown of an op hash or a run id


def short(value: Any) -> str:
    return "-" if value is None else str(value)[:SHORT]


def dollars(cost: Any) -> str:
    if cost is None:
        return "-"
    return f"${cost:,.4f}" if cost < 1 else f"${cost:,.2f}"


def with_iso(item: dict[str, Any], key: str) -> dict[str, Any]:
    out = dict(item)
    if isinstance(item.get(key), (int, float)):
        out[f"{key}_iso"] = render.iso_time(item[key])
    return out


def cmd_log(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    versions = store.versions(args.step, args.op)
    if not versions:
        require(store, args.step, args.op)  # names what there is instead
    if args.json:
        print(render.dumps([with_iso(v, "created_at") for v in versions]))
        return EXIT_OK
    headers = ["", "VERSION", "CREATED", "ROWS", "OP HASH", "COST", "RUN", "PINNED"]
    rows = [
        [
            "*" if v["latest"] else "",
            str(v["version"]),
            render.local_time(v["created_at"]),
            f"{v['num_rows']:,}",
            short(v.get("op_hash")),
            dollars(v.get("cost")),
            short(v.get("run_id")),
            "pinned" if v.get("pinned") else "",
        ]
        for v in versions
    ]
    right = [False, True, False, True, False, True, False, False]
    width = render.terminal_width()
    lines = render.table_lines(headers, rows, width, right, render.ellipsis())
    print("\n".join(lines or [" ".join(r).strip() for r in rows]))
    count = f"{len(versions):,} version{'s' * (len(versions) != 1)}"
    print(f"\n{count} of {args.step}/{args.op}; * marks the latest")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    runs = store.runs()
    if args.json:
        print(render.dumps([with_iso(r, "started_at") for r in runs]))
        return EXIT_OK
    if not runs:
        print(f"no runs recorded in {args.dir}")
        return EXIT_OK
    headers = ["RUN", "PIPELINE", "STARTED", "CHECKPOINTS", "ROWS", "COST"]
    rows = [
        [
            str(r["run_id"]),
            str(r.get("pipeline") or "-"),
            render.local_time(r["started_at"]) if r.get("started_at") is not None else "-",
            f"{len(r.get('checkpoints') or []):,}",
            f"{r.get('rows') or 0:,}",
            dollars(r.get("cost")),
        ]
        for r in runs
    ]
    lines = render.table_lines(
        headers, rows, render.terminal_width(), [False, False, False, True, True, True]
    )
    print("\n".join(lines or [" ".join(r) for r in rows]))
    return EXIT_OK


def find_run(runs: list[dict[str, Any]], wanted: str) -> dict[str, Any]:
    """A run by id, unique id prefix, or position (-1 the latest, -2 the one before)."""
    if not runs:
        raise CliError("the store has recorded no runs")
    exact = [r for r in runs if str(r["run_id"]) == wanted]
    if exact:
        return exact[0]
    if wanted.startswith("-") and wanted[1:].isdigit():
        back = int(wanted)
        if -back > len(runs):
            raise CliError(f"no run {wanted}: the store has {len(runs):,} runs")
        return sorted(runs, key=run_order)[back]
    found = [r for r in runs if str(r["run_id"]).startswith(wanted)]
    if len(found) == 1:
        return found[0]
    if found:
        ids = ", ".join(str(r["run_id"]) for r in found[:4])
        raise CliError(f"run {wanted!r} is ambiguous: {ids}", EXIT_USAGE)
    raise CliError(f"no run {wanted!r} (see `runs DIR`)")


def run_order(run: dict[str, Any]) -> tuple[float, str]:
    started = run.get("started_at")
    return (float(started) if started is not None else 0.0, str(run["run_id"]))


def cmd_pin(args: argparse.Namespace) -> int:
    verb = "pin" if args.pin else "unpin"
    one = (args.step, args.op, args.version)
    if args.run is not None:
        if any(x is not None for x in one):
            raise CliError(f"{verb} takes STEP OP VERSION or --run RUN_ID, not both", EXIT_USAGE)
        store = open_store(args.dir)
        run = find_run(store.runs(), args.run)
        (store.pin_run if args.pin else store.unpin_run)(run["run_id"])
        count = len(run.get("checkpoints") or [])
        print(f"{verb}ned the {count:,} versions run {run['run_id']} wrote")
        return EXIT_OK
    if any(x is None for x in one):
        raise CliError(f"{verb} needs STEP OP VERSION, or --run RUN_ID", EXIT_USAGE)
    store = open_store(args.dir)
    try:
        number = resolve_version(store, args.step, args.op, args.version)
    except NoSuchVersionError as error:
        raise CliError(str(error)) from None
    (store.pin if args.pin else store.unpin)(args.step, args.op, number)
    print(f"{verb}ned {args.step}/{args.op} version {number}")
    return EXIT_OK
