"""A diff as an HTML table for Jupyter: changed fields old beside new.

Every value is escaped; long values are cut to the stretch around what changed,
with the changed words marked (`<del>` on the old side, `<ins>` on the new).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from docetl_checkpoint.history.values import display_text
from docetl_checkpoint.history.words import Segment, changed_segments, clip, cut_segments

if TYPE_CHECKING:
    from docetl_checkpoint.history.diff import Diff

MAX_RECORDS = 50  # records shown; `to_pandas()` has them all
MAX_CHARS = 400  # characters of one value shown
CONTEXT = 60  # unchanged characters kept around a change

STYLE = (
    "<style>.dc-diff td{vertical-align:top;text-align:left;white-space:pre-wrap;"
    "word-break:break-word}.dc-diff del{background:#fdd;text-decoration:line-through}"
    ".dc-diff ins{background:#dfd;text-decoration:none}.dc-diff .dc-missing"
    "{color:#888;font-style:italic}</style>"
)


def diff_html(diff: Diff) -> str:
    by = f"matched by <code>{escape(diff.key)}</code>" if diff.key else "matched by position"
    title = (
        f"<p><b>{escape(diff.old.name)}</b> &rarr; <b>{escape(diff.new.name)}</b>: "
        f"{diff.changed:,} changed, {diff.added:,} added, {diff.removed:,} removed, "
        f"{diff.unchanged:,} unchanged ({by})</p>"
    )
    if not diff.differs:
        return f'<div class="dc-diff">{title}</div>'
    head = "<tr><th>change</th><th>{}</th><th>field</th><th>old</th><th>new</th></tr>".format(
        escape(diff.key) if diff.key else "rows"
    )
    shown = diff.first(MAX_RECORDS)[:MAX_RECORDS]
    body = [row_html(diff, item) for item in shown]
    more = diff.changed + diff.added + diff.removed - len(shown)
    note = f"<p>&hellip; and {more:,} more records: see <code>to_pandas()</code>.</p>"
    return (
        f'<div class="dc-diff">{STYLE}{title}<table><thead>{head}</thead>'
        f"<tbody>{''.join(body)}</tbody></table>{note if more > 0 else ''}</div>"
    )


def row_html(diff: Diff, item: dict[str, Any]) -> str:
    if diff.key is not None:
        where = escape(display_text(item["key"]))
    else:
        where = " &rarr; ".join(
            "&ndash;" if r is None else str(r) for r in (item["old_row"], item["new_row"])
        )
    if item["change"] == "changed":
        fields = list(item["fields"].items())
        if not fields:
            lines = [("(key order)", *pair_html(*item["key_order"]))]
        else:
            lines = [(name, *values_html(values)) for name, values in fields]
    else:
        record = item["record"]
        text = cell(cut_segments([(False, display_text(record))], MAX_CHARS))
        empty = '<span class="dc-missing">(none)</span>'
        cells = (empty, text) if item["change"] == "added" else (text, empty)
        lines = [("(record)", *cells)]
    span = f' rowspan="{len(lines)}"' if len(lines) > 1 else ""
    out = []
    for n, (name, old, new) in enumerate(lines):
        lead = f"<td{span}>{item['change']}</td><td{span}>{where}</td>" if n == 0 else ""
        out.append(f"<tr>{lead}<td>{escape(name)}</td><td>{old}</td><td>{new}</td></tr>")
    return "".join(out)


def values_html(values: dict[str, Any]) -> tuple[str, str]:
    missing = '<span class="dc-missing">(missing)</span>'
    if "old" not in values or "new" not in values:
        old = (
            cell(cut_segments([(False, display_text(values["old"]))], MAX_CHARS))
            if "old" in values
            else missing
        )
        new = (
            cell(cut_segments([(False, display_text(values["new"]))], MAX_CHARS))
            if "new" in values
            else missing
        )
        return old, new
    return pair_html(values["old"], values["new"])


def pair_html(old: Any, new: Any) -> tuple[str, str]:
    olds, news = changed_segments(old, new)
    return (
        cell(cut_segments(clip(olds, context=CONTEXT), MAX_CHARS), "del"),
        cell(cut_segments(clip(news, context=CONTEXT), MAX_CHARS), "ins"),
    )


def cell(segments: list[Segment], tag: str = "") -> str:
    return "".join(
        f"<{tag}>{escape(text)}</{tag}>" if changed and tag else escape(text)
        for changed, text in segments
    )
