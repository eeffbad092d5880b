"""Metrics and alerts for Prometheus (README: Operating it): the figures the batch job, monitoring and the
daily job leave in node_exporter's textfile format, the served model's and the page's counters, and the
alert rules, checked by promtool and unit-tested with `promtool test rules`.

The end-to-end test runs the real chain: `music-genre daily` on a folder of real clips (one of them not
audio) writes its textfiles; `music-genre serve` and the page (`music-genre app`, in a headless Chromium)
each score a file; Debian's `prometheus-node-exporter` reads the textfiles; a real `prometheus` scrapes the
three every second and evaluates ops/prometheus/alerts.yml; the test reads the values back from
Prometheus' own query API.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from music_genre.monitoring import prometheus_textfile
from music_genre.serving.prometheus_metrics import ModelLabels, ServingMetrics

from .conftest import CHROMIUM, PROJECT_ROOT, free_port, page_server, wait_until_up

OPS = PROJECT_ROOT / "ops" / "prometheus"
PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="needs promtool (Debian package `prometheus`)"
)
ALERTS = {
    "MusicGenreDriftDetected",
    "MusicGenreBatchAccuracyLow",
    "MusicGenreDailyStale",
    "MusicGenreDailyNeverSucceeded",
    "MusicGenreDailyFailed",
    "MusicGenreServedFailureRate",
    "MusicGenreServedErrors",
}


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PROMTOOL, *args], cwd=OPS, input=stdin, capture_output=True, text=True, timeout=120
    )


def samples(path_or_text) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, read with prometheus_client's own parser: (name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels) -> float:
    return found[(name, frozenset(labels.items()))]


REPORT = {
    "batch": "2016-09-16",
    "files": 7,
    "already_scored": 1,
    "scored": 6,
    "failed": 2,
    "failures_by_reason": {"unreadable": 1, "too_short": 1},
    "model_name": "music-genre-sample",
    "model_version": "20261204T000000-abcdef12",
    "registry_version": 3,
    "model_role": "champion",
}
MONITORED = {
    "batch": "2016-09-16",
    "model_version": "20261204T000000-abcdef12",
    "registry_version": "3",
    "n_tracks": 4,
    "n_labelled": 4,
    "drift_share": 0.55,
    "n_drifted_columns": 11,
    "mean_confidence": 0.61,
    "reference_mean_confidence": 0.63,
    "unfamiliar_share": None,  # a model without the familiarity check: no such figure
    "batch_accuracy": 0.25,
    "reference_accuracy": 0.6,
}
DECISION = {
    "drift": True,
    "retrain": True,
    "thresholds": {"min_batch_accuracy": 0.5, "min_labelled_tracks": 3},
}
MONITORING = {"drift": {"drift_share": 0.5}}


def write_all(directory: Path) -> dict[str, Path]:
    settings = {"dataset": "sample", "textfile_dir": str(directory)}
    started = time.time() - 42
    return {
        "inference": prometheus_textfile.write_batch_metrics(settings, REPORT),
        "fallback": prometheus_textfile.write_batch_metrics(
            settings, {**REPORT, "model_role": "fallback"}
        ),
        "monitoring": prometheus_textfile.write_monitoring_metrics(
            settings, MONITORED, DECISION, MONITORING
        ),
        "daily": prometheus_textfile.write_daily_metrics(
            settings,
            ok=True,
            started=started,
            scored=6,
            decision=DECISION,
            champion={"name": "music-genre-sample", "version": 3},
        ),
    }


def test_each_job_leaves_its_own_textfile_with_its_figures(tmp_path):
    before = time.time()
    paths = write_all(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"music_genre_sample_{job}.prom"
        for job in ("inference", "inference_fallback", "monitoring", "daily")
    )  # and no temporary file left behind
    batch = samples(paths["inference"])
    role = {"dataset": "sample", "role": "champion"}
    assert value(batch, "music_genre_batch_files", **role) == 7
    assert value(batch, "music_genre_batch_scored_files", **role) == 6 - 2
    assert value(batch, "music_genre_batch_failed_files", **role) == 2
    assert value(batch, "music_genre_batch_failures", **role, reason="unreadable") == 1
    assert value(batch, "music_genre_batch_failures", **role, reason="too_short") == 1
    assert value(batch, "music_genre_batch_already_scored_files", **role) == 1
    model = {"model_name": "music-genre-sample", "model_id": REPORT["model_version"]}
    assert value(batch, "music_genre_batch_model_version", **role, **model) == 3
    assert (
        value(
            batch, "music_genre_batch_info", **role, **model, batch="2016-09-16", model_version="3"
        )
        == 1
    )
    assert (
        before
        <= value(batch, "music_genre_batch_last_run_timestamp_seconds", **role)
        <= time.time()
    )
    fallback = samples(paths["fallback"])
    assert value(fallback, "music_genre_batch_files", dataset="sample", role="fallback") == 7

    monitoring = samples(paths["monitoring"])
    sample = {"dataset": "sample"}
    expected = {
        "tracks": 4,
        "labelled_tracks": 4,
        "drift_share": 0.55,
        "drift_share_threshold": 0.5,
        "drifted_columns": 11,
        "drift": 1,
        "retrain": 1,
        "mean_confidence": 0.61,
        "reference_mean_confidence": 0.63,
        "batch_accuracy": 0.25,
        "reference_accuracy": 0.6,
        "min_batch_accuracy": 0.5,
        "min_labelled_tracks": 3,
    }
    for name, figure in expected.items():
        assert value(monitoring, f"music_genre_monitoring_{name}", **sample) == figure, name
    # a figure the run did not produce is absent, not NaN
    assert not any(name == "music_genre_monitoring_unfamiliar_share" for name, _ in monitoring)

    daily = samples(paths["daily"])
    success = value(daily, "music_genre_daily_last_success_timestamp_seconds", **sample)
    assert before <= success <= time.time()
    assert value(daily, "music_genre_daily_success", **sample) == 1
    assert value(daily, "music_genre_daily_duration_seconds", **sample) >= 42
    assert value(daily, "music_genre_daily_scored_files", **sample) == 6
    assert value(daily, "music_genre_daily_retrain_decision", **sample) == 1
    assert value(daily, "music_genre_daily_retrained", **sample) == 0
    assert (
        value(daily, "music_genre_champion_version", **sample, model_name="music-genre-sample") == 3
    )
    assert not any(name == "music_genre_daily_last_failure_timestamp_seconds" for name, _ in daily)

    # a failed day keeps the last success on record, and says when it failed
    settings = {"dataset": "sample", "textfile_dir": str(tmp_path)}
    prometheus_textfile.write_daily_metrics(settings, ok=False, started=time.time())
    failed = samples(paths["daily"])
    assert value(failed, "music_genre_daily_last_success_timestamp_seconds", **sample) == success
    assert value(failed, "music_genre_daily_success", **sample) == 0
    assert value(failed, "music_genre_daily_last_failure_timestamp_seconds", **sample) >= success
    # and the next good day keeps the failure's time
    prometheus_textfile.write_daily_metrics(settings, ok=True, started=time.time())
    again = samples(paths["daily"])
    assert value(again, "music_genre_daily_last_failure_timestamp_seconds", **sample) == value(
        failed, "music_genre_daily_last_failure_timestamp_seconds", **sample
    )

    # off: no folder, no file
    assert (
        prometheus_textfile.write_batch_metrics({"dataset": "x", "textfile_dir": None}, REPORT)
        is None
    )


def served_exposition() -> str:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    meter = ServingMetrics(
        ModelLabels("music-genre-sample", "3", "models:/music-genre-sample@champion", "champion"),
        registry,
    )
    meter.answered(["forbidden_path", None, float("nan")])
    meter.request("ok", 0.4)
    return meter.exposition()[0].decode()


def test_served_counters_count_rows_by_their_error_reason():
    found = samples(served_exposition())
    model = {"model_name": "music-genre-sample", "model_version": "3"}
    assert value(found, "music_genre_files_scored_total", **model) == 2
    assert value(found, "music_genre_file_failures_total", **model, reason="forbidden_path") == 1
    assert value(found, "music_genre_requests_total", **model, outcome="ok") == 1
    assert value(found, "music_genre_request_duration_seconds_count", **model) == 1
    assert value(found, "music_genre_request_duration_seconds_bucket", **model, le="0.5") == 1
    assert value(found, "music_genre_request_duration_seconds_bucket", **model, le="0.25") == 0
    info = {**model, "source": "models:/music-genre-sample@champion", "alias": "champion"}
    assert value(found, "music_genre_model_info", **info) == 1


@needs_promtool
def test_the_alert_rules_pass_promtool_and_their_unit_tests():
    for args in (
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
        ("check", "config", "prometheus.yml"),
    ):
        result = promtool(*args)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"


@needs_promtool
def test_the_textfiles_and_the_served_metrics_pass_promtool_check_metrics(tmp_path):
    for path in write_all(tmp_path).values():
        result = promtool("check", "metrics", stdin=path.read_text())
        assert result.returncode == 0, f"{path.name}:\n{result.stdout}{result.stderr}"
    result = promtool("check", "metrics", stdin=served_exposition())
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_read_only_metrics_the_code_writes(tmp_path):
    """A metric name misspelt in alerts.yml would never fire: every name the rules use is one the
    textfiles or the served model expose."""
    exposed = {name for path in write_all(tmp_path).values() for name, _ in samples(path)}
    exposed |= {name for name, _ in samples(served_exposition())}
    used = set(re.findall(r"\bmusic_genre_[a-z_]+", (OPS / "alerts.yml").read_text()))
    assert used and used <= exposed, used - exposed


PAGE_EXPORTER = textwrap.dedent(
    """
    import json, logging, socket, sys, urllib.request
    from music_genre.serving import prometheus_metrics as metrics

    warnings = []

    class Keep(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING:
                warnings.append(record.name)

    logging.getLogger("music_genre.serving.prometheus_metrics").addHandler(Keep())
    port = int(sys.argv[1])
    if sys.argv[2] == "busy":
        taken = socket.socket()
        taken.bind(("127.0.0.1", port))
        taken.listen()
    started = [metrics.start_page_exporter(port), metrics.start_page_exporter(port)]  # two reruns
    meter = metrics.ServingMetrics(metrics.ModelLabels("music-genre-sample", "3"))
    meter.answered([None])
    text = ""
    if started[0]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    print(json.dumps({"started": started, "warnings": warnings, "text": text}))
    """
)


@pytest.mark.parametrize("port_state", ["free", "busy"])
def test_the_page_exporter_starts_once_per_process_and_a_busy_port_is_one_warning(port_state):
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-c", PAGE_EXPORTER, str(port), port_state],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    if port_state == "busy":
        assert outcome == {
            "started": [False, False],
            "warnings": ["music_genre.serving.prometheus_metrics"],
            "text": "",
        }
    else:
        assert outcome["started"] == [True, True] and outcome["warnings"] == []
        found = samples(outcome["text"])
        model = {"model_name": "music-genre-sample", "model_version": "3"}
        assert value(found, "music_genre_files_scored_total", **model) == 1


# ---- the real chain --------------------------------------------------------------------------------------
@contextlib.contextmanager
def process(command: list, **kwargs):
    """A process in its own session, stopped (with its children) on the way out."""
    started = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        **kwargs,
    )
    try:
        yield started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(started.pid, signal.SIGTERM)
        try:
            started.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(started.pid, signal.SIGKILL)
            started.wait(timeout=30)


def query(prometheus: str, promql: str) -> list[dict]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=10) as reply:
        answer = json.loads(reply.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def settled(prometheus: str, promql: str, ready, timeout_s: float = 180) -> list[dict]:
    """The query's result once ``ready(result)`` holds (scrapes come every second); the last result after
    ``timeout_s``, for the assertion to show."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = query(prometheus, promql)
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(1)


def total(result: list[dict]) -> float:
    """The sum of a query's series: a counter made at 0 when the model loads exists before it counts, so
    a test waits for its value, not its presence."""
    return sum(float(series["value"][1]) for series in result)


def by(result: list[dict], label: str) -> dict[str, float]:
    return {series["metric"].get(label, ""): float(series["value"][1]) for series in result}


def rules_evaluated_since(prometheus: str, moment: float) -> bool:
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=10) as reply:
        groups = json.loads(reply.read())["data"]["groups"]
    evaluated = []
    for group in groups:
        for rule in group["rules"]:
            stamp = re.sub(r"(\.\d{6})\d*", r"\1", rule["lastEvaluation"]).replace("Z", "+00:00")
            evaluated.append(
                rule["health"] == "ok" and datetime.fromisoformat(stamp).timestamp() > moment
            )
    return len(evaluated) == len(ALERTS) and all(evaluated)


