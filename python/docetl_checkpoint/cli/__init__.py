"""`docetl-checkpoint`: look into, check and maintain a checkpoint folder.

Run `docetl-checkpoint --help`, or see docs/cli.md. Exit status: 0 on
success, 1 when something is missing or damaged, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from docetl_checkpoint.cli.common import EXIT_FAILURE, EXIT_USAGE, CliError, store_error_types

PROG = "docetl-checkpoint"
DEBUG_ENV = "DOCETL_CHECKPOINT_DEBUG"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("docetl-checkpoint")
    except PackageNotFoundError:
        return "unknown"


def nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def positive(text: str) -> int:
    value = nonnegative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more: {text}")
    return value


def keep_count(text: str) -> int | None:
    """--keep-versions: a count >= 1, or 'all' (None: no limit by count)."""
    return None if text.strip().lower() == "all" else positive(text)


def version_number(text: str) -> int:
    """A version: 1, 2, ... or counted back from the latest: -1, -2, ..."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a version number: {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "there is no version 0: versions count from 1, -1 is the latest"
        )
    return value


def column_list(text: str) -> list[str]:
    columns = list(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    if not columns:
        raise argparse.ArgumentTypeError("give at least one column name")
    return columns


def build_parser() -> argparse.ArgumentParser:
    from docetl_checkpoint.cli import browse, diff, history, maintain, plan, stats, units

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect, check and maintain a docetl-checkpoint folder "
        "(DocETL's pipeline.output.intermediate_dir).",
        epilog="Exit status: 0 success, 1 missing or damaged, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("dir", metavar="DIR", help="the checkpoint folder")
        return p

    def step_op(p: argparse.ArgumentParser) -> None:
        p.add_argument("step", metavar="STEP", help="pipeline step name")
        p.add_argument("op", metavar="OP", help="operation name")

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON for scripts")

    p = command("ls", "list checkpoints and batches: rows, columns, size, created time")
    json_flag(p)
    p.set_defaults(func=browse.cmd_ls)

    p = command("show", "print the first rows of a checkpoint as a table")
    step_op(p)
    p.add_argument(
        "--head", "-n", type=nonnegative, default=10, metavar="N", help="how many rows (default 10)"
    )
    p.add_argument(
        "--columns",
        "-c",
        type=column_list,
        metavar="A,B",
        help="only these columns (reads only them)",
    )
    p.add_argument(
        "--vertical",
        action="store_true",
        help="one field per line (the default when rows are too wide)",
    )
    p.set_defaults(func=browse.cmd_show)

    p = command("info", "schema, rows, bytes and op hash of a checkpoint")
    step_op(p)
    json_flag(p)
    p.set_defaults(func=browse.cmd_info)

    p = command("stats", "unique vs logical records and values, bytes on disk")
    json_flag(p)
    p.set_defaults(func=stats.cmd_stats)

    p = command("diff", "records added, removed and changed between two versions or checkpoints")
    p.add_argument("step", metavar="STEP", nargs="?", help="pipeline step name")
    p.add_argument("op", metavar="OP", nargs="?", help="operation name")
    p.add_argument(
        "--previous", action="store_true", help="the latest version against the one before"
    )
    p.add_argument(
        "--versions",
        nargs=2,
        type=version_number,
        metavar=("A", "B"),
        help="version A against version B (numbers; -1 is the latest, -2 the one before)",
    )
    p.add_argument(
        "--runs",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        help="every checkpoint of run A against run B (ids, unique prefixes, or -1, -2...)",
    )
    p.add_argument(
        "--against",
        metavar="DIR2",
        help="compare with the same (or --to) checkpoint in another folder",
    )
    p.add_argument(
        "--to", nargs=2, metavar=("STEP2", "OP2"), help="compare with another checkpoint"
    )
    p.add_argument(
        "--key",
        metavar="FIELD",
        help="match records by this field (unique in both); default: id or *_id when unique, "
        "else by position",
    )
    p.add_argument(
        "--examples",
        type=nonnegative,
        default=3,
        metavar="N",
        help="examples to show of each kind (default 3)",
    )
    p.add_argument(
        "--exit-code", action="store_true", help="exit 1 when there are differences, as git diff"
    )
    json_flag(p)
    p.set_defaults(func=diff.cmd_diff)

    p = command("log", "the versions of a checkpoint: time, rows, op hash, cost, run, pins")
    step_op(p)
    json_flag(p)
    p.set_defaults(func=history.cmd_log)

    p = command("runs", "the pipeline runs the store recorded: checkpoints, rows, cost")
    json_flag(p)
    p.set_defaults(func=history.cmd_runs)

    for name, verb in (("pin", "keep"), ("unpin", "stop keeping")):
        p = command(
            name,
            f"{verb} a version (STEP OP VERSION) or every version a run wrote (--run ID) "
            "whatever the retention policy",
        )
        p.add_argument("step", metavar="STEP", nargs="?", help="pipeline step name")
        p.add_argument("op", metavar="OP", nargs="?", help="operation name")
        p.add_argument(
            "version", metavar="VERSION", nargs="?", type=version_number, help="version number"
        )
        p.add_argument("--run", metavar="RUN_ID", help="every version this run wrote")
        p.set_defaults(func=history.cmd_pin, pin=name == "pin")

    p = command("verify", "check every file against its checksum; exit 1 if damaged")
    json_flag(p)
    p.set_defaults(func=maintain.cmd_verify)

    p = command(
        "gc", "drop old versions by the retention policy, then remove unreferenced values and files"
    )
    p.add_argument(
        "--keep-versions",
        type=keep_count,
        default=-1,  # maintain.KEEP_DEFAULT: the store's default
        metavar="K",
        help="drop versions beyond the K latest of each checkpoint (default 5; 'all' keeps all)",
    )
    p.add_argument(
        "--older-than",
        type=units.duration,
        metavar="DURATION",
        help="also drop versions older than this (7d, 12h, 30m, 3600s)",
    )
    p.add_argument(
        "--max-bytes",
        type=units.size,
        metavar="SIZE",
        help="then drop the oldest unpinned versions until the store fits (500MB, 2GiB)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would go and what it would free"
    )
    json_flag(p)
    p.set_defaults(func=maintain.cmd_gc)

    p = command("compact", "merge small value segments, recompressed at a strong level")
    json_flag(p)
    p.set_defaults(func=maintain.cmd_compact)

    p = command("recover", "rebuild a missing or damaged manifest from the data files")
    json_flag(p)
    p.set_defaults(func=maintain.cmd_recover)

    p = command("export", "write a checkpoint to .parquet, .jsonl or .csv (by suffix)")
    step_op(p)
    p.add_argument("out", metavar="OUT", help="output file: .parquet, .jsonl or .csv")
    p.set_defaults(func=maintain.cmd_export)

    p = command("import-docetl", "adopt a folder written by DocETL's JSON checkpoint store")
    p.set_defaults(func=maintain.cmd_import_docetl)

    p = sub.add_parser(
        "plan",
        help="what running a DocETL pipeline would reuse or recompute, and why (a dry run)",
        description="For every operation of the pipeline, in order: reuse or run, and why. "
        "Calls no LLM and writes nothing; needs DocETL.",
    )
    p.add_argument("pipeline", metavar="PIPELINE.yaml", help="the DocETL pipeline")
    json_flag(p)
    p.set_defaults(func=plan.cmd_plan)

    # listed for --help only: main() hands `run ...` to DocETL's CLI before parsing
    p = sub.add_parser(
        "run",
        help="run a pipeline as `docetl run` does, with this store (options: DocETL's)",
        add_help=False,
    )
    p.add_argument("docetl_args", nargs=argparse.REMAINDER, metavar="PIPELINE.yaml ...")
    return parser


def _report(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default `sys.argv[1:]`); returns the exit status."""
    args_given = list(sys.argv[1:] if argv is None else argv)
    if args_given[:1] == ["run"]:  # DocETL's own `run`, untouched (cli/run.py)
        from docetl_checkpoint.cli.run import run_docetl

        return run_docetl(args_given[1:], PROG)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, --version, usage errors
        return exit.code if isinstance(exit.code, int) else EXIT_USAGE
    try:
        status: int = args.func(args)
        sys.stdout.flush()
        return status
    except CliError as error:
        _report(str(error))
        return error.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `docetl-checkpoint show ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as error:  # never a traceback, unless asked for one
        if os.environ.get(DEBUG_ENV):
            raise
        _report(describe(error))
        return EXIT_FAILURE


def describe(error: Exception) -> str:
    """One line for an exception from the store or the file system."""
    if isinstance(error, store_error_types()):
        kind = type(error).__name__
        return f"{kind}: {error}" if kind != "CheckpointError" else str(error)
    if isinstance(error, (OSError, ValueError)):  # disk errors; names the store refuses
        return str(error)
    return f"{type(error).__name__}: {error} (set {DEBUG_ENV}=1 for a traceback)"


__all__ = ["main", "build_parser"]
