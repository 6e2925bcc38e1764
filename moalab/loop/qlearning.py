"""The Q-learning equations of a two-armed (or n-armed) bandit subject, in one place.

They are AutoRA's (autora-synthetic's ``AgentQ``): every arm's value starts at 0.5;
the choice probabilities are a softmax of the values times ``decision_noise`` (an
inverse temperature), the previous choice's value raised by ``perseverance_bias``
for the softmax only; after a choice the unchosen arms' values decay toward 0.5 by
``forget_rate``, the chosen arm's value moves toward the reward by ``learning_rate``
and, with ``correlated_reward``, the mirror arm (index ``n - 1 - choice``) moves by
half that step the other way.

The same functions step one learner (:class:`QLearner`, the virtual subject's) and
many subjects at once (:func:`choice_probabilities`, :func:`simulate`: arrays with
leading subject axes), so the agent, the synthetic runner and the theorist's
likelihood cannot drift apart. Only numpy is needed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..core.errors import InvalidArgument

__all__ = ("Q_INITIAL", "QLearner", "QParams", "choice_probabilities", "simulate")

Q_INITIAL = 0.5
"""Every arm's value before the first trial, and the value forgetting decays toward."""


@dataclass(frozen=True)
class QParams:
    """The parameters of a Q-learning subject, with AutoRA's names.

    ``learning_rate`` and ``forget_rate`` lie in [0, 1]; ``decision_noise`` (the
    softmax's inverse temperature) and ``perseverance_bias`` are finite numbers.
    Raises :class:`~moalab.InvalidArgument` otherwise.
    """

    learning_rate: float = 0.2
    decision_noise: float = 3.0
    forget_rate: float = 0.0
    perseverance_bias: float = 0.0
    correlated_reward: bool = False

    def __post_init__(self) -> None:
        rate = (0.0, 1.0, "a rate between 0 and 1")
        real = (-math.inf, math.inf, "a finite real number")
        for name, (low, high, accepted) in (("learning_rate", rate), ("forget_rate", rate),
                                            ("decision_noise", real),
                                            ("perseverance_bias", real)):
            value = getattr(self, name)
            if (not isinstance(value, (int, float, np.number)) or isinstance(value, bool)
                    or not (low <= value <= high and math.isfinite(value))):
                raise InvalidArgument(f"QParams {name}={value!r}: give {accepted}")


def _probabilities(q: np.ndarray, previous: np.ndarray, params: QParams) -> np.ndarray:
    """Softmax of ``decision_noise * (q + perseverance_bias * previous)`` over the last
    axis; ``previous`` is the one-hot previous choice (all zeros before the first)."""
    logits = params.decision_noise * (q + params.perseverance_bias * previous)
    # shifting by the maximum changes nothing but keeps exp() from overflowing
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def _updated(q: np.ndarray, chosen: np.ndarray, reward: np.ndarray,
             params: QParams) -> np.ndarray:
    """The values after choosing the one-hot ``chosen`` and getting ``reward``
    (one number per leading index)."""
    forgotten = np.where(chosen == 1, q,
                         (1 - params.forget_rate) * q + params.forget_rate * Q_INITIAL)
    step = params.learning_rate * (reward - (q * chosen).sum(axis=-1))
    change = chosen * step[..., None]
    if params.correlated_reward:
        # the mirror arm n - 1 - choice is the reversed one-hot
        change = change - 0.5 * chosen[..., ::-1] * step[..., None]
    return forgotten + change


def _check_schedule(rewards: np.ndarray, what: str) -> np.ndarray:
    rewards = np.asarray(rewards, dtype=float)
    if rewards.ndim < 2 or rewards.shape[-1] < 2:
        raise InvalidArgument(
            f"{what}: rewards of shape {rewards.shape} are not a reward schedule: give "
            "an array of (n_trials, n_arms) with n_arms >= 2, or a stack of them")
    return rewards


def _check_choices(choices: np.ndarray, n_arms: int, what: str) -> np.ndarray:
    choices = np.asarray(choices)
    if choices.size and (not np.issubdtype(choices.dtype, np.integer)
                         or choices.min() < 0 or choices.max() >= n_arms):
        raise InvalidArgument(
            f"{what}: choices must be arm indices 0..{n_arms - 1}, got "
            f"{np.unique(choices)[:10]!r}")
    return choices


