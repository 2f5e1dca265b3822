"""Durations and sizes as the retention options take them: `7d`, `12h`, `500MB`, `2GiB`."""

from __future__ import annotations

import argparse
import math
import re

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

# decimal units as `ls --si` and the rest of the CLI print them; binary ones by name
BYTES = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def duration(text: str) -> float:
    """'7d' -> 604800.0 seconds; units s, m (minutes), h, d, w."""
    match = re.fullmatch(_NUMBER + r"\s*([a-zA-Z]*)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 7d, 12h, 30m or 3600s)")
    unit = match.group(2).lower()
    if unit not in SECONDS:
        raise argparse.ArgumentTypeError(
            f"unknown unit in {text!r}: use s, m, h, d or w (say 7d, 12h, 3600s)"
        )
    return float(match.group(1)) * SECONDS[unit]


def size(text: str) -> int:
    """'500MB' -> 500000000 bytes, '2GiB' -> 2147483648; a bare number is bytes."""
    match = re.fullmatch(_NUMBER + r"\s*([a-zA-Z]*)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 500MB, 2GiB or 1000000)")
    unit = match.group(2).lower()
    if unit not in BYTES:
        raise argparse.ArgumentTypeError(
            f"unknown unit in {text!r}: use B, kB, MB, GB, TB (powers of 1000) "
            "or KiB, MiB, GiB, TiB (powers of 1024)"
        )
    value = float(match.group(1)) * BYTES[unit]
    if not math.isfinite(value) or value >= 2**63:
        raise argparse.ArgumentTypeError(f"too large: {text!r}")
    return int(value)
