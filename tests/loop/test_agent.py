"""QLearningAgent on the bandit tree, in virtual time: it chooses with the Q-learning
equations' probabilities, learns from what it sees, and acts on the cues as an animal."""

import random

import numpy as np
import pytest
import trio
import trio.testing

from moalab import InvalidArgument, MoaStage, Run
from moalab.loop import QLearningAgent
from moalab.loop.bandit import (
    BanditTrials,
    counterbalanced_sides,
    virtual_bandit_devices,
)
from moalab.loop.qlearning import QParams, choice_probabilities


def run_agent(schedule, params, seed, **agent_kwargs):
    """One agent's session of ``schedule`` on virtual devices; returns (agent, trials)."""
    window = agent_kwargs.pop("response_window", 0.0)
    rig = virtual_bandit_devices()
    agent = QLearningAgent(rig, params, seed=seed, name="subject", **agent_kwargs)
    trials = []
    root = MoaStage(name="bandit")
    root.add_stage(BanditTrials(np.asarray(schedule), counterbalanced_sides(
        len(schedule), random.Random(seed)), rig, lambda **v: trials.append(v), iti=1.0,
        response_window=window, name="trials"))
    run = Run(root, devices=[*rig, agent])
    trio.run(run.execute, clock=trio.testing.MockClock(autojump_threshold=0))
    assert run.status == "done", run.error
    return agent, trials


def equations(rewards, choices, p):
    """AutoRA AgentQ's probabilities written out, one trial at a time."""
    q, previous, out = np.full(2, 0.5), -1, []
    for reward_row, choice in zip(rewards, choices, strict=True):
        shown = q.copy()
        if previous != -1:
            shown[previous] += p.perseverance_bias
        weights = np.exp(p.decision_noise * shown)
        out.append(weights / weights.sum())
        other = 1 - choice
        q[other] = (1 - p.forget_rate) * q[other] + p.forget_rate * 0.5
        step = p.learning_rate * (reward_row[choice] - q[choice])
        if p.correlated_reward:
            q[other] -= 0.5 * step
        q[choice] += step
        previous = choice
    return np.array(out)


def schedule(n, seed):
    return (np.random.default_rng(seed).random((n, 2)) < [0.3, 0.7]).astype(int)


@pytest.mark.parametrize("params", [
    QParams(),
    QParams(learning_rate=0.6, decision_noise=5.0),
    QParams(forget_rate=0.3, perseverance_bias=0.4),
    QParams(learning_rate=0.4, decision_noise=2.0, correlated_reward=True),
], ids=["defaults", "fast", "forget-persevere", "correlated"])
def test_the_probabilities_it_chose_with_are_the_equations(params):
    rewards = schedule(40, 1)
    agent, trials = run_agent(rewards, params, seed=7)
    choices = np.array(agent.choices)
    assert len(agent.probabilities) == len(choices) == len(trials) == 40
    recorded = np.array(agent.probabilities)
    assert np.abs(recorded - choice_probabilities(rewards, choices, params)).max() < 1e-9
    assert np.abs(recorded - equations(rewards, choices, params)).max() < 1e-9
    # what it pressed is what the tree recorded; what it learnt from is what it was given
    assert [t["arm"] for t in trials] == agent.choices
    assert agent.rewards == [int(t["rewarded"]) for t in trials]
    assert agent.rewards == [int(rewards[i, arm]) for i, arm in enumerate(agent.choices)]


def test_it_learns_the_arm_that_pays():
    # arm 1 always pays, arm 0 never: a learner ends choosing arm 1 nearly always
    agent, _ = run_agent(np.tile([0, 1], (50, 1)), QParams(learning_rate=0.5,
                                                             decision_noise=8.0), seed=3)
    assert agent.probabilities[0][1] == pytest.approx(0.5)
    assert agent.probabilities[-1][1] > 0.95
    assert sum(agent.choices[-20:]) >= 18


def test_the_same_seed_gives_the_same_choices():
    rewards = schedule(30, 2)
    first = run_agent(rewards, QParams(), seed=11)[0].choices
    assert run_agent(rewards, QParams(), seed=11)[0].choices == first
    assert run_agent(rewards, QParams(), seed=12)[0].choices != first


def test_it_presses_after_its_reaction_time():
    _, trials = run_agent(schedule(5, 3), QParams(), seed=1, reaction_time=0.7)
    assert [t["rt"] for t in trials] == pytest.approx([0.7] * 5)


def test_a_response_window_shorter_than_its_reaction_is_missed_and_not_learnt():
    agent, trials = run_agent(schedule(5, 3), QParams(), seed=1, reaction_time=2.0,
                              response_window=1.0)
    assert [t["arm"] for t in trials] == [None] * 5
    assert agent.choices == [] and agent.probabilities == [] and agent.rewards == []


@pytest.mark.parametrize("kwargs, named", [
    ({"rig": "levers"}, "give the BanditDevices"),
    ({"reaction_time": -1}, "reaction_time=-1"),
])
def test_bad_arguments_are_named(kwargs, named):
    kwargs = {"rig": virtual_bandit_devices(), **kwargs}
    with pytest.raises(InvalidArgument, match=named):
        QLearningAgent(kwargs.pop("rig"), QParams(), **kwargs)
