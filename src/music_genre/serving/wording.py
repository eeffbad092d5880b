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

# How sure a single-label answer is (inference.verdict; conf/base/parameters_inference.yml and
# docs/predictions.md say why these values): judged against chance (1 / the number of genres) and the
# runner-up, so a model of ten genres whose top answer is 32% (3 x chance) and 17 points ahead of the
# second does not read like a coin toss.
DEFAULT_VERDICT = {
    "confident_at": 0.5,  # confident: the top genre at least this probable ...
    "margin": 0.10,  # ... and at least this far ahead of the runner-up (leaning too)
    "leaning_chance": 2.0,  # leaning: the top genre at least this many times chance, margin ahead
    "few_tracks_per_genre": 20,  # a model fitted on fewer tracks a genre: its answers are weak (said once)
}
CONFIDENT, LEANING, UNCERTAIN, UNFAMILIAR, TAGGED = (
    "confident",
    "leaning",
    "uncertain",
    "unfamiliar",
    "tagged",
)
VERDICTS = (CONFIDENT, LEANING, UNCERTAIN, UNFAMILIAR, TAGGED)

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
    tracks_per_genre: float | None = None  # tracks it was fitted on over its genres, when known

    @property
    def is_sample(self) -> bool:
        return self.dataset == SAMPLE_DATASET


def has_familiarity(classifier) -> bool:
    """Whether the model carries statistics of its training music, so an unfamiliar song can be told
    apart. Asks :mod:`music_genre.modeling.familiarity` where it exists; a model saved without them (or a
    package without the module) has none."""
    try:
        from music_genre.modeling.familiarity import (
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
    from music_genre.modeling.tasks import task_of

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
        tracks_per_genre=tracks_per_genre(classifier),
    )


def tracks_per_genre(classifier) -> float | None:
    """The tracks a model was fitted on over its genres (``info["n_training"]``: training.py counts the
    validation tracks too when the model was refit on them), None when the model does not say."""
    info = getattr(classifier, "info", None) or {}
    fitted = info.get("n_training")
    if fitted is None:
        return None
    classes = len(getattr(classifier, "classes", ()) or ()) or 1
    return float(fitted) / classes


def environment_text(env: str | None, dataset: str | None) -> str:
    """Which environment is served, said by ``music-genre app`` and ``serve`` at start and on the page:
    ``environment gtzan (dataset gtzan)``; ``local`` is Kedro's default (``--env`` not given)."""
    return f"environment {env or 'local'} (dataset {dataset or 'unknown'})"


def header_text(facts: ModelFacts) -> str:
    """One line naming the model answering: registered name and version (or its own id, when it was
    loaded from a file that does not carry its registration: the registry is not looked up), how it was
    chosen, the dataset it learned from, its task."""
    if facts.registry_name:
        who = f"{facts.registry_name} version {facts.registry_version}"
    else:  # a file (or the newest model of a catalog) does not say whether it was registered since
        how = "newest trained" if facts.role == "newest" else "loaded from a file"
        who = f"model {facts.version} ({how}: registry not looked up)"
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


def verdict_settings(parameters: Mapping | None) -> dict:
    """The ``inference.verdict`` block (``parameters``: the ``inference`` parameters, or the block
    itself), defaults for what is missing; probabilities in [0, 1], ``leaning_chance`` at least 1."""
    given = dict(parameters or {})
    given = dict(given.get("verdict") or {}) if "verdict" in given else given
    settings = dict(DEFAULT_VERDICT)
    for key in DEFAULT_VERDICT:
        if given.get(key) is not None:
            settings[key] = float(given[key])
    for key in ("confident_at", "margin"):
        if not 0.0 <= settings[key] <= 1.0:
            raise ValueError(
                f"inference.verdict.{key} must be between 0 and 1, not {settings[key]}"
            )
    if settings["leaning_chance"] < 1.0:
        raise ValueError(
            f"inference.verdict.leaning_chance must be at least 1, not {settings['leaning_chance']}"
        )
    if settings["few_tracks_per_genre"] < 0:
        raise ValueError("inference.verdict.few_tracks_per_genre must not be negative")
    return settings


@dataclass(frozen=True)
class Verdict:
    """How sure one answer is, with the numbers that say why: the one judgement of every output (the
    command line, its JSON, the page, the served model, the batch table)."""

    kind: str  # confident | leaning | uncertain | unfamiliar | tagged (a multi-label model's tags)
    genre: str | None
    probability: float
    runner_up: str | None
    runner_up_probability: float
    genres: int  # how many genres the model knows: chance is 1 / genres
    strength: str  # confident | leaning | uncertain: the ranking's own, before familiarity
    tags: tuple[tuple[str, float], ...] = ()

    @property
    def chance(self) -> float:
        return 1.0 / self.genres if self.genres else 0.0

    @property
    def times_chance(self) -> float:
        return self.probability / self.chance if self.chance else 0.0

    @property
    def lead(self) -> float:
        return self.probability - self.runner_up_probability

    def text(self, decimals: int = 0) -> str:
        """The answer in words (:func:`answer_text`)."""
        if self.tags:
            return "tags: " + ", ".join(f"{g} {_percent(p, decimals)}" for g, p in self.tags)
        if self.genre is None:
            return "no answer"
        top = _percent(self.probability, decimals)
        if self.strength == CONFIDENT:
            return f"{self.genre} {top}"
        if self.strength == LEANING:
            ahead = f", {_points(self.lead)} ahead of {self.runner_up}" if self.runner_up else ""
            return f"leaning {self.genre} ({top}, {_times(self.times_chance)} x chance{ahead})"
        if self.runner_up is None:
            return f"uncertain: {self.genre} ({top})"
        second = _percent(self.runner_up_probability, decimals)
        return f"uncertain: {self.genre} or {self.runner_up} ({top}, {second})"


