"""Progress of a long loop that a person can follow in a terminal and an operator in a log.

In a terminal (stderr is one) a tqdm bar, as before. Otherwise (cron, ``nohup``, CI, Airflow, ``> run.log
2>&1``) one log line at most every ``every`` seconds and at 25, 50 and 75%: done/total, rate and time
left, e.g. ``Extracting features: 2000/7997 tracks (25%), 5.3 tracks/s, about 19 min left``. A run that
works is then told apart from one that hangs, without a line per track.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from music_genre.common.run_logging import PROGRESS, is_terminal

QUARTERS = (0.25, 0.5, 0.75)
MIN_TOTAL_FOR_QUARTERS = 20


def duration_text(seconds: float) -> str:
    """``about 40 s`` / ``about 19 min`` / ``about 2.5 h``."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


class ProgressLog:
    """Counts done items of ``total`` and reports, as a bar or as log lines (see the module)."""

    def __init__(
        self,
        total: int,
        what: str,
        logger: logging.Logger,
        *,
        unit: str = "tracks",
        every: float = 30.0,
        enabled: bool = True,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = int(total)
        self.what = what
        self.unit = unit
        self.every = float(every)
        self.done = 0
        self._log = logger
        self._clock = clock
        self._started = clock()
        self._last = self._started
        # a handful of items (a day of 3 new files) is over before a line would help: time lines only
        self._quarters = list(QUARTERS) if self.total >= MIN_TOTAL_FOR_QUARTERS else []
        self.lines: list[str] = []  # what was logged, for the caller (and the tests)
        terminal = is_terminal(sys.stderr) if terminal is None else terminal
        self._bar = None
        self._logging = enabled and not terminal and self.total > 0
        if enabled and terminal and self.total > 0:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.total, desc=what, unit=unit.rstrip("s") or unit, mininterval=2.0,
                smoothing=0.1,
            )  # fmt: skip

    def update(self, n: int = 1) -> None:
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(n)
            return
        if not self._logging or self.done >= self.total:
            return  # the stage's own line says it finished
        now = self._clock()
        fraction = self.done / self.total
        crossed = [q for q in self._quarters if fraction >= q]
        if crossed or now - self._last >= self.every:
            self._quarters = [q for q in self._quarters if q not in crossed]
            self._last = now
            self._report(now)

    def _report(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        line = (
            f"{self.what}: {self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%), "
            f"{rate:.1f} {self.unit}/s, "
            + (f"{duration_text(left)} left" if left != float("inf") else "time left unknown")
        )
        self.lines.append(line)
        self._log.info(line, extra=PROGRESS)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def heartbeat(
    what: str, logger: logging.Logger, *, every: float = 30.0, terminal: bool | None = None
) -> Iterator[None]:
    """One long step with nothing to count (Evidently's drift report on a big batch): when stderr is not a
    terminal, a line every ``every`` seconds while it runs (``Drift report: still running after 2
    min``), so a log tells a working run from a hung one. Silent in a terminal and for a quick step."""
    terminal = is_terminal(sys.stderr) if terminal is None else terminal
    if terminal:
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            elapsed = duration_text(time.monotonic() - started).removeprefix("about ")
            logger.info("%s: still running after %s", what, elapsed, extra=PROGRESS)

    thread = threading.Thread(target=beat, name=f"heartbeat: {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
