"""`CheckpointManager`: the public API, a thin layer over the Rust store."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from docetl_checkpoint._core import CheckpointError, Store
from docetl_checkpoint.stream import CheckpointReader

if TYPE_CHECKING:
    import pandas
    import pyarrow

Record = dict[str, Any]

STORAGE_TYPE = "docetl-checkpoint"


def batch_key(op: str, batch_index: int) -> tuple[str, str]:
    """The (step, op) pair under which batch `batch_index` of `op` is stored."""
    return f"{op}_batches", f"batch_{batch_index}"


def count(value: Any, name: str) -> Any:
    """An int argument the store takes as unsigned: out of range is a ValueError
    (not the OverflowError of the conversion, which `except ValueError` misses);
    what is not an int is left to the store's own TypeError."""
    if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value < 2**63:
        raise ValueError(f"{name} must be between 0 and 2**63 - 1, not {value}")
    return value


def version_arg(value: Any) -> Any:
    """A version as the store takes it: None (the latest), n >= 1, or a
    negative number counting back from the newest; out of range is a ValueError."""
    if isinstance(value, bool):
        raise TypeError(f"version must be an int or None, not {value!r}")
    if isinstance(value, int) and not -(2**63) < value < 2**63:
        raise ValueError(f"version {value} is out of range")
    return value


def iso_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, timezone.utc).isoformat()


