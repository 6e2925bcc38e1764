"""Synthetic subjects: AutoRA's ``q_learning`` experiment runner, run through moalab.

``q_learning(...).run(conditions)`` gives each reward schedule to a
:class:`~moalab.loop.agent.QLearningAgent` on the bandit protocol's own tree
(:class:`~moalab.loop.bandit.BanditTrials` on virtual devices): one
:class:`~moalab.runner.run.Run` per subject, all in one :class:`~moalab.RunGroup`,
in virtual time (trio's ``MockClock``, autojumping), with no sink. The choices are
those the tree recorded, the probabilities those the agents chose with.
"""

import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import trio
import trio.testing

from ..core.errors import InvalidArgument, MoaError, error_text
from ..runner.run import Run, RunGroup
from ..stage.stage import MoaStage
from .agent import QLearningAgent
from .bandit import (
    BanditTrials,
    counterbalanced_sides,
    parse_schedule,
    virtual_bandit_devices,
)
from .qlearning import QParams

__all__ = ("QLearningRunner", "q_learning")

CONDITION_COLUMN = "reward-trajectory"
"""The column of a conditions DataFrame holding the reward schedules (the seed's)."""


def _schedules(conditions: Any) -> list[np.ndarray]:
    """The reward schedules in ``conditions``: a DataFrame (its 'reward-trajectory'
    column, or its only column), a Series or list of schedules, or one array."""
    columns = getattr(conditions, "columns", None)
    if columns is not None:
        if CONDITION_COLUMN in columns:
            conditions = conditions[CONDITION_COLUMN]
        elif len(columns) == 1:
            conditions = conditions[columns[0]]
        else:
            raise InvalidArgument(
                f"q_learning run: conditions with columns {list(columns)} are not accepted: "
                f"give a DataFrame with a {CONDITION_COLUMN!r} column (or one column) of "
                "n_trials x 2 reward schedules")
        conditions = list(conditions)
    elif isinstance(conditions, np.ndarray) and conditions.ndim == 2:
        conditions = [conditions]
    elif not isinstance(conditions, Sequence | np.ndarray):
        raise InvalidArgument(
            f"q_learning run: conditions {conditions!r:.60} are not accepted: give a "
            f"DataFrame with a {CONDITION_COLUMN!r} column, a list of schedules or one "
            "n_trials x 2 array")
    return [parse_schedule(schedule, f"q_learning run: condition {i}")
            for i, schedule in enumerate(conditions)]


class _Subject:
    """One synthetic subject's run: the bandit tree on virtual devices, its agent."""

    def __init__(self, schedule: np.ndarray, params: QParams,
                 seed: np.random.SeedSequence, index: int) -> None:
        rig = virtual_bandit_devices()
        self.agent = QLearningAgent(rig, params, seed=seed, name="subject")
        self.trials: list[dict[str, Any]] = []
        sides = counterbalanced_sides(len(schedule), random.Random(int(seed.generate_state(1)[0])))
        root = MoaStage(name=f"synthetic subject {index}")
        root.add_stage(BanditTrials(schedule, sides, rig, self._record, iti=1.0, name="trials"))
        self.run = Run(root, devices=[*rig, self.agent],
                       metadata={"subject": f"synthetic-{index}"})

    def _record(self, **values: Any) -> None:
        self.trials.append(values)

    def choices(self) -> np.ndarray:
        """The recorded choices, one-hot ``(n_trials, 2)`` floats (AutoRA's form)."""
        chosen = np.zeros((len(self.trials), 2))
        chosen[np.arange(len(self.trials)), [trial["arm"] for trial in self.trials]] = 1.0
        return chosen


async def _run_all(subjects: list[_Subject]) -> None:
    async with RunGroup() as group:
        for subject in subjects:
            group.start(subject.run)


class QLearningRunner:
    """AutoRA's synthetic Q-learning experiment runner (``q_learning()``), each
    subject a run of the bandit tree with a :class:`QLearningAgent` of :attr:`params`."""

    name = "Q-Learning"

    def __init__(self, params: QParams) -> None:
        self.params = params

    def __repr__(self) -> str:
        return f"<QLearningRunner {self.params}>"

    def run(self, conditions: Any, random_state: int | None = None,
            return_choice_probabilities: bool = False) -> Any:
        """Run one synthetic subject per reward schedule in ``conditions`` (a DataFrame
        with a 'reward-trajectory' column, or its only column; a list of schedules;
        or one ``n_trials x 2`` array of 0/1); return the list of their one-hot choice
        arrays ``(n_trials, 2)``, and with ``return_choice_probabilities`` also the list
        of the probabilities each chose with.

        The same ``random_state`` (an int) gives the same choices; None draws it from
        numpy's global generator, so ``np.random.seed(...)`` makes a workflow
        reproducible, as with AutoRA's runner. Runs its own trio run: call it outside
        one (from a trio task, in a worker thread). Raises :class:`InvalidArgument` for
        conditions it cannot read, :class:`MoaError` naming a subject whose run failed.
        """
        if random_state is not None and (isinstance(random_state, bool) or not isinstance(
                random_state, int | np.integer) or random_state < 0):
            raise InvalidArgument(
                f"q_learning run: random_state={random_state!r} is not accepted: give a whole "
                "number >= 0, or None")
        schedules = _schedules(conditions)
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass  # not in a trio run: the subjects get one of their own
        else:
            raise MoaError(
                "q_learning run: called inside a trio run, which cannot start another: call "
                "it from a worker thread (await trio.to_thread.run_sync(runner.run, ...))")
        if random_state is None:
            random_state = int(np.random.randint(0, 2**31 - 1))
        seeds = np.random.SeedSequence(int(random_state)).spawn(len(schedules))
        subjects = [_Subject(schedule, self.params, seed, i)
                    for i, (schedule, seed) in enumerate(zip(schedules, seeds, strict=True))]
        trio.run(_run_all, subjects, clock=trio.testing.MockClock(autojump_threshold=0))
        for i, subject in enumerate(subjects):
            run = subject.run
            if run.status != "done":
                why = error_text(run.error) if run.error is not None else run.status
                raise MoaError(f"q_learning run: synthetic subject {i}'s run ended "
                               f"{run.status}: {why}") from run.error
        choices = [subject.choices() for subject in subjects]
        if not return_choice_probabilities:
            return choices
        return choices, [np.array(subject.agent.probabilities) for subject in subjects]


def q_learning(learning_rate: float = 0.2, decision_noise: float = 3.0,
               forget_rate: float = 0.0, perseverance_bias: float = 0.0,
               correlated_reward: bool = False) -> QLearningRunner:
    """AutoRA's ``q_learning`` synthetic runner (autora-synthetic's names and defaults):
    ``q_learning().run(conditions)``. Raises :class:`InvalidArgument` for parameters
    out of range (see :class:`~moalab.loop.qlearning.QParams`)."""
    return QLearningRunner(QParams(learning_rate, decision_noise, forget_rate,
                                   perseverance_bias, correlated_reward))
