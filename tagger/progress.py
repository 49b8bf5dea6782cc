"""Progress on long work (``scan``, ``write``): a tqdm bar on a terminal, plain lines in a log.

A bar's carriage-return updates fill a log file or a cron mail with
thousands of half-lines, so where stderr is not a terminal the same progress
is a line at a steady pace instead (``LineProgress``).  Both have the
interface the commands drive: ``update``, ``set_postfix``, ``close``,
``leave`` (False after a Ctrl-C: the bar is cleared, the interruption's line
is the last one).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


class LineProgress:
    """Progress where stderr is not a terminal (a log, cron, a pipe): a plain line at a
    steady pace, at most one every ``every`` seconds and one at the end, never a carriage
    return (``scanning: 120/400 files (30%), 2 errors, 3.10 files/s, 2 min left``)."""

    EVERY = 30.0

    def __init__(
        self,
        total: int,
        initial: int = 0,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
        out: Any = None,
        desc: str = "scanning",
    ):
        self.total, self.n, self.initial, self.errors = total, initial, initial, 0
        self.every, self.clock, self.out, self.desc = every, clock, out, desc
        self.started = self.last = clock()
        self.leave = True  # False: a Ctrl-C, whose line is the last one

    def update(self, n: int) -> None:
        self.n += n
        if self.clock() - self.last >= self.every:
            self._line()

    def set_postfix(self, errors: int = 0, refresh: bool = False) -> None:
        self.errors = errors

    def close(self) -> None:
        if self.leave:
            self._line()

    def _line(self) -> None:
        self.last = now = self.clock()
        # The rate of this run only: files done before it (a resumed scan's) took no time here.
        rate = (self.n - self.initial) / max(now - self.started, 1e-9)
        speed = f", {rate:.2f} files/s" if self.n > self.initial else ""
        left = (
            f", {_duration((self.total - self.n) / rate)} left"
            if rate and self.n < self.total
            else ""
        )
        share = 100 * self.n // max(self.total, 1)
        print(
            f"{self.desc}: {self.n}/{self.total} files ({share}%), {self.errors} errors"
            f"{speed}{left}",
            file=self.out or sys.stderr,
            flush=True,
        )


def _duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def progress(total: int, enabled: bool, desc: str, initial: int = 0) -> Any:
    """The progress of ``total`` files (``desc``: ``scanning``, ``writing``) on stderr: a tqdm
    bar on a terminal, ``LineProgress`` elsewhere, nothing unless ``enabled``."""
    from tqdm import tqdm

    if enabled and not sys.stderr.isatty():  # a log: lines, not carriage-return updates
        return LineProgress(total, initial, desc=desc)
    return tqdm(
        total=total,
        initial=initial,
        unit="file",
        desc=desc,
        disable=None if enabled else True,
        dynamic_ncols=True,
        file=sys.stderr,
    )
