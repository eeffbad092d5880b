"""The evaluation report's sections that differ by task, one module per task named as the task
(``modeling.task``): ``single_label.py``, ``multi_label.py``, each defining ``SECTIONS``, a
:class:`~music_genre.evaluation.tasks.base.ReportSections`.

Adding a task: its modelling module and its line in :data:`music_genre.modeling.tasks.TASKS`, then one
module here (and one in :mod:`music_genre.serving.tasks` for its wording), found by the task's name.
"""

from __future__ import annotations

import importlib

from music_genre.common.errors import ExpectedError
from music_genre.evaluation.tasks.base import ReportSections
from music_genre.modeling.tasks import Task


def sections_of(task: Task) -> ReportSections:
    """The report sections of ``task`` (its module ``music_genre.evaluation.tasks.<task name>``)."""
    try:
        module = importlib.import_module(f"{__name__}.{task.name}")
    except ModuleNotFoundError as err:
        raise ExpectedError(
            f"task {task.name} has no evaluation report: add music_genre/evaluation/tasks/"
            f"{task.name}.py defining SECTIONS"
        ) from err
    return module.SECTIONS


__all__ = ["ReportSections", "sections_of"]
