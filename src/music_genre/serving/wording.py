"""What the command line and the page say about a prediction: who answered, how sure it is, and whether
the answer can be trusted at all. One implementation for both, so `music-genre predict` and the page never
word the same answer two ways.

Plain functions of plain values (a prediction row, a model's facts, two numbers from
``conf/base/parameters_inference.yml``): they print nothing and load nothing, so they are tested directly
with rows built by hand as well as through the real CLI and page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The dataset name of the built-in, synthesized sample (conf/base/globals.yml's dataset_name, the same
# test as the run summary's "Note"): a model trained on it has never heard real music.
SAMPLE_DATASET = "sample"
SILENT = "silent"  # the error reason of a file with no sound in it (serving.inference)
REGISTERED_PREFIX = "music-genre-"  # registered models are music-genre-<dataset><task suffix>

# When a single-label answer is worded "uncertain: A or B" (inference.uncertain_below / uncertain_margin;
# conf/base/parameters_inference.yml says why these values).
DEFAULT_UNCERTAINTY = {"uncertain_below": 0.5, "uncertain_margin": 0.10}

UNFAMILIAR_TEXT = "unlike the music this model was trained on: treat this genre as a guess"
SILENT_TEXT = "silent (no sound to judge)"
NO_FAMILIARITY_TEXT = (
    "this model has no familiarity check (trained before models kept a summary of their training "
    "music): no answer is marked unfamiliar; retrain it to get one"
)


@dataclass(frozen=True)
class ModelFacts:
    """What a person needs to know about the model answering, read once from the loaded model."""

    task: str  # single_label | multi_label
    version: str  # the model's own id (what batch predictions record)
    dataset: str | None  # the collection it was trained on, when known
    registry_name: str | None = None  # music-genre-<dataset>[-tags] when registered
    registry_version: str | None = None
    role: str | None = None  # champion | fallback | newest (how the environment chose it)
    familiarity: bool = True  # whether it can tell music unlike its training music

    @property
    def is_sample(self) -> bool:
        return self.dataset == SAMPLE_DATASET


def has_familiarity(classifier) -> bool:
    """Whether the model carries statistics of its training music, so an unfamiliar song can be told
    apart. Asks :mod:`music_genre.modeling.familiarity` where it exists; a model saved without them (or a
    package without the module) has none."""
    try:
        from music_genre.modeling.familiarity import (  # noqa: PLC0415
            has_familiarity as check,
        )
    except ImportError:
        info = getattr(classifier, "info", None) or {}
        return "familiarity" in info
    return bool(check(classifier))


def dataset_of(classifier, source: str = "", environment_dataset: str | None = None) -> str | None:
    """The dataset a model was trained on. A model does not store it by name, so, in order: its
    ``info["dataset"]`` if a later version stores it, its registered name (``music-genre-<dataset>``),
    the registry URI or the models folder it was loaded from (``data/06_models/<dataset>/``), and last
    the environment's dataset (only right when the model came from that environment's catalog)."""
    from music_genre.modeling.tasks import task_of  # noqa: PLC0415

    info = getattr(classifier, "info", None) or {}
    if info.get("dataset"):
        return str(info["dataset"])
    suffix = task_of(classifier).model_suffix
    names = [(info.get("registry") or {}).get("name")]
    uri = re.match(r"models:/([^/@]+)", source or "")
    names.append(uri.group(1) if uri else None)
    for name in filter(None, names):
        if name.startswith(REGISTERED_PREFIX):
            stem = name[len(REGISTERED_PREFIX) :]
            return stem[: -len(suffix)] if suffix and stem.endswith(suffix) else stem
    folder = re.search(r"06_models[/\\]([^/\\]+)[/\\]", source or "")
    if folder and folder.group(1) != "pretrained":
        return folder.group(1)
    return environment_dataset


def model_facts(classifier, source: str = "", environment_dataset: str | None = None) -> ModelFacts:
    """The :class:`ModelFacts` of a loaded model (``source``: where it was loaded from, as
    ``modeling.store.LoadedModel.source``; ``environment_dataset``: the environment's dataset_name when
    the model came from its catalog, else None)."""
    info = getattr(classifier, "info", None) or {}
    registry = info.get("registry") or {}
    version = registry.get("version")
    return ModelFacts(
        task=str(getattr(classifier, "task", None) or "single_label"),
        version=str(getattr(classifier, "version", "") or "unknown"),
        dataset=dataset_of(classifier, source, environment_dataset),
        registry_name=registry.get("name"),
        registry_version=None if version is None else str(version),
        role=info.get("serving_role"),
        familiarity=has_familiarity(classifier),
    )


def header_text(facts: ModelFacts) -> str:
    """One line naming the model answering: registered name and version (or not registered, with its
    own id), how it was chosen, the dataset it learned from, its task."""
    if facts.registry_name:
        who = f"{facts.registry_name} version {facts.registry_version}"
    else:
        who = f"model {facts.version} (not registered)"
    role = f" ({facts.role})" if facts.role and facts.registry_name else ""
    dataset = facts.dataset or "unknown"
    return f"model: {who}{role}, dataset {dataset}, task {facts.task}"


def sample_warning(facts: ModelFacts) -> str | None:
    """A warning when the model learned from the synthesized sample: its answers on real songs are a
    demonstration of the pipeline, not an opinion, and nothing else on screen says so."""
    if not facts.is_sample:
        return None
    return (
        "warning: this model was trained on the built-in sample of synthesized clips, not on real "
        "music: its genres for real songs mean nothing (README: On real music)"
    )


def familiarity_note(facts: ModelFacts) -> str | None:
    """Said once when the model cannot tell music unlike its training music: then no answer is marked
    unfamiliar, which must not read as every song being familiar."""
    return None if facts.familiarity else f"note: {NO_FAMILIARITY_TEXT}"


def uncertainty_settings(parameters: Mapping | None) -> dict:
    """``uncertain_below`` and ``uncertain_margin`` from the ``inference`` parameters, defaults for
    what is missing; each must lie in [0, 1]."""
    given = {k: v for k, v in dict(parameters or {}).items() if k in DEFAULT_UNCERTAINTY}
    settings = {**DEFAULT_UNCERTAINTY, **{k: float(v) for k, v in given.items() if v is not None}}
    for key, value in settings.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"inference.{key} must be between 0 and 1, not {value}")
    return settings


def is_uncertain(ranked: Sequence[tuple[str, float]], settings: Mapping | None = None) -> bool:
    """Whether a most-probable-first ranking is too weak to read as a verdict: the top probability under
    ``uncertain_below``, or within ``uncertain_margin`` of the second."""
    if not ranked:
        return False
    settings = uncertainty_settings(settings)
    top = ranked[0][1]
    if top < settings["uncertain_below"]:
        return True
    # rounded: 0.6 - 0.5 is 0.0999... in floating point, and exactly the margin apart is not "within"
    return len(ranked) > 1 and round(top - ranked[1][1], 9) < settings["uncertain_margin"]


def answer_text(
    ranked: Sequence[tuple[str, float]],
    tags: Sequence[tuple[str, float]] = (),
    settings: Mapping | None = None,
    decimals: int = 0,
) -> str:
    """The answer in words: ``Rock 71%``; ``uncertain: Pop or Electronic (38%, 31%)`` when the ranking
    is weak (:func:`is_uncertain`); ``tags: Rock 64%, Folk 52%`` for a multi-label model, whose tags
    already passed each genre's own threshold. ``ranked``: (genre, probability), most probable first."""
    if tags:
        return "tags: " + ", ".join(f"{g} {_percent(p, decimals)}" for g, p in tags)
    if not ranked:
        return "no answer"
    genre, probability = ranked[0]
    if not is_uncertain(ranked, settings):
        return f"{genre} {_percent(probability, decimals)}"
    pair = list(ranked[:2])
    names = " or ".join(g for g, _ in pair)
    numbers = ", ".join(_percent(p, decimals) for _, p in pair)
    return f"uncertain: {names} ({numbers})"


def verdict_text(row: Mapping) -> str | None:
    """A sentence that overrides the genre: the file is silent (nothing to judge), or unlike the music
    the model was trained on (``unfamiliar``: the genre is a guess). None when the answer stands on its
    own. Rows without these columns (a model or a version without the check) have no verdict."""
    if row.get("error_reason") == SILENT:
        return SILENT_TEXT
    if is_unfamiliar(row):
        return UNFAMILIAR_TEXT
    return None


def is_silent(row: Mapping) -> bool:
    return row.get("error_reason") == SILENT


def is_unfamiliar(row: Mapping) -> bool:
    """Whether the row says its music is unlike the model's training music: only a real true value
    counts; a missing column, None, NaN or pd.NA (an error row, a model without the check) is no
    verdict."""
    value = row.get("unfamiliar")
    try:
        return bool(value) and bool(value == value)  # NaN != NaN
    except TypeError:  # pd.NA refuses bool()
        return False


def _percent(probability: float, decimals: int) -> str:
    return f"{100 * float(probability):.{decimals}f}%"
