"""Commands that check or change a folder: `verify`, `gc`, `export`, `import-docetl`."""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    open_store,
    require,
)
from docetl_checkpoint.cli.progress import Progress


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'s' * (n != 1)}"


def damage_line(item: Any) -> str:
    """A `damaged` dict (step, op, file, error) or a damaged segment (file, error)."""
    if isinstance(item, dict):
        name = f"{item.get('step', '?')}/{item.get('op', '?')}"
        error = str(item.get("error", "damaged"))
        file = str(item.get("file") or "")
        where = f" ({file})" if file and os.path.basename(file) not in error else ""
        return f"{name}{where}: {error}"
    if isinstance(item, (list, tuple)) and len(item) == 2:
        return f"value segment {item[0]}: {item[1]}"
    return render.one_line(item)


def cmd_verify(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    report = store.verify()
    damaged = list(report.get("damaged") or [])
    segments = list(report.get("damaged_segments") or [])
    ok = bool(report.get("ok")) and not damaged and not segments
    if args.json:
        print(render.dumps(report))
        return EXIT_OK if ok else EXIT_FAILURE
    manifest_error = report.get("manifest_error")
    if manifest_error:
        print(f"DAMAGED  {manifest_error}")
        return EXIT_FAILURE
    for item in damaged + segments:
        print("DAMAGED  " + damage_line(item))
    intact = len(report.get("intact") or [])
    checked = report.get("files_checked")
    files = f", {checked:,} files checked" if isinstance(checked, int) else ""
    if ok:
        print(f"ok: nothing damaged in {args.dir} ({intact:,} checkpoints intact{files})")
    else:
        print(
            f"damaged: {plural(len(damaged), 'checkpoint')} and "
            f"{plural(len(segments), 'value segment')}; {intact:,} intact in {args.dir}"
        )
    return EXIT_OK if ok else EXIT_FAILURE


KEEP_DEFAULT = -1  # --keep-versions not given: the store's default (5)


def gc_policy(args: argparse.Namespace) -> dict[str, Any]:
    """The retention options given (the store's defaults for the others)."""
    policy: dict[str, Any] = {}
    if args.keep_versions != KEEP_DEFAULT:
        policy["keep_versions"] = args.keep_versions
    if args.older_than is not None:
        policy["older_than"] = args.older_than
    if args.max_bytes is not None:
        policy["max_bytes"] = args.max_bytes
    if args.dry_run:
        policy["dry_run"] = True
    return policy


def dropped_lines(dropped: Any, verb: str) -> list[str]:
    """The versions a gc dropped (or would drop): a count, or a list of them."""
    if isinstance(dropped, list) and dropped:
        lines = [f"{verb} {plural(len(dropped), 'version')}"]
        for item in dropped:
            if isinstance(item, dict):
                name = f"{item.get('step', '?')}/{item.get('op', '?')}"
                lines.append(f"  {name} version {item.get('version', '?')}")
            else:
                lines.append(f"  {render.one_line(item)}")
        return lines
    if isinstance(dropped, int) and dropped:
        return [f"{verb} {plural(dropped, 'version')}"]
    return []


def cmd_gc(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    with Progress("gc"):
        freed = store.gc(**gc_policy(args))
    if args.json:
        print(render.dumps(freed))
        return EXIT_OK
    dropped = freed.get("dropped", freed.get("versions_dropped"))  # [{step, op, version}]
    if args.dry_run:
        lines = dropped_lines(dropped, "would drop") or ["would drop no version"]
        would_free = render.human_bytes(freed.get("bytes_freed", 0))
        lines.append(f"would free {would_free} (dry run: nothing changed)")
        print("\n".join(lines))
        return EXIT_OK
    counts = {k: v for k, v in freed.items() if isinstance(v, int) and not isinstance(v, bool)}
    counts.pop("versions_dropped", None)  # listed above the counts
    text = f"freed {render.human_bytes(counts.pop('bytes_freed', 0))}"
    removed = [
        f"{v:,} {k.removesuffix('_removed').replace('_', ' ')}"
        for k, v in list(counts.items())
        if k.endswith("_removed") and counts.pop(k) is not None
    ]
    if removed:
        text += ": removed " + ", ".join(removed)
    if counts:
        text += " (" + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items()) + ")"
    print("\n".join([*dropped_lines(dropped, "dropped"), text]))
    return EXIT_OK


def cmd_compact(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    with Progress("compact"):
        report = store.compact()
    if args.json:
        print(render.dumps(report))
        return EXIT_OK
    if not report["segments_merged"]:
        print(f"nothing to compact in {args.dir}")
        return EXIT_OK
    before, after = report["bytes_before"], report["bytes_after"]
    print(
        f"merged {plural(report['segments_merged'], 'value segment')} into "
        f"{report['segments_written']:,}: {render.human_bytes(before)} -> "
        f"{render.human_bytes(after)}"
    )
    return EXIT_OK


def cmd_recover(args: argparse.Namespace) -> int:
    store = open_store(args.dir)
    with Progress("recover"):
        report = store.recover()
    if args.json:
        print(render.dumps(report))
        return EXIT_OK
    if not report["needed"]:
        print(f"nothing to recover: the manifest of {args.dir} is readable")
        return EXIT_OK
    restored = report["restored"]
    versions = report.get("versions", 0)
    earlier = f", {plural(versions, 'earlier version')}" if versions else ""
    print(
        f"restored {plural(len(restored), 'checkpoint')}{earlier} and "
        f"{plural(report['segments'], 'value segment')} in {args.dir}"
    )
    for step, op in restored:
        print(f"  restored      {step}/{op}")
    for file, why in report["not_restored"]:
        print(f"  not restored  {file}: {why}")
    return EXIT_OK


@contextmanager
def atomic_output(path: str, binary: bool = False) -> Iterator[IO[Any]]:
    """A temp file beside `path`, renamed over it only when writing succeeded."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"no such folder for the output: {folder}")
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".tmp", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as an ordinary new file, not mkstemp's 0600
        f: IO[Any]
        if binary:
            f = open(fd, "wb")
        else:
            f = open(fd, "w", encoding="utf-8", newline="")
        with f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def export_parquet(store: Any, step: str, op: str, f: IO[Any], bar: Progress) -> None:
    """Batch by batch from the store's stream: a checkpoint larger than memory exports."""
    import pyarrow.parquet as pq

    reader = store.reader(step, op)
    if reader is None:  # deleted by another process since `require`
        raise CliError(f"checkpoint {step}/{op} was deleted while reading it")
    with pq.ParquetWriter(f, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            bar.advance(batch.num_rows)


def export_jsonl(store: Any, step: str, op: str, f: IO[Any], bar: Progress) -> None:
    for record in store.iter_records(step, op):
        f.write(json.dumps(record, ensure_ascii=False))
        f.write("\n")
        bar.advance()


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def export_csv(store: Any, step: str, op: str, f: IO[Any], bar: Progress) -> None:
    # the manifest lists every key any record has: the header needs no first pass
    entry = store.info(step, op) or {}
    columns = list(entry.get("column_names", []))
    writer = csv.writer(f)
    writer.writerow(columns)
    for record in store.iter_records(step, op):
        writer.writerow([csv_cell(record.get(c)) for c in columns])
        bar.advance()


# suffix -> (writer, whether the output file is binary)
EXPORTERS: dict[str, tuple[Callable[[Any, str, str, IO[Any], Progress], None], bool]] = {
    ".parquet": (export_parquet, True),
    ".jsonl": (export_jsonl, False),
    ".csv": (export_csv, False),
}


def cmd_export(args: argparse.Namespace) -> int:
    suffix = os.path.splitext(args.out)[1].lower()
    if suffix not in EXPORTERS:
        raise CliError(
            f"cannot tell the format of {args.out!r}: end it in " + ", ".join(EXPORTERS), EXIT_USAGE
        )
    exporter, binary = EXPORTERS[suffix]
    store = open_store(args.dir)
    entry = require(store, args.step, args.op)
    with Progress("export", total=entry["num_rows"]) as bar:
        with atomic_output(args.out, binary) as f:
            exporter(store, args.step, args.op, f, bar)
    size = os.path.getsize(args.out)
    print(
        f"wrote {entry['num_rows']:,} rows of {args.step}/{args.op} to {args.out} "
        f"({render.human_bytes(size)})"
    )
    return EXIT_OK


def load_adopter() -> Callable[..., Any]:
    try:
        adapter = importlib.import_module("docetl_checkpoint.docetl")
    except ModuleNotFoundError as error:
        if error.name == "docetl_checkpoint.docetl":
            raise CliError(
                "import-docetl is not available: this install of "
                "docetl-checkpoint has no docetl_checkpoint.docetl module",
                EXIT_USAGE,
            ) from None
        raise CliError(f"import-docetl is not available: {error}", EXIT_USAGE) from None
    except ImportError as error:
        raise CliError(f"import-docetl is not available: {error}", EXIT_USAGE) from None
    adopt = getattr(adapter, "adopt_docetl_folder", None)
    if not callable(adopt):
        raise CliError(
            "import-docetl is not available: docetl_checkpoint.docetl has no adopt_docetl_folder()",
            EXIT_USAGE,
        )
    return adopt  # type: ignore[no-any-return]


def cmd_import_docetl(args: argparse.Namespace) -> int:
    adopt = load_adopter()
    if not os.path.isdir(args.dir):
        raise CliError(f"no such folder: {args.dir}")
    with Progress("import"):
        result = adopt(args.dir)
    if isinstance(result, dict):
        print(f"imported {args.dir}")
        print(
            "\n".join(render.aligned([(f"  {k}", render.one_line(v)) for k, v in result.items()]))
        )
    elif isinstance(result, (list, tuple)):
        print(f"imported {len(result):,} checkpoint{'s' * (len(result) != 1)} from {args.dir}")
        for item in result:
            pair = isinstance(item, (list, tuple)) and len(item) == 2
            print(f"  {item[0]}/{item[1]}" if pair else f"  {render.one_line(item)}")
    elif isinstance(result, int) and not isinstance(result, bool):
        print(f"imported {result:,} checkpoint{'s' * (result != 1)} from {args.dir}")
    else:
        print(f"imported {args.dir}" + (f": {result}" if result is not None else ""))
    return EXIT_OK
