"""A small progress bar on stderr, drawn only when stderr is a terminal."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from types import TracebackType
from typing import TextIO

SPINNER = "|/-\\"


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """`with Progress("export", total=n) as p: p.advance(k)`.

    With `total=None` it shows a spinner and the elapsed time, for work that
    reports no steps (one call into the Rust core). Draws nothing unless the
    stream is a terminal (or `enabled=True`), and clears its line at the end.
    """

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        interval: float = 0.1,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream) if enabled is None else enabled
        self.interval = interval
        self._start = time.monotonic()
        self._last_draw = 0.0
        self._ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> Progress:
        if self.enabled:
            self._start = time.monotonic()
            self._draw()
            if self.total is None:
                self._thread = threading.Thread(target=self._spin, daemon=True)
                self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.enabled:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last_draw >= self.interval or self.done == self.total):
            self._draw()

    def _spin(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def line(self) -> str:
        """The text of the bar as it would be drawn now."""
        elapsed = time.monotonic() - self._start
        width = shutil.get_terminal_size((80, 24)).columns
        if self.total is None:
            self._ticks += 1
            return f"{self.label} {SPINNER[self._ticks % len(SPINNER)]} {elapsed:.0f}s"
        total = max(self.total, 1)
        fraction = min(self.done / total, 1.0)
        tail = f" {fraction:4.0%} {self.done:,}/{self.total:,} {elapsed:.0f}s"
        bar_width = max(10, min(40, width - len(self.label) - len(tail) - 4))
        filled = int(bar_width * fraction)
        return f"{self.label} [{'#' * filled}{'.' * (bar_width - filled)}]{tail}"

    def _draw(self) -> None:
        with self._lock:
            self._last_draw = time.monotonic()
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
