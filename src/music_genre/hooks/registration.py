"""A training run's end: its model registered, through :mod:`music_genre.modeling.champion`.

Why a hook and not a node: the registry gets the served model (``music_genre_pipeline``, paths in), which
kedro-mlflow logs in its own ``after_pipeline_run``, after every node has run. This hook runs after it
(trylast) and only wires: it keeps two of the run's outputs by name as the nodes made them
(``model_registration``, the request; ``registration_candidate``, the model and its compared tracks: the
shared files may be rewritten by another run meanwhile), hands them to
:func:`~music_genre.modeling.champion.register_run` with the catalog, and saves what it returns as
``model_registration``.
"""

from __future__ import annotations

from pathlib import Path

from kedro.framework.hooks import hook_impl

REQUEST = "model_registration"
CANDIDATE = "registration_candidate"


class ModelRegistrationHook:
    """Registers the run's model when its ``model_registration`` request asks for it (the logic, the
    promotion lock and the champion's copies: :mod:`music_genre.modeling.champion`)."""

    def __init__(self) -> None:
        self._project: Path | None = None
        self._dataset: str | None = None
        self._run: dict = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = Path(context.project_path)
        try:
            self._dataset = str(context.params["dataset"]["name"])
        except Exception:  # a project copy without the dataset parameters: no lock path to name
            self._dataset = None
        self._run = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run = {}

    @hook_impl
    def after_node_run(self, outputs) -> None:
        for name in (REQUEST, CANDIDATE):
            if name in outputs:
                self._run[name] = outputs[name]

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        if REQUEST not in pipeline.all_outputs():
            return
        from music_genre.modeling.champion import register_run

        request = self._run.get(REQUEST) or catalog.load(REQUEST)
        result = register_run(
            catalog,
            request,
            self._run.get(CANDIDATE),
            project=self._project or Path.cwd(),
            dataset=self._dataset or str(request.get("tags", {}).get("dataset") or "default"),
        )
        if request.get("register"):
            catalog.save(REQUEST, result)
