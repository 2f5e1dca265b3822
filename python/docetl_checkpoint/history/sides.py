"""One side of a diff: a version of a checkpoint, read only as far as needed.

A side resolves its version to a number once, so every later read (hashes, a
key column, the rows that differ) sees the same version even if a save makes
a newer one meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from docetl_checkpoint._core import CheckpointError

if TYPE_CHECKING:
    import pyarrow

    from docetl_checkpoint.manager import CheckpointManager

Record = dict[str, Any]

# Measured (release build, benchmarks/history.py's store): reading chosen rows
# (`records_at`: the row groups holding them, each row checked against its
# record hash, values read piecemeal) costs ~0.025 ms a row; a whole `load`
# ~0.007 ms a row (the file checked by checksum, segments read whole and
# cached). A side is read whole when that is cheaper, up to this many rows (a
# whole read holds them all).
PICK_ROW_MS, WHOLE_ROW_MS = 0.025, 0.007
WHOLE_READ_MAX_ROWS = 50_000
# sides read at once
READERS = max(1, min(4, os.cpu_count() or 1))


class NoSuchVersionError(ValueError, LookupError):
    """The checkpoint, or the version of it asked for, does not exist (a
    ValueError like the store's other argument errors, and a LookupError)."""


@dataclass
class Side:
    """A version of checkpoint (step, op) of a store; `version` None is the only
    (or the latest) one."""

    manager: CheckpointManager
    step: str
    op: str
    version: int | None
    num_rows: int
    column_names: list[str]
    hashes: list[bytes]
    _columns: dict[str, pyarrow.ChunkedArray] = field(default_factory=dict, repr=False)
    json_text: dict[str, bool] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        where = os.fspath(self.manager.intermediate_dir)
        version = "" if self.version is None else f" v{self.version}"
        return f"{where}: {self.step}/{self.op}{version}"

    def _version(self) -> dict[str, int]:
        return {} if self.version is None else {"version": self.version}

    def _gone(self) -> CheckpointError:
        return CheckpointError(f"{self.name} was dropped while it was compared")

    def column(self, name: str) -> pyarrow.ChunkedArray:
        """Column `name` of every row (a projection: only it is read)."""
        if name not in self._columns:
            table = self.manager.table(self.step, self.op, [name], **self._version())
            if table is None:
                raise self._gone()
            self._columns[name] = table.column(name)
        return self._columns[name]

    def rows(self, indexes: Sequence[int]) -> dict[int, Record]:
        """The exact records at `indexes`, reading only the row ranges that hold them."""
        return read_rows([(self, indexes)])[0]

    def _load_all(self) -> list[Record]:
        records = self.manager.load(self.step, self.op, **self._version())
        if records is None or len(records) != self.num_rows:
            raise self._gone()
        return records

    def _pick(self, rows: list[int]) -> list[Record]:
        chunk = self.manager.records_at(self.step, self.op, rows, **self._version())
        if chunk is None or len(chunk) != len(rows):
            raise self._gone()
        return chunk


def read_rows(wanted: list[tuple[Side, Sequence[int]]]) -> list[dict[int, Record]]:
    """For each (side, row indexes): {index: record}. Each side is read in one
    pass over the row groups holding its rows, or whole when that is cheaper;
    the sides at once on a few threads (the store reads without the GIL)."""
    rows = [sorted(set(indexes)) for _, indexes in wanted]

    def run(n: int) -> dict[int, Record]:
        side = wanted[n][0]
        if not rows[n]:
            return {}
        if read_whole(side, rows[n]):
            records = side._load_all()
            return {i: records[i] for i in rows[n]}
        return dict(zip(rows[n], side._pick(rows[n]), strict=True))

    if len(wanted) > 1:
        with ThreadPoolExecutor(min(len(wanted), READERS)) as pool:
            return list(pool.map(run, range(len(wanted))))
    return [run(n) for n in range(len(wanted))]


def read_whole(side: Side, rows: list[int]) -> bool:
    """True when one whole read of `side` costs less than reading `rows`."""
    if side.num_rows > WHOLE_READ_MAX_ROWS:
        return False
    return side.num_rows * WHOLE_ROW_MS < len(rows) * PICK_ROW_MS


def ranges(sorted_indexes: Sequence[int], gap: int) -> list[tuple[int, int]]:
    """[start, stop) ranges covering `sorted_indexes`, joined across gaps up to `gap`."""
    out: list[tuple[int, int]] = []
    for i in sorted_indexes:
        if out and i - out[-1][1] <= gap:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def resolve_version(manager: CheckpointManager, step: str, op: str, version: int) -> int:
    """The number of `version` (>= 1 a number, < 0 counted back from the latest).

    Raises TypeError for a non-int, ValueError for 0, and NoSuchVersionError naming the
    versions there are when the checkpoint or the version does not exist.
    """
    if not isinstance(version, int) or isinstance(version, bool):
        raise TypeError(f"a version is an int, not {type(version).__name__}: {version!r}")
    if version == 0:
        raise ValueError("there is no version 0: versions count from 1, and -1 is the latest")
    numbers = [v["version"] for v in manager.versions(step, op)]
    if not numbers:
        raise NoSuchVersionError(
            f"no checkpoint {step}/{op} in {os.fspath(manager.intermediate_dir)}"
        )
    if version < 0 and -version <= len(numbers):
        return int(numbers[version])
    if version > 0 and version in numbers:
        return version
    return _no_such_version(step, op, version, numbers)


def _no_such_version(step: str, op: str, version: int, numbers: list[int]) -> int:
    there = f"version {numbers[0]}" if len(numbers) == 1 else f"versions {describe(numbers)}"
    raise NoSuchVersionError(f"{step}/{op} has no version {version}: it has {there}")


def describe(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts: list[str] = []
    for start, stop in ranges(numbers, 0):
        last = stop - 1
        parts.append(str(start) if last == start else f"{start}-{last}")
    return ", ".join(parts)


def open_side(manager: CheckpointManager, step: str, op: str, version: int | None = None) -> Side:
    """Side `version` of (step, op); NoSuchVersionError when it does not exist."""
    number = None if version is None else resolve_version(manager, step, op, version)
    kwargs = {} if number is None else {"version": number}
    entry = manager.info(step, op, **kwargs)
    hashes = None if entry is None else manager.record_hashes(step, op, **kwargs)
    if entry is None or hashes is None:
        label = "" if number is None else f" version {number}"
        where = os.fspath(manager.intermediate_dir)
        raise NoSuchVersionError(f"no checkpoint {step}/{op}{label} in {where}")
    return Side(
        manager, step, op, number, int(entry["num_rows"]), list(entry["column_names"]), hashes
    )
