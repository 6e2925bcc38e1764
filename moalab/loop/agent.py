"""QLearningAgent: a virtual subject of the bandit task, as a moalab device.

It sees only what an animal on the rig would: the cue lights (which arm is shown at
which lever) and the dispenser (a reward came). When the cues come on it learns from
the last trial (rewarded if the dispenser went high after its press), chooses an arm
with a :class:`~moalab.loop.qlearning.QLearner`'s probabilities, and presses that
arm's lever after :attr:`QLearningAgent.reaction_time` seconds (virtual time in a dry
run), holding it :attr:`QLearningAgent.press_time` seconds.
"""

from typing import Any

import numpy as np
import trio

from ..core.errors import InvalidArgument
from ..device.device import Device
from .bandit import CUE_CHANNELS, SIDES, BanditDevices, cue_channel
from .qlearning import QLearner, QParams

__all__ = ("QLearningAgent",)


class QLearningAgent(Device):
    """A Q-learning subject pressing the levers of ``rig`` (:class:`BanditDevices`,
    their lever lines written by the agent: virtual devices).

    ``seed`` (an int, a :class:`numpy.random.SeedSequence`, or None for a fresh one)
    seeds its own generator: one uniform draw per choice, so the same seed, schedule
    and parameters give the same choices. Its :meth:`pump_state` (started by the run
    it is a device of) does the work, in the run's trio thread.

    What it did, per trial it pressed a lever in: :attr:`probabilities` (the arms' probabilities
    it chose with, before that trial's outcome), :attr:`choices` (arm indices) and
    :attr:`rewards` (0/1 as it saw them; the last trial's is known once the next cue
    comes or :meth:`pump_state` ends).
    """

    def __init__(self, rig: BanditDevices, params: QParams | None = None, *,
                 seed: Any = None, reaction_time: float = 0.3, press_time: float = 0.1,
                 **kwargs: Any) -> None:
        if not isinstance(rig, BanditDevices):
            raise InvalidArgument(
                f"QLearningAgent rig={rig!r} is not accepted: give the BanditDevices whose "
                "levers it presses (virtual_bandit_devices())")
        for name, value in (("reaction_time", reaction_time), ("press_time", press_time)):
            if not (isinstance(value, int | float) and 0 <= value < float("inf")):
                raise InvalidArgument(
                    f"QLearningAgent {name}={value!r} is not accepted: give seconds >= 0")
        super().__init__(**kwargs)
        self.rig = rig
        self.learner = QLearner(params)
        self.rng = np.random.default_rng(seed)
        self.reaction_time = reaction_time
        self.press_time = press_time
        self.probabilities: list[np.ndarray] = []
        self.choices: list[int] = []
        self.rewards: list[int] = []
        self._cued = trio.Event()
        self._cues_on = False
        self._cue_count = 0  # cues that came on so far: tells one cue from the next
        self._rewarded = False
        self._waiting_outcome = False

    def _on_cues(self, cues: Any, *args: Any) -> None:
        on = any(getattr(cues, name) for name in CUE_CHANNELS)
        if on and not self._cues_on:
            self._cue_count += 1
            self._cued.set()
        self._cues_on = on

    def _on_dispenser(self, dispenser: Any, state: Any) -> None:
        if state and self._waiting_outcome:
            self._rewarded = True

    def _learn(self) -> None:
        """Learn from the last choice's outcome, once."""
        if self._waiting_outcome:
            self._waiting_outcome = False
            reward = int(self._rewarded)
            self.rewards.append(reward)
            self.learner.update(self.choices[-1], reward)

    def _choose(self) -> tuple[int, np.ndarray]:
        """The arm to press and the probabilities it was drawn with."""
        p = self.learner.probabilities()
        # the first arm whose cumulative probability exceeds a uniform draw (as simulate)
        return min(int((p.cumsum() <= self.rng.random()).sum()), len(p) - 1), p

    async def pump_state(self) -> None:
        """React to each cue until cancelled: learn, choose, press the lever."""
        cues, dispenser = self.rig.cues, self.rig.dispenser
        cue_uid = cues.fbind("on_data_update", self._on_cues)
        reward_uid = dispenser.fbind("state", self._on_dispenser)
        try:
            self._on_cues(cues)  # the cues may have come on before this pump started
            while True:
                await self._cued.wait()
                self._cued = trio.Event()
                cue = self._cue_count
                if not self._cues_on:  # that cue was over before the agent looked
                    continue
                self._learn()
                arm, p = self._choose()
                # which lever shows the chosen arm
                side = next(s for s in SIDES if getattr(cues, cue_channel(s, arm)))
                await trio.sleep(self.reaction_time)
                if cue != self._cue_count or not self._cues_on:
                    continue  # the response window closed first: no choice made
                # kept only once pressed: a run may end while the agent is about to
                self.probabilities.append(p)
                self.choices.append(arm)
                lever = self.rig.lever(side)
                self._rewarded = False
                self._waiting_outcome = True
                await lever.write_state(True)
                await trio.sleep(self.press_time)
                await lever.write_state(False)
        finally:
            self._learn()
            cues.unbind_uid("on_data_update", cue_uid)
            dispenser.unbind_uid("state", reward_uid)
