"""What a person reads, piece by piece: which records reach the console, one line per record in a file,
progress lines on a long loop, one line per exclusion reason, native libraries' stderr kept off the console.
(The whole runs, as a user types them, are in test_first_contact.py, test_small_collections.py and
test_multi_label.py.)"""

from __future__ import annotations

import logging
import os
import re

import pandas as pd
import pytest

from music_genre.common import run_logging
from music_genre.common.progress import ProgressLog, duration_text
from music_genre.data.ingestion import exclusion_lines

ISO_RECORD = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d (INFO|WARNING|ERROR) \S")


def record(name: str, level: int = logging.INFO, message: str = "m", **extra) -> logging.LogRecord:
    rec = logging.LogRecord(name, level, __file__, 1, message, None, None)
    rec.__dict__.update(extra)
    return rec


@pytest.fixture
def quiet_env(monkeypatch):
    monkeypatch.delenv(run_logging.VERBOSE_ENV, raising=False)
    monkeypatch.delenv(run_logging.SUBRUN_ENV, raising=False)
    return monkeypatch


def test_the_console_shows_the_projects_story_and_nothing_else(quiet_env):
    story = run_logging.StoryFilter()
    assert story.filter(record("music_genre.features.extraction"))
    assert story.filter(record("music_genre", logging.WARNING))
    assert not story.filter(record("music_genre.hooks", **run_logging.DETAIL))
    assert not story.filter(record("kedro.pipeline.node"))  # per-node lines: info.log
    assert not story.filter(record("kedro.runner", logging.WARNING))  # the resume hint: info.log
    assert not story.filter(record("kedro_mlflow.pipeline.pipeline_ml", logging.WARNING))
    assert not story.filter(record("py.warnings", logging.WARNING))
    assert not story.filter(record("music_genre_other"))  # a prefix is not the project

    quiet_env.setenv(run_logging.VERBOSE_ENV, "1")  # kedro run --verbose: everything
    assert story.filter(record("kedro.pipeline.node"))
    assert story.filter(record("music_genre.hooks", **run_logging.DETAIL))

    quiet_env.delenv(run_logging.VERBOSE_ENV)
    quiet_env.setenv(run_logging.SUBRUN_ENV, "1")  # inside `music-genre daily`
    assert not story.filter(record("music_genre.pipelines.inference.nodes"))
    assert story.filter(record("music_genre.features.extraction", **run_logging.PROGRESS))
    assert story.filter(record("music_genre.monitoring", logging.WARNING))


def test_a_record_is_one_line_with_an_iso_timestamp():
    formatter = run_logging.OneLineFormatter()
    rec = record("py.warnings", logging.WARNING, "/x.py:3: UserWarning: first\n  second line\n\n")
    line = formatter.format(rec)
    assert "\n" not in line
    assert ISO_RECORD.match(line), line
    assert line.endswith("py.warnings: /x.py:3: UserWarning: first |   second line")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = record("music_genre.x", logging.ERROR, "failed")
        failed.exc_info = sys.exc_info()
    folded = formatter.format(failed)
    assert "\n" not in folded and "ValueError: boom" in folded and "Traceback" in folded


def test_the_console_handler_writes_plain_lines_when_stderr_is_not_a_terminal(quiet_env, capsys):
    handler = run_logging.ConsoleHandler()
    assert handler._rich is None  # pytest's captured stderr is not a terminal
    logger = logging.getLogger("music_genre.test_console")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        long = "Scored 25 files (0 could not be scored) " + "x" * 200
        logger.info(long)
        logger.info("hidden", extra=run_logging.DETAIL)
        logging.getLogger("kedro.test_console").addHandler(handler)
        logging.getLogger("kedro.test_console").warning("library note")
    finally:
        logger.removeHandler(handler)
        logging.getLogger("kedro.test_console").removeHandler(handler)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and ISO_RECORD.match(err[0]) and err[0].endswith(long)


