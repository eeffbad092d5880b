"""``music-genre``: the command line for a person with a few songs.

    music-genre predict song.mp3 album/ --top 3
    music-genre predict song.mp3 --json
    music-genre predict song.mp3 --model models:/music-genre-sample@champion
    music-genre daily --env fma_small          # the daily job: score, monitor, retrain, promote

The text output opens, before the first answer, with one line naming the model answering (registered name
and version, dataset, task); then come a warning when that model learned from the synthesized sample and a
note when it cannot tell music unlike its training music (both on stderr, as the other warnings; neither
when no file got an answer). A weak answer reads "uncertain: A or B" (``inference.uncertain_below`` /
``uncertain_margin``), an unfamiliar one gets a line under its bars, and a silent file is one line,
``<path>: silent``. The words are :mod:`music_genre.serving.wording`'s, the page's too.

Exit status: 0 when every file was predicted, 1 when any could not be (a silent file too: it has no
genre), 2 for a usage error. Heavy libraries load inside the command, so ``--help`` answers at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="music-genre",
    help="Tag music with its genre, using a model trained by this Kedro project.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: no "<bool>" type column under flags
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ProjectOption = Annotated[
    Path | None,
    typer.Option(
        "--project", metavar="DIR", help="The Kedro project folder (default: found from here)."
    ),
]
EnvOption = Annotated[
    str | None, typer.Option("--env", metavar="ENV", help="Kedro environment (dataset).")
]
# servers bind this machine only unless told otherwise
HostOption = Annotated[
    str,
    typer.Option("--host", metavar="HOST", help="Address to bind (127.0.0.1: this machine only)."),
]


def _print_version(value: bool) -> None:
    if not value:
        return
    from music_genre import __version__  # noqa: PLC0415
    from music_genre.common.stack import version_report  # noqa: PLC0415
    from music_genre.modeling.store import find_project  # noqa: PLC0415

    typer.echo(version_report(__version__, find_project()))
    raise typer.Exit(EXIT_OK)


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="The project's version, and whether this install is the tested stack (requirements-lock.txt).",
        ),
    ] = False,
) -> None:
    """Tag music with its genre, using a model trained by this Kedro project."""


@app.command()
def predict(
    paths: Annotated[
        list[str],
        typer.Argument(help="Audio files or folders (searched recursively).", metavar="PATH"),
    ],
    top: Annotated[
        int, typer.Option("--top", min=1, metavar="N", help="How many genres to show per file.")
    ] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file on stdout.")
    ] = False,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            metavar="ENV",
            help="Kedro environment whose champion (else newest) model to use.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="MODEL",
            help="pretrained (MSD_musicnn's 50 tags, no training), a genre_classifier.pkl file or its "
            "versioned folder (newest version), or "
            "models:/music-genre-<dataset>/<version> or models:/music-genre-<dataset>@champion "
            "(MLflow registry of --project or $MLFLOW_TRACKING_URI).",
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Predict the genre of each file: full songs are cut into 30 s windows whose scores are averaged.
    --model pretrained: MSD_musicnn's general-purpose tags, with no training (after the weights step)."""
    _quiet_libraries()
    if model == "pretrained":
        from music_genre.modeling.store import find_project  # noqa: PLC0415
        from music_genre.serving import pretrained  # noqa: PLC0415

        raise typer.Exit(pretrained.run(paths, top, as_json, find_project(project), env))
    from rich.console import Console  # noqa: PLC0415

    from music_genre.common.errors import ExpectedError  # noqa: PLC0415
    from music_genre.modeling import store as model_store  # noqa: PLC0415
    from music_genre.serving import inference, wording  # noqa: PLC0415

    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    # Found also for models:/ URIs: they are looked up in the project's MLflow store.
    project_dir = model_store.find_project(project)
    if project is not None and project_dir is None:
        err.print(f"error: {project} is not a Kedro project folder", markup=False)
        raise typer.Exit(EXIT_USAGE)
    if project_dir is not None:
        from music_genre.common.errors import unknown_environment  # noqa: PLC0415

        problem = unknown_environment(env, project_dir)
        if problem:
            err.print(f"error: {problem}", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_USAGE)
    items = inference.expand_inputs(paths)
    if not any(isinstance(item, Path) for item in items):
        for item in items:
            _report_error(out, err, as_json, item.path, item.reason, item.message)
        raise typer.Exit(EXIT_FAILED)
    try:
        loaded = model_store.load_model(model, env, project_dir)
    except model_store.ModelNotFoundError as error:
        err.print(f"error: {error}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    settings = _project_settings(project_dir, env)
    classifier = loaded.classifier
    # the environment's dataset names the model only when it came from that environment's catalog
    facts = wording.model_facts(classifier, loaded.source, None if model else settings["dataset"])
    if classifier.info.get("better_than_chance") is False:
        err.print(
            "warning: this model was no better than chance when it was trained (too few tracks per "
            "genre?): its genres are guesses"
        )
    # who answered, and its caveats: once, before the first answer (none when nothing was answered)
    answered = False

    def announce() -> None:
        nonlocal answered
        if answered:
            return
        answered = True
        if not as_json:  # --json carries the same facts in each object's "model"
            out.print(wording.header_text(facts), markup=False, soft_wrap=True)
        for line in (wording.sample_warning(facts), wording.familiarity_note(facts)):
            if line:
                err.print(line, markup=False, soft_wrap=True)

    failed = False
    for item in items:  # in the order given, errors where they occur
        if isinstance(item, inference.InputError):
            failed = True
            _report_error(out, err, as_json, item.path, item.reason, item.message)
            continue
        try:
            row = inference.predict_files([item], classifier, settings["windowing"]).iloc[0]
        except (
            ExpectedError
        ) as error:  # not this file's fault: e.g. the embedding's weights are gone
            err.print(f"error: {error}", markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
        if isinstance(row["error_reason"], str):
            failed = True  # a silent file too: no genre was given
            if wording.is_silent(row):
                announce()
            if wording.is_silent(row) and not as_json:
                out.print(f"{row['path']}: {wording.SILENT}", markup=False, soft_wrap=True)
            elif wording.is_silent(row):
                _print_json_error(row["path"], row["error_reason"], row["error"])
            else:
                _report_error(out, err, as_json, row["path"], row["error_reason"], row["error"])
            continue
        ranked = inference.top_genres(row, classifier.classes, top)
        announce()
        if as_json:
            print(json.dumps(_json_row(row, classifier.classes, ranked, loaded, facts)), flush=True)
        else:
            _print_prediction(out, row, ranked, classifier, settings["uncertainty"])
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


@app.command()
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
    the champion. Rerunning a day does nothing."""
    import os  # noqa: PLC0415
    import time  # noqa: PLC0415

    from music_genre.common.console_log import SUBRUN_ENV  # noqa: PLC0415
    from music_genre.common.errors import expected_message  # noqa: PLC0415
    from music_genre.common.locks import batch_loop_lock  # noqa: PLC0415
    from music_genre.monitoring.daily import champion_text, run_daily  # noqa: PLC0415
    from music_genre.monitoring.retention import retention_line  # noqa: PLC0415
    from music_genre.serving.run_summary import render  # noqa: PLC0415

    project_dir = _project_or_exit(project, env)
    # Each pipeline of the day is a sub-run: its lines and summary block go to info.log (warnings and
    # progress stay on the console), and the day ends with one block of its own.
    os.environ[SUBRUN_ENV] = "1"
    started, parameters = time.time(), {}
    try:
        runner = KedroRunner(project_dir, env, _parse_params(params))
        parameters = runner.parameters()
        runner.params["modeling.task"] = _served_task(parameters, runner.params)
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
    print("\n" + render(f"music-genre daily: {env or 'sample'}", outcome.lines()), flush=True)
    _exit_now(EXIT_OK)


def _daily_metrics(parameters: dict, started: float, outcome=None, runner=None) -> None:
    """The day's figures where Prometheus reads them (``metrics.textfile_dir``): success or failure, what
    it scored and decided, the champion it leaves. Writing them never changes the day's outcome."""
    from music_genre.monitoring.metrics_export import write_daily_metrics  # noqa: PLC0415

    settings = parameters.get("metrics")
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
    except Exception as error:  # noqa: BLE001 - a full disk must not turn a good day into a failed one
        print(f"warning: could not write the day's metrics: {error}", file=sys.stderr)


def _served_task(parameters: dict, given: dict) -> str:
    """The task the day works on: the one this environment serves (``serving.task``). Its retraining
    trains, and promotes within, that task only, whatever ``modeling.task`` the last `kedro run` used."""
    from music_genre.common.errors import ExpectedError  # noqa: PLC0415
    from music_genre.modeling.tasks import task_of_params  # noqa: PLC0415

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
    import logging  # noqa: PLC0415
    import os  # noqa: PLC0415

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@app.command("app")
def app_command(
    env: EnvOption = None,
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to serve on.")] = 8501,
    host: HostOption = "127.0.0.1",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            metavar="PORT",
            help="Port of the page's Prometheus metrics on 127.0.0.1 (default metrics.page_port; 0: off).",
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """The web page: drop songs, see their genres; the latest evaluation and monitoring reports."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    from music_genre.serving import page  # noqa: PLC0415
    from music_genre.serving import served_inputs as guard  # noqa: PLC0415

    project_dir = _project_or_exit(project, env)
    files = page.project_files(project_dir, env)
    max_mb = max(1, int(guard.max_bytes(files["serving"]) / 1024 / 1024))
    command = [
        sys.executable, "-m", "streamlit", "run", page.__file__,
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--server.maxUploadSize", str(max_mb), "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false", "--client.toolbarMode", "minimal",
        "--", "--project", str(project_dir), *(["--env", env] if env else []),
        *(["--metrics-port", str(metrics_port)] if metrics_port is not None else []),
    ]  # fmt: skip
    print(f"music-genre page on http://{host}:{port} (Ctrl+C stops it)", flush=True)
    environment = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    try:
        raise typer.Exit(subprocess.call(command, env=environment))
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None


@app.command()
def serve(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="MODEL",
            help="models:/music-genre-<dataset>@champion, models:/<name>/<version>, runs:/... or an MLflow "
            "model folder (default: the environment's champion in the project's registry).",
        ),
    ] = None,
    env: EnvOption = None,
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to serve on.")] = 5001,
    host: HostOption = "127.0.0.1",
    project: ProjectOption = None,
) -> None:
    """The served model over HTTP with Prometheus metrics: MLflow's scoring server (POST /invocations,
    GET /ping, /health, /version, as `mlflow models serve`) plus GET /metrics, and similar tracks and
    paths through the collection (POST /similar, /path; GET /rest/getSonicSimilarTracks, findSonicPath)."""
    _quiet_libraries()
    from music_genre.common.errors import ExpectedError  # noqa: PLC0415
    from music_genre.modeling import store as model_store  # noqa: PLC0415
    from music_genre.serving import server  # noqa: PLC0415

    project_dir = model_store.find_project(project)
    if project is not None and project_dir is None:
        print(f"error: {project} is not a Kedro project folder", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    if project_dir is not None:
        project_dir = _project_or_exit(project_dir, env)
    try:
        served = server.resolve(model, env, project_dir)
        server.serve(served, host, port, server.similarity_routes(project_dir, env))
    except ExpectedError as error:
        print(f"error: {error}", file=sys.stderr)
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_OK) from None


def _project_or_exit(project: Path | None, env: str | None) -> Path:
    """The Kedro project to work in, or a usage error (exit 2) naming what is wrong."""
    from music_genre.common.errors import unknown_environment  # noqa: PLC0415
    from music_genre.modeling import store as model_store  # noqa: PLC0415

    project_dir = model_store.find_project(project)
    if project_dir is None:
        print("error: not inside the music-genre project: pass --project DIR", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    problem = unknown_environment(env, project_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        raise typer.Exit(EXIT_USAGE)
    return project_dir


class KedroRunner:
    """Runs one pipeline per Kedro session (one MLflow run each) and reads the catalog afterwards."""

    def __init__(self, project: Path, env: str | None, params: dict | None = None):
        self.project = project
        self.env = env
        self.params = dict(params or {})

    def _session(self, params: dict | None = None):
        import os  # noqa: PLC0415

        from kedro.framework.session import KedroSession  # noqa: PLC0415
        from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

        os.chdir(self.project)  # relative paths in parameters are the project's
        bootstrap_project(self.project)
        return KedroSession.create(
            project_path=self.project,
            env=self.env,
            runtime_params=nested_params({**self.params, **(params or {})}),
        )

    def run(self, pipeline: str, params: dict) -> None:
        with self._session(params) as session:
            session.run(pipeline_names=[pipeline])

    def load(self, name: str):
        with self._session() as session:
            return session.load_context().catalog.load(name)

    def parameters(self) -> dict:
        with self._session() as session:
            return dict(session.load_context().params)


def _parse_params(text: str | None) -> dict:
    """``a.b=1,c=x`` -> ``{"a.b": 1, "c": "x"}`` (values read as YAML, as Kedro does)."""
    import yaml  # noqa: PLC0415

    from music_genre.common.errors import ExpectedError  # noqa: PLC0415

    parsed = {}
    for item in filter(None, (text or "").split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ExpectedError(f"--params {item!r}: write KEY=VALUE (several separated by commas)")
        parsed[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return parsed


def nested_params(params: dict | None) -> dict:
    """``{"inference.batch": x}`` -> ``{"inference": {"batch": x}}``, as ``kedro run --params`` does."""
    tree: dict = {}
    for key, value in (params or {}).items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree


def _quiet_libraries() -> None:
    """A person asked for genres, not for Kedro's INFO logs or omegaconf's deprecation warnings."""
    import os  # noqa: PLC0415
    import warnings  # noqa: PLC0415

    # stdout carries predictions only (one JSON object per line with --json): Kedro logs nothing there.
    os.environ["KEDRO_LOGGING_CONFIG"] = str(
        Path(__file__).resolve().parents[1] / "quiet_logging.yml"
    )
    warnings.filterwarnings("ignore", category=UserWarning, module="kedro")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def _project_settings(project_dir: Path | None, env: str | None) -> dict:
    """What the project's configuration says about scoring and wording, read once: the ``inference``
    windowing (window length, hop, count, minimum length), when an answer is uncertain, and the
    environment's dataset (None outside a project: the defaults)."""
    from music_genre.modeling import store as model_store  # noqa: PLC0415
    from music_genre.serving import inference, wording  # noqa: PLC0415

    if project_dir is None:
        parameters, dataset = {}, None
    else:
        loader = model_store.project_config(project_dir, env)
        parameters = loader["parameters"].get("inference") or {}
        dataset = loader["globals"].get("dataset_name")
    return {
        "windowing": inference.windowing_settings(parameters),
        "uncertainty": wording.uncertainty_settings(parameters),
        "dataset": dataset,
    }


def _report_error(out, err, as_json: bool, path: str, reason: str, message: str) -> None:
    if as_json:
        _print_json_error(path, reason, message)
    err.print(f"error: {path}: {message} ({reason})", soft_wrap=True, markup=False)


def _print_json_error(path: str, reason: str, message: str) -> None:
    print(json.dumps({"path": path, "error": {"reason": reason, "message": message}}), flush=True)


def _json_row(row, classes, ranked, loaded, facts) -> dict:
    """One file's JSON object; ``familiarity``/``unfamiliar`` only where the prediction rows carry them."""
    return (
        {
            "path": row["path"],
            "track_id": row["track_id"],
            "genre": row["genre"],
            "confidence": round(float(row["confidence"]), 6),
            "top": [{"genre": genre, "probability": round(p, 6)} for genre, p in ranked],
            "probabilities": {genre: round(float(row[f"proba_{genre}"]), 6) for genre in classes},
            "windows": int(row["windows"]),
            "duration": round(float(row["duration"]), 3),
            "model": {
                "source": loaded.source,
                "version": loaded.version,
                "dataset": facts.dataset,
                "task": facts.task,
                "familiarity_check": facts.familiarity,
            },
        }
        | _json_familiarity(row)
        | _json_tags(row, loaded.classifier)
    )


def _json_familiarity(row) -> dict:
    """``familiarity`` (null where the model has none) and ``unfamiliar``, where rows carry them."""
    if "unfamiliar" not in row.index:
        return {}
    value = row.get("familiarity")
    score = None if value is None or value != value else round(float(value), 6)
    from music_genre.serving.wording import is_unfamiliar  # noqa: PLC0415

    return {"familiarity": score, "unfamiliar": is_unfamiliar(row)}


def _json_tags(row, classifier) -> dict:
    """The task's own keys (a multi-label model's ``tags``: genres over their thresholds, with
    probability and threshold)."""
    from music_genre.modeling.tasks import task_of  # noqa: PLC0415

    return task_of(classifier).json_outputs(row, classifier)


def _print_prediction(out, row, ranked, classifier, uncertainty: dict, width: int = 30) -> None:
    """The file's answer line (in :func:`wording.answer_text`'s words), its genre bars, and the verdict
    line (unfamiliar music) under them."""
    from rich.markup import escape  # noqa: PLC0415

    from music_genre.serving import wording  # noqa: PLC0415
    from music_genre.serving.inference import row_tags, top_genres  # noqa: PLC0415

    answer = wording.answer_text(
        top_genres(row, classifier.classes, 2), row_tags(row, classifier), uncertainty
    )
    out.print(
        f"[bold]{escape(Path(row['path']).name)}[/bold]  [green]{escape(answer)}[/green]  "
        f"[dim]({int(row['windows'])} window{'s' if row['windows'] != 1 else ''}, "
        f"{row['duration']:.0f} s)[/dim]",
        soft_wrap=True,
    )
    for genre, probability in ranked:
        filled = int(round(probability * width))
        bar = "█" * filled + "░" * (width - filled)
        out.print(f"  {escape(genre):<20} [cyan]{bar}[/cyan] {100 * probability:5.1f}%")
    verdict = wording.verdict_text(row)
    if verdict:
        out.print(f"  [yellow]{escape(verdict)}[/yellow]", soft_wrap=True)


def _register_similarity() -> None:
    from music_genre.serving import similarity_commands  # noqa: PLC0415 - typer only, cheap

    similarity_commands.register(app, quiet=_quiet_libraries)


_register_similarity()


def main() -> None:
    """Console entry point; usage errors exit 2 (click's convention), failures 1."""
    try:
        app(standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
