"""``music-genre daily``: the daily job (for cron or Airflow), each pipeline of the day in its own Kedro
session, the day's figures written where Prometheus reads them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from music_genre.serving.commands.kedro_session import KedroRunner
from music_genre.serving.commands.options import (
    EXIT_FAILED,
    EXIT_OK,
    EnvOption,
    ProjectOption,
    project_or_exit,
)
from music_genre.serving.commands.params_option import parse_params


def daily(
    env: EnvOption = None,
    batch: Annotated[
        str | None,
        typer.Option(
            "--batch", metavar="DATE", help="The batch to run (default: the next one not scored)."
        ),
    ] = None,
    input_dir: Annotated[
        str | None,
        typer.Option(
            "--input-dir", metavar="DIR", help="Score this folder as the batch (today's new music)."
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            metavar="CSV",
            help="Labels for the batch (columns path or track_id, and genre), as they arrive.",
        ),
    ] = None,
    retrain: Annotated[
        bool, typer.Option("--retrain/--no-retrain", help="Retrain when monitoring says so.")
    ] = True,
    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            metavar="KEY=VALUE,...",
            help="Parameters for every pipeline of the day, as `kedro run --params`.",
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """The daily job (for cron or Airflow): score the next batch, monitor it, re-score it with the
    fallback model on drift, retrain when monitoring says so and promote the challenger only if it beats
    the champion. A day is one batch, not a date: each run takes the next batch not scored yet; with
    nothing new, or a --batch already done, it does nothing."""
    import os
    import time

    from music_genre.common.errors import expected_message
    from music_genre.common.locks import batch_loop_lock
    from music_genre.common.run_logging import SUBRUN_ENV
    from music_genre.monitoring.daily import champion_text, run_daily
    from music_genre.monitoring.retention import retention_line
    from music_genre.serving.run_summary import render

    project_dir = project_or_exit(project, env)
    # Each pipeline of the day is a sub-run: its lines and summary block go to info.log (warnings and
    # progress stay on the console), and the day ends with one block of its own.
    os.environ[SUBRUN_ENV] = "1"
    started, parameters = time.time(), {}
    try:
        runner = KedroRunner(project_dir, env, parse_params(params))
        parameters = runner.parameters()
        runner.params["modeling.task"] = served_task(parameters, runner.params)
        # one day at a time per dataset: a second daily (or inference, monitoring, retraining run) is
        # refused with one line naming this one (music_genre.common.locks); retention runs inside it too
        with batch_loop_lock(project_dir, str(parameters["dataset"]["name"])).hold(wait=False):
            outcome = run_daily(
                runner.run,
                runner.load,
                batch=batch,
                input_dir=input_dir,
                labels_csv=labels,
                retrain=retrain,
                monitoring=parameters.get("monitoring"),
            )
            outcome.champion = champion_text(runner.load("served_champion_info"))
            outcome.retention = retention_line(project_dir, env, parameters)
    except Exception as error:
        _daily_metrics(parameters, started)  # the failure, for the "no successful day" alert
        message = expected_message(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED) from None
    _daily_metrics(parameters, started, outcome, runner)
    # the block's title carries when the day ran: logs/daily.log gathers one block a day
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started))
    title = f"music-genre daily: {env or 'sample'}, {stamp}"
    print("\n" + render(title, outcome.lines()), flush=True)
    _exit_now(EXIT_OK)


def _daily_metrics(parameters: dict, started: float, outcome=None, runner=None) -> None:
    """The day's figures where Prometheus reads them (``prometheus.textfile_dir``): success or failure, what
    it scored and decided, the champion it leaves. Writing them never changes the day's outcome."""
    from music_genre.monitoring.prometheus_textfile import write_daily_metrics

    settings = parameters.get("prometheus")
    if not settings:
        return
    try:
        write_daily_metrics(
            settings,
            ok=outcome is not None,
            started=started,
            scored=getattr(outcome, "scored", None),
            decision=getattr(outcome, "decision", None),
            retrained=getattr(outcome, "registration", None) is not None,
            champion=runner.load("served_champion_info") if runner is not None else None,
        )
    except Exception as error:  # a full disk must not turn a good day into a failed one
        print(f"warning: could not write the day's metrics: {error}", file=sys.stderr)


def served_task(parameters: dict, given: dict) -> str:
    """The task the day works on: the one this environment serves (``serving.task``). Its retraining
    trains, and promotes within, that task only, whatever ``modeling.task`` the last `kedro run` used."""
    from music_genre.common.errors import ExpectedError
    from music_genre.modeling.tasks import task_of_params

    served = task_of_params(parameters.get("serving"), "serving").name
    asked = given.get("modeling.task")
    if asked is not None and asked != served:
        raise ExpectedError(
            f"music-genre daily works on the task this environment serves (serving.task {served}), "
            f"not modeling.task {asked}: set serving.task to change what is served"
        )
    return served


def _exit_now(code: int) -> None:
    """Leave without the interpreter's teardown once the day's work is saved and logged: after Ray and
    several Kedro sessions in one process, native thread pools (Arrow's) torn down in arbitrary order can
    abort the process at exit, which a scheduler would read as a failed day."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