def post(url: str, body: bytes) -> tuple[int, dict | None]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.skipif(
    None in (PROMETHEUS, PROMTOOL, NODE_EXPORTER),
    reason="needs prometheus, promtool and prometheus-node-exporter (Debian packages `prometheus` and "
    "`prometheus-node-exporter`)",
)
@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (Debian package `chromium`) for the page"
)
def test_a_real_prometheus_scrapes_the_served_model_the_page_and_the_daily_figures(
    trained_project, browser_page, tmp_path
):
    project = trained_project
    champion = project.load("champion_info")
    name, version = champion["name"], str(champion["version"])
    manifest = project.load("manifest")
    clips = manifest[manifest["split"] == "test"].head(6)

    # a day of new music: six real clips and a file that is not audio, with their labels
    day_folder = tmp_path / "new_music"
    day_folder.mkdir()
    copies = [
        Path(shutil.copy(p, day_folder / f"clip{i}.mp3")) for i, p in enumerate(clips["path"])
    ]
    (day_folder / "notes.mp3").write_text("this is not audio")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,genre\n" + "".join(f"{p},{g}\n" for p, g in zip(copies, clips["genre"], strict=True))
    )
    started = time.time()
    day = subprocess.run(
        [sys.executable, "-m", "music_genre", "daily", "--input-dir", str(day_folder), "--batch", "metrics-day",
         "--labels", str(labels), "--no-retrain"],
        cwd=project.path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
    )  # fmt: skip
    assert day.returncode == 0, day.stdout[-2000:] + day.stderr[-3000:]
    report = project.load("inference_report")
    monitored = project.load("monitoring_metrics")
    decision = project.load("monitoring_decision")
    assert report["batch"] == "metrics-day" and report["files"] == 7 and report["failed"] == 1

    # the three textfiles the day left, as written
    textfiles = project.path / "data" / "09_metrics"
    files = {
        job: textfiles / f"music_genre_sample_{job}.prom"
        for job in ("inference", "monitoring", "daily")
    }
    for path in files.values():
        checked = promtool("check", "metrics", stdin=path.read_text())
        assert checked.returncode == 0, f"{path.name}:\n{checked.stdout}{checked.stderr}"
    batch = samples(files["inference"])
    role = {"dataset": "sample", "role": "champion"}
    assert value(batch, "music_genre_batch_files", **role) == 7
    assert (
        value(batch, "music_genre_batch_scored_files", **role)
        == report["scored"] - report["failed"]
        == 6
    )
    for reason, count in report["failures_by_reason"].items():
        assert value(batch, "music_genre_batch_failures", **role, reason=reason) == count
    monitoring = samples(files["monitoring"])
    sample = {"dataset": "sample"}
    assert (
        value(monitoring, "music_genre_monitoring_tracks", **sample) == monitored["n_tracks"] == 6
    )
    assert value(monitoring, "music_genre_monitoring_drift_share", **sample) == pytest.approx(
        monitored["drift_share"]
    )
    assert value(monitoring, "music_genre_monitoring_batch_accuracy", **sample) == pytest.approx(
        monitored["batch_accuracy"]
    )
    assert value(monitoring, "music_genre_monitoring_drift", **sample) == decision["drift"]
    assert value(monitoring, "music_genre_monitoring_retrain", **sample) == decision["retrain"]
    daily = samples(files["daily"])
    assert (
        started
        <= value(daily, "music_genre_daily_last_success_timestamp_seconds", **sample)
        <= time.time()
    )
    assert value(daily, "music_genre_champion_version", **sample, model_name=name) == float(version)

    # the served model, the page, node_exporter on the textfiles, and Prometheus scraping the three
    ports = {job: free_port() for job in ("serve", "page_metrics", "node", "prometheus")}
    served = f"http://127.0.0.1:{ports['serve']}"
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(OPS / "alerts.yml")],
                "scrape_configs": [
                    {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{ports[key]}"]}]}
                    for job, key in (
                        ("music-genre-serve", "serve"),
                        ("music-genre-page", "page_metrics"),
                        ("node", "node"),
                    )
                ],
            }
        )
    )
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            process(
                [sys.executable, "-m", "music_genre", "serve", "--port", str(ports["serve"])],
                cwd=project.path,
            )
        )
        url = stack.enter_context(page_server(project.path, metrics_port=ports["page_metrics"]))
        node = stack.enter_context(
            process([NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                     f"--collector.textfile.directory={textfiles}",
                     f"--web.listen-address=127.0.0.1:{ports['node']}"])
        )  # fmt: skip
        scraper = stack.enter_context(
            process([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{ports['prometheus']}"], cwd=tmp_path)
        )  # fmt: skip
        wait_until_up(node, f"http://127.0.0.1:{ports['node']}/metrics", "node exporter")
        wait_until_up(scraper, f"{prometheus}/-/ready", "prometheus")
        wait_until_up(server, f"{served}/ping", "model server", timeout_s=300)

        # the served model: a clip as content and a path it may not read; then a body that is not JSON
        clip = copies[0]
        records = [
            {"content": base64.b64encode(clip.read_bytes()).decode(), "filename": clip.name},
            {"path": str(clip)},  # no allowed roots: forbidden_path, never read
        ]
        status, answer = post(
            f"{served}/invocations", json.dumps({"dataframe_records": records}).encode()
        )
        assert status == 200, answer
        rows = answer["predictions"]
        assert rows[0]["genre"] is not None and rows[0]["error_reason"] is None
        assert rows[1]["error_reason"] == "forbidden_path" and rows[1]["genre"] is None
        assert post(f"{served}/invocations", b"not json")[0] == 400

        # the page: the same clip and the file that is not audio, uploaded in a browser
        page = browser_page
        page.goto(url)
        page.wait_for_selector("input[type=file]", state="attached", timeout=120_000)
        page.set_input_files("input[type=file]", [str(clip), str(day_folder / "notes.mp3")])
        page.get_by_text("notes.mp3:").first.wait_for(timeout=240_000)
        page.get_by_text(f"{clip.name}:").first.wait_for(timeout=240_000)

        # what Prometheus itself holds
        serve_job, page_job = 'job="music-genre-serve"', 'job="music-genre-page"'
        for job in (serve_job, page_job):
            scored = settled(
                prometheus,
                f"music_genre_files_scored_total{{{job}}}",
                lambda r: total(r) >= 1,  # made at 0 when the model loads: wait for the count
            )
            assert len(scored) == 1, scored
            assert float(scored[0]["value"][1]) == 1
            assert scored[0]["metric"]["model_name"] == name
            assert scored[0]["metric"]["model_version"] == version  # the registered version
        failures = settled(prometheus, f"music_genre_file_failures_total{{{serve_job}}}", bool)
        assert by(failures, "reason") == {"forbidden_path": 1}
        requests = settled(
            prometheus, f"music_genre_requests_total{{{serve_job}}}", lambda r: total(r) >= 2
        )
        assert by(requests, "outcome") == {"ok": 1, "client_error": 1}
        latency = settled(
            prometheus,
            f"music_genre_request_duration_seconds_count{{{serve_job}}}",
            lambda r: total(r) >= 2,
        )
        assert by(latency, "job") == {"music-genre-serve": 2}
        info = settled(prometheus, f"music_genre_model_info{{{serve_job}}}", bool)
        assert [s["metric"]["alias"] for s in info] == ["champion"]
        assert info[0]["metric"]["source"] == f"models:/{name}@champion"
        failures = settled(prometheus, f"music_genre_file_failures_total{{{page_job}}}", bool)
        assert by(failures, "reason") == {"unreadable": 1}
        requests = settled(
            prometheus, f"music_genre_requests_total{{{page_job}}}", lambda r: total(r) >= 2
        )
        assert by(requests, "outcome") == {"ok": 2}

        # the day's figures, through node_exporter
        files_in_batch = settled(prometheus, 'music_genre_batch_files{job="node"}', bool)
        assert by(files_in_batch, "role") == {"champion": 7}
        drift_share = settled(prometheus, 'music_genre_monitoring_drift_share{job="node"}', bool)
        assert by(drift_share, "dataset")["sample"] == pytest.approx(monitored["drift_share"])
        champion_version = settled(prometheus, 'music_genre_champion_version{job="node"}', bool)
        assert by(champion_version, "model_name") == {name: float(version)}
        assert by(
            settled(prometheus, 'music_genre_daily_success{job="node"}', bool), "dataset"
        ) == {"sample": 1}

        # the rules, evaluated by Prometheus on these figures: every one healthy, and the batch alerts
        # firing exactly when the day's decision said so
        seen = time.time()
        deadline = time.monotonic() + 120
        while not rules_evaluated_since(prometheus, seen) and time.monotonic() < deadline:
            time.sleep(1)
        assert rules_evaluated_since(prometheus, seen)
        firing = {
            s["metric"]["alertname"] for s in query(prometheus, 'ALERTS{alertstate="firing"}')
        }
        thresholds = decision["thresholds"]
        low = monitored["batch_accuracy"] < thresholds["min_batch_accuracy"]
        assert ("MusicGenreBatchAccuracyLow" in firing) is low
        assert ("MusicGenreDriftDetected" in firing) is bool(decision["drift"])
        assert not firing & {
            "MusicGenreDailyFailed",
            "MusicGenreDailyStale",
            "MusicGenreServedErrors",
        }


def test_a_new_registry_gets_its_own_series_after_an_old_one_is_collected():
    """A collected registry's id() is reused: the families are the new registry's own, not a dead one's."""
    import gc

    from prometheus_client import CollectorRegistry

    for _ in range(50):
        registry = CollectorRegistry()
        meter = ServingMetrics(ModelLabels("music-genre-sample", "3"), registry)
        meter.answered([None, None])
        found = samples(meter.exposition()[0].decode())
        assert (
            value(
                found,
                "music_genre_files_scored_total",
                model_name="music-genre-sample",
                model_version="3",
            )
            == 2
        )
        del meter, registry
        gc.collect()
