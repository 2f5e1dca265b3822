"""Changed words marked in the terminal: colour on a terminal, brackets otherwise.

Colour only when stdout is a terminal and NO_COLOR (no-color.org) is unset or
empty; in a pipe or a file the marks are `[-old-]` and `{+new+}`, as
`git diff --word-diff=plain` writes them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.history.words import Segment, changed_segments, clip


@dataclass(frozen=True)
class Marks:
    old: tuple[str, str]  # what opens and closes a changed piece of the old value
    new: tuple[str, str]
    width_counts: bool  # whether the marks take columns (brackets do, colours not)


COLOR = Marks(("\x1b[1;31m", "\x1b[0m"), ("\x1b[1;32m", "\x1b[0m"), False)
PLAIN = Marks(("[-", "-]"), ("{+", "+}"), True)


def use_color(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def marks() -> Marks:
    return COLOR if use_color() else PLAIN


def show(value: Any) -> str:
    """A value on one line, as `show` prints cells."""
    return render.one_line(value)


def side_by_side(old: Any, new: Any, width: int, style: Marks, mark: str) -> tuple[str, str]:
    """Both values cut to `width` columns around what changed, changed words marked."""
    olds, news = changed_segments(old, new, show)
    return (
        paint(clip(olds, mark), width, style.old, style, mark),
        paint(clip(news, mark), width, style.new, style, mark),
    )


def paint(
    segments: list[Segment], width: int, ends: tuple[str, str], style: Marks, mark: str
) -> str:
    """The pieces that fit in `width` columns, changed ones between `ends` (whose
    characters take columns only when they are plain-text marks), then `mark`
    when the rest is left out."""
    extra = sum(len(e) for e in ends) if style.width_counts else 0
    total = sum(render.display_width(t) + (extra if c else 0) for c, t in segments)
    room = width if total <= width else max(1, width - render.display_width(mark))
    parts: list[str] = []
    for changed, text in segments:
        cost = extra if changed else 0
        fitted = fit(text, room - cost)
        if fitted:
            parts.append(f"{ends[0]}{fitted}{ends[1]}" if changed else fitted)
            room -= render.display_width(fitted) + cost
        if fitted != text:
            parts.append(mark)
            break
    text = "".join(parts)
    return text + " " * max(0, width - visible_width(text, style))


def fit(text: str, width: int) -> str:
    """The longest start of `text` that takes at most `width` columns."""
    if width <= 0:
        return ""
    if render.display_width(text) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits: a binary search
        mid = (lo + hi + 1) // 2
        if render.display_width(text[:mid]) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


def visible_width(text: str, style: Marks) -> int:
    if not style.width_counts:
        for code in (*style.old, *style.new):
            text = text.replace(code, "")
    return render.display_width(text)
