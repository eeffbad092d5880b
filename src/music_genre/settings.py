"""Project settings: hooks, and how configuration is found and merged."""

from music_genre.config_loader import ProjectConfigLoader
from music_genre.hooks import MlflowSessionIsolationHook, ModelRegistrationHook, RayHook

# Ray is started before a pipeline that needs it and stopped after (conf/<env>/ray.yml).
# kedro-mlflow registers its own hook through its plugin entry point.
HOOKS = (RayHook(), MlflowSessionIsolationHook(), ModelRegistrationHook())

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
