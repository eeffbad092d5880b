"""Seeded, stratified, artist-grouped train/validation/test splits for data without an official split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

SPLIT_NAMES = ("training", "validation", "test")


def stratified_group_split(
    labels: Sequence[str],
    groups: Sequence[str | None],
    ratios: Mapping[str, float],
    seed: int,
) -> np.ndarray:
    """Assign every item a split name, keeping each group (artist) whole and each label's ratios close.

    Items without a group are their own group. Groups are visited in a seeded random order, largest first,
    and each goes to the split whose share of that group's main label is furthest below its target: the
    greedy answer to "no artist in two splits" that stays stable under a fixed seed.
    """
    names = [name for name in ratios if ratios[name] > 0]
    if not names:
        raise ValueError("split ratios must give at least one split a positive share")
    weights = np.array([float(ratios[name]) for name in names])
    weights = weights / weights.sum()

    frame = pd.DataFrame({"label": list(labels), "group": list(groups)})
    frame["group"] = [
        f"__item_{i}" if g is None or (isinstance(g, float) and np.isnan(g)) else str(g)
        for i, g in enumerate(frame["group"])
    ]
    group_sizes = frame.groupby("group").size()
    group_label = frame.groupby("group")["label"].agg(lambda s: s.value_counts().index[0])

    rng = np.random.default_rng(seed)
    order = np.array(sorted(group_sizes.index))
    order = order[rng.permutation(len(order))]
    # Largest groups first (stable on the shuffled order) so big artists do not unbalance the tail.
    order = sorted(order, key=lambda g: -group_sizes[g])

    label_totals = frame["label"].value_counts()
    assigned: dict[str, str] = {}
    counts = {label: np.zeros(len(names)) for label in label_totals.index}
    overall = np.zeros(len(names))
    for group in order:
        label = group_label[group]
        deficit = weights * label_totals[label] - counts[label]
        # Ties within a label (common for tiny genres) go to the split furthest behind overall, so small
        # splits still get tracks from some genres instead of always losing the tie.
        overall_deficit = weights * len(frame) - overall
        choice = int(np.lexsort((-overall_deficit, -np.round(deficit, 9)))[0])
        assigned[group] = names[choice]
        counts[label][choice] += group_sizes[group]
        overall[choice] += group_sizes[group]
    return frame["group"].map(assigned).to_numpy()
