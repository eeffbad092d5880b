"""Assertions on a model's quality that do not hinge on luck: significance against chance, from the run.

A test must not gate a score on a handful of tracks against a constant (a library upgrade, a thread count or
a rounding flips it). What is true of any sound model is that it beats chance by a margin its sample
supports: these helpers compute that margin from the counts the run itself produced.
"""

from __future__ import annotations

ALPHA = 0.01  # how unlikely the observed hits must be under chance


def above_chance_p(correct: int, n: int, chance: float) -> float:
    """One-sided binomial p-value of ``correct`` hits in ``n`` tries where chance hits with ``chance``."""
    from scipy.stats import binomtest

    return float(binomtest(int(correct), int(n), float(chance), alternative="greater").pvalue)


def assert_beats_chance(correct: int, n: int, chance: float, what: str = "", alpha: float = ALPHA):
    """``correct`` of ``n`` is significantly above ``chance`` (the majority share, or 1/classes)."""
    p = above_chance_p(correct, n, chance)
    assert p < alpha, (
        f"{what}: {correct}/{n} correct ({correct / max(n, 1):.2f}) is not above chance {chance:.2f} "
        f"(binomial p={p:.3g} >= {alpha})"
    )


def beats_random_pick_p(found: int, picked: int, planted: int, population: int) -> float:
    """One-sided hypergeometric p-value: ``picked`` items drawn at random from ``population`` holding
    ``planted`` targets would contain ``found`` or more of them with this probability."""
    from scipy.stats import hypergeom

    return float(hypergeom.sf(int(found) - 1, int(population), int(planted), int(picked)))


def assert_beats_random_pick(found: int, picked: int, planted: int, population: int, what: str = "",
                             alpha: float = ALPHA):  # fmt: skip
    """A finder that flagged ``picked`` of ``population`` items found ``found`` of the ``planted`` ones:
    significantly more than flagging at random would."""
    p = beats_random_pick_p(found, picked, planted, population)
    expected = picked * planted / max(population, 1)
    assert p < alpha, (
        f"{what}: found {found} of {planted} planted among {picked} flagged of {population} "
        f"(random flags would find {expected:.1f}; hypergeometric p={p:.3g} >= {alpha})"
    )
