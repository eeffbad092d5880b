"""The modelling tasks behind one interface (:class:`~music_genre.modeling.tasks.base.Task`), and their
registry. ``modeling.task`` picks what a run trains, ``serving.task`` what an environment serves; a
model names its own task (its ``task`` attribute). Adding a task: one module, one line in ``TASKS``.
"""

from __future__ import annotations

from music_genre.common.errors import ExpectedError
from music_genre.modeling.tasks.base import Task
from music_genre.modeling.tasks.multi_label.task import MultiLabelTask
from music_genre.modeling.tasks.single_label import SingleLabelTask

DEFAULT_TASK = (
    "single_label"  # what a model without a `task` attribute does, and the parameters' default
)

TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        SingleLabelTask(),
        MultiLabelTask(),
    )
}


def get_task(name: str | None = None, setting: str = "modeling.task") -> Task:
    """The task called ``name`` (None: the default); one clear line naming ``setting`` otherwise."""
    key = DEFAULT_TASK if name is None else str(name)
    if key not in TASKS:
        names = list(TASKS)
        choices = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise ExpectedError(f"{setting} {name!r}: choose {choices}")
    return TASKS[key]


def task_of(classifier) -> Task:
    """The task a trained model does (its ``task`` attribute; models from before tasks: the default)."""
    return get_task(getattr(classifier, "task", None) or DEFAULT_TASK)


def task_of_params(parameters: dict | None, section: str = "modeling") -> Task:
    """The task a parameter section names: ``modeling.task`` (what a run trains) or ``serving.task``
    (what an environment serves)."""
    return get_task((parameters or {}).get("task"), setting=f"{section}.task")


__all__ = ["DEFAULT_TASK", "TASKS", "Task", "get_task", "task_of", "task_of_params"]
