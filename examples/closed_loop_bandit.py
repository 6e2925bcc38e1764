"""AutoRA's closed-loop two-armed bandit study, on moalab: the seed workflow's
``autora_workflow.py`` with its imports changed to ``moalab.loop``.

Each cycle samples a reward schedule (a random pool first, then the schedule on
which the two latest models disagree most), runs it for every participant, and
fits two theorists. ``RUNNER_TYPE`` picks the participants:

- ``'synthetic'``: Q-learning agents on the bandit's stage tree, in virtual time
  (``q_learning()``, AutoRA's synthetic runner);
- ``'moalab'``: the lab's subjects on its rigs (``rig_runner``): one bandit session
  per subject, on the rigs as they come free. With ``DRY_RUN`` (the default here)
  the sessions run in virtual time with a QLearningAgent at each rig's levers, and
  the subjects and thread rigs this file names are added to the lab if missing.

The theorists are the seed's RNNSindy where autora-theorist-rnn-sindy-rl is
installed, else two QLearningTheorist variants (without and with a forget rate).

Run it checkpointed in a lab (a kill, then the same command, resumes after the last
completed step; ``moalab loop show`` / ``moalab loop plot OUT.png`` after)::

    moalab lab init mylab
    moalab loop run examples/closed_loop_bandit.py --lab mylab

or in one go, without checkpoints: ``python examples/closed_loop_bandit.py``.
The environment can shrink it (as the tests do): ``BANDIT_TRIALS``,
``BANDIT_PARTICIPANTS``, ``BANDIT_CYCLES``, ``BANDIT_POOL`` and ``RUNNER_TYPE``.
"""

import functools
import importlib.util
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from moalab.loop import (
    BanditProtocol,
    Delta,
    QLearningTheorist,
    StandardState,
    Variable,
    VariableCollection,
    bandit_random_pool,
    model_disagreement_sampler_custom_distance,
    on_state,
    q_learning,
    rig_runner,
)
from moalab.store import Lab

# *** CONSTANTS *** #

RUNNER_TYPE = os.environ.get("RUNNER_TYPE", "synthetic")  # Options: synthetic, moalab

TRIALS_PER_PARTICIPANTS = int(os.environ.get("BANDIT_TRIALS", "100"))
SAMPLES_PER_CYCLE = 1
PARTICIPANTS_PER_CYCLE = int(os.environ.get("BANDIT_PARTICIPANTS", "40"))
CYCLES = int(os.environ.get("BANDIT_CYCLES", "4"))
POOL_SIZE = int(os.environ.get("BANDIT_POOL", "20"))
INITIAL_REWARD_PROBABILITY_RANGE = [.2, .8]
SIGMA_RANGE = [.2, .2]

EPOCHS = 10  # 100

# the 'moalab' runner: the lab's subjects and rigs (a dry run registers them if missing)
DRY_RUN = True
SUBJECTS = [f"agent-{i:02d}" for i in range(1, PARTICIPANTS_PER_CYCLE + 1)]
RIGS = ["box-1", "box-2", "box-3", "box-4"]
STUDY_COMPLETION_TIME = 30  # minutes a session may take (the seed's time_out)
SLEEP_TIME = 30  # seconds between checks for a rig another process is using

seed = 11

# for reproducible results:
if seed is not None:
    np.random.seed(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)

variables = VariableCollection(
    independent_variables=[Variable(name="reward-trajectory")],
    dependent_variables=[Variable(name="choice-trajectory")]
)


@dataclass(frozen=True)
class RnnState(StandardState):
    models_additional: list[BaseEstimator] = field(
        default_factory=list,
        metadata={"delta": "extend"},
    )


# initialize the state:
state = RnnState(variables=variables)


@on_state()
def pool_on_state(models, num_samples, n_trials=TRIALS_PER_PARTICIPANTS):
    """
    This is creates `num_samples` randomized reward-trajectories of length `n_trials`
    """
    sigma = np.random.uniform(SIGMA_RANGE[0], SIGMA_RANGE[1])
    trajectory_array = bandit_random_pool(
        num_rewards=2,
        sequence_length=n_trials,
        initial_probabilities=[INITIAL_REWARD_PROBABILITY_RANGE, INITIAL_REWARD_PROBABILITY_RANGE],
        sigmas=[sigma, sigma],
        num_samples=num_samples,
        # np.random.seed does not reach the pool (it draws from a generator of its own,
        # as AutoRA's): the seed is passed, a new one each cycle (one model a cycle), so
        # a run resumed after a kill draws the pools an unbroken run draws
        random_state=None if seed is None else seed + len(models),
    )
    trajectory_df = pd.DataFrame({'reward-trajectory': trajectory_array})
    return Delta(conditions=trajectory_df)


