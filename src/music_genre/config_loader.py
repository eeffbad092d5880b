"""The project's config loader: Kedro's OmegaConfigLoader, with ``mlflow.yml``'s SQLite store anchored.

kedro-mlflow makes a relative *file* store absolute against the project root, but passes ``sqlite:///mlflow.db``
through as it is, so SQLite resolves it against the current directory: a notebook in ``notebooks/`` or a
``kedro run`` from a subfolder would open a second, empty store, and MLflow's per-URI store cache would keep
several project copies in one process (the test suite) writing into the first one's database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader

SQLITE_PREFIX = "sqlite:///"


def anchor_sqlite_uri(uri: Any, project_root: Path) -> Any:
    """``sqlite:///mlflow.db`` -> ``sqlite:////abs/project/mlflow.db``; any other URI unchanged."""
    if not isinstance(uri, str) or not uri.startswith(SQLITE_PREFIX):
        return uri
    path = uri[len(SQLITE_PREFIX) :]
    if path.startswith("/") or path.startswith(":memory:") or not path:
        return uri
    return SQLITE_PREFIX + str((project_root / path).resolve())


class ProjectConfigLoader(OmegaConfigLoader):
    """Resolves relative SQLite MLflow stores in ``mlflow.yml`` against the project root."""

    def __getitem__(self, key: str) -> Any:
        config = super().__getitem__(key)
        conf_dir = Path(str(self.conf_source))
        if key != "mlflow" or not conf_dir.is_dir() or not isinstance(config, dict):
            return config
        server = config.get("server")
        if isinstance(server, dict):
            server = dict(server)
            for name in ("mlflow_tracking_uri", "mlflow_registry_uri"):
                server[name] = anchor_sqlite_uri(server.get(name), conf_dir.resolve().parent)
            config = {**config, "server": server}
        return config
