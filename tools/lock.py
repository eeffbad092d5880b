"""The locked stack: make it, check it against pyproject, move it forward, and probe the newest versions.

    python tools/lock.py check     # does requirements-lock.txt agree with pyproject.toml? (CI runs it)
    python tools/lock.py upgrade   # re-resolve to the newest allowed versions, then run the suite on them
    python tools/lock.py newest    # the suite on the newest versions, unlocked: what changed, what broke

``requirements-lock.txt`` is a pip *constraints* file: every package of the stack (the ``dev`` and
``embeddings`` extras included, transitive ones too) pinned to the version CI tests, for the one platform
it was tested on (CPython 3.11, Linux x86_64). Each pin carries that platform as an environment marker,
so on any other Python or platform pip ignores the lock and installs from pyproject's lower bounds (an
untested stack that ``kedro run`` and ``music-genre --version`` name in one line) instead of failing in
the resolver. Why a constraints file and not ``uv.lock`` or ``poetry.lock``: docs/install.md.

(The ``postgres`` extra, PostgreSQL's driver, is in ``dev`` too: the lock covers it either way.)

``check`` needs only the standard library and ``packaging``; ``upgrade`` and ``newest`` need ``uv`` (in
the ``dev`` extra) and the network to the package index, and each builds a throw-away venv under
``build/``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: pip's own copy of the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the project's own reading of a lock, installed or not
from music_genre.common.stack import PIN, canonical  # noqa: E402

LOCK = ROOT / "requirements-lock.txt"
PROJECT = "music-genre"
EXTRAS = ("dev", "embeddings", "postgres")
# The one platform the lock is resolved for and CI tests on (uv's names, then pip's marker values).
PYTHON = "3.11"
UV_PLATFORM = "x86_64-manylinux_2_28"
MARKER = (
    f'python_version == "{PYTHON}" and sys_platform == "linux" and platform_machine == "x86_64"'
)
# The target environment the markers of pyproject's own requirements are evaluated in.
TARGET_ENV = {
    "python_version": PYTHON,
    "python_full_version": f"{PYTHON}.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
HEADER = f"""\
# The stack CI tests: every package music-genre installs, with the {", ".join(EXTRAS[:-1])} and {EXTRAS[-1]} extras,
# pinned.
# Tested on CPython {PYTHON}, Linux x86_64. A pip constraints file:
#     pip install -c requirements-lock.txt -e ".[dev]"
# On another Python or platform the markers switch every pin off and pip installs pyproject's lower
# bounds: an untested stack (docs/install.md). Made by `python tools/lock.py upgrade`; do not edit.
"""


# ---- reading the two files -------------------------------------------------------------------------
def read_lock(path: Path = LOCK) -> dict[str, dict]:
    """{package: {"version": ..., "via": [...]}} from the lock, with uv's ``# via`` annotations."""
    pins: dict[str, dict] = {}
    current = None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonical(match["name"])
            pins[current] = {"version": match["version"], "via": []}
        elif current and line.startswith("    #   "):
            pins[current]["via"].append(canonical(line.strip("# ").split(" ")[0]))
        elif current and line.startswith("    # via ") and line.strip() != "# via":
            pins[current]["via"].append(canonical(line.partition("# via ")[2].split(" ")[0]))
    return pins


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list:
    """pyproject's own requirements (the extras the lock covers too) that apply on the lock's platform."""
    from packaging.requirements import Requirement

    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(TARGET_ENV)]


def disagreements(lock: Path = LOCK, pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What makes the lock and pyproject disagree, one sentence each (empty: they agree)."""
    if not lock.is_file():
        return [f"{lock.name} is missing: python tools/lock.py upgrade"]
    pins = read_lock(lock)
    problems = []
    direct = set()
    for requirement in project_requirements(pyproject):
        name = canonical(requirement.name)
        direct.add(name)
        if name not in pins:
            problems.append(f"{requirement.name} is in pyproject.toml but not in {lock.name}")
        elif not requirement.specifier.contains(pins[name]["version"], prereleases=True):
            problems.append(
                f"{requirement.name}=={pins[name]['version']} in {lock.name} does not satisfy "
                f"pyproject.toml's {requirement}"
            )
    for name, pin in sorted(pins.items()):
        if PROJECT in pin["via"] and name not in direct:
            problems.append(
                f"{name} is locked as a requirement of {PROJECT} but pyproject.toml no longer asks for it"
            )
        if not pin["via"]:
            problems.append(f"{name} is in {lock.name} but nothing requires it")
    unmarked = [
        line for line in lock.read_text().splitlines() if PIN.match(line) and MARKER not in line
    ]
    if unmarked:
        problems.append(f"{len(unmarked)} pins lack the platform marker, e.g. {unmarked[0]!r}")
    return problems


# ---- making the lock -------------------------------------------------------------------------------
def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        sys.exit(
            'error: this needs uv: pip install -c requirements-lock.txt -e ".[dev]" (uv is in the dev extra)'
        )
    return found


def resolve(output: Path, *extra_args: str, keep: bool = False) -> None:
    """Resolve pyproject (with the extras) for the lock's platform into ``output``, markers added;
    ``keep``: the current pins stay where pyproject still allows them (to add one dependency)."""
    raw = output.with_suffix(".raw")
    raw.unlink(missing_ok=True)
    if keep and output.is_file():
        raw.write_text(
            "\n".join(line.split(" ; ")[0] for line in output.read_text().splitlines()) + "\n"
        )
    command = [
        uv(),
        "pip",
        "compile",
        "pyproject.toml",
        *(f"--extra={e}" for e in EXTRAS),
        f"--python-version={PYTHON}",
        f"--python-platform={UV_PLATFORM}",
        "--no-header",
        "--quiet",
        "--output-file",
        str(raw),
        *extra_args,
    ]
    subprocess.run(command, cwd=ROOT, check=True)
    lines = [
        f"{line} ; {MARKER}" if PIN.match(line) else line for line in raw.read_text().splitlines()
    ]
    output.write_text(HEADER + "\n".join(lines) + "\n")
    raw.unlink()


def fresh_venv(where: Path) -> Path:
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    return where / "bin" / "python"


def run_suite(python: Path, pytest_args: list[str], unlocked: bool = False) -> int:
    """pytest in ``python``'s venv, from the project root; its exit status. ``unlocked``: the tests that
    check this install is the locked stack skip, with their reason."""
    env = {**os.environ, "VIRTUAL_ENV": str(python.parent.parent)}
    if unlocked:
        env["MUSIC_GENRE_UNLOCKED"] = "1"
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(python), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def installed(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {canonical(n): v for n, _, v in (line.partition("==") for line in out.splitlines()) if v}


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    rows = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old != new:
            rows.append(f"  {name}: {old or '(none)'} -> {new or '(none)'}")
    return rows


def install(python: Path, constraints: Path) -> None:
    """What the README's command does, with both extras: pip, from the lock."""
    extras = ",".join(EXTRAS)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(constraints),
            "-e",
            f".[{extras}]",
        ],
        cwd=ROOT,
        check=True,
    )
    subprocess.run([str(python), "-m", "pip", "check"], check=True)


