"""The Kedro dataset of the model an environment serves (the catalog's ``inference_model``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class ServingModelDataset(AbstractDataset):
    """The model that serves: the champion of the task this environment serves (``serving.task``), from
    the local copy written whenever its alias moves, or, before any model of that task is registered
    (tracking off, or no model good enough yet), the newest trained model of that task. Read-only:
    training writes ``genre_classifier``, promotion writes the champion copy."""

    def __init__(
        self, champion: dict, newest: dict, task: str | None = None, metadata: dict | None = None
    ):
        # nested {filepath: ...} so that Kedro anchors both paths at the project root
        self._champion = Path(champion["filepath"])
        self._newest = Path(newest["filepath"])
        self._task = task
        self.metadata = metadata

    def load(self) -> Any:
        from music_genre.modeling import store as model_store
        from music_genre.modeling.tasks import get_task

        task = get_task(self._task, setting="serving.task")
        if self._champion.is_file():
            loaded = model_store.load_from_file(self._champion)
            role = "champion"
        else:
            try:
                loaded = model_store.load_newest_of_task(self._newest, task.name)
            except model_store.ModelNotFoundError as err:
                raise model_store.ModelNotFoundError(
                    f"no trained {task.name} model for this environment: train one with "
                    f"`kedro run{' ' + task.run_params if task.run_params else ''}` first "
                    f"({self._newest} holds none)"
                ) from err
            role = "newest"
        loaded.classifier.info["serving_role"] = role
        return loaded.classifier

    def save(self, data: Any) -> None:
        raise DatasetError("inference_model is read-only: promotion writes the champion's copy")

    def _exists(self) -> bool:
        return self._champion.is_file() or self._newest.exists()

    def _describe(self) -> dict[str, Any]:
        return {
            "task": self._task,
            "champion_filepath": str(self._champion),
            "newest_filepath": str(self._newest),
        }
