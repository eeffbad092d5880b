"""Alerts that reach a person: ops/alertmanager/alertmanager.yml checked by amtool, its routes and
inhibitions exercised on a real Alertmanager (Debian's `prometheus-alertmanager`), and the whole chain run
end to end: a drifted batch -> monitoring's textfile -> node_exporter -> a real Prometheus evaluating
ops/prometheus/alerts.yml -> Alertmanager with the shipped configuration -> a webhook in this test."""

from __future__ import annotations

import contextlib
import http.server
import json
import queue
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .conftest import PROJECT_ROOT, KedroProject, free_port, wait_until_up
from .test_metrics import (
    NODE_EXPORTER,
    PROMETHEUS,
    process,
    query,
    samples,
    served_exposition,
    settled,
    value,
    write_all,
)
from .test_monitoring import _degrade

AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
CONFIG = PROJECT_ROOT / "ops" / "alertmanager" / "alertmanager.yml"
RULES = PROJECT_ROOT / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = PROJECT_ROOT / "ops" / "grafana" / "music-genre.json"
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="needs amtool (Debian package `prometheus-alertmanager`)"
)
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None, reason="needs Alertmanager (Debian package `prometheus-alertmanager`)"
)


@needs_amtool
def test_amtool_accepts_the_shipped_configuration():
    checked = subprocess.run(
        [AMTOOL, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": "MusicGenreDriftDetected", "severity": "warning", "dataset": "sample"},
         "music-genre-team"),
        ({"alertname": "MusicGenreDailyStale", "severity": "critical", "dataset": "sample"},
         "music-genre-on-call"),
        ({"alertname": "MusicGenreServedErrors", "severity": "critical", "job": "music-genre-serve"},
         "music-genre-on-call"),
    ],
)  # fmt: skip
def test_each_severity_goes_to_its_receiver(labels, receiver):
    """The routing tree as amtool reads it: its answer is the receiver's name, which the file defines."""
    routed = subprocess.run(
        [AMTOOL, "config", "routes", "test", f"--config.file={CONFIG}",
         *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.split() == [receiver]


def test_every_rule_is_routed_and_every_inhibition_names_real_alerts():
    """An alert name misspelt in alertmanager.yml would silently inhibit nothing."""
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    severities = {r["labels"]["severity"] for group in rules["groups"] for r in group["rules"]}
    config = yaml.safe_load(CONFIG.read_text())
    routed = {m for route in config["route"]["routes"] for m in route["matchers"]}
    assert {f'severity="{s}"' for s in severities} - routed == {'severity="warning"'}  # the default
    named = " ".join(
        m
        for rule in config["inhibit_rules"]
        for m in rule["source_matchers"] + rule["target_matchers"]
    )
    import re

    assert set(re.findall(r"MusicGenre[A-Za-z]+", named)) <= alerts


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_the_dashboard_reads_only_what_the_code_writes_and_the_rules_name(tmp_path):
    """Grafana is not installed here: the dashboard's JSON is checked as Grafana reads it (panels,
    their data source the dashboard's Prometheus variable, unique ids and places), every metric it
    queries is one the textfiles or the served model expose, every alert it lists is a rule's; its
    queries run on a real Prometheus in the end-to-end test below."""
    import re

    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    assert len({p["id"] for p in panels}) == len(panels)
    places = {(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels}
    assert len(places) == len(panels)
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}" and panel["targets"], panel["title"]
    exposed = {name for path in write_all(tmp_path).values() for name, _ in samples(path)}
    exposed |= {name for name, _ in samples(served_exposition())}
    used = {n for q in dashboard_queries() for n in re.findall(r"\bmusic_genre_[a-z_]+", q)}
    assert used and used <= exposed, used - exposed
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    assert any("ALERTS" in q and "MusicGenre" in q for q in dashboard_queries()) and alerts


class Webhook:
    """A receiver on 127.0.0.1: every notification Alertmanager posts, with the path it was posted to and
    when it arrived."""

    def __init__(self):
        self.received: queue.Queue = queue.Queue()
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.put((self.path, time.time(), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout_s: float) -> tuple[str, float, dict]:
        return self.received.get(timeout=timeout_s)

    def close(self) -> None:
        self.server.shutdown()


def _test_config(destination: Path, webhook: str) -> Path:
    """The shipped configuration with its receivers posting to the test's webhook (each on its own path)
    and a group_wait of one second instead of 30 (Prometheus here evaluates every second)."""
    config = yaml.safe_load(CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver["webhook_configs"]:
            hook["url"] = webhook + "/" + receiver["name"]
    config["route"]["group_wait"] = "1s"
    destination.write_text(json.dumps(config))  # JSON is YAML
    return destination


@contextlib.contextmanager
def alertmanager(tmp_path: Path, webhook: str):
    port = free_port()
    config = _test_config(tmp_path / "alertmanager.yml", webhook)
    with process([ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]) as started:  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_until_up(started, f"{url}/-/ready", "alertmanager")
        yield url


def _post_alerts(url: str, alerts: list[dict]) -> None:
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=json.dumps(alerts).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200


@pytest.mark.slow
@needs_alertmanager
def test_a_stale_daily_job_inhibits_its_failure_alert_on_a_real_alertmanager(tmp_path):
    """Alerts posted to a real Alertmanager as Prometheus posts them: for the dataset whose daily job is
    stale, only the stale alert reaches on-call; another dataset's failed day still reaches the team."""
    webhook = Webhook()
    try:
        with alertmanager(tmp_path, webhook.url) as url:
            _post_alerts(url, [
                {"labels": {"alertname": "MusicGenreDailyStale", "severity": "critical", "dataset": "a"}},
                {"labels": {"alertname": "MusicGenreDailyFailed", "severity": "warning", "dataset": "a"}},
                {"labels": {"alertname": "MusicGenreDailyFailed", "severity": "warning", "dataset": "b"}},
            ])  # fmt: skip
            got = [webhook.next(120) for _ in range(2)]
            with pytest.raises(queue.Empty):  # the inhibited one never comes
                webhook.next(5)
    finally:
        webhook.close()
    delivered = {
        (path, alert["labels"]["alertname"], alert["labels"]["dataset"])
        for path, _, body in got
        for alert in body["alerts"]
    }
    assert delivered == {
        ("/music-genre-on-call", "MusicGenreDailyStale", "a"),
        ("/music-genre-team", "MusicGenreDailyFailed", "b"),
    }


@pytest.mark.slow
@pytest.mark.timeout(1200)
@needs_alertmanager
@pytest.mark.skipif(
    None in (PROMETHEUS, NODE_EXPORTER),
    reason="needs prometheus and prometheus-node-exporter (Debian packages)",
)
def test_a_drifted_batch_reaches_the_webhook(trained_project, tmp_path):
    # a copy of the trained project: its own batches, decisions and textfiles
    project = KedroProject(shutil.copytree(trained_project.path, tmp_path / "project"))
    folder = tmp_path / "drifted"
    folder.mkdir()
    manifest = project.load("manifest")
    for i, path in enumerate(manifest.loc[manifest["split"] == "training", "path"].head(24)):
        _degrade(Path(path), folder / f"clip{i:02d}.wav")
    params = {**trained_project.params, "inference.input_dir": str(folder)}
    project.run(["inference"], params={**params, "inference.batch": "drifted"})
    project.run(["monitoring"], params={**params, "monitoring.batch": "drifted"})
    decision = project.load("monitoring_decision")
    assert decision["drift"] is True, decision["reasons"]
    textfile = project.path / "data" / "09_metrics" / "music_genre_sample_monitoring.prom"
    assert value(samples(textfile), "music_genre_monitoring_drift", dataset="sample") == 1
    written = textfile.stat().st_mtime

    webhook = Webhook()
    ports = {job: free_port() for job in ("node", "prometheus")}
    try:
        with contextlib.ExitStack() as stack:
            am_url = stack.enter_context(alertmanager(tmp_path, webhook.url))
            config = tmp_path / "prometheus.yml"
            config.write_text(json.dumps({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "alerting": {"alertmanagers": [{"static_configs": [
                    {"targets": [am_url.removeprefix("http://")]}]}]},
                "scrape_configs": [{"job_name": "node", "static_configs": [
                    {"targets": [f"127.0.0.1:{ports['node']}"]}]}],
            }))  # fmt: skip
            node = stack.enter_context(process([
                NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
                f"--collector.textfile.directory={textfile.parent}",
                f"--web.listen-address=127.0.0.1:{ports['node']}"]))  # fmt: skip
            started = time.time()
            scraper = stack.enter_context(process([
                PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}"], cwd=tmp_path))  # fmt: skip
            wait_until_up(node, f"http://127.0.0.1:{ports['node']}/metrics", "node exporter")
            prometheus = f"http://127.0.0.1:{ports['prometheus']}"
            wait_until_up(scraper, f"{prometheus}/-/ready", "prometheus")
            path, arrived, body = webhook.next(180)
            firing = settled(prometheus, 'ALERTS{alertstate="firing"}', bool)
            # every panel of the Grafana dashboard is a query this Prometheus accepts (query()
            # asserts its status); the drift panel shows this batch's share
            answers = {expr: query(prometheus, expr) for expr in dashboard_queries()}
    finally:
        webhook.close()
    alerts = [a for a in body["alerts"] if a["labels"]["alertname"] == "MusicGenreDriftDetected"]
    assert path == "/music-genre-team" and body["status"] == "firing" and len(alerts) == 1
    assert (
        alerts[0]["labels"]["dataset"] == "sample" and alerts[0]["labels"]["severity"] == "warning"
    )
    assert "MusicGenreDriftDetected" in {s["metric"]["alertname"] for s in firing}
    drift_share = value(samples(textfile), "music_genre_monitoring_drift_share", dataset="sample")
    shown = answers["music_genre_monitoring_drift_share"]
    assert [float(s["value"][1]) for s in shown] == [pytest.approx(drift_share)]
    # the figure docs/benchmarks.md records: from Prometheus' start (the textfile was already there) to
    # the webhook, with scrapes and evaluations every second and a group_wait of one second
    print(f"drift alert: textfile written {started - written:.1f} s before Prometheus started; "
          f"webhook {arrived - started:.1f} s after Prometheus started")  # fmt: skip
