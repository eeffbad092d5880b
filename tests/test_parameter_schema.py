"""Parameters are checked once, as they load: one schema per block (music_genre/parameter_schema.py).

The project's own config loader (as ``kedro run``, the CLI and the page build it) on a copy of the real
``conf/``; a typo in a key or a value of the wrong kind is one line naming the key and the file, whether it
came from ``conf/base``, an environment's ``parameters.yml`` or ``--params``. ``kedro run`` and
``music-genre predict`` end with that one ``error:`` line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from music_genre.modeling.store import project_config
from music_genre.parameter_schema import ParameterError
from tests.conftest import PROJECT_ROOT, make_project_copy

ENVIRONMENTS = ["base", "gtzan", "fma_small", "fma_medium", "fma_large"]


def loader(project: Path, env: str | None = None, runtime_params: dict | None = None):
    built = project_config(project, env)
    built.runtime_params = runtime_params or {}
    return built


@pytest.fixture
def project(tmp_path) -> Path:
    return make_project_copy(tmp_path / "project")


def local_parameters(project: Path, tree: dict) -> None:
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(tree))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_shipped_environment_validates(env):
    parameters = loader(PROJECT_ROOT, None if env == "base" else env)["parameters"]
    assert parameters["modeling"]["registration"]["threshold"] == 0.30
    expected = {"base": "fma", "gtzan": "folder"}.get(env, "fma")
    assert parameters["dataset"]["format"] == expected


def test_an_unknown_key_is_one_line_naming_it_and_its_file(project):
    local_parameters(project, {"modeling": {"registraton": {"threshold": 0.2}}})
    with pytest.raises(ParameterError) as raised:
        loader(project)["parameters"]
    assert str(raised.value) == (
        "parameter modeling.registraton: unknown key (conf/local/parameters.yml)"
    )


def test_a_bad_value_in_base_names_the_base_file(project):
    path = project / "conf" / "base" / "parameters_monitoring.yml"
    path.write_text(path.read_text().replace("top_n: 20", "top_n: twenty"))
    with pytest.raises(ParameterError) as raised:
        loader(project)["parameters"]
    message = str(raised.value)
    assert message.startswith("parameter monitoring.drift.top_n = 'twenty': ")
    assert message.endswith("(conf/base/parameters_monitoring.yml)") and "\n" not in message


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"modeling": {"registration": {"threshold": "high"}}}, "modeling.registration.threshold"),
        ({"inference": {"batch_size": 0}}, "inference.batch_size"),  # out of range
        ({"modeling": {"registration": {"model_name": ""}}}, "modeling.registration.model_name"),
        ({"monitoring": {"drift": {"columns": "pcaa"}}}, "monitoring.drift.columns"),
        (
            {"tuning": {"search_space": {"max_bin": {"type": "randint", "low": 8}}}},
            "tuning.search_space.max_bin.high",
        ),  # fmt: skip
    ],
)
def test_a_bad_runtime_value_is_one_line_naming_params(project, override, key):
    with pytest.raises(ParameterError) as raised:
        loader(project, runtime_params=override)["parameters"]
    message = str(raised.value)
    assert message.startswith(f"parameter {key}") and message.endswith("(--params)")


def test_valid_overrides_pass_and_are_read_as_given(project):
    local_parameters(project, {"modeling": {"promotion": {"margin": 0.05}}})
    parameters = loader(
        project,
        "local",
        {"modeling": {"registration": {"threshold": 0.5}}, "monitoring": {"batch": None}},
    )["parameters"]
    assert parameters["modeling"]["promotion"]["margin"] == 0.05
    assert parameters["modeling"]["registration"]["threshold"] == 0.5
    assert parameters["modeling"]["registration"]["metric"] == "test.f1_macro"  # base's, merged


def test_the_old_metrics_block_still_configures_prometheus(project):
    local_parameters(project, {"metrics": {"page_port": 9100}})
    parameters = loader(project)["parameters"]
    assert parameters["prometheus"]["page_port"] == 9100 and "metrics" not in parameters
    assert parameters["prometheus"]["textfile_dir"] == "data/09_metrics"


def run(project: Path, *command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    return subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def test_kedro_run_and_the_cli_end_with_the_one_line(project):
    kedro = Path(sys.executable).with_name("kedro")
    result = run(project, str(kedro), "run", "--params=modeling.registraton.threshold=0.2")
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: parameter modeling.registraton: unknown key (--params)"
    )
    assert "Traceback" not in result.stderr

    local_parameters(project, {"inference": {"verdict": {"margin": "half"}}})
    result = run(project, sys.executable, "-m", "music_genre", "predict", "song.mp3")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: parameter inference.verdict.margin = 'half': input should be a valid number, "
        "unable to parse string as a number (conf/local/parameters.yml)"
    ]
