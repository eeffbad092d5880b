"""The served model's and the page's counters for Prometheus (the official ``prometheus_client``).

The same metrics, with the same names, in both places: ``music-genre serve`` answers them on ``/metrics``
beside ``/invocations``; the page (``music-genre app``) on its own small HTTP server (Streamlit owns the
page's), started once per process (:func:`start_page_exporter`). Every series is labelled with the model
answering: ``model_name`` (the registry name, ``music-genre-sample``; ``unregistered`` for a model that is
not) and ``model_version`` (its registry version; an unregistered model's own id).

    music_genre_requests_total{outcome}            requests (the page: uploads); outcome ok, client_error
                                                   (4xx: a request the server could not read) or server_error
    music_genre_files_scored_total                 inputs given a genre
    music_genre_file_failures_total{reason}        inputs answered with an error_reason instead (missing_file,
                                                   forbidden_path, too_large, unreadable, silent, ...)
    music_genre_request_duration_seconds           request latency (the page: one upload's scoring)
    music_genre_model_info{source,alias}           1: the model answering, and where it was loaded from

Heavy imports stay inside functions: importing this module costs nothing until a metric is made.
"""

from __future__ import annotations

import logging
import math
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

PREFIX = "music_genre"
UNREGISTERED = "unregistered"
# Scoring a 30 s clip takes about 0.3 s, a long song several seconds, a request of many files longer.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
OK, CLIENT_ERROR, SERVER_ERROR = "ok", "client_error", "server_error"


@dataclass(frozen=True)
class ModelLabels:
    """Who answers: the labels on every series, and where the model came from (``model_info``)."""

    name: str
    version: str
    source: str = ""
    alias: str = ""

    @classmethod
    def of_classifier(cls, classifier, source: str = "") -> ModelLabels:
        """A :class:`GenreClassifier` loaded by the CLI's model loading (the page's): its registry name and
        version when it has them, else ``unregistered`` and its own id."""
        registry = classifier.info.get("registry") or {}
        if registry.get("name") and registry.get("version") is not None:
            role = classifier.info.get("serving_role")
            return cls(
                str(registry["name"]),
                str(registry["version"]),
                source,
                role if role == "champion" else "",
            )
        return cls(UNREGISTERED, str(classifier.version), source)


def outcome_of(status: int) -> str:
    if status >= 500:
        return SERVER_ERROR
    return CLIENT_ERROR if status >= 400 else OK


class _Families:
    """The metric families of one registry, made once (a second ``Counter`` of the same name raises)."""

    def __init__(self, registry):
        from prometheus_client import Counter, Gauge, Histogram

        model = ["model_name", "model_version"]
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Scoring requests (the page: uploads), by outcome.",
            [*model, "outcome"],
            registry=registry,
        )
        self.scored = Counter(
            f"{PREFIX}_files_scored", "Inputs given a genre.", model, registry=registry
        )
        self.failures = Counter(
            f"{PREFIX}_file_failures",
            "Inputs answered with an error_reason instead of a genre, by reason.",
            [*model, "reason"],
            registry=registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Scoring request latency (the page: one upload).",
            model,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.info = Gauge(
            f"{PREFIX}_model_info",
            "The model answering (value 1), where it was loaded from and its alias.",
            [*model, "source", "alias"],
            registry=registry,
            # the page's child process writes it for music-genre app's endpoint (page_process): one
            # series per model, not one per process id
            multiprocess_mode="max",
        )


# Keyed by the registry itself, held weakly: a registry's id() is reused once it is collected, and families
# found by id would belong to a dead registry (a new one would then expose nothing).
_FAMILIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _families(registry) -> _Families:
    with _LOCK:
        if registry not in _FAMILIES:
            _FAMILIES[registry] = _Families(registry)
        return _FAMILIES[registry]


class ServingMetrics:
    """The counters of one model in one registry (the default registry when none is given)."""

    def __init__(self, model: ModelLabels, registry=None):
        if registry is None:
            from prometheus_client import REGISTRY as registry
        self.registry = registry
        self.model = model
        families = _families(registry)
        labels = {"model_name": model.name, "model_version": model.version}
        self._families, self._labels = families, labels
        families.requests.labels(**labels, outcome=OK)  # made now: the series exist at 0
        self._scored = families.scored.labels(**labels)
        self._latency = families.latency.labels(**labels)
        families.info.labels(**labels, source=model.source, alias=model.alias).set(1)

    def request(self, outcome: str, seconds: float) -> None:
        self._families.requests.labels(**self._labels, outcome=outcome).inc()
        self._latency.observe(seconds)

    def answered(self, error_reasons: Iterable) -> None:
        """One answer row per input: a row without an error reason was given a genre."""
        for reason in error_reasons:
            if isinstance(reason, str) and reason:
                self.failed(reason)
            elif reason is None or (isinstance(reason, float) and math.isnan(reason)):
                self._scored.inc()
            else:
                self.failed(str(reason))

    def failed(self, reason: str) -> None:
        self._families.failures.labels(**self._labels, reason=reason).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# ---- the page's exporter: once per process, whatever Streamlit reruns ------------------------------------
_EXPORTER: dict = {}


def listen(port: int, address: str, registry=None):
    """``prometheus_client``'s exporter of ``registry`` (None: the default one) on
    ``http://<address>:<port>/metrics``, as ``(server, thread)``; a port already in use is one warning
    and None: the page goes on without its metrics endpoint."""
    from prometheus_client import REGISTRY, start_http_server

    try:
        return start_http_server(int(port), addr=address, registry=registry or REGISTRY)
    except OSError as error:
        log.warning(
            "The page's metrics endpoint is off: cannot listen on %s:%s (%s); set "
            "prometheus.page_port or `music-genre app --metrics-port`",
            address,
            port,
            error.strerror or error,
        )
        return None


def start_page_exporter(port: int | None, address: str = "127.0.0.1") -> bool:
    """Serve the default registry on ``http://<address>:<port>/metrics`` from a daemon thread, once per
    process: Streamlit runs the page's script again on every interaction, and every call after the first
    returns what the first did (:func:`listen`). ``port`` None or 0: off."""
    if not port:
        return False
    with _LOCK:
        if "started" not in _EXPORTER:
            _EXPORTER["server"] = listen(port, address)
            _EXPORTER["started"] = _EXPORTER["server"] is not None
        return _EXPORTER["started"]
