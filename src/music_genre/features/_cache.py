"""Module-level caches of filter banks and kernels, keyed by the settings that shape them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import numpy as np

F = TypeVar("F", bound=Callable)


def cached(maxsize: int = 16) -> Callable[[F], F]:
    """``functools.lru_cache`` whose numpy results are made read-only: every extraction in the process
    shares them, so an accidental in-place edit must fail loudly instead of corrupting later clips."""

    def decorate(function: F) -> F:
        @functools.lru_cache(maxsize=maxsize)
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            return _freeze(function(*args, **kwargs))

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
