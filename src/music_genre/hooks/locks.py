"""One run of the batch loop at a time per dataset."""

from __future__ import annotations

from pathlib import Path

from kedro.framework.hooks import hook_impl

# What a run of inference, monitoring or retraining writes or reads as it was a moment ago: the batch
# predictions, the features batches were judged on, the labels that arrived, the monitoring history
# (and the batch checkpoints, the monitoring pages, decision.json, model_registration.json beside them).
BATCH_LOOP_DATASETS = frozenset(
    {
        "predictions",
        "batch_features",
        "batch_labels",
        "monitoring_history",
        "retraining_input_table",
    }
)


class BatchLoopLockHook:
    """One run at a time of the batch loop (``inference``, ``monitoring``, ``retraining``) on a dataset:
    the first takes the dataset's batch loop lock (:func:`music_genre.common.locks.batch_loop_lock`) before
    its first node, and a second is refused at once with one ``error:`` line naming the first (its pid,
    when it started, its command). ``music-genre daily`` holds the lock for its whole day; its pipelines
    run in its own process and take it again. Runs first (tryfirst), so a refused run opens no MLflow
    run. Training runs (``kedro run``) do not take it: they may run beside the loop and beside each
    other, and meet only at promotion, which has its own lock."""

    def __init__(self) -> None:
        self._lock = None
        self._project: Path | None = None
        self._dataset: str | None = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project = Path(context.project_path)
        try:
            self._dataset = str(context.params["dataset"]["name"])
        except Exception:  # no dataset parameters: nothing to lock
            self._dataset = None

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if self._dataset is None or not (BATCH_LOOP_DATASETS & pipeline.all_outputs()):
            return
        from music_genre.common.locks import batch_loop_lock

        lock = batch_loop_lock(self._project or Path.cwd(), self._dataset)
        lock.acquire(wait=False)  # LockBusyError: the one line, exit 1
        self._lock = lock

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
