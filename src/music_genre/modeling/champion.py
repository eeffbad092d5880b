"""Registration and the champion: register a run's model, compare it again with the champion as it is
now, move the aliases and write the task's local champion copies, all under the dataset's promotion lock.

What a run registers is its own, as its nodes made it (:class:`RegistrationCandidate`: the model, the
tracks champion and challenger are compared on, the promotion settings), never re-read from the shared
files another run on the same dataset may have rewritten meanwhile. The champion copies are read and
written through the catalog by name (``champion_genre_classifier``, ``champion_info``,
``previous_champion``: the paths are the catalog's, of the run's ``modeling.task``); ``catalog`` here is
anything with ``load(name)`` and ``save(name, data)``, Kedro's ``DataCatalog`` in a run.

Called once per training run by :class:`music_genre.hooks.registration.ModelRegistrationHook`, after
kedro-mlflow has logged the served model (``music_genre_pipeline``, logged in kedro-mlflow's own
``after_pipeline_run``, after every node): that model is what the registry gets, so registration cannot
be a node. The hook only hands over the run's named outputs; every decision is here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from music_genre.common.run_logging import DETAIL
from music_genre.modeling.artifact import GenreClassifier

log = logging.getLogger(__name__)

# The catalog's names of the run's task's champion copies (modeling.task: each task keeps its own).
CHAMPION_COPY = "champion_genre_classifier"
CHAMPION_INFO = "champion_info"
PREVIOUS_CHAMPION_COPY = "previous_champion"
NEWEST_MODEL = "genre_classifier"


class Catalog(Protocol):
    """What this module needs of a catalog: datasets loaded and saved by name."""

    def load(self, name: str) -> Any: ...

    def save(self, name: str, data: Any) -> None: ...


@dataclass
class RegistrationCandidate:
    """A run's model as its nodes made it, and the tracks it was compared with the champion on (only
    the compared splits: a comparison again needs no more, and memory stays small)."""

    classifier: GenreClassifier
    tracks: pd.DataFrame | None
    promotion: dict = field(default_factory=dict)


def registration_candidate(
    classifier: GenreClassifier, table: pd.DataFrame, promotion: Mapping | None
) -> RegistrationCandidate:
    """The candidate of ``classifier``, keeping the rows of ``table`` in ``promotion.splits``."""
    settings = dict(promotion or {})
    splits = settings.get("splits", ["test", "recent"])
    splits = [splits] if isinstance(splits, str) else list(splits)
    return RegistrationCandidate(
        classifier=classifier,
        tracks=table[table["split"].isin(splits)].copy(),
        promotion=settings,
    )


def register_run(
    catalog: Catalog,
    request: Mapping,
    candidate: RegistrationCandidate | None,
    *,
    project: Path,
    dataset: str,
) -> dict:
    """What a training run's end does with its ``model_registration`` request: nothing when the request
    says not to register (returned as it is), else :func:`register_and_publish` of the run's candidate
    (without one, the newest trained model, and no tracks to compare again)."""
    if not request.get("register"):
        log.info("Model not registered: %s", request.get("reason"))
        return dict(request)
    if candidate is None:
        candidate = RegistrationCandidate(catalog.load(NEWEST_MODEL), None, {})
    return register_and_publish(
        catalog,
        dict(request),
        candidate.classifier,
        candidate.tracks,
        candidate.promotion,
        project=project,
        dataset=dataset,
    )


def register_and_publish(
    catalog: Catalog,
    request: dict,
    classifier: GenreClassifier,
    table: pd.DataFrame | None,
    promotion: Mapping | None,
    *,
    project: Path,
    dataset: str,
) -> dict:
    """Register ``request``'s model and move the aliases, under the dataset's promotion lock
    (``data/06_models/<dataset>/.promotion.lock``, :mod:`music_genre.common.locks`): inside it the
    champion is read as the registry has it now, and when it is another version than the one this run's
    decision compared with, ``classifier`` is compared again with the current champion on ``table`` (the
    same tracks); the alias moves on that decision and the champion's local copy is written before the
    lock is released, so the copy always matches the alias. A run that finds the lock taken waits, and
    says so in one line."""
    from music_genre.common.locks import describe, promotion_lock
    from music_genre.modeling.registry import register_model

    name = request["model_name"]

    def waiting(holder) -> None:  # a warning: shown inside `music-genre daily` too
        log.warning(
            "Waiting for another run's promotion of %s to finish (%s)", name, describe(holder)
        )

    def recheck(current: str | None) -> dict:
        from music_genre.modeling.promotion import compare

        if table is None:  # a run that did not compare (no decide_promotion node): nothing to redo
            return {
                **(request.get("promotion") or {}),
                "promote": False,
                "reason": "the champion changed since this run compared with it, and this run kept "
                "no tracks to compare again: not promoted",
            }
        champion, info = current_champion(catalog, name, current, project)
        decision = compare(classifier, champion, info, table, promotion or {})
        log.info("Champion/challenger (against the current champion): %s", decision["reason"])
        return decision

    with promotion_lock(project, dataset).hold(wait=True, on_wait=waiting):
        result = register_model(request, recheck=recheck)
        if result["alias"] == "champion" and is_new_champion(catalog.load(CHAMPION_INFO), result):
            publish_champion(catalog, result, classifier)
    return result


def current_champion(catalog: Catalog, name: str, version: str | None, project: Path):
    """The champion ``version`` of ``name`` and its info: the local copy when it is that version (it is,
    whenever the alias moved through this project), else the classifier inside the registered model."""
    if version is None:
        return None, None
    info = catalog.load(CHAMPION_INFO) or {}
    local = catalog.load(CHAMPION_COPY)
    if local is not None and (info.get("name"), str(info.get("version"))) == (name, str(version)):
        return local, info
    from music_genre.modeling import store

    loaded = store.load_from_registry(f"models:/{name}/{version}", project).classifier
    loaded.info["registry"] = {"name": name, "version": int(version)}
    return loaded, {}


def is_new_champion(champion_info: Mapping | None, registration: Mapping) -> bool:
    """Whether the local champion copy (of the run's task: each task keeps its own) is another model
    than this registration's champion: another version, or another registered model."""
    info = champion_info or {}
    return (info.get("name"), str(info.get("version"))) != (
        registration["model_name"],
        str(registration["registered_version"]),
    )


def publish_champion(
    catalog: Catalog, registration: Mapping, classifier: GenreClassifier | None = None
) -> None:
    """Write the local copies of the run's task (``modeling.task``) that the CLI, the batch job and
    serving load where that task is served: the new champion (``classifier``, this run's model; by
    default the newest saved one), and the one it replaced as the fallback model. Another task's copies,
    and so what an environment serves, are never touched."""
    from music_genre.modeling.tasks import task_of

    previous = catalog.load(CHAMPION_COPY)
    if classifier is None:
        classifier = catalog.load(NEWEST_MODEL)
    # (a copy of another task's model is left from before each task kept its own: no fallback)
    if previous is not None and task_of(previous) is task_of(classifier):
        catalog.save(PREVIOUS_CHAMPION_COPY, previous)
    classifier.info["registry"] = {
        "name": registration["model_name"],
        "version": registration["registered_version"],
    }
    promotion = registration.get("promotion") or {}
    catalog.save(CHAMPION_COPY, classifier)
    catalog.save(
        CHAMPION_INFO,
        {
            "name": registration["model_name"],
            "version": registration["registered_version"],
            "model_version": classifier.version,
            "run_id": registration["run_id"],
            "metric": promotion.get("metric"),
            "score": (promotion.get("challenger") or {}).get("score"),
            "replaced": registration.get("replaced_champion"),
            "reason": promotion.get("reason"),
            # what the registration gate measured (the first champion was compared with no model)
            "registered_on": registration.get("reason"),
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    log.info(
        "Champion: %s version %s (local copy for the CLI and the batch job)",
        registration["model_name"],
        registration["registered_version"],
        extra=DETAIL,
    )
