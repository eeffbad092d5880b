"""What a person reads: the console tells the run's story; everything else goes to ``info.log``.

``conf/logging.yml`` wires two handlers on the root logger:

- :class:`ConsoleHandler` (stderr) shows the project's own records (loggers under ``music_genre``) at INFO
  and above, except those marked ``extra=DETAIL``, and nothing from the libraries (Kedro's per-node and
  per-dataset lines, Ray, MLflow, kedro-mlflow, Kedro-Viz). In a terminal it is Kedro's Rich handler; when
  stderr is a file or a pipe (cron, ``nohup``, CI, Airflow) it writes one plain line per record, with an
  ISO timestamp, never wrapped: ``grep`` on a log finds whole sentences.
- the ``info.log`` file keeps every record, the libraries' included, also one line each
  (:class:`OneLineFormatter`).

``kedro run --verbose`` or ``MUSIC_GENRE_VERBOSE=1`` brings everything back to the console. Nothing here
imports Kedro or Rich at module level: the handler picks its form when it is built.
"""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from typing import Any, TextIO

PROJECT_LOGGER = "music_genre"
VERBOSE_ENV = "MUSIC_GENRE_VERBOSE"
# A record logged with ``extra=DETAIL`` belongs in info.log, not on the console: a per-node or
# per-step fact that the stage's own line or the summary already tells.
DETAIL: dict[str, Any] = {"console": False}
# A progress line (common.progress): shown even inside a sub-run of `music-genre daily`.
PROGRESS: dict[str, Any] = {"progress": True}
# Inside `music-genre daily` each pipeline is a sub-run: its start line and summary block go to info.log,
# and the day prints one block of its own.
SUBRUN_ENV = "MUSIC_GENRE_SUBRUN"


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def in_subrun() -> bool:
    return os.environ.get(SUBRUN_ENV, "") == "1"


def is_terminal(stream: TextIO | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def one_line(text: str) -> str:
    """A message on one line: line breaks (a library's multi-line warning, a traceback) become " | "."""
    parts = [part.rstrip() for part in str(text).splitlines()]
    return " | ".join(part for part in parts if part.strip())


class StoryFilter(logging.Filter):
    """The console's choice of records: the project's own (not marked DETAIL), unless verbose."""

    def filter(self, record: logging.LogRecord) -> bool:
        if verbose():
            return True
        own = record.name == PROJECT_LOGGER or record.name.startswith(PROJECT_LOGGER + ".")
        if not own or not getattr(record, "console", True):
            return False
        if (
            in_subrun()
        ):  # a pipeline of `music-genre daily`: its warnings and progress, not its story
            return record.levelno >= logging.WARNING or getattr(record, "progress", False)
        return True


class OneLineFormatter(logging.Formatter):
    """``2026-12-04T18:27:48+0000 INFO music_genre.x: message``: ISO time, one line per record, the
    traceback (if any) folded onto the same line."""

    def __init__(
        self, fmt: str | None = None, datefmt: str | None = None, *args: Any, **kwargs: Any
    ):
        # (the arguments logging.config passes to a formatter given by its `class`)
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import datetime

        return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))


class ConsoleHandler(logging.Handler):
    """The console (stderr): Rich in a terminal, one plain line per record otherwise.

    The stream is looked up at each record (``sys.stderr`` as it is then), so a redirected or captured
    stderr is honoured.
    """

    def __init__(self, level: int | str = logging.NOTSET, **rich_options: Any) -> None:
        super().__init__(level)
        self.addFilter(StoryFilter())
        # warnings raised through the warnings module become records (py.warnings: info.log)
        logging.captureWarnings(True)
        self._plain = OneLineFormatter("%(asctime)s %(levelname)s %(message)s")
        self._rich = None
        if is_terminal(sys.stderr):
            from kedro.logging import RichHandler
            from rich.console import Console

            self._rich = RichHandler(console=Console(stderr=True), **rich_options)

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        super().setFormatter(fmt)
        if fmt is not None:
            self._plain = fmt

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is not None and is_terminal(sys.stderr):
            self._rich.emit(record)
            return
        try:
            stream = sys.stderr
            stream.write(self._plain.format(record) + "\n")
            stream.flush()
        except Exception:  # a broken pipe must not end the run
            self.handleError(record)


def console_print(text: str) -> None:
    """A block for the person (the run's summary) on stdout, or into info.log inside a sub-run."""
    if in_subrun():
        logging.getLogger(PROJECT_LOGGER + ".summary").info(one_line(text), extra=DETAIL)
        return
    print(text, flush=True)


@contextmanager
def native_stderr_to_log(logger: logging.Logger, what: str):
    """Lines a native library writes straight to file descriptor 2 (TensorFlow's C++ start-up notes:
    "oneDNN custom operations are on ...", absl's "All log messages before absl::InitializeLog() ...")
    go to info.log instead of the console. Python's own stderr writes inside the block go there too."""
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real descriptor 2 (an embedded interpreter)
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf8", errors="replace")
            for line in text.splitlines():
                if line.strip():
                    logger.info("%s: %s", what, line.strip(), extra=DETAIL)


CONSOLE_HANDLER = (
    "console"  # the handler of conf/logging.yml that install() turns into ConsoleHandler
)


def install() -> None:
    """Give the configured logging its final form (idempotent): the root's ``console`` handler becomes a
    :class:`ConsoleHandler` (same level), and every file handler writes one line per record.

    Kedro accepts only handler and formatter classes of ``logging`` and ``kedro.logging`` in
    ``conf/logging.yml``, so the project's own classes are put in place here, from ``settings.py``,
    which Kedro imports before any session starts. A logging config without a ``console`` handler
    (the tests', a user's own) is left as it is, apart from one-line file records."""
    root = logging.getLogger()
    for index, handler in enumerate(list(root.handlers)):
        if isinstance(handler, ConsoleHandler):
            continue
        if handler.get_name() == CONSOLE_HANDLER:
            console = ConsoleHandler(handler.level, rich_tracebacks=True, show_path=False)
            console.set_name(CONSOLE_HANDLER)
            root.handlers[index] = console
            handler.close()
            if console._rich is None and sys.excepthook is not sys.__excepthook__:
                # Kedro's Rich handler installed Rich tracebacks: boxes cut at 80 columns in a log
                # file; an unexpected error keeps Python's own traceback there
                sys.excepthook = sys.__excepthook__
        elif isinstance(handler, logging.FileHandler) and not isinstance(
            handler.formatter, OneLineFormatter
        ):
            current = handler.formatter
            handler.setFormatter(OneLineFormatter(current._fmt if current else None))
