"""Which words of a value changed, and long values cut down to where they did.

A value is split into words, runs of spaces and single punctuation marks; the
two sides are aligned with difflib. Both the CLI and the notebook HTML mark the
changed pieces and cut the unchanged stretches around them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from difflib import SequenceMatcher
from typing import Any

from docetl_checkpoint.history.values import display_text

# (changed, text): a piece of one side of a value
Segment = tuple[bool, str]

_TOKEN = re.compile(r"\\u[0-9a-f]{4}|\s+|\w+|[^\w\s]")  # an escaped surrogate is one token
CONTEXT = 24  # unchanged characters kept on each side of a change


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> tuple[list[Segment], list[Segment]]:
    """The pieces of `old` and of `new`, each marked changed or not."""
    # A rerun usually rewrites one passage: strip the common ends by characters
    # first (fast), so difflib only aligns the middle.
    head = len(os.path.commonprefix([old, new]))
    while head and (_splits(old, head) or _splits(new, head)):
        head -= 1
    room = min(len(old), len(new)) - head
    tail = min(room, len(os.path.commonprefix([old[head:][::-1], new[head:][::-1]])))
    while tail and (_splits(old, len(old) - tail) or _splits(new, len(new) - tail)):
        tail -= 1
    a, b = tokens(old[head : len(old) - tail]), tokens(new[head : len(new) - tail])
    old_out: list[Segment] = [(False, old[:head])]
    new_out: list[Segment] = [(False, new[:head])]
    matcher = SequenceMatcher(None, a, b, autojunk=len(a) + len(b) > 4000)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        changed = tag != "equal"
        old_out.append((changed, "".join(a[i1:i2])))
        new_out.append((changed, "".join(b[j1:j2])))
    old_out.append((False, old[len(old) - tail :]))
    new_out.append((False, new[len(new) - tail :]))
    return merge(old_out), merge(new_out)


def _splits(text: str, i: int) -> bool:
    """True when position `i` falls inside a word, a run of spaces or an escape."""
    if not 0 < i < len(text):
        return False
    escape = text.rfind("\\u", max(0, i - 5), i + 1)
    return _same_kind(text[i - 1], text[i]) or (0 <= escape < i < escape + 6)


def _same_kind(a: str, b: str) -> bool:
    return (a.isspace() and b.isspace()) or (
        (a.isalnum() or a == "_") and (b.isalnum() or b == "_")
    )


def merge(segments: list[Segment]) -> list[Segment]:
    """Neighbouring pieces of the same kind joined, empty ones dropped."""
    out: list[Segment] = []
    for changed, text in segments:
        if not text:
            continue
        if out and out[-1][0] == changed:
            out[-1] = (changed, out[-1][1] + text)
        else:
            out.append((changed, text))
    return out


def clip(segments: list[Segment], mark: str = "…", context: int = CONTEXT) -> list[Segment]:
    """Unchanged stretches longer than the context kept around changes cut to it,
    with `mark` where text was left out. Changed pieces are kept whole (a
    renderer cuts the result to its width)."""
    if not any(changed for changed, _ in segments):
        return segments
    out: list[Segment] = []
    last = len(segments) - 1
    for i, (changed, text) in enumerate(segments):
        if changed or len(text) <= context * 2:
            out.append((changed, text))
        elif i == 0:
            out.append((False, mark + text[-context:]))
        elif i == last:
            out.append((False, text[:context] + mark))
        else:
            out.append((False, text[:context] + mark + text[-context:]))
    return out


def cut_segments(
    segments: list[Segment], width: int, measure: Callable[[str], int] = len, mark: str = "…"
) -> list[Segment]:
    """The first pieces of `segments` that fit in `width` (as `measure` counts),
    the last one cut and ended with `mark` when they do not all fit."""
    total = sum(measure(text) for _, text in segments)
    if total <= width:
        return segments
    room = max(0, width - measure(mark))
    out: list[Segment] = []
    for changed, text in segments:
        size = measure(text)
        if size <= room:
            out.append((changed, text))
            room -= size
            continue
        part = text
        while part and measure(part) > room:  # shrink by halves, then by characters
            part = part[: max(room, len(part) // 2)] if measure(part) > 2 * room else part[:-1]
        if part:
            out.append((changed, part))
        break
    out.append((False, mark))
    return merge(out)


def changed_segments(
    old: Any, new: Any, show: Callable[[Any], str] = display_text
) -> tuple[list[Segment], list[Segment]]:
    """Two values as text (`show`), the changed words marked; values of different
    types are changed as a whole (`"1"` -> `1` is not a change of quotes)."""
    old_text, new_text = show(old), show(new)
    if type(old) is not type(new):
        return [(True, old_text)], [(True, new_text)]
    return word_diff(old_text, new_text)
