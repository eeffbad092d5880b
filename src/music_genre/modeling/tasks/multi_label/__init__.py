"""The multi-label task: every genre a track carries (FMA's genres_all), one binary model and one
decision threshold per genre. ``task`` is the task itself; ``labels``, ``metrics`` and ``training`` are
its label set, its metrics and its model's training (its evaluation report: :mod:`music_genre.evaluation.tags`).
"""
