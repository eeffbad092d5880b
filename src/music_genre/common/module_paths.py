"""Where code used to live: old module paths of ``music_genre``, mapped to where that code lives now.

Why: a pickled model names its classes by module path (``music_genre.model.GenreClassifier``), and so does
every model version already in a user's MLflow registry. When the package was split into stage folders
(``data``, ``features``, ``modeling``, ...), those paths moved. :func:`install` puts a finder on
``sys.meta_path`` that answers an old path with the module that holds the code today, so yesterday's
model files and user code that imports the old paths keep working. Moving a module again means one more
line here, never a broken model file. Standard library only; installed by ``music_genre/__init__.py``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# Old dotted path -> today's. A package's submodules follow it (music_genre.embeddings.weights ->
# music_genre.features.embeddings.weights). Names that are packages again today (music_genre.evaluation,
# music_genre.serving) cannot be mapped: no saved artifact ever named them.
MOVED = {
    "music_genre.errors": "music_genre.common.errors",
    "music_genre.stack": "music_genre.common.stack",
    "music_genre.ray_runtime": "music_genre.common.ray_runtime",
    "music_genre.audio": "music_genre.data.audio",
    "music_genre.fma": "music_genre.data.fma",
    "music_genre.splits": "music_genre.data.splits",
    "music_genre.ingestion": "music_genre.data.ingestion",
    "music_genre.download": "music_genre.data.download",
    "music_genre.datasets": "music_genre.data.datasets",
    "music_genre.sample_data": "music_genre.sample",
    "music_genre.extraction": "music_genre.features.extraction",
    "music_genre.feature_cache": "music_genre.features.feature_cache",
    "music_genre.embeddings": "music_genre.features.embeddings",
    "music_genre.model": "music_genre.modeling.artifact",
    "music_genre.estimators": "music_genre.modeling.estimators",
    "music_genre.metrics": "music_genre.modeling.metrics",
    "music_genre.training": "music_genre.modeling.training",
    "music_genre.tuning": "music_genre.modeling.tuning",
    "music_genre.tracking": "music_genre.modeling.registry",
    "music_genre.mlflow_model": "music_genre.modeling.mlflow_model",
    "music_genre.model_store": "music_genre.modeling.store",
    "music_genre.monitoring.champion": "music_genre.modeling.promotion",
    "music_genre.tags.evaluation": "music_genre.evaluation.tags",
    "music_genre.tags": "music_genre.modeling.tasks.multi_label",
    "music_genre.modeling.tags": "music_genre.modeling.tasks.multi_label",
    "music_genre.inference": "music_genre.serving.inference",
    "music_genre.console": "music_genre.serving.commands",
    "music_genre.serving.console": "music_genre.serving.commands",
    "music_genre.page": "music_genre.serving.page",
    "music_genre.served_inputs": "music_genre.serving.served_inputs",
    "music_genre.run_summary": "music_genre.serving.run_summary",
    # names that say what a module is (issue 26)
    "music_genre.common.console_log": "music_genre.common.run_logging",
    "music_genre.monitoring.progress": "music_genre.monitoring.checkpoints",
    "music_genre.monitoring.metrics_export": "music_genre.monitoring.prometheus_textfile",
    "music_genre.serving.metrics": "music_genre.serving.prometheus_metrics",
    "music_genre.features._cache": "music_genre.features._kernel_cache",
}
# Old paths answered without a warning: the console script of an install made before the move names
# them (``music-genre = music_genre.serving.console:main`` until ``pip install -e .`` is run again), and
# a person running ``music-genre`` did not write that import.
ENTRY_POINTS = {"music_genre.serving.console"}


def current_path(name: str) -> str | None:
    """Today's dotted path for an old one (None when ``name`` did not move)."""
    if name in MOVED:
        return MOVED[name]
    for old in sorted(MOVED, key=len, reverse=True):
        if name.startswith(old + "."):
            return MOVED[old] + name[len(old) :]
    return None


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers ``import music_genre.model`` with ``music_genre.modeling.artifact``: the same module object,
    so classes keep their identity (a model unpickled either way is the same class)."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("music_genre.") or current_path(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = current_path(spec.name)
        if spec.name in ENTRY_POINTS:
            return importlib.import_module(new)
        warnings.warn(
            f"{spec.name} moved to {new}; the old path works through music_genre.common.module_paths",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(new)

    def exec_module(self, module) -> None:  # the module ran when it was imported by its own name
        return None


def install() -> None:
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
