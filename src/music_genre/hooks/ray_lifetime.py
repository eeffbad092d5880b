"""Ray's lifetime around the pipelines that use it."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from music_genre.common.ray_runtime import RAY_TAG


class RayHook:
    """Starts Ray (local, or the cluster in ``conf/<env>/ray.yml``) just before the first node tagged
    ``ray`` runs and stops it when the run ends, so ``kedro run --pipelines=data_ingestion``, ``kedro viz``
    or a run that fails in ingestion never pay for a Ray start, and Ray is not idling while the built-in
    sample is synthesized."""

    def __init__(self) -> None:
        self._config: dict = {}
        self._started_here = False

    @hook_impl
    def after_context_created(self, context) -> None:
        try:
            self._config = dict(context.config_loader["ray"] or {})
        except Exception:  # no ray.yml in this project copy: a local Ray with defaults
            self._config = {}

    @hook_impl
    def before_node_run(self, node) -> None:
        if RAY_TAG not in node.tags or self._started_here:
            return
        from music_genre.common.ray_runtime import start_ray

        self._started_here = start_ray(self._config)

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        self._stop()

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._started_here:
            from music_genre.common.ray_runtime import stop_ray

            stop_ray()
            self._started_here = False
