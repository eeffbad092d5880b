"""Caches of filter banks and kernels, keyed by the settings that shape them: in memory for the process,
and on disk across processes.

Why on disk: building the banks means importing librosa (about 2 s, most of it numba), which a one-song
``music-genre predict`` should not pay every time. The first process that needs a bank builds it and stores
it under ``$MUSIC_GENRE_CACHE_DIR`` (default ``~/.cache/music_genre/kernels``), keyed by the function, its
arguments, librosa's version and the extractor's algorithm version; later processes read it back in
milliseconds. A cache that cannot be written is simply not used.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

F = TypeVar("F", bound=Callable)
CACHE_ENV = "MUSIC_GENRE_CACHE_DIR"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "music_genre" / "kernels")


def _stamp() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from .settings import ALGORITHM_VERSION

    try:
        librosa_version = version("librosa")
    except PackageNotFoundError:  # pragma: no cover
        librosa_version = "none"
    return f"librosa-{librosa_version}-algorithm-{ALGORITHM_VERSION}-numpy-{np.__version__}"


def _disk_path(function: Callable, args: tuple, kwargs: dict) -> Path:
    key = repr((function.__module__, function.__qualname__, args, sorted(kwargs.items()), _stamp()))
    digest = hashlib.sha1(key.encode()).hexdigest()[:20]
    return cache_dir() / f"{function.__name__}-{digest}.pkl"


def _read(path: Path):
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)  # written by this module, in the user's own cache
    except (OSError, pickle.PickleError, EOFError, AttributeError, ValueError):
        return None


def _write(path: Path, value) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)
    except OSError:
        pass  # a read-only home: compute every time, as before


def cached(maxsize: int = 16, persistent: bool = False) -> Callable[[F], F]:
    """``functools.lru_cache`` whose numpy results are made read-only: every extraction in the process
    shares them, so an accidental in-place edit must fail loudly instead of corrupting later clips.
    ``persistent``: also kept on disk across processes (for builders that need librosa)."""

    def decorate(function: F) -> F:
        @functools.lru_cache(maxsize=maxsize)
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if not persistent:
                return _freeze(function(*args, **kwargs))
            path = _disk_path(function, args, kwargs)
            value = _read(path)
            if value is None:
                value = function(*args, **kwargs)
                _write(path, value)
            return _freeze(value)

        return wrapper  # type: ignore[return-value]

    return decorate


def _freeze(value):
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for item in value:
            _freeze(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _freeze(getattr(value, name))
    return value
