"""The two-armed bandit of AutoRA's closed loop, for this lab's rigs.

One session runs one reward schedule (``--arg schedule=``: one row per trial, column
k is whether arm k pays). On a rig: two levers, four cue lights (each arm's colour
at each lever) and a pellet dispenser on the pins below; without a rig (a dry run) a
virtual Q-learning subject presses virtual levers.

    moalab lab init mylab && cd mylab
    moalab subject add rat-1 --species rat --sex F
    moalab session run ../examples/protocols/bandit.py --subject rat-1 --dry-run \\
        --arg 'schedule=[[0,1],[1,1],[0,0],[1,0],[0,1],[1,0]]'
"""

from typing import ClassVar

from moalab.loop import BanditProtocol
from moalab.loop.qlearning import QParams


class Bandit(BanditProtocol):
    name = "two-armed-bandit"
    version = 1
    # BCM pins of this lab's boxes
    pins: ClassVar[dict[str, int]] = {"left_lever": 5, "right_lever": 6, "dispenser": 13,
                                      "left_arm0": 17, "left_arm1": 27, "right_arm0": 22,
                                      "right_arm1": 23}
    # the dry run's virtual subject
    agent_params = QParams(learning_rate=0.3, decision_noise=4.0)
