"""``music-genre app``: the web page (:mod:`music_genre.serving.page`) under Streamlit, in a child
process bound to this machine unless told otherwise."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from music_genre.serving.commands.options import (
    EXIT_OK,
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
) -> None:
    """The web page: drop songs, see their genres; the latest evaluation and monitoring reports."""
    import os  # noqa: PLC0415
    import subprocess  # noqa: PLC0415

    from music_genre.serving import page  # noqa: PLC0415
    from music_genre.serving import served_inputs as guard  # noqa: PLC0415

    project_dir = project_or_exit(project, env)
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
