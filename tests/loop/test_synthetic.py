"""q_learning's runner: AutoRA's synthetic runner, each subject a run of the bandit tree."""

import time

import numpy as np
import pandas as pd
import pytest
import trio

from moalab import InvalidArgument, MoaError
from moalab.loop import (
    Delta,
    StandardState,
    Variable,
    VariableCollection,
    on_state,
    q_learning,
)
from moalab.loop.experimentalists import bandit_random_pool
from moalab.loop.qlearning import QParams, choice_probabilities


def conditions(n_subjects=4, n_trials=30, seed=0):
    return pd.DataFrame({"reward-trajectory": bandit_random_pool(
        num_rewards=2, sequence_length=n_trials, initial_probabilities=[[.2, .8], [.2, .8]],
        sigmas=[.2, .2], num_samples=n_subjects, random_state=seed)})


def test_it_returns_one_hot_choices_and_the_probabilities_chosen_with():
    frame = conditions()
    params = QParams(learning_rate=0.4, decision_noise=4.0, perseverance_bias=0.2)
    runner = q_learning(**vars(params))
    choices, probabilities = runner.run(frame, random_state=5, return_choice_probabilities=True)
    assert len(choices) == len(probabilities) == 4
    for schedule, chosen, p in zip(frame["reward-trajectory"], choices, probabilities,
                                   strict=True):
        assert chosen.shape == p.shape == (30, 2) and chosen.dtype == float
        assert (chosen.sum(axis=1) == 1).all() and np.isin(chosen, (0, 1)).all()
        expected = choice_probabilities(schedule, chosen.argmax(axis=1), params)
        assert np.abs(p - expected).max() < 1e-9
    # the subjects are not one subject four times
    assert len({chosen.tobytes() for chosen in choices}) == 4


def test_the_same_random_state_gives_the_same_choices():
    frame, runner = conditions(), q_learning()
    first = runner.run(frame, random_state=1)
    assert all((a == b).all() for a, b in zip(first, runner.run(frame, random_state=1),
                                              strict=True))
    other = runner.run(frame, random_state=2)
    assert any((a != b).any() for a, b in zip(first, other, strict=True))
    # None draws from numpy's global generator: np.random.seed makes it reproducible
    np.random.seed(11)
    seeded = runner.run(frame)
    np.random.seed(11)
    assert all((a == b).all() for a, b in zip(seeded, runner.run(frame), strict=True))


def test_one_array_and_autora_s_example_shapes():
    rewards = np.array([[0, 1], [0, 1], [0, 1], [1, 0], [1, 0], [1, 0]])
    (chosen,) = q_learning().run(rewards, random_state=42)
    assert chosen.shape == (6, 2)
    # a DataFrame of one column of any name, as AutoRA's docstring gives it
    (same,) = q_learning().run(pd.DataFrame({"reward array": [rewards]}), random_state=42)
    assert (same == chosen).all()


def test_the_seed_workflow_s_synthetic_runner_step_runs_as_written():
    # the seed's code, imports changed only
    runner = q_learning()
    variables = VariableCollection(independent_variables=[Variable(name="reward-trajectory")],
                                   dependent_variables=[Variable(name="choice-trajectory")])
    state = StandardState(variables=variables, conditions=conditions(2, 20))

    @on_state()
    def runner_on_state_synthetic(conditions):
        choices, choice_probabilities = runner.run(conditions, return_choice_probabilities=True)
        experiment_data = pd.DataFrame({
            'reward-trajectory': conditions['reward-trajectory'].tolist(),
            'choice-trajectory': choices,
            'choice-probability-trajectory': choice_probabilities
        })
        return Delta(experiment_data=experiment_data)

    state = runner_on_state_synthetic(state)
    state = runner_on_state_synthetic(state)  # a second cycle's rows are added
    data = state.experiment_data
    assert len(data) == 4 and data["choice-trajectory"].iloc[3].shape == (20, 2)


@pytest.mark.parametrize("bad, named", [
    (pd.DataFrame({"a": [1], "b": [2]}), "columns ['a', 'b']"),
    (np.array([[0, 1, 1]]), "condition 0 of shape (1, 3)"),
    ([np.array([[0, 1]]), np.array([[3, 1]])], "condition 1 holds [3.0]"),
    (42, "give a DataFrame"),
])
def test_conditions_it_cannot_read_are_named(bad, named):
    with pytest.raises(InvalidArgument) as caught:
        q_learning().run(bad)
    assert named in str(caught.value)


def test_bad_parameters_and_random_states_are_refused():
    with pytest.raises(InvalidArgument, match="learning_rate=1.5"):
        q_learning(learning_rate=1.5)
    with pytest.raises(InvalidArgument, match="random_state=-1"):
        q_learning().run(conditions(1, 4), random_state=-1)


async def test_inside_a_trio_run_it_says_to_use_a_thread():
    with pytest.raises(MoaError, match="from a worker thread"):
        q_learning().run(conditions(1, 4))
    (chosen,) = await trio.to_thread.run_sync(q_learning().run, conditions(1, 4))
    assert chosen.shape == (4, 2)


def test_many_subjects_run_at_once_quickly():
    # a quarter of the benchmark's cycle (40 x 100), with a generous bound for a shared CPU
    frame = conditions(10, 100)
    started = time.perf_counter()
    choices = q_learning().run(frame, random_state=0)
    took = time.perf_counter() - started
    assert len(choices) == 10 and took < 10, took
