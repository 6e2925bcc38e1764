"""The seed's sugar-pellet experiment as a protocol, with two training steps.

Training: magazine training (a pellet every few seconds, until 10 were taken),
then lever training (a press within 10 s earns a pellet; it graduates at 80%
of the last 20 trials pressed in time). Then the main protocol: the guide's
tree (habituation, ``n_trials`` of beam break -> pellet -> 20-40 s ITI, a post
delay), each trial recorded. The devices are virtual: a lever the (virtual)
subject presses at random, seeded by the subject's name, and the pellet motor.

    moalab lab init mylab && cd mylab
    moalab subject add rat-1 --species rat --sex F
    moalab session run ../examples/protocols/sugar_pellet.py --subject rat-1 --dry-run
"""

import random
import zlib
from dataclasses import dataclass

from moalab import Delay, DigitalGateStage, MoaStage, UniformRandomDelay, VirtualDigitalChannel
from moalab.protocol import Accuracy, Protocol, TrainingRequired, TrainingStep, TrialCount


@dataclass
class Args:
    n_trials: int = 20
    iti_min: float = 20.0
    iti_max: float = 40.0
    press_window: float = 10.0
    """Seconds a trial waits for a press (training and main)."""


def subject_rng(session, salt: str) -> random.Random:
    """A generator seeded by the subject, the session and ``salt``: a dry run is
    reproducible, and each session differs."""
    return random.Random(zlib.crc32(f"{session.subject.name}/{session.id}/{salt}".encode()))


class Pellet(MoaStage):
    """Drives the motor high for 0.2 s: one pellet."""

    def __init__(self, motor, **kwargs):
        super().__init__(**kwargs)
        self.motor = motor

    async def do_trial(self):
        await self.motor.write_state(True)
        await self.sleep(0.2)
        await self.motor.write_state(False)


class RecordPress(MoaStage):
    """Records the trial that just ended: whether the gate before it saw a press."""

    def __init__(self, session, gate, **kwargs):
        super().__init__(**kwargs)
        self.session = session
        self.gate = gate

    async def do_trial(self):
        pressed = self.gate.state is True
        self.session.record_trial(correct=pressed, pressed=pressed)


class SugarPellet(TrainingRequired, Protocol):
    name = "sugar-pellet"
    version = 1
    Args = Args
    training_steps = [
        TrainingStep("magazine", TrialCount(10)),
        TrainingStep("lever", Accuracy(threshold=0.8, window=20, key="correct")),
    ]

    def devices(self, session):
        # a protocol instance serves one session: its devices are made once
        if not hasattr(self, "_devices"):
            lever = VirtualDigitalChannel(name="lever", rng=subject_rng(session, "lever"),
                                          interval=(0.5, 4.0))
            lever.state = False
            motor = VirtualDigitalChannel(name="motor", interval=(3600.0, 3600.0))
            self._devices = (lever, motor)
        return self._devices

    def press_trials(self, session, name, repeat):
        """``repeat`` trials of: wait up to press_window for a press, a pellet if pressed."""
        lever, motor = self.devices(session)
        trial = MoaStage(name=name, repeat=repeat)
        gate = DigitalGateStage(name="press", device=lever, exit_state=True,
                                max_trial_duration=session.args.press_window)
        trial.add_stage(gate)
        trial.add_stage(RecordPress(session, gate, name="record"))
        trial.add_stage(Pellet(motor, name="pellet"))
        return trial

    def build_training_tree(self, session, step):
        root = MoaStage(name=f"training: {step.name}")
        if step.name == "magazine":
            _, motor = self.devices(session)
            trial = MoaStage(name="magazine", repeat=-1)  # until the step graduates
            trial.add_stage(Pellet(motor, name="pellet"))
            trial.add_stage(UniformRandomDelay(name="wait", min=2, max=6,
                                               rng=subject_rng(session, "magazine")))
            trial.add_stage(_RecordTaken(session, name="record"))
            root.add_stage(trial)
        else:
            root.add_stage(self.press_trials(session, "lever", repeat=-1))
        return root

    def build_tree(self, session):
        args = session.args
        root = MoaStage(name="Root stage")
        if not session.trials:  # a resumed session does not habituate again
            root.add_stage(Delay(delay=20, name="Habituation"))
        trial = self.press_trials(session, "Trial", args.n_trials - len(session.trials))
        trial.add_stage(UniformRandomDelay(min=args.iti_min, max=args.iti_max, name="ITI",
                                           rng=subject_rng(session, "iti")))
        root.add_stage(trial)
        root.add_stage(Delay(delay=15, name="post delay"))
        return root


class _RecordTaken(MoaStage):
    """Records a magazine-training trial (a pellet delivered)."""

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self):
        self.session.record_trial(correct=True)
