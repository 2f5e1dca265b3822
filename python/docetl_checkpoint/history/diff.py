"""`diff`: what changed between two versions of a checkpoint, record by record.

Counting needs only the record hashes (stored per row) and, when records match
by key, one projected column; the records that differ are read when their
fields are asked for (`changes`, `to_arrow`, the notebook view), and only they.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from docetl_checkpoint.history.match import (
    Pair,
    choose_key,
    pair_by_key,
    pair_by_position,
    unmatched,
)
from docetl_checkpoint.history.sides import Record, Side, open_side, read_rows
from docetl_checkpoint.history.values import display_text, same_value

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from docetl_checkpoint.manager import CheckpointManager

# the columns of `Diff.to_arrow()`, in order
COLUMNS = ("change", "key", "old_row", "new_row", "field", "old", "new")


def diff(
    manager: CheckpointManager,
    step: str,
    op: str,
    old: int = -2,
    new: int = -1,
    key: str | None = None,
) -> Diff:
    """Compare two versions of checkpoint (step, op): by default the one before
    the latest (`old=-2`) with the latest (`new=-1`).

    A version is a number (>= 1) or counts back from the latest (-1). Records
    with the same content are unchanged; the others pair up as `changed` by
    `key` (a field unique in both versions; by default `id` or a field named
    like `doc_id`, when unique in both) or else by position.

    Raises NoSuchVersionError (a ValueError and a LookupError) when the
    checkpoint or a version does not exist,
    ValueError when `key` is given but is not a unique field of both versions.
    """
    return compare(open_side(manager, step, op, old), open_side(manager, step, op, new), key)


def compare(old: Side, new: Side, key: str | None = None) -> Diff:
    """The diff of two sides (two versions, or two checkpoints of any stores)."""
    removed = unmatched(old.hashes, new.hashes)
    added = unmatched(new.hashes, old.hashes)
    unchanged = len(old.hashes) - len(removed)
    if key is not None or (removed or added):
        key = choose_key(old, new, key)
    old_keys: dict[int, Any] = {}
    new_keys: dict[int, Any] = {}
    if key is not None:
        pairs, old_keys, new_keys = pair_by_key(old, new, key, removed, added)
    elif removed and added:
        pairs = pair_by_position(old.hashes, new.hashes, removed, added)
    else:
        pairs = []  # nothing to pair
    paired_old = {i for i, _ in pairs}
    paired_new = {j for _, j in pairs}
    return Diff(
        old,
        new,
        key,
        unchanged,
        sorted(pairs, key=lambda p: p[1]),
        [j for j in added if j not in paired_new],
        [i for i in removed if i not in paired_old],
        old_keys,
        new_keys,
    )


class Diff:
    """Records added, removed and changed from an old to a new version.

    `added`, `removed`, `changed` and `unchanged` count records; `key` is the field
    records were matched by (None: by position). `changes`, `to_arrow()` and
    `to_pandas()` give the details; in Jupyter the diff shows itself as a table
    of changed fields, old beside new, changed words marked.
    """

    def __init__(
        self,
        old: Side,
        new: Side,
        key: str | None,
        unchanged: int,
        changed_rows: list[Pair],
        added_rows: list[int],
        removed_rows: list[int],
        old_keys: dict[int, Any],
        new_keys: dict[int, Any],
    ) -> None:
        self.old, self.new, self.key = old, new, key
        self.unchanged = unchanged
        self.changed_rows = changed_rows
        self.added_rows = added_rows
        self.removed_rows = removed_rows
        self._old_keys, self._new_keys = old_keys, new_keys

    @property
    def added(self) -> int:
        return len(self.added_rows)

    @property
    def removed(self) -> int:
        return len(self.removed_rows)

    @property
    def changed(self) -> int:
        return len(self.changed_rows)

    @property
    def differs(self) -> bool:
        """True when any record was added, removed or changed."""
        return bool(self.added_rows or self.removed_rows or self.changed_rows)

    def counts(self) -> dict[str, int]:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "unchanged": self.unchanged,
        }

    def __repr__(self) -> str:
        by = f"by {self.key!r}" if self.key else "by position"
        return (
            f"<Diff {self.old.name} -> {self.new.name}: {self.changed} changed, "
            f"{self.added} added, {self.removed} removed, {self.unchanged} unchanged ({by})>"
        )

    # -- details (read on first use) ------------------------------------------

    def records(self) -> tuple[dict[int, Record], dict[int, Record]]:
        """The records that differ, read once: {old row: record}, {new row: record}."""
        return self._records

    @cached_property
    def _records(self) -> tuple[dict[int, Record], dict[int, Record]]:
        return self._read(self.changed_rows, self.added_rows, self.removed_rows)

    def _read(
        self, changed: list[Pair], added: list[int], removed: list[int]
    ) -> tuple[dict[int, Record], dict[int, Record]]:
        olds, news = read_rows(
            [
                (self.old, [i for i, _ in changed] + removed),
                (self.new, [j for _, j in changed] + added),
            ]
        )
        return olds, news

    @cached_property
    def changes(self) -> list[dict[str, Any]]:
        """One dict per record that differs: changed ones first (in new-row order),
        then added, then removed.

        Each has `change` ('changed', 'added', 'removed'), `key` (the record's key
        value; None when matched by position), `old_row` and `new_row` (row numbers,
        None on the side it is missing from). A changed record has `fields`:
        {name: {"old": value, "new": value}}, "old" or "new" absent where the
        record has no such key (and `key_order` [old keys, new keys] when only the
        order of its keys changed); an added or removed record has `record`.
        """
        olds, news = self._records
        return self._changes(self.changed_rows, self.added_rows, self.removed_rows, olds, news)

    def first(self, n: int) -> list[dict[str, Any]]:
        """The first `n` changes of each kind, as in `changes`, reading only their
        records (what a summary shows of a large diff)."""
        if "changes" in self.__dict__ or "_records" in self.__dict__:
            olds, news = self._records
        else:
            olds, news = self._read(
                self.changed_rows[:n], self.added_rows[:n], self.removed_rows[:n]
            )
        return self._changes(
            self.changed_rows[:n], self.added_rows[:n], self.removed_rows[:n], olds, news
        )

    def _changes(
        self,
        changed: list[Pair],
        added: list[int],
        removed: list[int],
        olds: dict[int, Record],
        news: dict[int, Record],
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, j in changed:
            item = self._head("changed", i, j)
            item["fields"] = field_changes(olds[i], news[j])
            if not item["fields"]:
                item["key_order"] = [list(olds[i]), list(news[j])]
            out.append(item)
        for j in added:
            out.append({**self._head("added", None, j), "record": news[j]})
        for i in removed:
            out.append({**self._head("removed", i, None), "record": olds[i]})
        return out

    def _head(self, change: str, i: int | None, j: int | None) -> dict[str, Any]:
        key = None  # by position: records have no key
        if self.key is not None and j is not None:
            key = self._new_keys[j]
        elif self.key is not None and i is not None:
            key = self._old_keys[i]
        return {"change": change, "key": key, "old_row": i, "new_row": j}

    def to_arrow(self) -> pyarrow.Table:
        """One row per field of each record that differs: `change`, `key` (the key
        value as JSON text), `old_row`, `new_row`, `field`, `old`, `new`.

        `key`, `old` and `new` are display text, so values of any type share a
        column and keep their type: a string as it is, unless it would read as
        another value, then in JSON quotes (`"1"` is the string, `1` the number);
        anything else as JSON (NaN is `NaN`). If `json.loads` takes a text, it is
        that value, else it is the string. Null where the record has no such field.
        Added and removed records give one row per field; a change of key order
        only, one row with `field` null and the key lists as `old` and `new`.
        """
        import pyarrow as pa

        columns: list[list[Any]] = [[] for _ in COLUMNS]
        appends = [column.append for column in columns]

        def add(item: dict[str, Any], field: str | None, old: str | None, new: str | None) -> None:
            key = None if self.key is None else display_text(item["key"])
            row = (item["change"], key, item["old_row"], item["new_row"], field, old, new)
            for append, value in zip(appends, row, strict=True):
                append(value)

        for item in self.changes:
            if item["change"] == "changed":
                for field, values in item["fields"].items():
                    add(item, field, text_of(values, "old"), text_of(values, "new"))
                if "key_order" in item:
                    add(item, None, *(display_text(keys) for keys in item["key_order"]))
            else:
                record = item["record"]
                side = "new" if item["change"] == "added" else "old"
                for field, value in record.items() or [(None, None)]:
                    text = None if field is None else display_text(value)
                    add(item, field, *((None, text) if side == "new" else (text, None)))
        types = [pa.string(), pa.string(), pa.int64(), pa.int64()] + [pa.string()] * 3
        schema = pa.schema(list(zip(COLUMNS, types, strict=True)))
        return pa.table(dict(zip(COLUMNS, columns, strict=True)), schema=schema)

    def to_pandas(self) -> pandas.DataFrame:
        """`to_arrow()` as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def _repr_html_(self) -> str:
        from docetl_checkpoint.history.html import diff_html

        return diff_html(self)


def field_changes(old: Record, new: Record) -> dict[str, dict[str, Any]]:
    """{field: {"old": ..., "new": ...}} for the fields that differ, in key order
    (old's keys, then keys only new has); a missing side has no entry."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys([*old, *new]):
        if name in old and name in new and same_value(old[name], new[name]):
            continue
        values = {}
        if name in old:
            values["old"] = old[name]
        if name in new:
            values["new"] = new[name]
        out[name] = values
    return out


def text_of(values: dict[str, Any], side: str) -> str | None:
    return display_text(values[side]) if side in values else None
