"""The project's Kedro hooks: they only observe a run and wire it, one module per concern.

- :mod:`~music_genre.hooks.ray_lifetime`: Ray started before the first node tagged ``ray``, stopped after;
- :mod:`~music_genre.hooks.stack`: one warning on a Python or platform the lock file was not tested on;
- :mod:`~music_genre.hooks.mlflow_runs`: one MLflow run per session, no empty experiment left behind;
- :mod:`~music_genre.hooks.locks`: one run of the batch loop at a time per dataset;
- :mod:`~music_genre.hooks.registration`: hands a training run's named outputs to
  :func:`music_genre.modeling.champion.register_run` at the run's end (after kedro-mlflow has logged the
  served model, which is what the registry gets);
- :mod:`~music_genre.hooks.timing`: each node's wall time, for the benchmarks;
- :mod:`~music_genre.hooks.run_summary`: the run's first line and its summary block.

Hooks are registered, in order, in ``settings.py``. No decision is taken here: what a hook calls lives in
the layers below (tests/test_architecture.py checks that no hook calls the model registry).
"""
