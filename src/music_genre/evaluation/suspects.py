"""Suspect tags: the files of a library whose own genre tag the model strongly disagrees with.

The label-issue finder (:func:`music_genre.evaluation.report.label_issues`: cleanlab on out-of-fold
probabilities, so no file is judged by a model that learned its tag) ranks the training files whose given
genre is implausible; this turns its table into the one a library's owner reads: the file, its tag, what
the model hears, how sure it is, most suspicious first.
"""

from __future__ import annotations

import pandas as pd

SUSPECT_COLUMNS = ["rank", "path", "tag", "heard", "sure", "tag_probability"]


def suspect_tags(label_issues: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per suspect file: ``path``, ``tag`` (the genre its tags gave it), ``heard`` (the model's
    out-of-fold answer), ``sure`` (that answer's probability) and ``tag_probability`` (the tag's own).

    Args:
        label_issues: :func:`music_genre.evaluation.report.label_issues`'s table (single-label).
        manifest: the manifest (track_id -> path).

    Returns:
        The suspects, most suspicious first (empty with the columns when there are none).
    """
    if label_issues is None or label_issues.empty or "given_genre" not in label_issues:
        return pd.DataFrame(columns=SUSPECT_COLUMNS)
    paths = dict(zip(manifest["track_id"].astype(str), manifest["path"], strict=True))
    table = pd.DataFrame(
        {
            "rank": label_issues["rank"].astype("int64"),
            "path": [paths.get(str(t)) for t in label_issues["track_id"]],
            "tag": label_issues["given_genre"].astype(str),
            "heard": label_issues["suggested_genre"].astype(str),
            "sure": label_issues["suggested_confidence"].astype("float64").round(4),
            "tag_probability": label_issues["self_confidence"].astype("float64").round(4),
        }
    )
    return table[table["heard"] != table["tag"]].reset_index(drop=True)


def suspect_markdown(table: pd.DataFrame | None, top: int, markdown_table) -> list[str]:
    """The report's opening section for a library: how many suspect tags, the first ``top``
    (``markdown_table(frame, max_rows=...)`` renders the table)."""
    if table is None:
        return []
    lines = ["## Suspect tags", ""]
    if table.empty:
        return [*lines, "_none: the model agrees with every training file's tag_", ""]
    lines += [
        f"**{len(table)}** files whose genre tag the model strongly disagrees with (out-of-fold: no "
        f"file judged by a model that learned its tag). `music-genre tag ROOT --overwrite-suspects "
        f"--write` replaces them; the full list is `suspect_tags.csv`.",
        "",
        markdown_table(table, max_rows=top),
        "",
    ]
    return lines
