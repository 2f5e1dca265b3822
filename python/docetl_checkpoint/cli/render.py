"""Text rendering for the terminal: widths, cutting, tables, sizes, JSON."""

from __future__ import annotations

import json
import math
import shutil
import sys
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from docetl_checkpoint.history.values import reads_as_other

MIN_COLUMN_WIDTH = 10
COLUMN_GAP = "  "


def terminal_width() -> int:
    """Columns of the terminal (or `$COLUMNS`), 80 when unknown."""
    return max(20, shutil.get_terminal_size((80, 24)).columns)


def ellipsis(stream: TextIO | None = None) -> str:
    """'…' when the output encoding can carry it, else '...'."""
    encoding = getattr(stream or sys.stdout, "encoding", None) or "ascii"
    try:
        "…".encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return "..."
    return "…"


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """How many terminal columns `text` takes (wide CJK characters count 2)."""
    if text.isascii():
        return len(text)
    return sum(char_width(ch) for ch in text)


def cut(text: str, width: int, mark: str = "…") -> str:
    """`text` cut to at most `width` columns, ending in `mark` when cut."""
    if display_width(text) <= width:
        return text
    room = width - display_width(mark)
    if room <= 0:
        return mark[: max(width, 0)]
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out) + mark


def pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def one_line(value: Any) -> str:
    """A value as one line of text: strings as they are, the rest as JSON.

    A string that would read as another value (`"1"` beside the number 1, `"null"`,
    `"true"`, `"[1]"`, `""` beside a missing key) is shown in JSON quotes, so every
    value that looks like a number, a bool, null or JSON is one.
    """
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False) if reads_as_other(value) else value
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and not math.isfinite(value):
        text = NON_FINITE[str(value)]
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")


# how NaN and the infinities are written: as JavaScript and Python's json spell them
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def fit_widths(natural: list[int], available: int) -> list[int] | None:
    """Shrink the widest columns until the row fits; None when it cannot."""
    if sum(natural) <= available:
        return natural
    lo, hi = MIN_COLUMN_WIDTH, max(natural)
    if sum(min(w, lo) for w in natural) > available:
        return None
    while lo < hi:  # the largest cap whose total still fits
        mid = (lo + hi + 1) // 2
        if sum(min(w, mid) for w in natural) <= available:
            lo = mid
        else:
            hi = mid - 1
    widths = [min(w, lo) for w in natural]
    spare = available - sum(widths)
    for i, w in enumerate(natural):  # hand out what the cap left over
        if spare <= 0:
            break
        if w > widths[i]:
            widths[i] += 1
            spare -= 1
    return widths


def table_lines(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int,
    right: Sequence[bool] | None = None,
    mark: str = "…",
) -> list[str] | None:
    """Rows as aligned text lines at most `width` wide; None if they cannot fit."""
    cells = [[c if isinstance(c, str) else one_line(c) for c in row] for row in rows]
    natural = [
        max([display_width(h)] + [display_width(r[i]) for r in cells])
        for i, h in enumerate(headers)
    ]
    widths = fit_widths(natural, width - len(COLUMN_GAP) * (len(headers) - 1))
    if widths is None:
        return None
    right = right or [False] * len(headers)

    def line(values: Sequence[str]) -> str:
        parts = [pad(cut(v, w, mark), w, r) for v, w, r in zip(values, widths, right, strict=True)]
        return COLUMN_GAP.join(parts).rstrip()

    rule = COLUMN_GAP.join("-" * w for w in widths)
    return [line(headers), rule] + [line(r) for r in cells]


def record_lines(
    records: Sequence[tuple[str, Sequence[tuple[str, Any]]]], width: int, mark: str = "…"
) -> list[str]:
    """Records one field per line (for rows too wide for a table)."""
    keys = [k for _, fields in records for k, _ in fields]
    key_width = min(30, max((display_width(k) for k in keys), default=0))
    out: list[str] = []
    for title, fields in records:
        out.append(cut(f"-- {title} " + "-" * width, width, ""))
        for key, value in fields:
            text = value if isinstance(value, str) else one_line(value)
            key_text = pad(cut(key, key_width, mark), key_width)
            out.append(f"{key_text}  {cut(text, max(1, width - key_width - 2), mark)}".rstrip())
    return out


def human_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as `ls -h --si`)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def local_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds).strftime("%Y-%m-%d %H:%M:%S")


def iso_time(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds).astimezone().isoformat()


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def strict(value: Any) -> Any:
    """`value` with NaN and the infinities as the strings "NaN", "Infinity",
    "-Infinity" (strict JSON has no such numbers; docs/cli.md says so)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[str(value)]
    if isinstance(value, dict):
        return {strict(k) if isinstance(k, float) else k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [strict(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON for `--json` output: NaN and infinities as strings, bytes as hex,
    anything else unknown as str."""
    return json.dumps(
        strict(value), indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
    )


def aligned(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """'key  value' lines with the values lined up."""
    width = max((display_width(k) for k, _ in pairs), default=0)
    return [f"{pad(k, width)}  {v}".rstrip() for k, v in pairs]
