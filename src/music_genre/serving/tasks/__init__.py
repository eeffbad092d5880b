"""What each task's outputs say, one module per task named as the task (``serving.task``,
``modeling.task``): ``single_label.py``, ``multi_label.py``, each defining ``WORDING``, a
:class:`~music_genre.serving.tasks.base.TaskWording` (the page's model card and headline, the command
line's JSON keys, the run summary's lines).

Adding a task: its modelling module and its line in :data:`music_genre.modeling.tasks.TASKS`, one module
in :mod:`music_genre.evaluation.tasks`, and one module here, found by the task's name.
"""

from __future__ import annotations

import importlib

from music_genre.common.errors import ExpectedError
from music_genre.modeling.tasks import Task, task_of
from music_genre.serving.tasks.base import TaskWording


def wording_of(task: Task) -> TaskWording:
    """The wording of ``task`` (its module ``music_genre.serving.tasks.<task name>``)."""
    try:
        module = importlib.import_module(f"{__name__}.{task.name}")
    except ModuleNotFoundError as err:
        raise ExpectedError(
            f"task {task.name} has no wording: add music_genre/serving/tasks/{task.name}.py "
            "defining WORDING"
        ) from err
    return module.WORDING


def wording_of_model(classifier) -> TaskWording:
    """The wording of the task ``classifier`` does."""
    return wording_of(task_of(classifier))


__all__ = ["TaskWording", "wording_of", "wording_of_model"]
