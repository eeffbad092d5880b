"""The package stack this process runs on, against the locked one the project was tested with.

``requirements-lock.txt`` (project root) pins every package CI tests, for one Python and platform written
as an environment marker on each pin. This module reads it so that a run can say, in one line, when it
is not on the tested stack, and so that every training run records the versions that shape its numbers.
Standard library and ``packaging`` only: ``music-genre --version`` and Kedro's start stay fast.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

LOCK_NAME = "requirements-lock.txt"
# The packages whose versions change a model's numbers (features, fit, resampling, decoding).
# A virtual environment's own tools: a fresh venv brings its own setuptools, which the lock pins only
# because an extra (TensorFlow) asks for it; not part of what a run computes.
VENV_TOOLS = ("pip", "setuptools", "wheel")
NUMERIC_PACKAGES = ("numpy", "scipy", "scikit-learn", "lightgbm", "librosa", "soxr", "soundfile")
# One pinned line of a lock: ``name==version`` and its environment marker (also read by tools/lock.py).
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;]+)\s*(?:;\s*(?P<marker>.+))?$"
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def numeric_versions() -> dict[str, str]:
    """{package: version} of the packages that shape a model's numbers, plus Python's own."""
    import platform

    versions = {"python": platform.python_version()}
    versions.update({name: installed_version(name) or "absent" for name in NUMERIC_PACKAGES})
    return versions


def read_pins(lock: Path) -> tuple[dict[str, str], str | None]:
    """({package: version}, the platform marker of the pins) from a lock file."""
    pins, marker = {}, None
    for line in lock.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonical(match["name"])] = match["version"]
            marker = marker or match["marker"]
    return pins, marker


def _tested_platform(marker: str) -> str:
    values = dict(re.findall(r'(\w+)\s*==\s*"([^"]+)"', marker))
    return (
        f"CPython {values.get('python_version', '?')}, "
        f"{values.get('sys_platform', '?').capitalize()} {values.get('platform_machine', '?')}"
    )


def platform_mismatch(project_root: Path) -> str | None:
    """One line when this Python or platform is not the one the project's lock was tested on (None when
    it is, or when there is no lock: a package embedded elsewhere)."""
    from packaging.markers import Marker

    lock = Path(project_root) / LOCK_NAME
    if not lock.is_file():
        return None
    _, marker = read_pins(lock)
    if not marker or Marker(marker).evaluate():
        return None
    import platform

    return (
        f"this is Python {platform.python_version()} on {platform.system()} {platform.machine()}, not the "
        f"tested stack's {_tested_platform(marker)} ({LOCK_NAME}): pip installed pyproject's lower bounds, "
        "a stack nobody tested (docs/install.md)"
    )


def differences(project_root: Path) -> list[tuple[str, str, str]]:
    """[(package, installed version, locked version)] where this install leaves the lock (a package of an
    extra that is not installed is no difference, nor are the venv's own tools)."""
    lock = Path(project_root) / LOCK_NAME
    if not lock.is_file():
        return []
    pins, _ = read_pins(lock)
    found = []
    for name, locked in sorted(pins.items()):
        version = installed_version(name)
        if name in VENV_TOOLS:
            continue
        if version is not None and version != locked:
            found.append((name, version, locked))
    return found


def version_report(version: str, project_root: Path | None) -> str:
    """What ``music-genre --version`` prints: the project's version and whether this is the tested stack."""
    import platform

    lines = [f"music-genre {version} (Python {platform.python_version()})"]
    if project_root is None or not (Path(project_root) / LOCK_NAME).is_file():
        lines.append(
            f"no {LOCK_NAME} here: the tested stack is unknown (run inside the project folder)"
        )
        return "\n".join(lines)
    mismatch = platform_mismatch(project_root)
    if mismatch:
        lines.append(f"warning: {mismatch}")
        return "\n".join(lines)
    differ = differences(project_root)
    if not differ:
        lines.append(f"the tested stack: every package as pinned in {LOCK_NAME}")
    else:
        shown = ", ".join(f"{n} {v} (locked {lo})" for n, v, lo in differ[:5])
        more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
        count = f"{len(differ)} packages differ" if len(differ) > 1 else "1 package differs"
        lines.append(
            f"{count} from {LOCK_NAME}: {shown}{more}; "
            f'pip install -c {LOCK_NAME} -e ".[dev]" installs the tested stack'
        )
    return "\n".join(lines)
