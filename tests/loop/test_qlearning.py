"""moalab.loop.qlearning against AutoRA AgentQ's equations, written out here with
plain Python numbers, one trial at a time."""

import math

import numpy as np
import pytest

from moalab import InvalidArgument
from moalab.loop.qlearning import QLearner, QParams, choice_probabilities, simulate

PARAMETER_SETS = [
    QParams(),
    QParams(learning_rate=0.7, decision_noise=1.5),
    QParams(learning_rate=0.3, decision_noise=5.0, forget_rate=0.2),
    QParams(learning_rate=0.4, decision_noise=2.0, perseverance_bias=0.35),
    QParams(learning_rate=0.5, decision_noise=4.0, correlated_reward=True),
    QParams(learning_rate=0.25, decision_noise=6.0, forget_rate=0.1,
            perseverance_bias=-0.2, correlated_reward=True),
]


def written_out(rewards, choices, p: QParams) -> list[list[float]]:
    """The two-armed AgentQ, trial by trial."""
    q = [0.5, 0.5]
    previous = None
    out = []
    for t, c in enumerate(choices):
        v = list(q)
        if previous is not None:
            v[previous] += p.perseverance_bias
        e0, e1 = math.exp(p.decision_noise * v[0]), math.exp(p.decision_noise * v[1])
        out.append([e0 / (e0 + e1), e1 / (e0 + e1)])
        other = 1 - c
        q[other] = (1 - p.forget_rate) * q[other] + p.forget_rate * 0.5
        step = p.learning_rate * (rewards[t][c] - q[c])
        if p.correlated_reward:
            q[other] -= 0.5 * step
        q[c] += step
        previous = c
    return out


def schedule(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.random((n, 2)) < [0.3, 0.7]).astype(float)


@pytest.mark.parametrize("params", PARAMETER_SETS)
def test_choice_probabilities_equal_the_equations(params):
    rng = np.random.default_rng(1)
    rewards = schedule(rng, 60)
    choices = rng.integers(0, 2, 60)
    expected = np.array(written_out(rewards, choices, params))
    np.testing.assert_allclose(choice_probabilities(rewards, choices, params), expected,
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("params", PARAMETER_SETS)
def test_learner_steps_as_the_equations(params):
    rng = np.random.default_rng(2)
    rewards = schedule(rng, 40)
    choices = rng.integers(0, 2, 40)
    learner = QLearner(params)
    stepped = []
    for t, c in enumerate(choices):
        stepped.append(learner.probabilities())
        learner.update(int(c), rewards[t, c])
    np.testing.assert_allclose(stepped, written_out(rewards, choices, params), atol=1e-9)


def test_many_subjects_at_once_equal_each_alone():
    rng = np.random.default_rng(3)
    rewards = np.stack([schedule(rng, 30) for _ in range(5)])
    choices = rng.integers(0, 2, (5, 30))
    params = PARAMETER_SETS[-1]
    together = choice_probabilities(rewards, choices, params)
    for s in range(5):
        np.testing.assert_allclose(together[s],
                                   choice_probabilities(rewards[s], choices[s], params),
                                   atol=1e-12)


def test_simulate_chooses_with_the_probabilities_it_reports():
    rng = np.random.default_rng(4)
    rewards = np.stack([schedule(rng, 50) for _ in range(8)])
    params = QParams(learning_rate=0.3, decision_noise=4.0, perseverance_bias=0.1)
    chosen, probabilities = simulate(rewards, params, np.random.default_rng(7))
    assert chosen.shape == probabilities.shape == rewards.shape
    assert set(np.unique(chosen)) <= {0.0, 1.0} and (chosen.sum(axis=-1) == 1).all()
    np.testing.assert_allclose(
        probabilities, choice_probabilities(rewards, chosen.argmax(axis=-1), params),
        atol=1e-12)
    again, _ = simulate(rewards, params, np.random.default_rng(7))
    np.testing.assert_array_equal(chosen, again)


def test_a_strong_preference_is_sampled_at_its_rate():
    # many subjects on one trial: the share choosing arm 1 matches its probability
    params = QParams(decision_noise=3.0, perseverance_bias=0.4)
    rewards = np.zeros((20_000, 2, 2))
    chosen, p = simulate(rewards, params, np.random.default_rng(5))
    first = chosen[:, 0, 0] == 1
    share = chosen[first, 1, 0].mean()  # stayed on arm 0 after choosing it
    assert abs(share - p[first, 1, 0].mean()) < 0.02


@pytest.mark.parametrize("bad", [{"learning_rate": 1.5}, {"forget_rate": -0.1},
                                 {"learning_rate": "0.2"}, {"decision_noise": None},
                                 {"decision_noise": float("nan")},
                                 {"perseverance_bias": float("inf")}])
def test_bad_parameters_are_refused_by_name(bad):
    with pytest.raises(InvalidArgument, match=next(iter(bad))):
        QParams(**bad)


def test_bad_shapes_and_choices_are_refused():
    rewards = np.zeros((10, 2))
    with pytest.raises(InvalidArgument, match="one choice per trial"):
        choice_probabilities(rewards, np.zeros(9, dtype=int), QParams())
    with pytest.raises(InvalidArgument, match="arm indices"):
        choice_probabilities(rewards, np.full(10, 2), QParams())
    with pytest.raises(InvalidArgument, match="reward schedule"):
        choice_probabilities(np.zeros(10), np.zeros(10, dtype=int), QParams())
    with pytest.raises(InvalidArgument, match="arm index"):
        QLearner().update(3, 1.0)
