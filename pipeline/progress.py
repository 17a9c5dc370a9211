"""Progress for long builds: a bar per episode and stage on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """`stage(name)` then `update(fraction)`; quiet prints nothing, a pipe gets one line a stage."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False,
                 tty: bool | None = None, width: int = 30):
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self.width = width
        self._label = ""
        self._shown = -1
        self._started = 0.0

    def stage(self, episode: str, name: str) -> None:
        self._end()
        self._label = f"{episode}: {name}"
        self._shown, self._started = -1, time.perf_counter()
        if self.quiet:
            return
        if self.tty:
            self.update(0.0)
        else:
            print(self._label, file=self.stream, flush=True)

    def update(self, fraction: float) -> None:
        if self.quiet or not self.tty:
            return
        percent = int(max(0.0, min(fraction, 1.0)) * 100)
        if percent == self._shown:
            return
        self._shown = percent
        filled = self.width * percent // 100
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self._label:<40.40} [{bar}] {percent:3d}%")
        self.stream.flush()

    def note(self, message: str) -> None:
        """A line that stays (a warning, a result), above the bar."""
        if self.quiet and not message.startswith("warning"):
            return
        self._end()
        print(message, file=self.stream, flush=True)

    def finding(self, line: str) -> None:
        """A validator finding: printed even when quiet, as `podforge validate` prints it."""
        self._end()
        print(line, file=self.stream, flush=True)

    def _end(self) -> None:
        if self.tty and not self.quiet and self._shown >= 0:
            self.stream.write(f"\r{self._label:<40.40} done in "
                              f"{time.perf_counter() - self._started:.1f} s{' ' * 30}\n")
            self.stream.flush()
            self._shown = -1

    def close(self) -> None:
        self._end()
