"""The Kedro session runner of ``music-genre daily``: one pipeline per Kedro session (one MLflow run
each), the catalog read afterwards, the day's ``--params`` given to every session."""

from __future__ import annotations

from pathlib import Path

from music_genre.serving.commands.params_option import nested_params


class KedroRunner:
    """Runs one pipeline per Kedro session (one MLflow run each) and reads the catalog afterwards."""

    def __init__(self, project: Path, env: str | None, params: dict | None = None):
        self.project = project
        self.env = env
        self.params = dict(params or {})

    def _session(self, params: dict | None = None):
        import os

        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        os.chdir(self.project)  # relative paths in parameters are the project's
        bootstrap_project(self.project)
        return KedroSession.create(
            project_path=self.project,
            env=self.env,
            runtime_params=nested_params({**self.params, **(params or {})}),
        )

    def run(self, pipeline: str, params: dict) -> None:
        with self._session(params) as session:
            session.run(pipeline_names=[pipeline])

    def load(self, name: str):
        with self._session() as session:
            return session.load_context().catalog.load(name)

    def parameters(self) -> dict:
        with self._session() as session:
            return dict(session.load_context().params)
