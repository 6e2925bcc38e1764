"""A theorist for the two-armed bandit: the Q-learning model of
:mod:`moalab.loop.qlearning` fitted to choices by maximum likelihood.

A scikit-learn estimator, so it works in AutoRA's own workflows too (it needs only
numpy, scipy, scikit-learn and the Q-learning equations).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, clone

from ..core.errors import InvalidArgument
from .qlearning import QParams, choice_probabilities, simulate

__all__ = ("FITTABLE", "QLearningTheorist")

FITTABLE = {
    "learning_rate": (logit, expit, (0.2, 0.6), (-20.0, 20.0)),
    "decision_noise": (np.log, np.exp, (3.0, 1.0), (np.log(1e-3), np.log(1e3))),
    "forget_rate": (logit, expit, (0.1, 0.4), (-20.0, 20.0)),
    "perseverance_bias": (float, float, (0.0, 0.3), (-50.0, 50.0)),
}
"""Each parameter the theorist can fit: the map to the value the optimiser varies
and back (logit for a rate in [0, 1], log for the inverse temperature, as bounded
L-BFGS-B stalled at its start on the natural scales), the starting values of the
optimiser's runs (one run per column; the best run wins), and the bounds of the
varied value (wide: they only keep a step on a flat likelihood, as small data give,
from reaching an infinite inverse temperature)."""


def _subjects(x: Any, what: str) -> list[np.ndarray]:
    """``x`` as a list of float arrays, one per subject: a DataFrame column or Series
    of arrays, a list of arrays, one 2-D array (one subject) or a 3-D stack."""
    if hasattr(x, "to_numpy") and getattr(x, "ndim", 1) == 2 and x.shape[1] == 1:
        x = x.iloc[:, 0]  # a one-column DataFrame: the seed's experiment_data[[name]]
    if hasattr(x, "tolist") and not isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, np.ndarray) and x.ndim == 2:
        x = [x]
    subjects = [np.asarray(s, dtype=float) for s in x]
    for i, s in enumerate(subjects):
        if s.ndim != 2 or s.shape[1] != 2:
            raise InvalidArgument(
                f"QLearningTheorist: {what}[{i}] has shape {s.shape}: give one "
                "(n_trials, 2) array per subject")
    return subjects


def _by_length(subjects: list[np.ndarray]) -> list[list[int]]:
    """The subjects' indices grouped by their number of trials: each group is stacked
    and stepped at once."""
    groups: dict[int, list[int]] = {}
    for i, s in enumerate(subjects):
        groups.setdefault(len(s), []).append(i)
    return list(groups.values())


class QLearningTheorist(BaseEstimator):
    """AutoRA AgentQ's Q-learning model, fitted to bandit choices by maximum
    likelihood (scipy's L-BFGS-B from two starting points; one parameter set for
    all subjects).

    ``fit_parameters`` names the parameters fitted (of :data:`FITTABLE`); the others
    keep the values given here. ``predict`` averages ``n_simulations`` simulated
    subjects, drawn from ``random_state`` (so two predictions of one model agree).
    """

    def __init__(self, fit_parameters: Sequence[str] = ("learning_rate", "decision_noise"),
                 learning_rate: float = 0.2, decision_noise: float = 3.0,
                 forget_rate: float = 0.0, perseverance_bias: float = 0.0,
                 correlated_reward: bool = False, n_simulations: int = 200,
                 random_state: int | None = 0) -> None:
        self.fit_parameters = fit_parameters
        self.learning_rate = learning_rate
        self.decision_noise = decision_noise
        self.forget_rate = forget_rate
        self.perseverance_bias = perseverance_bias
        self.correlated_reward = correlated_reward
        self.n_simulations = n_simulations
        self.random_state = random_state

    def _params(self, fitted: dict[str, float]) -> QParams:
        given = {name: getattr(self, name) for name in FITTABLE}
        return QParams(**{**given, **fitted}, correlated_reward=self.correlated_reward)

    def fit(self, x: Any, y: Any) -> QLearningTheorist:
        """Fit to the reward schedules ``x`` and the one-hot choices ``y`` (one
        ``(n_trials, 2)`` array per subject each: DataFrame columns, lists, or one
        array), as the seed calls it: ``theorist.fit(experiment_data['reward-trajectory'],
        experiment_data['choice-trajectory'])``.

        Returns a fitted COPY (this theorist gets the same fit), so that fitting again
        never changes a model already kept in a state's ``models``. The copy's
        ``params_`` holds the fitted parameters by AutoRA's names, ``qparams_`` all of
        them, ``log_likelihood_`` the maximum. Raises :class:`~moalab.InvalidArgument`
        for an unknown parameter name or data that do not fit.
        """
        names = list(self.fit_parameters)
        unknown = [n for n in names if n not in FITTABLE]
        if unknown or not names:
            raise InvalidArgument(
                f"QLearningTheorist fit_parameters={self.fit_parameters!r}: "
                f"unknown {unknown!r}; give one or more of {list(FITTABLE)}")
        rewards, onehot = _subjects(x, "x"), _subjects(y, "y")
        if not rewards:
            raise InvalidArgument(
                "QLearningTheorist.fit: no subjects in x: give at least one reward "
                "schedule and its choices")
        if [r.shape for r in rewards] != [c.shape for c in onehot]:
            raise InvalidArgument(
                f"QLearningTheorist.fit: {len(rewards)} schedules and {len(onehot)} choice "
                "arrays do not pair up: give one choice array of the schedule's shape per "
                "subject")
        if not all(((c == 0) | (c == 1)).all() and (c.sum(axis=1) == 1).all() for c in onehot):
            raise InvalidArgument(
                "QLearningTheorist.fit: y is not one-hot: give each trial's choice as "
                "[1, 0] (first arm) or [0, 1] (second arm)")
        groups = [(np.stack([rewards[i] for i in group]),
                   np.stack([onehot[i] for i in group]).argmax(axis=-1))
                  for group in _by_length(rewards)]

        def parameters(unbounded: np.ndarray) -> dict[str, float]:
            return {n: float(FITTABLE[n][1](u)) for n, u in zip(names, unbounded, strict=True)}

        def negative_log_likelihood(unbounded: np.ndarray) -> float:
            params = self._params(parameters(unbounded))
            total = 0.0
            for r, choices in groups:
                p = choice_probabilities(r, choices, params)
                chosen = np.take_along_axis(p, choices[..., None], axis=-1)
                total -= np.log(np.maximum(chosen, 1e-300)).sum()
            return total

        runs = [minimize(negative_log_likelihood,
                         [FITTABLE[n][0](FITTABLE[n][2][k]) for n in names], method="L-BFGS-B",
                         bounds=[FITTABLE[n][3] for n in names])
                for k in range(len(FITTABLE[names[0]][2]))]
        best = min(runs, key=lambda run: run.fun)
        fitted = clone(self)
        fitted.params_ = parameters(best.x)
        fitted.qparams_ = self._params(fitted.params_)
        fitted.log_likelihood_ = -float(best.fun)
        fitted.n_subjects_ = len(rewards)
        self.__dict__.update(copy.deepcopy(
            {k: v for k, v in vars(fitted).items() if k.endswith("_")}))
        return fitted

    def predict(self, x: Any) -> Any:
        """The expected choice probabilities, trial by trial, of a subject with the
        fitted parameters on each reward schedule of ``x``: the mean of
        ``n_simulations`` simulated subjects (their own choices feed their learning,
        as an animal's do). One ``(n_trials, 2)`` array per schedule: a list for a list,
        Series or DataFrame column, one array for one 2-D array. Raises
        :class:`~moalab.InvalidArgument` before :meth:`fit`."""
        if not hasattr(self, "qparams_"):
            raise InvalidArgument(
                "QLearningTheorist.predict before fit: fit it to data first (fit returns "
                "the fitted model)")
        schedules = _subjects(x, "x")
        rng = np.random.default_rng(self.random_state)
        out: list[np.ndarray] = [np.empty(0)] * len(schedules)
        for group in _by_length(schedules):
            stack = np.stack([schedules[i] for i in group])
            many = np.broadcast_to(stack, (self.n_simulations, *stack.shape))
            _, p = simulate(many, self.qparams_, rng)
            for i, mean in zip(group, p.mean(axis=0), strict=True):
                out[i] = mean
        return out[0] if isinstance(x, np.ndarray) and x.ndim == 2 else out
