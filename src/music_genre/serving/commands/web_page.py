"""``music-genre app``: the web page (:mod:`music_genre.serving.page`) under Streamlit, in a child
process bound to this machine unless told otherwise; the page's metrics port and the signals that stop
it are :mod:`music_genre.serving.page_process`'s."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from music_genre.serving.commands.options import (
    EnvOption,
    HostOption,
    ProjectOption,
    project_or_exit,
)


def app_command(
    env: EnvOption = None,
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to serve on.")] = 8501,
    host: HostOption = "127.0.0.1",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            metavar="PORT",
            help="Port of the page's Prometheus metrics on 127.0.0.1 (default prometheus.page_port; 0: off).",
        ),
    ] = None,
    project: ProjectOption = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="URI|FILE",
            help="models:/music-genre-<dataset>@champion (a shared tracking server's, with "
            "$MLFLOW_TRACKING_URI), models:/<name>/<version> or a genre_classifier.pkl (default: the "
            "environment's champion copy in the project).",
        ),
    ] = None,
) -> None:
    """The web page: drop songs, see their genres; the latest evaluation and monitoring reports.
    SIGTERM or Ctrl+C stops the page's server and frees both its ports."""
    from music_genre.serving import page, page_process, wording
    from music_genre.serving import served_inputs as guard

    project_dir = project_or_exit(project, env)
    files = page.project_files(project_dir, env)
    max_mb = max(1, int(guard.max_bytes(files["serving"]) / 1024 / 1024))
    port_for_metrics = page_process.metrics_port_of(metrics_port, files["prometheus"])
    address = files["prometheus"].get("page_address") or "127.0.0.1"
    command = [
        sys.executable, "-m", "streamlit", "run", page.__file__,
        "--server.address", host, "--server.port", str(port), "--server.headless", "true",
        "--server.maxUploadSize", str(max_mb), "--browser.gatherUsageStats", "false",
        "--global.developmentMode", "false", "--client.toolbarMode", "minimal",
        # the metrics port is this process's (open from the start): the page only writes its counters
        "--", "--project", str(project_dir), *(["--env", env] if env else []), "--metrics-port", "0",
        *(["--model", model] if model else []),
    ]  # fmt: skip
    with page_process.metrics_endpoint(port_for_metrics, address) as folder:
        metrics = f", metrics on http://{address}:{port_for_metrics}/metrics" if folder else ""
        print(
            f"music-genre page on http://{host}:{port}{metrics}: "
            f"{wording.environment_text(env, files['dataset'])} (Ctrl+C stops it)",
            flush=True,
        )
        code = page_process.run_page(command, page_process.child_env(), folder)
    raise typer.Exit(code)
