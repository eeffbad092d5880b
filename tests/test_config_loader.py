"""The project's config loader anchors mlflow.yml's relative SQLite store at the project root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from music_genre.config_loader import anchor_sqlite_uri
from music_genre.modeling.store import project_config
from tests.conftest import make_project_copy


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sqlite:///mlflow.db", "sqlite:////proj/mlflow.db"),
        ("sqlite:///stores/runs.db", "sqlite:////proj/stores/runs.db"),
        ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
        ("http://mlflow.internal:5000", "http://mlflow.internal:5000"),
        ("databricks", "databricks"),
        (None, None),
    ],
)
def test_anchor_sqlite_uri(uri, expected):
    assert anchor_sqlite_uri(uri, Path("/proj")) == expected


def test_the_store_is_the_same_from_any_working_directory(tmp_path):
    project = make_project_copy(tmp_path / "project")
    elsewhere = tmp_path / "project" / "notebooks"
    elsewhere.mkdir()
    previous = Path.cwd()
    seen = []
    try:
        for cwd in (project, elsewhere, tmp_path):
            os.chdir(cwd)
            seen.append(project_config(project, None)["mlflow"]["server"]["mlflow_tracking_uri"])
    finally:
        os.chdir(previous)
    assert seen == [f"sqlite:///{project.resolve() / 'mlflow.db'}"] * 3