def command_check(_args) -> int:
    problems = disagreements()
    for problem in problems:
        print(f"error: {problem}; run python tools/lock.py upgrade", file=sys.stderr)
    if not problems:
        print(f"{LOCK.name} agrees with pyproject.toml ({len(read_lock())} packages pinned)")
    return 1 if problems else 0


def command_upgrade(args) -> int:
    before = {n: p["version"] for n, p in read_lock().items()} if LOCK.is_file() else {}
    resolve(LOCK, keep=args.keep)
    after = {n: p["version"] for n, p in read_lock().items()}
    print(f"{LOCK.name}: {len(after)} packages; changed against the previous lock:")
    print("\n".join(changes(before, after)) or "  nothing")
    if args.no_tests:
        return 0
    python = fresh_venv(ROOT / "build" / "lock-venv")
    install(python, LOCK)
    status = run_suite(python, args.pytest_args)
    print(
        f"the suite on the new lock: {'passed' if status == 0 else f'FAILED (pytest exit {status})'}"
    )
    if status:
        print(
            "revert with: git checkout requirements-lock.txt (or fix, or bound the culprit in pyproject)"
        )
    return status


def command_newest(args) -> int:
    """Not in CI: the suite on what a user without the lock gets today (pyproject's ranges, newest
    versions), or with ``--lift NAME`` the newest NAME the index has, whatever any range says."""
    venv = ROOT / "build" / "newest-venv"
    python = fresh_venv(venv)
    overrides = venv / "overrides.txt"
    overrides.write_text("".join(f"{name}\n" for name in args.lift))
    extras = ",".join(EXTRAS)
    subprocess.run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "--upgrade",
            "--override",
            str(overrides),
            "-e",
            f".[{extras}]",
            "pip",
        ],
        cwd=ROOT,
        check=True,
    )
    check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
    locked = {n: p["version"] for n, p in read_lock().items()}
    newest = {n: v for n, v in installed(python).items() if n not in ("pip", "setuptools", "wheel")}
    print("the newest versions against the lock:")
    print(
        "\n".join(changes({n: v for n, v in locked.items() if n in newest}, newest)) or "  the same"
    )
    outdated = subprocess.run(
        [uv(), "pip", "list", "--outdated", "--python", str(python)], capture_output=True, text=True
    ).stdout
    print(
        "newer releases on the index that this resolution did not take (a range, or another package,"
        " holds them back; releases for newer Pythons only are not listed):"
    )
    print(outdated.strip() or "  none")
    print(f"pip check: {'clean' if check.returncode == 0 else check.stdout.strip()}")
    report = ROOT / "build" / "newest-junit.xml"
    status = run_suite(python, [*args.pytest_args, f"--junitxml={report}"], unlocked=True)
    failed = []
    if report.is_file():
        import xml.etree.ElementTree as ElementTree

        for case in ElementTree.parse(report).iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(f"{case.get('classname')}::{case.get('name')}")
    print(
        f"the suite on the newest versions: {'passed' if status == 0 else f'pytest exit {status}'}"
    )
    for name in failed:
        print(f"  failed: {name}")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/lock.py", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="does the lock agree with pyproject.toml?").set_defaults(
        run=command_check
    )
    upgrade = commands.add_parser("upgrade", help="re-resolve the lock, then run the suite on it")
    upgrade.add_argument("--no-tests", action="store_true", help="only re-resolve")
    upgrade.add_argument(
        "--keep",
        action="store_true",
        help="keep today's pins where allowed (after adding a dependency)",
    )
    upgrade.set_defaults(run=command_upgrade)
    newest = commands.add_parser("newest", help="the suite on the newest versions, unlocked")
    newest.add_argument(
        "--lift",
        action="append",
        default=[],
        metavar="NAME",
        help="take NAME's newest release whatever pyproject or another package allows (repeatable)",
    )
    newest.set_defaults(run=command_newest)
    for sub in (upgrade, newest):
        sub.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
