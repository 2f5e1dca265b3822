"""Every way to read a store, as one table: the API's read methods and the CLI's
read commands. `api_outcomes` and `cli_outcomes` run them all; `problems`
compares a damaged store's outcomes with an undamaged one's: each read must
return exactly what it returned before, or fail loudly naming the damage (API:
CorruptCheckpointError; CLI: a non-zero status and one line on stderr, no
traceback). `Baseline` holds a pristine store and what its reads gave."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from docetl_checkpoint import CheckpointManager, CorruptCheckpointError
from docetl_checkpoint.cli import main as cli_main

Key = tuple[str, str]


@dataclass
class Outcome:
    value: Any = None  # a comparable, store-independent form of what the read returned
    error: BaseException | None = None  # API reads
    status: int = 0  # CLI reads
    stderr: str = ""


def _text(value: Any, store: Path | str) -> Any:
    """What a read returned, with the store's path taken out (copies live elsewhere)."""
    if isinstance(value, pa.Table):
        return value  # compared with Table.equals
    text = json.dumps(value, sort_keys=True, default=repr)
    return text.replace(os.fspath(store), "<store>")


# -- the API ------------------------------------------------------------------


def streamed(reader: pa.RecordBatchReader | None) -> pa.Table | None:
    """The stream, iterated batch by batch (where damage shows while streaming)."""
    return None if reader is None else pa.Table.from_batches(list(reader), reader.schema)


KEY_READS: dict[str, Callable[[CheckpointManager, Key, str], Any]] = {
    "load": lambda m, k, c: m.load(*k),
    "head": lambda m, k, c: m.head(*k, 2),
    "table": lambda m, k, c: m.table(*k),
    "table(columns)": lambda m, k, c: m.table(*k, columns=[c]),
    "sample": lambda m, k, c: m.sample(*k, 2),
    "sample(columns)": lambda m, k, c: m.sample(*k, 1, columns=[c]),
    "reader": lambda m, k, c: streamed(m.reader(*k)),
    "reader(columns)": lambda m, k, c: streamed(m.reader(*k, columns=[c])),
    "iter_records": lambda m, k, c: list(m.iter_records(*k, chunk_rows=1)),
    "info": lambda m, k, c: m.info(*k),
    "record_hashes": lambda m, k, c: m.record_hashes(*k),
}
STORE_READS: dict[str, Callable[[CheckpointManager], Any]] = {
    "list": lambda m: m.list(),
    "entries": lambda m: m.entries(),
    "stats": lambda m: m.stats(),
}


def api_outcomes(store: Path | str, keys: list[Key], columns: dict[Key, str]) -> dict[str, Outcome]:
    """Every API read of `store` (a folder, or an s3:// URL the AWS_* environment configures)."""
    out: dict[str, Outcome] = {}
    try:
        mgr = CheckpointManager(store)
    except Exception as exc:  # refusing the whole store is loud enough if it names the file
        return {"CheckpointManager()": Outcome(error=exc)}
    calls: list[tuple[str, Callable[[], Any]]] = [
        (f"{name}{key}", lambda r=read, k=key: r(mgr, k, columns[k]))  # type: ignore[misc]
        for key in keys
        for name, read in KEY_READS.items()
    ]
    calls += [(name, lambda r=read: r(mgr)) for name, read in STORE_READS.items()]  # type: ignore[misc]
    for name, call in calls:
        try:
            out[name] = Outcome(value=_text(call(), store))
        # a pyo3 panic is a BaseException: catch it to report it, not to crash the matrix
        except BaseException as exc:  # noqa: B036
            if isinstance(exc, KeyboardInterrupt):
                raise
            out[name] = Outcome(error=exc)
    return out


# -- the CLI (in process: a command is ~1 ms, a fresh interpreter ~200 ms) -----


def cli_commands(
    keys: list[Key], columns: dict[Key, str], other: Path | str
) -> dict[str, list[str]]:
    """argv of every read command; `{store}` and `{out}` are filled in per run."""
    cmds = {"ls": ["ls", "{store}"], "ls --json": ["ls", "{store}", "--json"]}
    cmds |= {"stats": ["stats", "{store}"], "stats --json": ["stats", "{store}", "--json"]}
    cmds["verify"] = ["verify", "{store}"]
    for step, op in keys:
        name = f"{step}/{op}"
        cmds[f"show {name}"] = ["show", "{store}", step, op, "-n", "3"]
        cmds[f"show -c {name}"] = ["show", "{store}", step, op, "-c", columns[(step, op)]]
        cmds[f"info {name}"] = ["info", "{store}", step, op, "--json"]
        cmds[f"export {name}"] = ["export", "{store}", step, op, "{out}.jsonl"]
        # diff against the pristine store: reads both sides' records
        cmds[f"diff {name}"] = ["diff", "{store}", step, op, "--against", os.fspath(other)]
    return cmds


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = cli_main(argv)
    return status, stdout.getvalue(), stderr.getvalue()


