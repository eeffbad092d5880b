"""The layer rule of docs/architecture.md, checked on the source: imports only run downward, and no circle.

Every ``import`` and ``from ... import`` in ``src/music_genre`` (inside functions too: a lazy import is still
a dependency) is read with :mod:`ast`, resolved to the module it names, and checked against the layers:

    common < data < sample < features < similarity < modeling < evaluation < monitoring < serving < frame

A module may import its own layer and the layers below. Kedro's frame (settings, hooks, the pipeline
registry, ``pipelines/``, ``cli``) sits on top; the package's ``__init__`` counts as ``common`` (it only
installs the moved-module finder).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "src"
PACKAGE = "music_genre"
LAYERS = (
    "common",
    "data",
    "sample",
    "features",
    "similarity",
    "modeling",
    "evaluation",
    "monitoring",
    "serving",
    "frame",
)


def module_name(path: Path, source: Path = SOURCE) -> str:
    parts = list(path.relative_to(source).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    parts = module.split(".")
    if parts == [PACKAGE]:
        return "common"
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS[:-1] else "frame"


def project_modules(source: Path = SOURCE) -> dict[str, Path]:
    return {module_name(p, source): p for p in sorted((source / PACKAGE).rglob("*.py"))}


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (resolved: ``from a import b`` is ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            names = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in known else stem
                     for alias in node.names]  # fmt: skip
        else:
            continue
        for name in names:
            while (
                name and name not in known
            ):  # `import music_genre.data.audio.x` -> the module part
                name = name.rpartition(".")[0]
            if name.startswith(PACKAGE) and name != module:
                found.add(name)
    return found


def import_graph(source: Path = SOURCE) -> dict[str, set[str]]:
    modules = project_modules(source)
    known = set(modules)
    return {name: imports_of(path, name, known) for name, path in modules.items()}


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    return sorted(
        f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})"
        for a, targets in graph.items()
        for b in targets
        if rank[layer_of(b)] > rank[layer_of(a)]
    )


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_only_run_downward():
    assert upward_imports(import_graph()) == []


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_the_package_root_holds_only_kedros_frame_and_the_stage_folders():
    root = SOURCE / PACKAGE
    modules = sorted(p.name for p in root.glob("*.py"))
    assert modules == [
        "__init__.py",
        "__main__.py",
        "cli.py",
        "config_loader.py",
        "parameter_schema.py",
        "pipeline_registry.py",
        "settings.py",
    ]
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted([*LAYERS[:-1], "hooks", "pipelines"])
    for folder in folders:  # each says what it owns (and may import) in its docstring
        doc = ast.get_docstring(ast.parse((root / folder / "__init__.py").read_text()))
        assert doc and len(doc) > 40, folder


# What registering a model or moving its aliases looks like in source: the registry's own calls and the
# project's functions that make them (music_genre.modeling.registry, music_genre.modeling.champion).
REGISTRY_CALLS = (
    "create_model_version",
    "register_model",
    "set_registered_model_alias",
    "delete_registered_model_alias",
    "create_registered_model",
    "register_and_publish",
    "publish_champion",
    "music_genre.modeling.registry",
    "music_genre.modeling.promotion",
)


def registry_calls(path: Path) -> list[str]:
    """The names of ``REGISTRY_CALLS`` that ``path`` calls or imports (read with :mod:`ast`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in REGISTRY_CALLS:
                found.add(name)
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names),
                     *(a.name for a in node.names)]  # fmt: skip
            found.update(n for n in names if n in REGISTRY_CALLS)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in REGISTRY_CALLS)
    return sorted(found)


def test_no_hook_calls_the_model_registry_or_names_a_data_path():
    """Hooks only observe and wire: registration, the comparison with the champion and its copies are
    modeling code (music_genre.modeling.champion), reached with the run's named outputs; paths are the
    catalog's."""
    hooks = sorted((SOURCE / PACKAGE / "hooks").glob("*.py"))
    assert len(hooks) > 3
    for path in hooks:
        assert registry_calls(path) == [], path.name
        assert "data/0" not in path.read_text(), path.name
        assert 'catalog.save("champion' not in path.read_text(), path.name


def test_the_registry_check_catches_a_hook_that_registers(tmp_path):
    hook = tmp_path / "hook.py"
    hook.write_text(
        "from mlflow import MlflowClient\n"
        "from music_genre.modeling.registry import register_model\n"
        "def after_pipeline_run(request):\n"
        "    MlflowClient().set_registered_model_alias('m', 'champion', 1)\n"
    )
    assert registry_calls(hook) == [
        "music_genre.modeling.registry",
        "register_model",
        "set_registered_model_alias",
    ]


@pytest.mark.parametrize(
    ("bad_import", "problem"),
    [
        ("from music_genre.serving import inference", "upward"),
        ("from music_genre.data import audio", "circle"),
    ],
)
def test_the_rule_catches_an_upward_import_and_a_circle(tmp_path, bad_import, problem):
    """The checks fail on a deliberate bad import in a copy of the source (never silently pass)."""
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(SOURCE / PACKAGE, copy / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    if problem == "upward":  # the data layer reaching up into serving
        target = copy / PACKAGE / "data" / "audio.py"
    else:  # audio imported by a module that audio itself imports (common's errors: also upward)
        target = copy / PACKAGE / "data" / "inputs.py"
        audio = copy / PACKAGE / "data" / "audio.py"
        audio.write_text(audio.read_text() + "\nfrom music_genre.data import inputs  # noqa\n")
    target.write_text(target.read_text() + f"\n{bad_import}  # noqa\n")
    graph = import_graph(copy)
    if problem == "upward":
        assert upward_imports(graph) == [
            "music_genre.data.audio (data) imports music_genre.serving.inference (serving)"
        ]
    else:
        assert ["music_genre.data.audio", "music_genre.data.inputs"] in circles(graph)


def test_no_module_is_over_600_lines():
    """One module per concern: a module past 600 lines holds more than one (issue 26)."""
    package = Path(__file__).resolve().parents[1] / "src" / "music_genre"
    sizes = {
        str(path.relative_to(package)): len(path.read_text().splitlines())
        for path in package.rglob("*.py")
    }
    assert len(sizes) > 50  # the package was found
    assert {name: n for name, n in sizes.items() if n > 600} == {}
