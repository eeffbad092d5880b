"""What a modelling task is: one small interface that every modelling step asks, instead of testing a
task's name.

A task (``modeling.task`` for what a run trains, ``serving.task`` for what an environment serves) says
which manifest columns its model learns from, trains and scores that model (its metrics and the baseline
it must beat), decides whether the model is good enough to register and on which metric it is promoted,
names its registered model and local champion copies, and what columns its predictions carry. The two
tasks, :mod:`~music_genre.modeling.tasks.single_label` and :mod:`~music_genre.modeling.tasks.multi_label`,
implement it; :mod:`music_genre.modeling.tasks` holds the registry.

Each layer above keeps what it shows of a task, one module per task named as the task: the evaluation
report's sections in :mod:`music_genre.evaluation.tasks`, the wording of the page, the command line and
the run summary in :mod:`music_genre.serving.tasks`. Adding a task: one module per layer and one line in
the registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import pandas as pd

# A prediction table's columns, in order: these, then a task's own output columns after ``confidence``,
# then one probability column per genre and the seconds the file took.
PREDICTION_HEAD = ("path", "track_id", "genre", "confidence")
# verdict: confident | leaning | uncertain | unfamiliar | tagged, and the runner-up genre
# (music_genre.serving.wording.judge). familiarity_distance: distance from the training tracks over the
# threshold (lower is more familiar, > 1: unfamiliar; NaN for a model trained before the check,
# music_genre.modeling.familiarity). Tables written before it was named so call it "familiarity".
FAMILIARITY_DISTANCE = "familiarity_distance"
PREDICTION_TAIL = (
    "windows",
    "duration",
    "verdict",
    "runner_up",
    FAMILIARITY_DISTANCE,
    "unfamiliar",
    "error_reason",
    "error",
)


class Task(ABC):
    """One modelling task. Stateless: the registry holds one instance of each."""

    name: str  # the value of modeling.task and serving.task
    # registered model music-genre-<dataset><suffix>; local copies champion<suffix>/, fallback<suffix>/
    model_suffix: str = ""
    run_params: str = ""  # what `kedro run` needs to train this task ("" for the default task)
    keeps_multi_genre_tracks: bool = False  # ingestion keeps FMA's tracks of several top genres
    label_columns: tuple[str, ...] = ()  # manifest columns the model input table keeps beyond genre
    output_extras: tuple[str, ...] = ()  # prediction columns of this task's own, after confidence
    chance_reason: str  # the registry's reason for a model no better than chance

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    # ---- data ------------------------------------------------------------------------------------------

    def check_collection(self, location: Mapping) -> None:  # noqa: B027 - optional: accepts all
        """Refuse, in one line, a collection this task cannot learn from (before anything is read)."""

    def check_model_comparison(self) -> None:  # noqa: B027 - optional: accepts
        """Refuse the model_comparison pipeline where it cannot compare this task's models."""

    def model_input(self, features: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
        """The model input table: features joined with the manifest's genre, split and label columns."""
        from music_genre.modeling.training import model_input_table

        return model_input_table(features, manifest, self.label_columns)

    def check_model_input(self, table: pd.DataFrame) -> None:
        """Refuse a model input table built for another task (the file is shared: the last run's)."""
        from music_genre.common.errors import ExpectedError
        from music_genre.modeling.training import ID_COLUMNS, NOT_FEATURES

        others = NOT_FEATURES - set(ID_COLUMNS) - set(self.label_columns)
        wrong = sorted(others & set(table.columns)) + [
            c for c in self.label_columns if c not in table.columns
        ]
        if wrong:
            raise ExpectedError(
                f"the model input table was built for another task than {self.name} (columns: "
                f"{', '.join(wrong)}): train this task first with "
                f"`kedro run{' ' + self.run_params if self.run_params else ''}`"
            )

    # ---- training --------------------------------------------------------------------------------------

    @abstractmethod
    def train(self, table: pd.DataFrame, modeling: Mapping, arguments: Mapping):
        """Fit this task's model on the table's training split. ``arguments``: what both tasks take from
        ``modeling`` (model_type, hyperparameters, seed, class_weight, feature settings and digest,
        selection), as :func:`music_genre.modeling.training.train_classifier` takes them."""

    def fingerprint_config(self, modeling: Mapping) -> dict:
        """This task's parameters that shape its model (part of the training fingerprint)."""
        return {}

    def trained_text(self, classifier) -> str:
        """What the "Trained ..." log line says after the model type (e.g. how many genre models)."""
        return ""

    # ---- metrics ---------------------------------------------------------------------------------------

    @abstractmethod
    def evaluate(self, classifier, table: pd.DataFrame) -> dict[str, dict]:
        """Every metric for every split present: ``{"test": {...}, ...}``, each with ``n_tracks``."""

    @abstractmethod
    def better_than_chance(self, table: pd.DataFrame, per_split: Mapping[str, Mapping]) -> dict:
        """``{"better_than_chance": bool, "splits": {split: {..., "better": bool}}}`` on validation and
        test: a model that is not is reported loudly and never registered."""

    def flat_metrics(
        self, classifier, per_split: Mapping[str, Mapping], table: pd.DataFrame
    ) -> dict[str, float]:
        """The metrics as one level for MLflow (``test.accuracy``, ``best_iteration``, ...)."""
        from music_genre.modeling.training import flat_metrics

        return flat_metrics(classifier, per_split)

    @abstractmethod
    def log_metrics(self, classifier, per_split: Mapping[str, Mapping], chance: Mapping) -> None:
        """The log lines of an evaluated model: its scores per split, a loud warning when it is no
        better than chance."""

    def report_extras(self, classifier) -> dict:
        """What ``model_metrics.json`` keeps of this task's model beyond the common keys."""
        return {}

    # ---- registry and promotion ------------------------------------------------------------------------

    @abstractmethod
    def registration_gate(self, metrics: Mapping[str, Mapping], registration: Mapping) -> dict:
        """Whether the metrics (per split) pass ``modeling.registration``'s gate for this task:
        ``{"passed", "metric" (split.name), "value", "threshold", "verdict" (one line)}``."""

    @abstractmethod
    def promotion_metric(self, promotion: Mapping) -> str:
        """The metric (a key of :meth:`evaluate`'s splits) a challenger must beat the champion on."""

    # ---- outputs ---------------------------------------------------------------------------------------

    def output_columns(self, classes: Sequence[str]) -> list[str]:
        """A prediction table's columns, in order (the CLI, the batch job, the served model)."""
        return [
            *PREDICTION_HEAD,
            *self.output_extras,
            *PREDICTION_TAIL,
            *(f"proba_{genre}" for genre in classes),
            "seconds",
        ]

    def row_outputs(self, classifier, proba) -> dict:
        """This task's own columns of one file's prediction row (its ``output_extras``)."""
        return {}


def probabilities(predictions: pd.DataFrame, classes: Sequence[str]):
    """The ``proba_<genre>`` columns of a prediction table, as a matrix in ``classes`` order."""
    return predictions[[f"proba_{genre}" for genre in classes]].to_numpy()
