"""kedro-viz on the project: `kedro viz build` and `kedro viz run` as a user types them, the static build
rendered by a real headless Chromium (Debian's `chromium`; the tests that need it skip without it)."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM, free_port, make_project_copy

KEDRO = Path(sys.executable).with_name("kedro")
PIPELINES = {
    "__default__",
    "data_ingestion",
    "download",
    "embedding_weights",
    "evaluation",
    "feature_engineering",
    "inference",
    "model_comparison",
    "modeling",
    "monitoring",
    "retraining",
    "sample_data",
    "similarity",
    "tuning",
}
LAYERS = [
    "raw",
    "intermediate",
    "primary",
    "feature",
    "model_input",
    "models",
    "model_output",
    "reporting",
]
FIGURES = ("confusion_matrix_figure", "feature_importance_figure", "reliability_diagram_figure")


def _env() -> dict:
    return {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}


def viz_build(project: Path, *args: str) -> Path:
    result = subprocess.run(
        [str(KEDRO), "viz", "build", *args],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return project / "build"


def _registered_node_names(project: Path) -> dict[str, set[str]]:
    """Task and dataset names of every pipeline, from the project's own registry (in a subprocess)."""
    code = (
        "import json; from pathlib import Path; from kedro.framework.startup import bootstrap_project;"
        "bootstrap_project(Path('.')); from kedro.framework.project import pipelines;"
        "print(json.dumps({n: sorted({x.name for x in p.nodes} | p.datasets()) "
        "for n, p in pipelines.items()}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return {name: set(names) for name, names in json.loads(result.stdout.splitlines()[-1]).items()}


@pytest.fixture(scope="module")
def fresh_build(tmp_path_factory) -> tuple[Path, Path]:
    """`kedro viz build` on a project copy that has never run: no data at all."""
    project = make_project_copy(tmp_path_factory.mktemp("viz_fresh") / "project")
    return project, viz_build(project)


def test_a_fresh_project_builds_every_pipeline_with_its_layers(fresh_build):
    project, build = fresh_build
    main = json.loads((build / "api" / "main").read_text())
    assert {p["id"] for p in main["pipelines"]} == PIPELINES
    assert main["layers"] == LAYERS  # ordered: no cycle among the catalog's layers
    registered = _registered_node_names(project)
    for pipeline in PIPELINES:
        shown = json.loads((build / "api" / "pipelines" / pipeline).read_text())
        names = {
            node.get("full_name")
            or node["name"]  # a namespaced task's full name: knn.train_model_node
            for node in shown["nodes"]
            if node["type"] in ("task", "data")
        }
        assert names == {n for n in registered[pipeline] if not n.startswith("params:")}, pipeline
    layered = {node["name"]: node.get("layer") for node in main["nodes"] if node["type"] == "data"}
    assert layered["manifest"] == "primary" and layered["features"] == "feature"
    assert layered["genre_classifier"] == "models" and layered["model_metrics"] == "reporting"
    monitoring = json.loads((build / "api" / "pipelines" / "monitoring").read_text())
    shown = {
        node["name"]: node.get("layer") for node in monitoring["nodes"] if node["type"] == "data"
    }
    assert shown["monitoring_report"] == shown["monitoring_decision"] == "reporting"
    assert shown["predictions"] == "model_output" and shown["inference_model"] == "models"
    # sorted by the pipeline's own edges (empty when they form a cycle); layers that no edge joins
    # (primary and models) may come in either order
    order = monitoring["layers"]
    assert order.index("models") < order.index("model_output") < order.index("reporting")
    assert order.index("primary") < order.index("model_output")


@pytest.fixture(scope="module")
def trained_build(trained_project) -> Path:
    """`kedro viz build --include-previews` after the default run: previews of what the run wrote."""
    return viz_build(trained_project.path, "--include-previews")


def _node_details(build: Path) -> dict[str, dict]:
    main = json.loads((build / "api" / "main").read_text())
    return {
        node["name"]: json.loads((build / "api" / "nodes" / node["id"]).read_text())
        for node in main["nodes"]
        if (build / "api" / "nodes" / node["id"]).is_file()
    }


def test_plots_and_tables_have_previews_after_a_run(trained_build, trained_project):
    import base64

    details = _node_details(trained_build)
    for figure in FIGURES:
        assert details[figure]["preview_type"] == "ImagePreview", figure
        png = base64.b64decode(details[figure]["preview"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    manifest = details["manifest"]
    assert manifest["preview_type"] == "TablePreview"
    expected = trained_project.load("manifest").head(len(manifest["preview"]["index"]))
    assert manifest["preview"]["columns"] == list(expected.columns)
    assert [row[0] for row in manifest["preview"]["data"]] == list(expected["track_id"])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


def _serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def render(url: str) -> str:
    """The DOM after the page's scripts ran, from a real headless Chromium."""
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            "--virtual-time-budget=20000",
            "--window-size=1600,1200",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def drawn_names(dom: str) -> set[str]:
    return set(re.findall(r'<text class="pipeline-node__text[^"]*"[^>]*>([^<]+)</text>', dom))


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package `chromium`)")
def test_chromium_renders_the_static_build(trained_build, trained_project):
    registered = _registered_node_names(trained_project.path)
    server, url = _serve(trained_build)
    try:
        default = render(url + "/")
        inference = render(url + "/?pid=inference")
    finally:
        server.shutdown()
    names = drawn_names(default)
    expected = {n for n in registered["__default__"] if not n.startswith("params:")}
    assert expected <= names, sorted(expected - names)
    for layer in LAYERS:
        assert f'data-id="layer-label--{layer}"' in default
    assert {"list_inference_inputs_node", "score_new_files_node", "predictions"} <= drawn_names(
        inference
    )
    assert "extract_features_node" not in drawn_names(inference)


def test_kedro_viz_run_serves_the_pipelines(fresh_build, tmp_path):
    project, _ = fresh_build
    port = free_port(49152)
    log = tmp_path / "viz.log"
    server = subprocess.Popen(
        [str(KEDRO), "viz", "run", "--host", "127.0.0.1", "--port", str(port), "--no-browser"],
        cwd=project,
        env=_env(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, main = time.monotonic() + 120, None
        while main is None and time.monotonic() < deadline:
            assert server.poll() is None, f"kedro viz run exited:\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/main", timeout=5) as r:
                    main = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    assert main is not None, "kedro viz run never answered"
    assert {p["id"] for p in main["pipelines"]} == PIPELINES
    assert main["layers"] == LAYERS
