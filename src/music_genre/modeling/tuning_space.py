"""What a tuning run searches and how it is set: the search space, the settings, a trial's hyperparameters.

Why a module of its own: these are plain data checks and conversions (YAML-friendly spec to Ray Tune
sampling objects, ``tuning`` parameters over their defaults, the sampled values over the base
hyperparameters), the part a user's parameters file meets first. They fail on a typo before any trial
starts and need no running Ray: only :func:`search_space` imports Ray, inside the function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

REPORTED_METRICS = {"validation_multi_logloss": "min", "validation_accuracy": "max"}
SEARCH_ALGORITHMS = ("optuna", "random")
SPACE_TYPES = ("uniform", "loguniform", "randint", "lograndint", "choice")
DEFAULT_TUNING = {
    "num_samples": 20,
    "max_concurrent_trials": None,
    "num_boost_round": 500,
    "metric": "validation_multi_logloss",
    "mode": None,  # None = the metric's natural direction (min for logloss, max for accuracy)
    "report_every": 5,
    "scheduler": {"grace_period": 1, "reduction_factor": 3},
    "search_alg": "optuna",
    "search_space": {},
    "trial_cpus": 1,
    "verbose": 0,  # Tune's own status tables (hundreds of lines); one log line per finished trial instead
}


def search_space(spec: Mapping) -> dict:
    """Ray Tune sampling objects from a YAML-friendly spec, so parameters files stay plain data.

    ``{name: {type: loguniform|uniform, low, high}}``, ``{type: randint|lograndint, low, high}`` (``high``
    included, unlike Ray's own randint) or ``{type: choice, values: [...]}``. Fixed values belong in the
    base hyperparameters, not here.
    """
    from ray import tune

    space: dict = {}
    for name, entry in dict(spec or {}).items():
        if not isinstance(entry, Mapping) or "type" not in entry:
            raise ValueError(
                f"search space entry {name!r} must be a mapping with a 'type' ({', '.join(SPACE_TYPES)}), "
                f"not {entry!r}; fixed values belong in the base hyperparameters"
            )
        kind = str(entry["type"]).lower()
        if kind == "choice":
            values = list(entry.get("values") or [])
            if not values:
                raise ValueError(
                    f"search space entry {name!r}: choice needs a non-empty 'values' list"
                )
            space[name] = tune.choice(values)
            continue
        if kind not in SPACE_TYPES:
            raise ValueError(
                f"search space entry {name!r}: unknown type {entry['type']!r}; "
                f"use one of {', '.join(SPACE_TYPES)}"
            )
        if "low" not in entry or "high" not in entry:
            raise ValueError(f"search space entry {name!r}: {kind} needs 'low' and 'high'")
        low, high = entry["low"], entry["high"]
        if kind in ("randint", "lograndint"):
            low, high = int(low), int(high)
            if low > high:
                raise ValueError(f"search space entry {name!r}: low {low} > high {high}")
            if kind == "lograndint" and low <= 0:
                raise ValueError(f"search space entry {name!r}: lograndint needs low > 0")
            sampler = tune.randint if kind == "randint" else tune.lograndint
            space[name] = sampler(low, high + 1)  # Ray's upper bound is exclusive
        else:
            low, high = float(low), float(high)
            if not low < high:
                raise ValueError(f"search space entry {name!r}: low {low} must be < high {high}")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"search space entry {name!r}: loguniform needs low > 0")
            space[name] = (tune.uniform if kind == "uniform" else tune.loguniform)(low, high)
    return space


def _plain(value: Any) -> Any:
    """numpy scalars -> Python ones, so params survive YAML, JSON and MLflow unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _trial_hyperparameters(base: Mapping, sampled: Mapping) -> dict:
    """The full hyperparameters of one trial: the sampled ones over the base ones.

    Bagging only happens with ``bagging_freq > 0``: when ``bagging_fraction`` is set (searched or not)
    without a frequency, bag every round, or the searched fraction would change nothing.
    """
    params = {**dict(base or {}), **{k: _plain(v) for k, v in dict(sampled).items()}}
    if params.get("bagging_fraction", 1.0) < 1.0 and not params.get("bagging_freq"):
        params["bagging_freq"] = 1
    return params


def _tuning_settings(tuning: Mapping) -> dict:
    """``tuning`` over the defaults, checked, so a typo fails before any trial starts."""
    unknown = set(tuning or {}) - set(DEFAULT_TUNING)
    if unknown:
        raise ValueError(
            f"unknown tuning settings {sorted(unknown)}; known: {', '.join(sorted(DEFAULT_TUNING))}"
        )
    settings = {**DEFAULT_TUNING, **dict(tuning or {})}
    settings["scheduler"] = {**DEFAULT_TUNING["scheduler"], **dict(settings["scheduler"] or {})}
    if settings["metric"] not in REPORTED_METRICS:
        raise ValueError(
            f"tuning.metric {settings['metric']!r} is not reported; use one of {', '.join(REPORTED_METRICS)}"
        )
    settings["mode"] = settings["mode"] or REPORTED_METRICS[settings["metric"]]
    if settings["mode"] not in ("min", "max"):
        raise ValueError(f"tuning.mode must be min or max, not {settings['mode']!r}")
    if settings["search_alg"] not in SEARCH_ALGORITHMS:
        raise ValueError(
            f"tuning.search_alg {settings['search_alg']!r}: use one of {', '.join(SEARCH_ALGORITHMS)}"
        )
    if not settings["search_space"]:
        raise ValueError("tuning.search_space is empty: nothing to tune")
    for key in ("num_samples", "num_boost_round", "report_every", "trial_cpus"):
        settings[key] = int(settings[key])
        if settings[key] < 1:
            raise ValueError(f"tuning.{key} must be at least 1, not {settings[key]}")
    return settings
