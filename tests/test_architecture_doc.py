"""docs/architecture.md names code that exists, and lists every module.

Read statically (:mod:`ast`, no import of the project): every backticked ``src/...py`` or ``<folder>/<module>.py``
path must be a file; every backticked dotted name that starts at a module of ``music_genre`` (in full,
``music_genre.modeling.registry.log_classifier_model``, or from any tail of a module's path,
``registry.log_classifier_model``, ``hooks.RayHook``) must reach a module and then names defined in it
(a function, a class, a class's member, an assignment, an import). Dotted names that are parameter keys of
``conf/base`` (``modeling.task``), file names (``info.log``) or other libraries' (``sys.meta_path``) are
not code of this project. Planted stale names show that the check catches what it must.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from music_genre.common.module_paths import current_path
from tests.conftest import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "architecture.md"
SOURCE = PROJECT_ROOT / "src"
PACKAGE_DIR = SOURCE / "music_genre"
FILE_SUFFIXES = {
    "py", "md", "yml", "yaml", "json", "csv", "log", "pkl", "db", "html", "png", "parquet", "txt",
    "zip", "npz", "whl", "toml", "prom", "mp3", "wav", "cfg", "lock", "verified",
}  # fmt: skip
DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"[\w./-]+\.py")


def backticked(text: str) -> list[str]:
    """Inline code spans of a Markdown text, fenced blocks left out."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.findall(r"`([^`\n]+)`", prose)


@cache
def modules() -> dict[tuple[str, ...], Path]:
    """Every module of the package by its dotted parts (``("music_genre", "modeling", "registry")``)."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(SOURCE).with_suffix("").parts
        found[parts[:-1] if parts[-1] == "__init__" else parts] = path
    return found


@cache
def defined_names(path: Path) -> dict[str, set[str]]:
    """A module's top-level names, each with its members (a class's methods and attributes)."""
    names: dict[str, set[str]] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names[node.name] = set()
        elif isinstance(node, ast.ClassDef):
            members = set()
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    members.add(item.name)
                elif isinstance(item, ast.Assign | ast.AnnAssign):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    members |= {t.id for t in targets if isinstance(t, ast.Name)}
            names[node.name] = members
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        names[name.id] = set()
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                names[(alias.asname or alias.name).split(".")[0]] = set()
    return names


def reaches(path: Path, attributes: tuple[str, ...]) -> bool:
    if not attributes:
        return True
    names = defined_names(path)
    if attributes[0] not in names:
        return False
    return len(attributes) == 1 or (len(attributes) == 2 and attributes[1] in names[attributes[0]])


@cache
def parameter_keys() -> frozenset[str]:
    """Every dotted key (and prefix) of the base environment's parameters: ``modeling.task``, ..."""
    keys: set[str] = set()

    def walk(node, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                dotted = f"{prefix}.{key}" if prefix else str(key)
                keys.add(dotted)
                walk(value, dotted)

    for path in sorted((PROJECT_ROOT / "conf" / "base").glob("parameters*.yml")):
        walk(yaml.safe_load(path.read_text()) or {}, "")
    return frozenset(keys)


def dotted_problem(name: str) -> str | None:
    """Why ``name`` names no code of this project (None when it does, or is not meant to)."""
    parts = tuple(name.split("."))
    if name in parameter_keys() or parts[-1] in FILE_SUFFIXES:
        return None
    if parts[0] == "music_genre":
        moved = current_path(name)  # an old path that still imports (common/module_paths.py)
        if moved is not None:
            return dotted_problem(moved)
        for cut in range(len(parts), 0, -1):
            if parts[:cut] in modules():
                if reaches(modules()[parts[:cut]], parts[cut:]):
                    return None
                return f"{name}: {'.'.join(parts[:cut])} defines no {'.'.join(parts[cut:])}"
        return f"{name}: no such module"
    starts_here = False
    for cut in range(len(parts), 0, -1):
        head = parts[:cut]
        for module, path in modules().items():
            if module[-cut:] == head:
                starts_here = True
                if reaches(path, parts[cut:]):
                    return None
    if starts_here:
        return f"{name}: no module of music_genre ending in its first names defines the rest"
    if importlib.util.find_spec(parts[0]) is not None:
        return None  # another library's name (sys.meta_path, kedro_mlflow.io...)
    return f"{name}: no module of music_genre (nor any library) is called {parts[0]}"


def path_problem(name: str) -> str | None:
    if "<" in name or "*" in name:
        return None
    bases = (PROJECT_ROOT, SOURCE, PACKAGE_DIR)
    if any((base / name).is_file() for base in bases):
        return None
    if "/" not in name and any(PACKAGE_DIR.rglob(name)):  # a stage's `nodes.py`
        return None
    return f"{name}: no such file (under the project, src/ or src/music_genre/)"


def problems(text: str) -> list[str]:
    found = []
    for token in backticked(text):
        token = token.strip()
        if PATH.fullmatch(token):
            found.append(path_problem(token))
        elif DOTTED.fullmatch(token):
            found.append(dotted_problem(token))
    return [problem for problem in found if problem]


def test_every_module_and_name_the_page_writes_exists():
    assert problems(DOC.read_text()) == []


def holds_code(path: Path) -> bool:
    """Anything but a docstring (a folder's ``__init__.py`` that only says what the folder is)."""
    body = ast.parse(path.read_text()).body
    return any(
        not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body
    )


def test_every_module_of_the_package_is_listed():
    named = set(backticked(DOC.read_text()))
    stage_files = {"nodes.py", "pipeline.py", "__init__.py"}  # pipelines/<stage>/, listed as such
    missing = [
        str(path.relative_to(PACKAGE_DIR))
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if holds_code(path)
        and not (path.parent.parent.name == "pipelines" and path.name in stage_files)
        and str(path.relative_to(PACKAGE_DIR)) not in named
    ]
    assert missing == [], "docs/architecture.md does not list these modules of src/music_genre"


@pytest.mark.parametrize(
    "stale",
    [
        "`tracking.log_classifier_model`",  # a module that was renamed
        "`serving.with_serving_model`",  # a function that moved to another layer
        "`modeling.registry.log_everything`",  # a function that does not exist
        "`music_genre.hooks.NoSuchHook`",
        "`hooks.RayHook.no_such_method`",
        "`src/music_genre/serving/console.py`",  # a file that was split
        "`monitoring/progress.py`",
    ],
)
def test_a_stale_name_is_caught(stale):
    assert len(problems(f"Some prose with {stale} in it.")) == 1


def test_names_that_are_not_code_pass():
    text = (
        "`modeling.task` `dataset.root` `info.log` `sys.meta_path` `champion.json` "
        "`hooks.RayHook` `music_genre.modeling.registry.log_classifier_model` `common/errors.py`"
    )
    assert problems(text) == []
