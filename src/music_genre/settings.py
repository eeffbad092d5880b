"""Project settings: hooks, and how configuration is found and merged."""

import os

# Libraries' own switches for a readable console (set before they are imported): MLflow's artifact
# progress bars and its INFO/WARNING notes (cloudpickle, input validation) stay off the console.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")

from music_genre.common import run_logging
from music_genre.config_loader import ProjectConfigLoader
from music_genre.hooks import (
    BatchLoopLockHook,
    EmptyExperimentHook,
    MlflowSessionIsolationHook,
    ModelRegistrationHook,
    NodeTimesHook,
    RayHook,
    RunSummaryHook,
    TestedStackHook,
)

# The console tells the run's story, info.log keeps the rest (conf/logging.yml, run_logging.py).
run_logging.install()

# Ray is started before a pipeline that needs it and stopped after (conf/<env>/ray.yml).
# kedro-mlflow registers its own hook through its plugin entry point.
# Registration and the summary both run last (trylast): pluggy calls the later registered of the two
# last, so the summary, last here, reports the registration.
HOOKS = (
    BatchLoopLockHook(),  # one batch loop run (inference, monitoring, retraining) at a time per dataset
    TestedStackHook(),
    RayHook(),
    MlflowSessionIsolationHook(),
    EmptyExperimentHook(),
    ModelRegistrationHook(),
    NodeTimesHook(),
    RunSummaryHook(),
)

# OmegaConfigLoader, with a relative `sqlite:///mlflow.db` in mlflow.yml anchored at the project root.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment overrides single keys (dataset.root), not whole blocks.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
    "config_patterns": {
        "ray": ["ray*", "ray*/**"],
        "globals": ["globals*", "globals*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],  # kedro-mlflow's file, also read by the CLI
    },
}