def cli_outcomes(
    location: str, workdir: Path, commands: dict[str, list[str]]
) -> dict[str, Outcome]:
    """Every CLI read command of `location`, run in `workdir` (exports land there).
    A folder is named relative to `workdir`: the output (which the CLI cuts to
    the terminal's width) then does not depend on where it lives."""
    out: dict[str, Outcome] = {}
    with contextlib.chdir(workdir):
        for i, (name, argv) in enumerate(commands.items()):
            written = Path(f"out{i}.jsonl")
            args = [a.format(store=location, out=f"out{i}") for a in argv]
            try:
                status, stdout, stderr = run_cli(args)
            # a pyo3 panic is a BaseException: reported, never raised past the CLI
            except BaseException as exc:  # noqa: B036
                if isinstance(exc, KeyboardInterrupt):
                    raise
                out[name] = Outcome(error=exc, status=-1)
                continue
            if status == 0 and written.exists():
                stdout += "\n" + written.read_text()
            out[name] = Outcome(value=stdout, status=status, stderr=stderr)
    return out


class Baseline:
    """What every read path gives on an undamaged store."""

    def __init__(self, root: Path, build: Callable[[Path], None]) -> None:
        self.pristine = root / "pristine"
        build(self.pristine)
        mgr = CheckpointManager(self.pristine)
        self.keys: list[Key] = sorted((e["step"], e["op"]) for e in mgr.entries())
        # the second column: it holds the large values (stored in value segments)
        self.columns = {k: e["column_names"][1] for k in self.keys if (e := mgr.info(*k))}
        self.commands = cli_commands(self.keys, self.columns, self.pristine)
        copy = self.copy(root / "baseline")
        self.api = api_outcomes(copy, self.keys, self.columns)
        self.cli = cli_outcomes(copy.name, copy.parent, self.commands)

    def copy(self, folder: Path) -> Path:
        """A copy at `folder`/store (the CLI runs in `folder`; every copy has one name)."""
        folder.mkdir()
        subprocess.run(["cp", "-a", str(self.pristine), str(folder / "store")], check=True)
        return folder / "store"

    def check(self, store: Path, names: list[str], damaged: bool = True) -> list[str]:
        """Problems of the reads of `store`, a copy damaged in a way `names` name
        (`damaged` False: a loss every read must survive, such as a link)."""
        api = api_outcomes(store, self.keys, self.columns)
        cli = cli_outcomes(store.name, store.parent, self.commands)
        found = problems(api, self.api, names, cli=False)
        return found + problems(cli, self.cli, names, cli=True, damaged=damaged)


# -- the judgement ---------------------------------------------------------------


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, pa.Table):
        return isinstance(got, pa.Table) and got.equals(want)
    return bool(got == want)


def problems(
    got: dict[str, Outcome],
    want: dict[str, Outcome],
    names: list[str],
    cli: bool,
    damaged: bool = True,
) -> list[str]:
    """Why `got` (a damaged store) is not as loud as it must be; `names` are the
    acceptable names of the damage (the file, or for a folder the folder)."""
    found: list[str] = []

    def named(text: str) -> bool:
        return any(n in text for n in names)

    if "CheckpointManager()" in got:
        exc = got["CheckpointManager()"].error
        if not (isinstance(exc, CorruptCheckpointError) and named(str(exc))):
            found.append(f"CheckpointManager() raised {exc!r}, not a corruption error naming it")
        return found
    for name, outcome in got.items():
        pristine = want[name]
        if not cli:
            if outcome.error is None:
                if not _same(outcome.value, pristine.value):
                    found.append(f"{name} returned other data than the pristine store, no error")
            elif not (
                isinstance(outcome.error, CorruptCheckpointError) and named(str(outcome.error))
            ):
                found.append(
                    f"{name} raised {outcome.error!r}, not CorruptCheckpointError naming it"
                )
            continue
        if outcome.error is not None:
            found.append(f"`{name}` raised {outcome.error!r} out of the CLI")
        elif outcome.status == 0:
            if name == "verify" and damaged:
                found.append("`verify` exited 0 on a damaged store")
            elif outcome.value != pristine.value:
                found.append(f"`{name}` exited 0 with other output than on the pristine store")
        elif name == "verify":  # verify lists the damage on stdout, one line each
            if outcome.status != 1 or not named(outcome.value + outcome.stderr):
                found.append(f"`verify` exited {outcome.status} without naming it: {outcome.value}")
        else:
            lines = outcome.stderr.splitlines()
            if len(lines) != 1 or not named(outcome.stderr) or "Traceback" in outcome.stderr:
                why = f"stderr not one line naming it: {outcome.stderr!r}"
                found.append(f"`{name}` exited {outcome.status}, {why}")
    return found
