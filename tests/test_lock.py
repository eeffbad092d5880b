"""The locked stack: requirements-lock.txt agrees with pyproject, this install is it, and a mismatch says so."""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from music_genre import __version__
from music_genre.common.stack import LOCK_NAME, differences, platform_mismatch, read_pins
from tests.conftest import PROJECT_ROOT

UNLOCKED = os.environ.get("MUSIC_GENRE_UNLOCKED") == "1"  # set by `python tools/lock.py newest`


def _lock_tool():
    spec = importlib.util.spec_from_file_location("lock_tool", PROJECT_ROOT / "tools" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lock_agrees_with_pyproject():
    tool = _lock_tool()
    assert tool.disagreements() == []
    pins = tool.read_lock()
    # every requirement of pyproject, extras included, is pinned within its range
    for requirement in tool.project_requirements():
        assert requirement.specifier.contains(pins[tool.canonical(requirement.name)]["version"])
    assert {"tensorflow-cpu", "pytest", "kedro", "ray", "lightgbm"} <= set(pins)


def test_a_dependency_in_one_file_and_not_the_other_is_reported(tmp_path):
    tool = _lock_tool()
    pyproject = (PROJECT_ROOT / "pyproject.toml").read_text()
    added = pyproject.replace('"rich>=13",', '"rich>=13",\n    "no-such-package-xyz>=1",')
    raised = added.replace('"numpy>=1.26"', '"numpy>=99"')
    dropped = raised.replace('"psutil>=5.9",', "")
    assert dropped != pyproject.replace('"psutil>=5.9",', "")  # every edit took
    (tmp_path / "pyproject.toml").write_text(dropped)
    problems = tool.disagreements(PROJECT_ROOT / LOCK_NAME, tmp_path / "pyproject.toml")
    assert len(problems) == 3, problems
    assert any(
        p.startswith("no-such-package-xyz is in pyproject.toml but not in") for p in problems
    )
    assert any(p.startswith("numpy==") and "numpy>=99" in p for p in problems)
    assert any(p.startswith("psutil is locked as a requirement of music-genre") for p in problems)
    # the command CI runs says each in one line and fails; on the real project it passes
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "lock.py").write_text((PROJECT_ROOT / "tools" / "lock.py").read_text())
    (tmp_path / LOCK_NAME).write_text((PROJECT_ROOT / LOCK_NAME).read_text())
    bad = subprocess.run(
        [sys.executable, str(tmp_path / "tools" / "lock.py"), "check"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 3
    assert all(line.startswith("error: ") for line in bad.stderr.splitlines())
    good = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "tools" / "lock.py"), "check"],
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("requirements-lock.txt agrees with pyproject.toml (")


def test_pip_check_is_clean():
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    UNLOCKED, reason="the unlocked newest-versions run installs other versions on purpose"
)
def test_this_install_is_the_locked_stack():
    if platform_mismatch(PROJECT_ROOT):
        pytest.skip(platform_mismatch(PROJECT_ROOT))
    assert differences(PROJECT_ROOT) == []
    pins, _ = read_pins(PROJECT_ROOT / LOCK_NAME)
    assert pins["numpy"] == metadata.version("numpy")


def test_a_lock_for_another_python_says_so_in_one_line(tmp_path):
    lock = (PROJECT_ROOT / LOCK_NAME).read_text()
    (tmp_path / LOCK_NAME).write_text(
        lock.replace('python_version == "3.11"', 'python_version == "2.7"')
    )
    line = platform_mismatch(tmp_path)
    assert line is not None and "\n" not in line
    assert f"this is Python {platform.python_version()} on " in line
    assert "not the tested stack's CPython 2.7, Linux x86_64 (requirements-lock.txt)" in line
    # no lock (the package embedded elsewhere): nothing to say
    assert platform_mismatch(tmp_path / "elsewhere") is None


@pytest.mark.skipif(
    UNLOCKED, reason="the unlocked newest-versions run installs other versions on purpose"
)
def test_version_names_the_project_and_the_tested_stack(tmp_path):
    music_genre = Path(sys.executable).with_name("music-genre")
    inside = subprocess.run(
        [str(music_genre), "--version"], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert inside.returncode == 0, inside.stderr
    first, second = inside.stdout.splitlines()
    assert first == f"music-genre {__version__} (Python {platform.python_version()})"
    if platform_mismatch(PROJECT_ROOT) is None:
        assert second == "the tested stack: every package as pinned in requirements-lock.txt"
    outside = subprocess.run(
        [str(music_genre), "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert outside.returncode == 0
    assert outside.stdout.splitlines()[1].startswith("no requirements-lock.txt here")
