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
from docetl_checkpoint.history.words import Segment, changed_segments, clip, cut_segments


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
    extra = sum(len(e) for e in ends) if style.width_counts else 0
    changed = sum(1 for c, _ in segments if c)
    room = max(1, width - extra * changed)
    fitted = cut_segments(segments, room, render.display_width, mark)
    text = "".join(f"{ends[0]}{t}{ends[1]}" if c else t for c, t in fitted)
    return text + " " * max(0, width - visible_width(text, style))


def visible_width(text: str, style: Marks) -> int:
    if not style.width_counts:
        for code in (*style.old, *style.new):
            text = text.replace(code, "")
    return render.display_width(text)
