"""Shared fixtures: real Kedro sessions on throw-away copies of the project, real audio from ../shared."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
from pathlib import Path

import pytest

from music_genre.features.embeddings import weights as mw
from music_genre.serving.commands import nested_params

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
FMA_EXCERPT = SHARED_DATA / "fma_excerpt"
GTZAN_SUBSET = SHARED_DATA / "gtzan_subset"

# No network from tests: Kedro telemetry and Ray usage stats stay off.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.pop("RAY_ADDRESS", None)  # tests start their own local Ray (or cluster)
# Console-only logging: no info.log dropped wherever a test happens to run.
os.environ.setdefault("KEDRO_LOGGING_CONFIG", str(Path(__file__).with_name("logging.yml")))

# A small sample keeps the suite fast; the default `kedro run` uses the full size from parameters.
SMALL_SAMPLE = {
    "sample_data.tracks_per_genre": 20,
    "sample_data.clip_seconds": 12.0,
}
SMALL_SAMPLE_INGESTION = {"data_ingestion.min_duration_s": 8.0}


def require_shared(*parts: str) -> Path:
    """The path under ../shared, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the ../shared folder beside the project is absent)")
    return path


@pytest.fixture
def shared_gtzan() -> Path:
    return require_shared("data", "gtzan_subset")


@pytest.fixture
def shared_fma_excerpt() -> Path:
    return require_shared("data", "fma_excerpt")


def free_port(below: int = 65536) -> int:
    """A TCP port nothing listens on at 127.0.0.1 (under ``below``: kedro viz refuses ports over 49151)."""
    if below == 65536:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    for port in random.sample(range(20000, below), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in 20000-{below}")


def wait_until_up(server, url: str, what: str, timeout_s: float = 120) -> None:
    """Poll ``url`` until it answers 200, failing as soon as the ``server`` process has exited."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the {what} exited"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)


@contextlib.contextmanager
def page_server(
    project: Path, metrics_port: int | None = None, args: tuple = (), env: dict | None = None
):
    """`music-genre app` of ``project`` on a free port of 127.0.0.1; yields its URL, stops it after. Its
    metrics endpoint listens on ``metrics_port`` (a free port when not given: never the default's);
    ``args``: more of the command's options; ``env``: its environment (default: this one's)."""
    import signal
    import subprocess
    import sys

    port = free_port()
    metrics_port = metrics_port or free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "music_genre", "app", "--port", str(port)]
        + ["--metrics-port", str(metrics_port), *args],
        cwd=project,
        env={**(os.environ if env is None else env), "KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, f"{url}/_stcore/health", "page's server")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)


@pytest.fixture
def browser_page():
    """A headless Chromium page driven by Playwright: Debian's Chromium, no browser download."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        yield page
        browser.close()


def make_project_copy(destination: Path) -> Path:
    """A throw-away Kedro project: the real conf/ and pyproject.toml, an empty data/ tree."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "conf", destination / "conf", dirs_exist_ok=True)
    local = destination / "conf" / "local"
    for item in local.iterdir():  # a developer's own conf/local must not leak into tests
        if item.name != ".gitkeep":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    (destination / "src").mkdir(
        exist_ok=True
    )  # bootstrap_project wants it; the package is installed
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy2(PROJECT_ROOT / name, destination / name)
    for layer in (
        "01_raw",
        "02_intermediate",
        "03_primary",
        "04_feature",
        "05_model_input",
        "06_models",
        "07_model_output",
        "08_reporting",
    ):
        (destination / "data" / layer).mkdir(parents=True, exist_ok=True)
    return destination


class KedroProject:
    """Runs pipelines of a project copy with Kedro's real session, runner and catalog."""

    def __init__(self, path: Path):
        self.path = path

    def run(self, pipelines: list[str] | None = None, env: str | None = None, params=None, **kw):
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        previous = Path.cwd()
        os.chdir(
            self.path
        )  # relative paths in parameters (dataset.root) are relative to the project
        try:
            bootstrap_project(self.path)
            with KedroSession.create(
                project_path=self.path, env=env, runtime_params=nested_params(params)
            ) as session:
                return session.run(pipeline_names=pipelines, **kw)
        finally:
            os.chdir(previous)

    def catalog(self, env: str | None = None, params=None):
        """The project's real catalog, to load what a run wrote."""
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        previous = Path.cwd()
        os.chdir(self.path)
        try:
            bootstrap_project(self.path)
            session = KedroSession.create(
                project_path=self.path, env=env, runtime_params=nested_params(params)
            )
            return session.load_context().catalog
        finally:
            os.chdir(previous)

    def load(self, name: str, env: str | None = None, params=None):
        previous = Path.cwd()
        catalog = self.catalog(env=env, params=params)
        os.chdir(self.path)
        try:
            return catalog.load(name)
        finally:
            os.chdir(previous)


@pytest.fixture
def kedro_project(tmp_path) -> KedroProject:
    return KedroProject(make_project_copy(tmp_path / "project"))


@pytest.fixture(scope="session")
def sample_archive(tmp_path_factory) -> Path:
    """One small built-in sample for the whole test session (read-only for tests: copy before changing)."""
    from music_genre.sample import make_sample_archive

    root = tmp_path_factory.mktemp("sample") / "sample"
    make_sample_archive(root, seed=42, tracks_per_genre=20, clip_seconds=12.0)
    return root


# The tests' sample holds 14 test tracks: a score gate on so few flips with any library version, thread
# count or rounding. Tests that need a registered model get one whatever the run scored; tests of the
# gates themselves set the threshold they test (above 1: never registered).
REGISTER_ALWAYS = {
    "modeling.registration.threshold": 0.0,
    "modeling.registration.require_better_than_chance": False,
    "modeling.registration.multi_label.jaccard": 0.0,
    "modeling.registration.multi_label.hamming_loss": 1.0,
}
SAMPLE_RUN_PARAMS = {
    **SMALL_SAMPLE,
    **SMALL_SAMPLE_INGESTION,
    **REGISTER_ALWAYS,
    "feature_engineering.min_duration_s": 8.0,
    "feature_engineering.progress": False,
}


def project_on_sample(tmp_path_factory, sample_archive: Path, name: str) -> KedroProject:
    """A project copy with its own copy of the session's sample; ``project.params`` point at it."""
    base = tmp_path_factory.mktemp(name)
    root = base / "sample"
    shutil.copytree(sample_archive, root)
    project = KedroProject(make_project_copy(base / "project"))
    project.params = {**SAMPLE_RUN_PARAMS, "dataset.root": str(root)}
    project.sample_root = root
    return project


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory, sample_archive) -> KedroProject:
    """The default `kedro run` (ingestion, features, modeling, evaluation) once on a copy of the sample.

    Shared by the modeling, evaluation and inference tests, which read what it wrote; tests that run more
    pipelines on it only add MLflow runs and model versions, which they filter by name.
    """
    project = project_on_sample(tmp_path_factory, sample_archive, "trained")
    project.run(params=project.params)
    return project


