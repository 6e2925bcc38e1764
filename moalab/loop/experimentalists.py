"""The two-armed bandit study's experimentalists, with AutoRA's names and arguments:
a random pool of reward schedules (autora-experimentalist-bandit-random) and the
model-disagreement samplers (autora-experimentalist-model-disagreement)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import InvalidArgument

__all__ = ("bandit_random_pool", "model_disagreement_sampler",
           "model_disagreement_sampler_custom_distance")

Range = float | Sequence[float]
"""A fixed number, or ``[low, high]`` to draw one uniformly from."""


def _draw(spec: Range, rng: np.random.Generator, size: int, what: str,
          low: float, high: float) -> np.ndarray:
    """``size`` values of ``spec`` (a number, or a ``[low, high]`` range drawn
    uniformly), each checked to lie in ``[low, high]``."""
    if np.ndim(spec) == 0:
        bounds = (float(spec), float(spec))
    elif np.shape(spec) == (2,) and spec[0] <= spec[1]:
        bounds = (float(spec[0]), float(spec[1]))
    else:
        raise InvalidArgument(
            f"bandit_random_pool {what}={spec!r}: give a number or a range [low, high] "
            "with low <= high")
    if bounds[0] < low or bounds[1] > high:
        raise InvalidArgument(
            f"bandit_random_pool {what}={spec!r} is outside [{low}, {high}]")
    return rng.uniform(*bounds, size) if bounds[0] < bounds[1] else np.full(size, bounds[0])


def bandit_random_pool(num_rewards: int = 2, sequence_length: int = 10,
                       initial_probabilities: Sequence[Range] | None = None,
                       sigmas: Sequence[Range] | None = None, num_samples: int = 1,
                       random_state: int | None = None) -> list[np.ndarray]:
    """``num_samples`` random reward schedules, each an int array of
    ``(sequence_length, num_rewards)`` of 0/1 (1: that arm rewards a choice on that
    trial).

    Each arm's reward probability starts at its ``initial_probabilities`` entry (a
    number, or ``[low, high]`` drawn uniformly per schedule; 0.5 when not given) and
    drifts by a Gaussian step of its ``sigmas`` entry (a number or a range; 0 when not
    given) each trial, clipped to [0, 1]; each trial's rewards are drawn from those
    probabilities. The same ``random_state`` gives the same pool; None gives a new one
    each call (as AutoRA's, the pool draws from a generator of its own:
    ``np.random.seed`` does not reach it, pass ``random_state``). Raises
    :class:`~moalab.InvalidArgument` for sizes or entries that do not fit.
    """
    for name, value, least in (("num_rewards", num_rewards, 1),
                               ("sequence_length", sequence_length, 1),
                               ("num_samples", num_samples, 0)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise InvalidArgument(
                f"bandit_random_pool {name}={value!r}: give a whole number >= {least}")
    rng = np.random.default_rng(random_state)
    per_arm = []
    for what, given, default, high in (("initial_probabilities", initial_probabilities,
                                        0.5, 1.0),
                                       ("sigmas", sigmas, 0.0, np.inf)):
        given = [default] * num_rewards if given is None else list(given)
        if len(given) != num_rewards:
            raise InvalidArgument(
                f"bandit_random_pool {what} has {len(given)} entries for "
                f"num_rewards={num_rewards}: give one per arm")
        per_arm.append(np.stack([_draw(spec, rng, num_samples, f"{what}[{arm}]", 0.0, high)
                                 for arm, spec in enumerate(given)], axis=-1))
    probability, sigma = per_arm
    probabilities = np.empty((num_samples, sequence_length, num_rewards))
    for t in range(sequence_length):
        probabilities[:, t] = probability
        probability = np.clip(probability + rng.normal(0.0, 1.0, probability.shape) * sigma,
                              0.0, 1.0)
    rewards = (rng.random(probabilities.shape) < probabilities).astype(int)
    return list(rewards)


def _mean_squared(a: Any, b: Any) -> float:
    return float(np.mean((np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) ** 2))


def _predictions(model: Any, conditions: Any, n: int) -> Sequence[Any]:
    """The model's predictions for the pool, one per condition."""
    predict = getattr(model, "predict", None)
    if predict is None:
        raise InvalidArgument(
            f"model disagreement: {model!r} has no predict method: give fitted models")
    predicted = predict(conditions)
    # by position: a Series or DataFrame of predictions may carry the pool's labels
    if isinstance(predicted, (pd.DataFrame, pd.Series)):
        predicted = predicted.to_numpy()
    elif not isinstance(predicted, np.ndarray):
        predicted = list(predicted)
    if len(predicted) != n:
        raise InvalidArgument(
            f"model disagreement: {model!r}.predict gave {len(predicted)} predictions for "
            f"{n} conditions: it must give one per condition")
    return predicted


def _select(conditions: Any, order: np.ndarray) -> Any:
    """The rows ``order`` of ``conditions``, of the same kind as given."""
    if isinstance(conditions, (pd.DataFrame, pd.Series)):
        return conditions.iloc[order]
    if isinstance(conditions, np.ndarray):
        return conditions[order]
    return [conditions[i] for i in order]


def model_disagreement_sampler_custom_distance(
        conditions: Any, models: Sequence[Any],
        distance_fct: Callable[[Any, Any], float],
        num_samples: int | None = 1) -> Any:
    """The ``num_samples`` conditions on which ``models`` disagree most, most first.

    Each model predicts the whole pool (``model.predict(conditions)``: one prediction
    per condition); a condition's disagreement is ``distance_fct`` of two models'
    predictions for it, summed over every pair of models. ``conditions`` is a
    DataFrame, a Series (the seed's ``conditions['reward-trajectory']``), an array or a
    list; the selection is of the same kind (rows keep their index; ties keep the
    pool's order). ``num_samples=None`` returns the whole pool ranked. Raises
    :class:`~moalab.InvalidArgument` for fewer than two models or predictions that do
    not fit.
    """
    models = list(models)
    if len(models) < 2:
        raise InvalidArgument(
            f"model disagreement needs two models or more, got {len(models)}: give the "
            "models to compare")
    n = len(conditions)
    predictions = [_predictions(model, conditions, n) for model in models]
    disagreement = np.zeros(n)
    for a, b in itertools.combinations(predictions, 2):
        disagreement += [distance_fct(a[i], b[i]) for i in range(n)]
    order = np.argsort(-disagreement, kind="stable")
    return _select(conditions, order if num_samples is None else order[:num_samples])


def model_disagreement_sampler(conditions: Any, models: Sequence[Any],
                               num_samples: int | None = 1) -> Any:
    """:func:`model_disagreement_sampler_custom_distance` with the mean squared
    difference of the predictions as the distance."""
    return model_disagreement_sampler_custom_distance(conditions, models, _mean_squared,
                                                      num_samples)
