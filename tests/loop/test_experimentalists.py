"""moalab.loop.experimentalists: the bandit's random pool and the model-disagreement
samplers (AutoRA's names and arguments)."""

import numpy as np
import pandas as pd
import pytest

from moalab import InvalidArgument
from moalab.loop import (
    bandit_random_pool,
    model_disagreement_sampler,
    model_disagreement_sampler_custom_distance,
)


def test_pool_shapes_values_and_seed():
    pool = bandit_random_pool(num_rewards=2, sequence_length=100,
                              initial_probabilities=[[0.2, 0.8], [0.2, 0.8]],
                              sigmas=[0.2, 0.2], num_samples=5, random_state=3)
    assert len(pool) == 5
    for schedule in pool:
        assert schedule.shape == (100, 2) and set(np.unique(schedule)) <= {0, 1}
    again = bandit_random_pool(2, 100, [[0.2, 0.8], [0.2, 0.8]], [0.2, 0.2], 5, 3)
    assert all((a == b).all() for a, b in zip(pool, again, strict=True))
    other = bandit_random_pool(2, 100, [[0.2, 0.8], [0.2, 0.8]], [0.2, 0.2], 5, 4)
    assert any((a != b).any() for a, b in zip(pool, other, strict=True))
    assert len(bandit_random_pool()) == 1 and bandit_random_pool()[0].shape == (10, 2)


def test_fixed_probabilities_without_drift_are_their_rates():
    pool = bandit_random_pool(num_rewards=3, sequence_length=2000,
                              initial_probabilities=[0.0, 0.25, 1.0], random_state=1)
    np.testing.assert_allclose(pool[0].mean(axis=0), [0.0, 0.25, 1.0], atol=0.03)


def test_drift_spreads_the_rates_of_schedules():
    # from 0.5, a schedule's rate wanders: its mean varies more than a fixed coin's
    def spread(sigma):
        pool = bandit_random_pool(num_rewards=1, sequence_length=30, sigmas=[sigma],
                                  num_samples=300, random_state=2)
        return np.std([schedule.mean() for schedule in pool])

    assert spread(0.0) < 0.12 and spread(0.2) > 0.17


@pytest.mark.parametrize("kwargs, match", [
    ({"initial_probabilities": [0.5]}, "1 entries for num_rewards=2"),
    ({"initial_probabilities": [[0.8, 0.2], 0.5]}, "low <= high"),
    ({"initial_probabilities": [1.5, 0.5]}, "outside"),
    ({"sigmas": [-0.1, 0.1]}, "outside"),
    ({"sequence_length": 0}, "sequence_length=0"),
])
def test_bad_pool_arguments_are_named(kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        bandit_random_pool(**kwargs)


class Predicts:
    """A model whose prediction for a schedule is its first trial's rewards, shifted
    by ``offset`` on the schedules whose first trial is (1, 1)."""

    def __init__(self, offset):
        self.offset = offset

    def predict(self, conditions):
        return [np.asarray(c, dtype=float)[:1] + self.offset * (np.asarray(c)[0] == 1).all()
                for c in conditions]


def pool_with_known_conditions():
    schedules = bandit_random_pool(2, 6, num_samples=12, random_state=5)
    known = [2, 7, 9]
    for i, schedule in enumerate(schedules):
        schedule[0] = [1, 1] if i in known else [0, 1]
    return schedules, known


def test_disagreement_picks_the_conditions_where_the_models_differ():
    schedules, known = pool_with_known_conditions()
    models = [Predicts(0.0), Predicts(0.5)]
    series = pd.DataFrame({"reward-trajectory": schedules})["reward-trajectory"]
    chosen = model_disagreement_sampler_custom_distance(
        series, models, lambda a, b: float(np.mean((a - b) ** 2)), num_samples=3)
    assert isinstance(chosen, pd.Series) and sorted(chosen.index) == known
    as_frame = pd.DataFrame(chosen)  # what the seed's Delta(conditions=...) makes of it
    assert list(as_frame.columns) == ["reward-trajectory"]
    picked = model_disagreement_sampler(schedules, models, num_samples=3)
    assert isinstance(picked, list)
    assert sorted(next(i for i, s in enumerate(schedules) if s is p) for p in picked) == known


def test_disagreement_ranks_by_summed_pairs_and_keeps_the_kind():
    conditions = np.array([[1.0], [2.0], [3.0]])

    class Times:
        def __init__(self, k):
            self.k = k

        def predict(self, x):
            return x * self.k

    ranked = model_disagreement_sampler(conditions, [Times(1), Times(2), Times(4)],
                                        num_samples=None)
    assert isinstance(ranked, np.ndarray) and ranked[:, 0].tolist() == [3.0, 2.0, 1.0]
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=[10, 11, 12])
    top = model_disagreement_sampler(frame, [Times(1), Times(3)], num_samples=1)
    assert isinstance(top, pd.DataFrame) and list(top.index) == [12]
    with pytest.raises(InvalidArgument, match="two models or more"):
        model_disagreement_sampler(frame, [Times(1)])