# ---- the pretrained embedding's weights (musicnn 0.1.0's wheel, converted once a session) ----------------
WHEEL_CACHE = Path.home() / ".cache" / "music_genre" / "wheels"


@pytest.fixture(scope="session")
def musicnn_wheel() -> Path:
    """musicnn 0.1.0's published wheel: a cached copy, else fetched from the package index once."""
    cached = WHEEL_CACHE / mw.WHEEL_NAME
    if cached.is_file() and mw.sha256_of(cached) == mw.WHEEL_SHA256:
        return cached
    try:
        return mw.fetch_wheel(WHEEL_CACHE)
    except mw.WeightsError as err:
        pytest.skip(f"musicnn's wheel is not available here: {err}")


@pytest.fixture(scope="session")
def musicnn_weights_dir(musicnn_wheel, tmp_path_factory) -> Path:
    """A folder holding msd_musicnn.npz and its ONNX graph, converted (and verified against musicnn's
    fingerprint) this session, without TensorFlow."""
    directory = tmp_path_factory.mktemp("weights")
    mw.convert_wheel(musicnn_wheel, directory)
    return directory


@pytest.fixture
def weights_env(musicnn_weights_dir, monkeypatch) -> Path:
    monkeypatch.setenv(mw.WEIGHTS_ENV, str(musicnn_weights_dir))
    from music_genre.features.embeddings import load_backend

    load_backend.cache_clear()
    yield musicnn_weights_dir
    load_backend.cache_clear()