def _run(rewards: np.ndarray, params: QParams,
         choose: Callable[[int, np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Step subjects through ``rewards`` ``(..., n_trials, n_arms)``; ``choose(t, p)``
    gives the arm indices chosen on trial ``t`` with probabilities ``p``. Returns the
    one-hot choices and the probabilities, both of the shape of ``rewards``."""
    n_arms = rewards.shape[-1]
    batch = rewards.shape[:-2]
    q = np.full(batch + (n_arms,), Q_INITIAL)
    previous = np.zeros(batch + (n_arms,))
    chosen = np.zeros(rewards.shape)
    probabilities = np.empty(rewards.shape)
    for t in range(rewards.shape[-2]):
        p = _probabilities(q, previous, params)
        probabilities[..., t, :] = p
        previous = np.eye(n_arms)[choose(t, p)]
        chosen[..., t, :] = previous
        q = _updated(q, previous, (rewards[..., t, :] * previous).sum(axis=-1), params)
    return chosen, probabilities


class QLearner:
    """One Q-learning subject, stepped trial by trial: :meth:`probabilities` before a
    choice, :meth:`update` after it. Not thread-safe (one owner steps it)."""

    def __init__(self, params: QParams | None = None, n_arms: int = 2) -> None:
        if n_arms < 2:
            raise InvalidArgument(f"QLearner n_arms={n_arms!r}: give 2 arms or more")
        self.params = params if params is not None else QParams()
        self.n_arms = n_arms
        self.reset()

    def reset(self) -> None:
        """Start a new session: values at :data:`Q_INITIAL`, no previous choice."""
        self._q = np.full(self.n_arms, Q_INITIAL)
        self._previous = np.zeros(self.n_arms)

    @property
    def values(self) -> np.ndarray:
        """A copy of the arms' values (without the perseverance bias)."""
        return self._q.copy()

    def probabilities(self) -> np.ndarray:
        """The probability of choosing each arm on the next trial, shape ``(n_arms,)``."""
        return _probabilities(self._q, self._previous, self.params)

    def update(self, choice: int, reward: float) -> None:
        """Learn from choosing arm ``choice`` (0-based) and getting ``reward`` (0 or 1,
        or any real number). Raises :class:`~moalab.InvalidArgument` for an arm that
        does not exist."""
        if not (isinstance(choice, (int, np.integer)) and 0 <= choice < self.n_arms):
            raise InvalidArgument(
                f"QLearner.update choice={choice!r}: give an arm index 0..{self.n_arms - 1}")
        chosen = np.zeros(self.n_arms)
        chosen[choice] = 1.0
        self._q = _updated(self._q, chosen, np.asarray(float(reward)), self.params)
        self._previous = chosen


def choice_probabilities(rewards: np.ndarray, choices: np.ndarray,
                         params: QParams) -> np.ndarray:
    """The probability of each arm at each trial, given the reward schedule shown and
    the choices made before that trial.

    ``rewards`` is ``(..., n_trials, n_arms)`` (the reward each arm would give on each
    trial; leading axes are subjects, all stepped at once) and ``choices`` the arm
    indices ``(..., n_trials)``; returns ``(..., n_trials, n_arms)``. The reward after a
    choice is ``rewards[t, choice]``. Raises :class:`~moalab.InvalidArgument` for
    shapes that do not fit or choices that are not arms.
    """
    rewards = _check_schedule(rewards, "choice_probabilities")
    n_arms = rewards.shape[-1]
    choices = _check_choices(choices, n_arms, "choice_probabilities")
    if choices.shape != rewards.shape[:-1]:
        raise InvalidArgument(
            f"choice_probabilities: choices of shape {choices.shape} do not fit rewards "
            f"of shape {rewards.shape}: give one choice per trial, shape "
            f"{rewards.shape[:-1]}")
    return _run(rewards, params, lambda t, p: choices[..., t])[1]


def simulate(rewards: np.ndarray, params: QParams,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simulated subjects on the reward schedules ``rewards`` ``(..., n_trials,
    n_arms)``: returns their one-hot choices and the probabilities they chose with,
    both of the shape of ``rewards``. Each trial draws one uniform number per subject
    from ``rng``, so the same seed gives the same choices."""
    rewards = _check_schedule(rewards, "simulate")
    n_arms = rewards.shape[-1]

    def draw(t: int, p: np.ndarray) -> np.ndarray:
        # the first arm whose cumulative probability exceeds a uniform draw
        u = rng.random(p.shape[:-1])[..., None]
        return np.minimum((p.cumsum(axis=-1) <= u).sum(axis=-1), n_arms - 1)

    return _run(rewards, params, draw)
