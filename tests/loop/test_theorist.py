"""moalab.loop.theorist: QLearningTheorist recovers the parameters of simulated
Q-learning subjects, returns fitted copies, and is a scikit-learn estimator."""

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from moalab import InvalidArgument
from moalab.loop import (
    Delta,
    QLearningTheorist,
    StandardState,
    bandit_random_pool,
    on_state,
)
from moalab.loop.qlearning import QParams, simulate

TRUE = QParams(learning_rate=0.3, decision_noise=4.0)


def subjects(params: QParams, n: int = 40, trials: int = 100, seed: int = 0) -> pd.DataFrame:
    """``n`` simulated subjects, each on a schedule of its own, as experiment_data."""
    schedules = np.stack(bandit_random_pool(2, trials, [[0.2, 0.8], [0.2, 0.8]],
                                            [0.2, 0.2], n, random_state=seed))
    choices, _ = simulate(schedules, params, np.random.default_rng(seed + 1))
    return pd.DataFrame({"reward-trajectory": list(schedules),
                         "choice-trajectory": list(choices)})


def test_recovers_learning_rate_and_decision_noise_within_10_percent():
    data = subjects(TRUE)
    began = time.perf_counter()
    model = QLearningTheorist().fit(data["reward-trajectory"], data["choice-trajectory"])
    took = time.perf_counter() - began
    assert set(model.params_) == {"learning_rate", "decision_noise"}
    assert model.params_["learning_rate"] == pytest.approx(TRUE.learning_rate, rel=0.1)
    assert model.params_["decision_noise"] == pytest.approx(TRUE.decision_noise, rel=0.1)
    assert model.n_subjects_ == 40 and model.log_likelihood_ < 0
    assert took < 10, f"fit of 40 x 100 trials took {took:.1f} s"


def test_fitting_all_four_parameters_finds_them():
    true = QParams(learning_rate=0.4, decision_noise=5.0, forget_rate=0.2,
                   perseverance_bias=0.3)
    data = subjects(true, seed=3)
    theorist = QLearningTheorist(fit_parameters=list(true.__dataclass_fields__)[:4])
    model = theorist.fit(data["reward-trajectory"], data["choice-trajectory"])
    assert set(model.params_) == {"learning_rate", "decision_noise", "forget_rate",
                                  "perseverance_bias"}
    assert model.params_["learning_rate"] == pytest.approx(0.4, abs=0.1)
    assert model.params_["decision_noise"] == pytest.approx(5.0, rel=0.2)
    assert model.params_["forget_rate"] == pytest.approx(0.2, abs=0.1)
    assert model.params_["perseverance_bias"] == pytest.approx(0.3, abs=0.15)


def test_each_fit_returns_a_model_of_its_own():
    # the seed's pattern: Delta(models=[theorist.fit(x, y)]) once per cycle
    theorist = QLearningTheorist()

    @on_state()
    def theorist_on_state(experiment_data):
        x = experiment_data["reward-trajectory"]
        y = experiment_data["choice-trajectory"]
        return Delta(models=[theorist.fit(x, y)])

    state = StandardState(experiment_data=subjects(TRUE, n=10))
    state = theorist_on_state(state)
    state = theorist_on_state(state, experiment_data=subjects(
        QParams(learning_rate=0.8, decision_noise=1.0), n=10, seed=5))
    first, second = state.models
    assert first is not second and first is not theorist
    assert first.params_["learning_rate"] < 0.5 < second.params_["learning_rate"]
    assert theorist.params_ == second.params_  # the theorist holds its last fit too


def test_it_is_a_scikit_learn_estimator():
    theorist = QLearningTheorist(fit_parameters=("learning_rate",), decision_noise=2.0)
    params = theorist.get_params()
    assert params["fit_parameters"] == ("learning_rate",) and params["decision_noise"] == 2.0
    copy = clone(theorist.set_params(n_simulations=50))
    assert copy is not theorist and copy.get_params() == theorist.get_params()
    assert "QLearningTheorist(" in repr(copy)


def test_predict_averages_simulated_subjects_and_keeps_the_kind():
    data = subjects(TRUE, n=5, trials=30)
    model = QLearningTheorist(n_simulations=2000).fit(data["reward-trajectory"],
                                                      data["choice-trajectory"])
    predicted = model.predict(data["reward-trajectory"])
    assert isinstance(predicted, list) and len(predicted) == 5
    for p in predicted:
        assert p.shape == (30, 2)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(predicted[0][0], [0.5, 0.5])
    one = model.predict(data["reward-trajectory"][0])
    assert isinstance(one, np.ndarray) and one.shape == (30, 2)
    np.testing.assert_array_equal(model.predict(data["reward-trajectory"])[2], predicted[2])
    # the expectation: averaged over the subject's choices, learning on the rewards
    # shown makes the better arm likelier over the schedule
    schedule = np.tile([[1.0, 0.0]], (30, 1))
    assert model.predict(schedule)[-1, 0] > 0.9


def test_bad_input_is_named():
    with pytest.raises(InvalidArgument, match="predict before fit"):
        QLearningTheorist().predict([np.zeros((3, 2))])
    with pytest.raises(InvalidArgument, match="unknown \\['alpha'\\]"):
        QLearningTheorist(fit_parameters=["alpha"]).fit([np.zeros((3, 2))],
                                                        [np.eye(2)[[0, 1, 0]]])
    with pytest.raises(InvalidArgument, match="no subjects"):
        QLearningTheorist().fit(pd.Series([], dtype=object), [])
    with pytest.raises(InvalidArgument, match="not one-hot"):
        QLearningTheorist().fit([np.zeros((3, 2))], [np.ones((3, 2))])
    with pytest.raises(InvalidArgument, match="do not pair up"):
        QLearningTheorist().fit([np.zeros((3, 2))], [np.eye(2)[[0, 1]]])
    with pytest.raises(InvalidArgument, match="x\\[0\\] has shape \\(3,\\)"):
        QLearningTheorist().fit([np.zeros(3)], [np.eye(2)[[0, 1, 0]]])


# 4 subjects x 20 trials on one schedule (per arm), whose likelihood is flattest as
# the inverse temperature grows: unbounded, the fit stepped it to infinity and failed
SCHEDULE = np.array([[0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0],
                     [1, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]]).T
CHOICES = [[1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0],
           [1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0, 0, 1, 1],
           [0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0],
           [1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0]]


def test_a_flat_likelihood_gives_a_finite_fit():
    """Small data whose likelihood keeps rising with the inverse temperature: the
    fit stops at its bounds (a finite, degenerate model) instead of failing."""
    model = QLearningTheorist().fit([SCHEDULE] * 4, [np.eye(2)[c] for c in CHOICES])
    assert all(np.isfinite(value) for value in model.params_.values()), model.params_
    assert 0 <= model.params_["learning_rate"] <= 1