def custom_distance(prob_array_a, prob_array_b):
    return np.mean([(prob_array_a[0] - prob_array_b[0])**2 + (prob_array_a[1] - prob_array_b[1])**2])


@on_state()
def model_disagreement_on_state(
        conditions, models, models_additional, num_samples):
    conditions = model_disagreement_sampler_custom_distance(
        conditions=conditions['reward-trajectory'],
        models=[models[-1], models_additional[-1]],
        distance_fct=custom_distance,
        num_samples=num_samples,
    )
    return Delta(conditions=conditions)


runner = q_learning()


@on_state()
def runner_on_state_synthetic(conditions):
    # every participant runs every condition, as on Firebase and the rigs (the seed's
    # synthetic runner ran each condition once: one participant a cycle)
    conditions = pd.concat([conditions] * PARTICIPANTS_PER_CYCLE, ignore_index=True)
    choices, choice_probabilities = runner.run(conditions, return_choice_probabilities=True)
    experiment_data = pd.DataFrame({
        'reward-trajectory': conditions['reward-trajectory'].tolist(),
        'choice-trajectory': choices,
        'choice-probability-trajectory': choice_probabilities
    })
    return Delta(experiment_data=experiment_data)


@functools.cache
def experiment_runner_moalab():
    """The lab's runner, made on first use (the lab: --lab, $MOALAB_LAB or here)."""
    lab = Lab.find()
    if DRY_RUN:  # virtual subjects at thread rigs: registered once
        known = {s.name for s in lab.database.list_subjects()}
        for name in SUBJECTS:
            if name not in known:
                lab.database.add_subject(name, notes="a QLearningAgent of a dry run")
        rigs = {r.name for r in lab.database.list_rigs()}
        for name in RIGS:
            if name not in rigs:
                lab.database.add_rig(name, "thread")
    return rig_runner(BanditProtocol, subjects=SUBJECTS, rigs=RIGS,
                      time_out=STUDY_COMPLETION_TIME, sleep_time=SLEEP_TIME, lab=lab,
                      dry_run=DRY_RUN)


@on_state()
def runner_on_state_moalab(conditions):
    experiment_data = experiment_runner_moalab()(conditions)
    return Delta(experiment_data=experiment_data)


try:
    from autora.theorist.rnn_sindy_rl import RNNSindy
except ImportError:
    RNNSindy = None

if RNNSindy is not None:

    theorist = RNNSindy(2, epochs=EPOCHS, polynomial_degree=2)
    theorist_additional = RNNSindy(2, epochs=EPOCHS, polynomial_degree=1)
else:  # Q-learning models fitted by maximum likelihood: without and with forgetting
    theorist = QLearningTheorist()
    theorist_additional = QLearningTheorist(
        fit_parameters=("learning_rate", "decision_noise", "forget_rate"))


@on_state()
def theorist_on_state(experiment_data):
    x = experiment_data['reward-trajectory']
    y = experiment_data['choice-trajectory']
    return Delta(models=[theorist.fit(x, y)])


@on_state()
def theorist_additional_on_state(experiment_data):
    x = experiment_data['reward-trajectory']
    y = experiment_data['choice-trajectory']
    return Delta(models_additional=[theorist_additional.fit(x, y)])


RUNNERS = {'synthetic': runner_on_state_synthetic, 'moalab': runner_on_state_moalab}
if RUNNER_TYPE not in RUNNERS:
    raise ValueError(f"RUNNER_TYPE={RUNNER_TYPE!r} is not one of {sorted(RUNNERS)}")


def cycle(state):
    """The seed's loop body: the steps of one cycle (`moalab loop run` checkpoints each)."""
    if len(state.models) > 0:
        sample = [functools.partial(pool_on_state, num_samples=POOL_SIZE),
                  functools.partial(model_disagreement_on_state, num_samples=SAMPLES_PER_CYCLE)]
    else:
        sample = [functools.partial(pool_on_state, num_samples=SAMPLES_PER_CYCLE)]
    return [*sample, RUNNERS[RUNNER_TYPE], theorist_on_state, theorist_additional_on_state]


def describe(model):
    """A model's fitted Q-learning parameters (an RNNSindy model: as it prints itself;
    the seed's parse_equation gives its equations)."""
    if hasattr(model, "params_"):
        return ", ".join(f"{key} = {value:.3f}" for key, value in model.params_.items())
    return str(model)


if __name__ == "__main__":
    for c in range(1, CYCLES + 1):
        for step in cycle(state):
            state = step(state)
        print(f"# cycle {c} #")
        print(f"model:            {describe(state.models[-1])}")
        print(f"model additional: {describe(state.models_additional[-1])}")