def judge(
    ranked: Sequence[tuple[str, float]],
    genres: int,
    settings: Mapping | None = None,
    *,
    unfamiliar: bool = False,
    tags: Sequence[tuple[str, float]] = (),
) -> Verdict:
    """The verdict on one answer. ``ranked``: (genre, probability), most probable first (two are
    enough); ``genres``: how many the model knows; ``settings``: :func:`verdict_settings`'s.

    - ``confident``: the top genre at least ``confident_at`` probable and ``margin`` ahead of the
      runner-up;
    - ``leaning``: not that, but at least ``leaning_chance`` times chance (1 / genres) and ``margin``
      ahead: the model points somewhere, weakly (with ten genres: 32%, 17 points ahead);
    - ``uncertain``: anything else; the two first genres are named;
    - ``unfamiliar`` overrides all three when the music is unlike the training music (the ranking's own
      word stays in ``strength``); a multi-label model with tags over their thresholds is ``tagged``.

    Exactly on a threshold counts as reaching it (rounded to 1e-9: 0.6 - 0.5 is 0.0999... in floating
    point)."""
    settings = verdict_settings(settings)
    ranked = [(str(g), float(p)) for g, p in ranked]
    genre, probability = ranked[0] if ranked else (None, 0.0)
    runner_up, second = ranked[1] if len(ranked) > 1 else (None, 0.0)
    count = max(int(genres), len(ranked), 1)
    lead = round(probability - second, 9)
    ahead = lead >= settings["margin"]
    if ahead and round(probability, 9) >= settings["confident_at"]:
        strength = CONFIDENT
    elif ahead and round(probability * count, 9) >= settings["leaning_chance"]:
        strength = LEANING
    else:
        strength = UNCERTAIN
    kind = UNFAMILIAR if unfamiliar else (TAGGED if tags else strength)
    return Verdict(
        kind=kind,
        genre=genre,
        probability=probability,
        runner_up=runner_up,
        runner_up_probability=second,
        genres=count,
        strength=strength,
        tags=tuple((str(g), float(p)) for g, p in tags),
    )


def answer_text(
    ranked: Sequence[tuple[str, float]],
    tags: Sequence[tuple[str, float]] = (),
    settings: Mapping | None = None,
    decimals: int = 0,
    genres: int | None = None,
) -> str:
    """The answer in words: ``Rock 71%`` (confident); ``leaning Metal (32%, 3.2 x chance, 17 points
    ahead of Rock)``; ``uncertain: Pop or Electronic (38%, 31%)``; ``tags: Rock 64%, Folk 52%`` for a
    multi-label model, whose tags already passed each genre's own threshold. ``ranked``: (genre,
    probability), most probable first; ``genres``: how many the model knows (default: ``len(ranked)``).
    """
    return judge(ranked, genres or len(ranked), settings, tags=tags).text(decimals)


def row_verdict(row: Mapping, classes: Sequence[str], settings: Mapping | None = None, tags=()):
    """:func:`judge` on one prediction row (its ``proba_<genre>`` columns and ``unfamiliar``); None for
    a row without an answer (an error)."""
    if not isinstance(row.get("genre"), str):
        return None
    ranked = sorted(((g, float(row[f"proba_{g}"])) for g in classes), key=lambda item: -item[1])
    return judge(ranked[:2], len(classes), settings, unfamiliar=is_unfamiliar(row), tags=tags)


def weak_model_note(facts: ModelFacts, settings: Mapping | None = None) -> str | None:
    """Said once when the model was fitted on few tracks a genre (under ``few_tracks_per_genre``):
    then even its confident answers are weak, whatever the words say."""
    limit = verdict_settings(settings)["few_tracks_per_genre"]
    per_genre = facts.tracks_per_genre
    if per_genre is None or per_genre >= limit:
        return None
    return (
        f"note: this model learned from about {per_genre:.0f} tracks a genre (fewer than "
        f"{limit:.0f}): its answers will be weak; train it on more music (docs/predictions.md)"
    )


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


def _times(ratio: float) -> str:
    return f"{ratio:.0f}" if ratio >= 10 else f"{ratio:.1f}"


def _points(lead: float) -> str:
    points = round(100 * lead)
    return f"{points} point{'s' if points != 1 else ''}"
