"""Where the catalog keeps a dataset, read from its configuration (the config loader's ``catalog``, paths
as configured, ``${...}`` resolved): code names datasets, never their paths."""

from __future__ import annotations

import os
from collections.abc import Mapping


def configured_path(config: Mapping, name: str) -> str | None:
    """The ``filepath`` (or a partitioned dataset's ``path``) of ``name`` in the catalog ``config``, as
    configured (relative to the project when it is relative); a wrapped dataset's (an MLflow artifact)
    inner one. None when the entry is missing or keeps no file."""
    entry = config.get(name)
    if not isinstance(entry, Mapping):
        return None
    inner = entry.get("dataset") if isinstance(entry.get("dataset"), Mapping) else {}
    where = entry.get("filepath") or entry.get("path") or inner.get("filepath")
    return None if where is None else str(where)


def partition_path(config: Mapping, name: str, partition: str) -> str | None:
    """The file of ``partition`` in the partitioned dataset ``name`` (its folder, the partition's key and
    the dataset's ``filename_suffix``)."""
    folder = configured_path(config, name)
    if folder is None:
        return None
    return f"{folder.rstrip('/')}/{partition}{(config.get(name) or {}).get('filename_suffix', '')}"


def shown_path(path: str | None, project: str | os.PathLike | None) -> str | None:
    """``path`` as a person in the project folder types it: relative to ``project`` when inside it
    (Kedro's context makes the catalog's paths absolute), else as it is."""
    if path is None or project is None or not os.path.isabs(path):
        return path
    try:
        relative = os.path.relpath(path, project)
    except ValueError:  # another drive
        return path
    return path if relative.startswith("..") else relative
