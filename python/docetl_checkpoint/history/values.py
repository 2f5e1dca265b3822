"""Values as a diff compares and shows them: exact equality and one text per value.

Python's `==` says `1 == 1.0 == True` and `nan != nan`; a checkpoint keeps all
of these apart (docs/format.md), so a diff must too.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from typing import Any

# a lone surrogate (a str the store keeps, which UTF-8 and Arrow cannot hold)
_SURROGATE = re.compile("[\ud800-\udfff]")


def value_text(value: Any) -> str:
    """`value` as JSON text that tells types apart: `"1"` vs `1` vs `1.0` vs `true`.

    NaN and the infinities are written `NaN`, `Infinity`, `-Infinity` (as Python's
    json does); a lone surrogate as its `\\udXXX` escape, so the text is valid
    UTF-8 and `json.loads` gives the value back.
    """
    if type(value) is str:  # most values: skip json.dumps' setup
        text = _encode_str(value)
    else:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True, default=_unknown)
    return text if text.isascii() else escape_surrogates(text)


# what json.dumps(ensure_ascii=False) writes a str with (its C version when built)
_encode_str: Any = getattr(json.encoder, "c_encode_basestring", None) or (
    json.encoder.py_encode_basestring
)


def escape_surrogates(text: str) -> str:
    """Each lone surrogate written as its `\\udXXX` escape (UTF-8 cannot hold it)."""
    if _SURROGATE.search(text):
        return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    return text


def _unknown(value: Any) -> Any:
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def same_value(a: Any, b: Any) -> bool:
    """True when `a` and `b` are the same JSON value of the same type at every depth
    (what the store's canonical hash decides): `1` is not `1.0` nor `True`, NaN is NaN,
    `0.0` is not `-0.0`, and dict key order counts."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if type(a) is str:  # most values
        return bool(a == b)
    if isinstance(a, float):
        if a != a:  # NaN: the store keeps one NaN
            return bool(b != b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def key_identity(value: Any) -> Any:
    """A hashable identity for a key value, equal only for the same value and type."""
    if isinstance(value, str | bool | int) or value is None:
        return (type(value).__name__, value)
    return ("json", value_text(value))


def reads_as_other(text: str) -> bool:
    """True if `text`, shown bare, would look like a number, bool, null, JSON or nothing."""
    body = text.strip(_JSON_SPACE)
    if not text.strip() or not body:
        return True
    if body[0] not in '-0123456789tfnNI["{':
        return False  # cannot start a JSON value: skip the parse
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


_JSON_SPACE = " \t\n\r"  # what json.loads skips around a value


def display_text(value: Any) -> str:
    """A value as people read it: a string as it is, anything else as JSON.

    A string that would read as another value (`"1"` beside `1`, `"null"`, `""`)
    or holds a lone surrogate is in JSON quotes, so the text tells the value: if
    `json.loads` takes it, it is that value, else it is the string itself.
    """
    if type(value) is str and not reads_as_other(value):
        if value.isascii() or not _SURROGATE.search(value):
            return value
    return value_text(value)


def from_display(text: str) -> Any:
    """The value `display_text` showed as `text`."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def missing_or_text(record: dict[str, Any] | None, field: str) -> str | None:
    """The field's value text, or None when the record or the key is missing."""
    if record is None or field not in record:
        return None
    return value_text(record[field])