def test_install_turns_the_configured_console_into_the_projects_handler(quiet_env, tmp_path):
    root = logging.getLogger()
    saved = list(root.handlers)
    plain = logging.StreamHandler()
    plain.set_name(run_logging.CONSOLE_HANDLER)
    plain.setLevel(logging.INFO)
    to_file = logging.FileHandler(tmp_path / "info.log", delay=True)
    to_file.setFormatter(logging.Formatter("%(name)s - %(message)s"))
    root.handlers = [plain, to_file]
    try:
        run_logging.install()
        run_logging.install()  # idempotent
        console, kept = root.handlers
        assert isinstance(console, run_logging.ConsoleHandler) and console.level == logging.INFO
        assert kept is to_file and isinstance(to_file.formatter, run_logging.OneLineFormatter)
        assert to_file.formatter.format(record("a.b", message="x\ny")) == "a.b - x | y"
    finally:
        root.handlers = saved
        to_file.close()


def test_progress_lines_at_quarters_and_every_30_seconds():
    now = [0.0]
    logger = logging.getLogger("music_genre.test_progress")
    logger.setLevel(logging.INFO)
    bar = ProgressLog(200, "Extracting features", logger, terminal=False, clock=lambda: now[0])
    for _ in range(200):
        now[0] += 1.0  # one track a second: 200 s in all
        bar.update()
    # 25% at 50 s, 50% at 100 s, 75% at 150 s; in between, at most one line every 30 s; none at 100%
    done = [int(line.split(":")[1].split("/")[0]) for line in bar.lines]
    assert done == [30, 50, 80, 100, 130, 150, 180]
    assert (
        bar.lines[0] == "Extracting features: 30/200 tracks (15%), 1.0 tracks/s, about 3 min left"
    )
    assert (
        bar.lines[-1] == "Extracting features: 180/200 tracks (90%), 1.0 tracks/s, about 20 s left"
    )


def test_progress_is_silent_in_a_terminal_log_and_when_disabled():
    logger = logging.getLogger("music_genre.test_progress")
    off = ProgressLog(10, "x", logger, enabled=False, terminal=False)
    few = ProgressLog(
        3, "Scoring the batch", logger, unit="files", terminal=False, clock=lambda: 0.0
    )
    for _ in range(10):
        off.update()
    for _ in range(3):
        few.update()
    assert off.lines == [] and few.lines == []  # 3 files: over before a quarter line would help
    assert duration_text(5400) == "about 1.5 h" and duration_text(600) == "about 10 min"


def test_exclusions_are_one_line_per_reason_with_the_first_ids():
    frame = pd.DataFrame(
        {
            "track_id": [*range(1000, 2000), 7],
            "reason": ["no_top_genre"] * 1000 + ["empty_file"],
            "detail": ["no top-level genre"] * 1000 + ["file is empty (0 bytes)"],
        }
    )
    lines = exclusion_lines(frame)
    assert lines == [
        "Excluded 1000 tracks (no_top_genre: no top-level genre): 1000, 1001, 1002 and 997 more",
        "Excluded 1 track (empty_file: file is empty (0 bytes)): 7",
    ]
    assert exclusion_lines(frame.iloc[:0]) == []


def test_native_stderr_goes_to_the_log_not_the_console(capfd, caplog):
    logger = logging.getLogger("music_genre.test_native")
    logger.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="music_genre.test_native"):
        with run_logging.native_stderr_to_log(logger, "tensorflow"):
            os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    (message,) = [r.getMessage() for r in caplog.records if r.name == "music_genre.test_native"]
    assert message == "tensorflow: I0000 port.cc:153] oneDNN custom operations are on."
    assert getattr(caplog.records[0], "console", True) is False


def test_a_long_step_without_counts_logs_a_heartbeat_until_it_ends(caplog):
    import time

    from music_genre.common.progress import heartbeat

    logger = logging.getLogger("music_genre.test_heartbeat")
    logger.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO, logger="music_genre.test_heartbeat"):
        with heartbeat("Drift report", logger, every=0.01, terminal=False):
            deadline = time.monotonic() + 10
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.01)  # the step runs until the first beat is in
        beats = len(caplog.records)
        time.sleep(0.05)
        assert len(caplog.records) == beats >= 1  # nothing after the step ended
    assert caplog.records[0].getMessage().startswith("Drift report: still running after ")
    assert caplog.records[0].progress is True
    with caplog.at_level(logging.INFO, logger="music_genre.test_heartbeat"):
        caplog.clear()
        with heartbeat("Drift report", logger, every=0.01, terminal=True):
            time.sleep(0.05)
    assert caplog.records == []  # a terminal has its own feedback
