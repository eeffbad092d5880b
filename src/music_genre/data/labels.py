"""A track's genre list as the manifest keeps it: FMA's ``genres_all`` titles joined by ``|``.

Plain string helpers, shared by ingestion, the tasks that learn from the list and the reports that show it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TAGS_COLUMN = (
    "genres_all"  # the manifest column: every genre a track carries (its ancestors included)
)
SEPARATOR = "|"


def split_tags(value) -> list[str]:
    """``"Electronic|Techno"`` -> ``["Electronic", "Techno"]``; empty or missing -> ``[]``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    return [part for part in str(value).split(SEPARATOR) if part]


def join_tags(tags: Sequence[str]) -> str:
    return SEPARATOR.join(tags)