class CheckpointManager:
    """Saves, loads, lists and samples the checkpoints of one folder or bucket.

    A checkpoint is the list of records (JSON-like dicts) one operation of one
    pipeline step produced. `load` gives back exactly what was saved; large
    field values are stored once per store and shared between checkpoints.

    Args:
        intermediate_dir: a local folder (created on the first write), or an
            `s3://bucket/prefix` URL: a store on S3 or an S3-compatible server
            that many machines can write at once; or a `file:///folder` URL,
            the same lock-free protocol on a (possibly shared) folder.
        storage_options: for `s3://` stores, object_store's S3 settings
            (`endpoint`, `region`, `access_key_id`, `secret_access_key`,
            `allow_http`, ...) over the `AWS_*` environment variables, and
            `gc_grace_seconds` (default 3600): how old an unreferenced object
            must be before `gc` removes it.
    """

    def __init__(
        self,
        intermediate_dir: str | os.PathLike[str],
        storage_options: dict[str, str] | None = None,
    ) -> None:
        self.intermediate_dir = intermediate_dir
        options = {str(k): str(v) for k, v in (storage_options or {}).items()}
        self._store = Store(os.fspath(intermediate_dir), options or None)

    def __repr__(self) -> str:
        return f"CheckpointManager({os.fspath(self.intermediate_dir)!r})"

    # -- writing -----------------------------------------------------------

    def save(
        self,
        step: str,
        op: str,
        records: list[Record],
        *,
        meta: dict[str, str] | None = None,
    ) -> str:
        """Commit `records` as checkpoint (step, op): its next version.

        The previous version stays readable (`versions()`, `load(..., version=)`)
        until `gc()`'s retention policy drops it; saving the same records and
        meta again makes no new version. Returns the path
        `<dir>/<step>/<op>.parquet`. Raises `TypeError` for a value JSON cannot
        carry (naming step, op, record index and key path), `ValueError` for a
        bad name; nothing is written then.
        """
        return self._store.save(step, op, records, meta)

    def save_batch(
        self,
        op: str,
        batch_index: int,
        records: list[Record],
        *,
        meta: dict[str, str] | None = None,
    ) -> str:
        """Commit a partial result of `op`; returns `<dir>/<op>_batches/batch_<i>.parquet`."""
        return self._store.save_batch(op, count(batch_index, "batch_index"), records, meta)

    def delete(self, step: str, op: str) -> bool:
        """Remove checkpoint (step, op); True if it existed.

        Loads return None from then on; its versions stay in the history
        (`versions()`) until `gc()`'s retention policy drops them."""
        return self._store.delete(step, op)

    def delete_batches(self, op: str) -> int:
        """Remove every batch of `op`; returns how many there were."""
        return sum(self._store.delete(*batch_key(op, i)) for i in self.list_batches(op))

    def clear(self, keep_history: bool = False) -> int:
        """Remove every checkpoint and batch and their history, then collect
        garbage; returns the count of checkpoints and batches removed.

        With `keep_history`, checkpoints are removed as `delete` removes them:
        their versions stay until `gc()`'s retention policy drops them."""
        return self._store.clear(bool(keep_history))

    def gc(
        self,
        keep_versions: int | None = 5,
        older_than: float | None = None,
        max_bytes: int | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Drop the earlier versions the retention policy lets go, then remove
        values and files no kept version references.

        The policy: keep the newest `keep_versions` versions of each checkpoint
        (None keeps all), drop versions created more than `older_than` seconds
        ago, and while the store is larger than `max_bytes` drop the oldest
        versions first. A checkpoint's latest version and pinned versions are
        never dropped. With `dry_run`, nothing changes: the report says what
        would go (`dropped`) and what that frees (`bytes_freed`, not counting
        the compaction a real gc ends with).

        Returns counts: `files_removed`, `bytes_freed` (the net change of the
        store's size on disk: bytes removed less bytes gc wrote, so below 0 when
        a rewritten segment and a new manifest outweigh what it removed), `values_removed`,
        `values_kept`, `segments_rewritten`, `segments_compacted` (gc ends with
        `compact()`) and `versions_dropped`; `dropped` lists them as
        {step, op, version}. Raises `CorruptCheckpointError`,
        deleting nothing, when the manifest is missing or damaged (see `recover`).
        """
        if keep_versions is not None:
            keep_versions = count(keep_versions, "keep_versions")
        if max_bytes is not None:
            max_bytes = count(max_bytes, "max_bytes")
        if older_than is not None and not isinstance(older_than, (int, float)):
            raise TypeError(f"older_than must be a number of seconds, not {older_than!r}")
        return self._store.gc(
            keep_versions,
            None if older_than is None else float(older_than),
            max_bytes,
            bool(dry_run),
        )

    # -- history -----------------------------------------------------------

    def versions(self, step: str, op: str) -> builtins.list[dict[str, Any]]:
        """Every kept version of (step, op), oldest first: `version`, `created_at`,
        `num_rows`, `logical_bytes`, `op_hash`, `run_id`, `cost` (dollars, as
        the DocETL adapter records them, else None), `pinned`, `latest` (the
        one loads return by default; none once the checkpoint is deleted) and
        `path`. Reads only the manifest."""
        from docetl_checkpoint.versions import version_view

        return [version_view(e) for e in self._store.versions(step, op)]

    def runs(self) -> builtins.list[dict[str, Any]]:
        """Every pipeline run (as the DocETL adapter stamps them) with a kept
        version, oldest first: `run_id`, `pipeline`, `started_at`,
        `checkpoints` [{step, op, version, num_rows, latest, pinned}], `rows`,
        `cost`. Reads only the manifest."""
        from docetl_checkpoint.versions import runs_of

        return runs_of(self._store.all_versions())

    def pin(self, step: str, op: str, version: int) -> bool:
        """Keep `version` of (step, op) whatever the retention policy; False if
        there is no such version."""
        return self._store.set_pinned(step, op, self._version_number(version), True)

    def unpin(self, step: str, op: str, version: int) -> bool:
        """Let the retention policy drop `version` again; False if there is none."""
        return self._store.set_pinned(step, op, self._version_number(version), False)

    def pin_run(self, run_id: str) -> int:
        """Pin every version run `run_id` wrote; returns how many."""
        return self._pin_run(run_id, True)

    def unpin_run(self, run_id: str) -> int:
        """Unpin every version run `run_id` wrote; returns how many."""
        return self._pin_run(run_id, False)

    def _pin_run(self, run_id: str, pinned: bool) -> int:
        run = next((r for r in self.runs() if r["run_id"] == run_id), None)
        if run is None:
            raise ValueError(f"no run {run_id!r} in {self.intermediate_dir} (see runs())")
        done = 0
        for c in run["checkpoints"]:
            done += self._store.set_pinned(c["step"], c["op"], c["version"], pinned)
        return done

    @staticmethod
    def _version_number(version: Any) -> Any:
        if version is None:
            raise TypeError("version must be an int, not None")
        return version_arg(version)

    def diff(self, step: str, op: str, old: int = -2, new: int = -1, key: str | None = None) -> Any:
        """What changed in (step, op) from version `old` to `new` (by default the
        one before the latest, and the latest): records added, removed and
        changed, matched by `key` (an id-like field unique in both, chosen
        automatically when None) or by position. See `docetl_checkpoint.history`."""
        from docetl_checkpoint.history.diff import diff

        return diff(self, step, op, old=old, new=new, key=key)

    def notes(self) -> dict[str, str]:
        """Small notes about the store as a whole (what the DocETL adapter
        records of the latest run, which may have written no checkpoint)."""
        return self._store.notes()

    def set_note(self, key: str, value: str | None) -> None:
        """Set a note of at most 1 KB (None removes it), in one atomic commit."""
        self._store.set_note(key, value)

    def compact(self) -> dict[str, int]:
        """Merge the small value segments saves write into large ones, recompressed
        at a strong zstd level (saves compress fast; `gc()` also ends with this).

        Every value keeps its id, so no checkpoint changes; each merge is one
        atomic commit, safe beside concurrent writers and readers. Returns
        `segments_merged`, `segments_written`, `bytes_before`, `bytes_after`.
        """
        return self._store.compact()

    def recover(self) -> dict[str, Any]:
        """Rebuild a missing or unreadable manifest from the data files that remain.

        Each checkpoint file names the checkpoint it was saved as; the newest
        file of each (step, op) whose records match their stored hashes is
        restored, and its older files (checked the same way) as its earlier
        versions, in one atomic commit. Returns `needed` (False when the
        manifest was readable: nothing is changed), `restored` [(step, op)],
        `versions` (earlier versions restored), `segments` (value segments
        kept) and `not_restored` [(file, why)]. Files do not record deletes: a
        deleted checkpoint whose versions were still kept comes back live.
        """
        return self._store.recover()

    # -- reading -----------------------------------------------------------

    def load(self, step: str, op: str, version: int | None = None) -> list[Record] | None:
        """The records of (step, op) exactly as saved, or None if there is none.

        `version`: None the latest; n >= 1 that version (see `versions()`); a
        negative number counts back (-1 the newest kept, -2 the one before).
        Every reading method takes it; a version not kept reads as None."""
        return self._store.load(step, op, version_arg(version))

    def head(
        self, step: str, op: str, n: int = 10, version: int | None = None
    ) -> list[Record] | None:
        """The first `n` records (all when fewer), reading only what they need."""
        return self._store.head(step, op, count(n, "n"), version_arg(version))

    def iter_records(
        self, step: str, op: str, chunk_rows: int = 2048, version: int | None = None
    ) -> Iterator[Record]:
        """The records of (step, op) exactly as saved, read `chunk_rows` at a time:
        memory stays bounded whatever the checkpoint's size. Empty when there is
        no such checkpoint."""
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, not {chunk_rows}")
        entry = self.info(step, op, version)
        if entry is None:
            return
        for start in range(0, entry["num_rows"], chunk_rows):
            # the version found: a save meanwhile must not move a relative one
            chunk = self._store.load_rows(step, op, start, chunk_rows, entry["version"])
            if chunk is None:
                raise CheckpointError(f"checkpoint {step}/{op} was deleted while it was read")
            yield from chunk

    def records_at(
        self, step: str, op: str, rows: builtins.list[int], version: int | None = None
    ) -> builtins.list[Record] | None:
        """The records at row indexes `rows` (in that order), reading only the
        row groups that hold them, each checked against its record hash; None
        when there is no such checkpoint. A row past the end is a ValueError."""
        rows = [count(r, "row") for r in rows]
        return self._store.load_rows_at(step, op, rows, version_arg(version))

    def table(
        self,
        step: str,
        op: str,
        columns: list[str] | None = None,
        version: int | None = None,
    ) -> pyarrow.Table | None:
        """The checkpoint as a typed `pyarrow.Table` built in Rust (no copy).

        With `columns`, only those columns' data and the values they reference
        are read. Past 1 GiB of text the table has several chunks (Arrow strings
        hold at most 2 GiB each); pandas, polars and DuckDB read it alike.
        Keys present in fewer than 1 row in 32 are columns too when the
        checkpoint has at most 64 of them, else one JSON text column `__rest`
        (docs/format.md, "Rare keys"); `columns` may still name one.
        """
        return self._store.table(step, op, columns, version_arg(version))

    def sample(
        self,
        step: str,
        op: str,
        n: int = 10,
        columns: list[str] | None = None,
        version: int | None = None,
    ) -> pyarrow.Table | None:
        """The first `n` rows as a `pyarrow.Table`, reading only what they need."""
        return self._store.sample(step, op, count(n, "n"), columns, version_arg(version))

    def reader(
        self,
        step: str,
        op: str,
        columns: list[str] | None = None,
        version: int | None = None,
    ) -> CheckpointReader | None:
        """The checkpoint as a stream of record batches of bounded size (~32 MB each).

        Iterate it, call `read_all()`, or hand it (its `__arrow_c_stream__`) to
        pyarrow, polars or DuckDB, to process a checkpoint larger than memory.
        Each batch is checked against its record hashes as it is read; damage
        raises `CorruptCheckpointError` naming the file.
        """
        reader = self._store.reader(step, op, columns, version_arg(version))
        return None if reader is None else CheckpointReader(reader)

    def to_pandas(self, step: str, op: str, version: int | None = None) -> pandas.DataFrame | None:
        """The checkpoint as a pandas DataFrame (via `table()`)."""
        table = self.table(step, op, version=version)
        return None if table is None else table.to_pandas()

    def load_batch(self, op: str, batch_index: int) -> list[Record] | None:
        return self.load(*batch_key(op, batch_index))

    def list_batches(self, op: str) -> list[int]:
        """The batch indexes saved for `op`, ascending."""
        return sorted(
            e["batch_index"]
            for e in self._store.entries()
            if e["kind"] == "batch" and e["batch_of"] == op
        )

    def load_batches(self, op: str) -> list[list[Record]]:
        """Every saved batch of `op`, in batch order."""
        return [self.load_batch(op, i) or [] for i in self.list_batches(op)]

    def list(self) -> builtins.list[tuple[str, str]]:
        """Sorted (step, op) pairs of every checkpoint; batches are not listed."""
        return sorted(
            (e["step"], e["op"]) for e in self._store.entries() if e["kind"] == "checkpoint"
        )

    def entries(self) -> builtins.list[dict[str, Any]]:
        """Manifest entries of every live checkpoint and batch."""
        return self._store.entries()

    def info(self, step: str, op: str, version: int | None = None) -> dict[str, Any] | None:
        """What the manifest holds about (step, op), or None."""
        return self._store.info(step, op, version_arg(version))

    def record_hashes(
        self, step: str, op: str, version: int | None = None
    ) -> builtins.list[bytes] | None:
        """The blake3 hash of every record of (step, op), in row order (read
        without any field)."""
        return self._store.record_hashes(step, op, version_arg(version))

    def stats(self) -> dict[str, Any]:
        """Unique vs logical records and values, and bytes on disk; logical
        counts are of the latest versions, `history_versions` and
        `history_size_bytes` count the earlier ones kept."""
        return self._store.stats()

    def verify(self) -> dict[str, Any]:
        """Check every file against its recorded checksum.

        Returns `{"ok": bool, "intact": [...], "damaged": [{"step", "op", "error"}], ...}`.
        """
        return self._store.verify()

    # -- the API of the seed design, kept for existing notebooks -------------

    def save_checkpoint(
        self, step_name: str, operation_name: str, data: builtins.list[Record]
    ) -> str:
        return self.save(step_name, operation_name, data)

    def load_checkpoint(self, step_name: str, operation_name: str) -> builtins.list[Record] | None:
        return self.load(step_name, operation_name)

    def save_batch_checkpoint(
        self, operation_name: str, batch_index: int, data: builtins.list[Record]
    ) -> str:
        return self.save_batch(operation_name, batch_index, data)

    def load_checkpoint_as_dataframe(
        self, step_name: str, operation_name: str, version: int | None = None
    ) -> pandas.DataFrame | None:
        return self.to_pandas(step_name, operation_name, version)

    def load_checkpoint_sample(
        self, step_name: str, operation_name: str, n_rows: int = 10
    ) -> builtins.list[Record] | None:
        return self.head(step_name, operation_name, n_rows)

    def list_checkpoints(self) -> builtins.list[tuple[str, str]]:
        return self.list()

    def get_checkpoint_info(self, step_name: str, operation_name: str) -> dict[str, Any] | None:
        entry = self.info(step_name, operation_name)
        if entry is None:
            return None
        empty = self.sample(step_name, operation_name, 0)
        assert empty is not None  # the entry exists, so does its file
        return {
            "path": entry["path"],
            "size_bytes": entry["size_bytes"],
            "num_rows": entry["num_rows"],
            "num_columns": len(entry["column_names"]),
            "column_names": entry["column_names"],
            "format": "parquet",
            "created_at": iso_time(entry["created_at"]),
            "storage_type": STORAGE_TYPE,
            "schema": empty.schema,
        }

    def get_checkpoint_summary(self) -> dict[str, Any]:
        stats = self.stats()
        checkpoints = [
            {
                "step_name": e["step"],
                "operation_name": e["op"],
                "num_rows": e["num_rows"],
                "created_at": iso_time(e["created_at"]),
            }
            for e in sorted(self._store.entries(), key=lambda e: (e["step"], e["op"]))
            if e["kind"] == "checkpoint"
        ]
        return {
            "total_checkpoints": len(checkpoints),
            "total_size_bytes": stats["total_size_bytes"],
            "dataset_size_bytes": stats["dataset_size_bytes"],
            "index_size_bytes": stats["index_size_bytes"],
            "total_rows": sum(c["num_rows"] for c in checkpoints),
            "checkpoints": checkpoints,
            "storage_type": STORAGE_TYPE,
        }

    def get_storage_stats(self) -> dict[str, Any]:
        stats = self.stats()
        unique, logical = stats["unique_records"], stats["logical_records"]
        ratio = unique / logical if logical else 1.0
        return {
            "total_unique_records": unique,
            "total_logical_records": logical,
            "deduplication_ratio": ratio,
            "space_saved_ratio": 1.0 - ratio,
            "dataset_size_bytes": stats["dataset_size_bytes"],
            "index_size_bytes": stats["index_size_bytes"],
            "total_size_bytes": stats["total_size_bytes"],
            "avg_record_size_bytes": stats["total_size_bytes"] / unique if unique else 0.0,
        }
