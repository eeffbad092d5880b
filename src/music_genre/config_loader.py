"""The project's config loader: Kedro's OmegaConfigLoader, with ``mlflow.yml``'s SQLite store anchored and
the catalog's task-specific paths resolved from the parameters.

kedro-mlflow makes a relative *file* store absolute against the project root, but passes ``sqlite:///mlflow.db``
through as it is, so SQLite resolves it against the current directory: a notebook in ``notebooks/`` or a
``kedro run`` from a subfolder would open a second, empty store, and MLflow's per-URI store cache would keep
several project copies in one process (the test suite) writing into the first one's database.

Each modelling task keeps its own champion copies (``champion<suffix>/``, ``fallback<suffix>/``: the task's
``model_suffix``, empty for the default task). The catalog names them with ``${task_suffix:modeling.task}``
(what a run trains) or ``${task_suffix:serving.task}`` (what the environment serves), and with
``${task:serving.task}`` the task itself: both read the parameters this loader resolves, runtime
``--params`` included, so the paths follow the configuration, never a run's side effects.

The parameters are checked once, as they load, against :mod:`music_genre.parameter_schema` (one schema
per block): an unknown key or a bad value, from ``conf/base``, an environment or ``--params``, is one
``error:`` line naming the key and the file, for ``kedro run`` and ``music-genre`` alike.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException, OmegaConfigLoader
from omegaconf import OmegaConf

SQLITE_PREFIX = "sqlite:///"
TASK_RESOLVERS = ("task", "task_suffix")


def anchor_sqlite_uri(uri: Any, project_root: Path) -> Any:
    """``sqlite:///mlflow.db`` -> ``sqlite:////abs/project/mlflow.db``; any other URI unchanged."""
    if not isinstance(uri, str) or not uri.startswith(SQLITE_PREFIX):
        return uri
    path = uri[len(SQLITE_PREFIX) :]
    if path.startswith("/") or path.startswith(":memory:") or not path:
        return uri
    return SQLITE_PREFIX + str((project_root / path).resolve())


def parameter(parameters: Mapping, dotted: str) -> Any:
    """``parameter(params, "serving.task")``: the value at a dotted path, None where it is not set."""
    node: Any = parameters
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@contextlib.contextmanager
def task_resolvers(parameters: Mapping) -> Iterator[None]:
    """``${task:<parameter>}`` (the task's name) and ``${task_suffix:<parameter>}`` (its
    ``model_suffix``) while the catalog resolves. A name no task has is passed through (as
    ``-<name>``): the step that loads the dataset says which names exist."""
    from music_genre.modeling.tasks import DEFAULT_TASK, TASKS

    def name(dotted: str) -> str:
        value = parameter(parameters, dotted)
        return DEFAULT_TASK if value is None else str(value)

    def suffix(dotted: str) -> str:
        chosen = name(dotted)
        return TASKS[chosen].model_suffix if chosen in TASKS else f"-{chosen}"

    with warnings.catch_warnings():  # omegaconf 2.4 renames it; Kedro itself still calls this name
        warnings.simplefilter("ignore", UserWarning)
        OmegaConf.register_new_resolver("task", name, replace=True)
        OmegaConf.register_new_resolver("task_suffix", suffix, replace=True)
    try:
        yield
    finally:
        for resolver in TASK_RESOLVERS:
            OmegaConf.clear_resolver(resolver)


class ProjectConfigLoader(OmegaConfigLoader):
    """Resolves relative SQLite MLflow stores in ``mlflow.yml`` against the project root, and the
    catalog's task paths from the parameters."""

    def __getitem__(self, key: str) -> Any:
        if key == "parameters" and key not in self:
            return self._checked_parameters()
        if key == "catalog" and key not in self:
            try:
                parameters = super().__getitem__("parameters")
            except MissingConfigException:
                parameters = {}
            with task_resolvers(parameters):
                return super().__getitem__(key)
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

    def _checked_parameters(self) -> dict:
        """The merged parameters, once :func:`~music_genre.parameter_schema.validate_parameters`
        passed (an old block name moved to today's first)."""
        from music_genre.parameter_schema import renamed, validate_parameters

        parameters, notes = renamed(super().__getitem__("parameters"))
        for note in notes:
            logging.getLogger(__name__).warning(note)
        return dict(validate_parameters(parameters, self._parameter_sources()))

    def _parameter_sources(self) -> list[tuple[str, Any]]:
        """Each parameters file's own tree (base first, then the environment's), then ``--params``."""
        from music_genre.parameter_schema import relative

        root = Path(str(self.conf_source)).parent
        sources: list[tuple[str, Any]] = []
        try:
            base, env, *_ = self._read_raw_config("parameters")  # Kedro 1.7's per-file read
        except Exception:  # the files' names only label the message
            base, env = {}, {}
        for path, tree in [*base.items(), *env.items()]:
            sources.append((relative(path, root), OmegaConf.to_container(tree, resolve=False)))
        sources.append(("--params", dict(self.runtime_params or {})))
        return sources
