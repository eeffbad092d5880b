"""Estimators whose probabilities agree with their decisions.

``SVC(probability=True)`` fits Platt scaling by an internal 5-fold cross-validation whose argmax is not
``SVC.predict``: on small collections it costs 7-10 points of accuracy (0.48 -> 0.41 on 118 real clips), and
scikit-learn 1.9 deprecates it. :class:`TemperatureSVC` keeps the SVM's own decision and turns its
one-vs-rest decision values into probabilities with one softmax temperature fitted on out-of-fold decision
values: one positive scale for every genre, so the most probable genre is the SVM's decision.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class TemperatureSVC(ClassifierMixin, BaseEstimator):
    def __init__(self, C=1.0, kernel="rbf", gamma="scale", degree=3, class_weight=None,
                 random_state=None, calibration_folds=5):  # fmt: skip
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.class_weight = class_weight
        self.random_state = random_state
        self.calibration_folds = calibration_folds

    def _svc(self):
        from sklearn.svm import SVC

        return SVC(C=self.C, kernel=self.kernel, gamma=self.gamma, degree=self.degree,
                   class_weight=self.class_weight, random_state=self.random_state,
                   decision_function_shape="ovr", break_ties=True)  # fmt: skip

    def fit(self, X, y):
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        self.svc_ = self._svc().fit(X, y)
        self.classes_ = self.svc_.classes_
        smallest = int(np.min(np.unique(y, return_counts=True)[1]))
        folds = min(int(self.calibration_folds), smallest)
        self.temperature_ = 1.0
        if folds >= 2 and len(self.classes_) > 1:
            splitter = StratifiedKFold(folds, shuffle=True, random_state=self.random_state)
            scores = cross_val_predict(self._svc(), X, y, cv=splitter, method="decision_function")
            self.temperature_ = _fit_temperature(_ovr(scores, len(self.classes_)), y, self.classes_)
        return self

    def decision_function(self, X):
        return _ovr(
            self.svc_.decision_function(np.asarray(X, dtype=np.float64)), len(self.classes_)
        )

    def predict_proba(self, X):
        return _softmax(self.temperature_ * self.decision_function(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def _ovr(scores: np.ndarray, n_classes: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if n_classes == 2:  # binary: one column, positive = the second class
        return np.column_stack([-scores, scores]) / 2.0
    return scores


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_temperature(scores: np.ndarray, y: np.ndarray, classes: np.ndarray) -> float:
    """The positive scale of the decision values that minimises the out-of-fold log loss."""
    from scipy.optimize import minimize_scalar

    index = np.searchsorted(classes, y)

    def loss(log_t: float) -> float:
        proba = _softmax(np.exp(log_t) * scores)
        return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), index], 1e-15, None))))

    result = minimize_scalar(loss, bounds=(np.log(1e-2), np.log(1e3)), method="bounded")
    return float(np.exp(result.x))


class SoftVote:
    """The ``ensemble`` model type: the mean of its members' probabilities (a soft vote).

    Each member is ``(model_type, estimator, scaler, best_iteration)`` fitted on the same columns in the
    same order, with the classes in the same (sorted) order; a scaled member keeps its own scaler, so a
    random forest beside an SVM sees the raw values. Averaging probabilities of members that are each
    roughly calibrated keeps the mean roughly calibrated (it tends to pull extremes in, not push them
    out: docs/benchmarks.md measures the reliability of both)."""

    def __init__(self, members: list[tuple]):
        self.members = list(members)

    @property
    def member_types(self) -> list[str]:
        return [member[0] for member in self.members]

    def predict_proba(self, values: np.ndarray) -> np.ndarray:
        total = None
        for model_type, estimator, scaler, best_iteration in self.members:
            x = values if scaler is None else scaler.transform(values)
            if model_type == "lightgbm":
                proba = estimator.predict(x, num_iteration=best_iteration)
            else:
                proba = estimator.predict_proba(x)
            proba = np.asarray(proba, dtype=np.float64).reshape(len(values), -1)
            total = proba if total is None else total + proba
        return total / len(self.members)
