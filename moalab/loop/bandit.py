"""The two-armed bandit task as a protocol: AutoRA's closed-loop bandit on a rig.

Each trial shows the two arms at the two levers (which arm is on which side is
counterbalanced: half the trials each way, in a seeded shuffled order, as the seed
workflow's ``_condition_to_trial_sequence``), waits for a press of the left or right
lever, delivers a reward if the reward schedule says the chosen arm pays on this
trial, and waits an inter-trial interval. A reward schedule is ``n_trials x 2`` of
0/1 (AutoRA's 'reward-trajectory': column ``k`` is arm ``k``).

The rig (:class:`BanditDevices`): two levers (digital inputs, True = pressed), the
cue lights (a digital port of four lights, a light of each arm's colour at each
lever: ``left_arm0``, ``left_arm1``, ``right_arm0``, ``right_arm1``) and a reward
dispenser (a digital output: a valve or pellet dispenser driven high while it
delivers). :func:`gpio_bandit_devices` makes them on a Raspberry Pi's pins;
:func:`virtual_bandit_devices` makes driven stand-ins, pressed by a virtual subject
(:class:`~moalab.loop.agent.QLearningAgent`) in a dry run.
"""

import json
import random
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import trio

from ..core.clock import now
from ..core.errors import InvalidArgument
from ..device.device import Device
from ..device.digital import DigitalChannel, DigitalPort
from ..device.gpio import GPIODigitalInput, GPIODigitalOutput, GPIODigitalPort
from ..device.virtual import VirtualDigitalChannel, VirtualDigitalPort
from ..protocol.protocol import Protocol
from ..stage.delay import Delay
from ..stage.stage import MoaStage
from .qlearning import QParams

if TYPE_CHECKING:
    from ..protocol.session import Session

__all__ = (
    "CUE_CHANNELS",
    "DEFAULT_PINS",
    "SIDES",
    "BanditArgs",
    "BanditDevices",
    "BanditProtocol",
    "BanditTrials",
    "DrivenDigitalChannel",
    "DrivenDigitalPort",
    "counterbalanced_sides",
    "cue_channel",
    "gpio_bandit_devices",
    "parse_schedule",
    "virtual_bandit_devices",
)

SIDES = ("left", "right")
"""The two levers' sides; a trial's ``sides`` is (arm 0's side, arm 1's side)."""

CUE_CHANNELS = ("left_arm0", "left_arm1", "right_arm0", "right_arm1")
"""The cue port's lights: ``<side>_arm<k>`` shows arm ``k`` at that side's lever."""


def cue_channel(side: str, arm: int) -> str:
    """The cue light that shows ``arm`` at the lever on ``side``."""
    return f"{side}_arm{arm}"


# ------------------------------------------------------------------ conditions


def parse_schedule(schedule: Any, what: str = "reward schedule") -> np.ndarray:
    """The reward schedule ``schedule`` as an ``(n_trials, 2)`` int array of 0/1.

    ``schedule`` is JSON text (``"[[0, 1], [1, 1], ...]"``, as ``--arg
    schedule=...`` gives it) or anything numpy reads as such an array. Raises
    :class:`InvalidArgument` naming ``what``, the problem and the accepted form.
    """
    accepted = ("give n_trials x 2 of 0/1 (one row per trial, column k is arm k), e.g. "
                "[[0, 1], [1, 1]]")
    if isinstance(schedule, str):
        try:
            schedule = json.loads(schedule)
        except ValueError:
            raise InvalidArgument(
                f"{what} {schedule[:40]!r} is not JSON: {accepted}") from None
    try:
        array = np.asarray(schedule, dtype=float)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{what} {schedule!r:.60} is not an array: {accepted}") from None
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise InvalidArgument(f"{what} of shape {array.shape} is not accepted: {accepted}")
    if not np.isin(array, (0, 1)).all():
        bad = np.unique(array[~np.isin(array, (0, 1))])[:5]
        raise InvalidArgument(f"{what} holds {bad.tolist()}, not only 0 and 1: {accepted}")
    return array.astype(int)


def counterbalanced_sides(n_trials: int, rng: random.Random) -> list[tuple[str, str]]:
    """Each trial's (arm 0's side, arm 1's side): half the trials arm 0 on the left,
    half on the right, in an order shuffled by ``rng`` (the seed workflow's
    ``_condition_to_trial_sequence``). For an odd ``n_trials`` the extra trial's
    sides are drawn from ``rng`` too (the seed's list would be one short)."""
    half = n_trials // 2
    sides = [SIDES] * half + [SIDES[::-1]] * half
    if n_trials % 2:
        sides.append(rng.choice([SIDES, SIDES[::-1]]))
    rng.shuffle(sides)
    return sides


# --------------------------------------------------------------------- devices


@dataclass(frozen=True)
class BanditDevices:
    """The devices of a bandit rig: ``left_lever`` / ``right_lever`` (digital inputs,
    True = pressed), ``cues`` (a digital port with :data:`CUE_CHANNELS`) and
    ``dispenser`` (a digital output, high while a reward is delivered)."""

    left_lever: DigitalChannel
    right_lever: DigitalChannel
    cues: DigitalPort
    dispenser: DigitalChannel

    def lever(self, side: str) -> DigitalChannel:
        """The lever on ``side`` ('left' or 'right')."""
        return self.left_lever if side == "left" else self.right_lever

    def __iter__(self) -> Iterator[Any]:
        """The four devices, levers first (to give a run as its devices)."""
        return iter((self.left_lever, self.right_lever, self.cues, self.dispenser))


class _Driven:
    """Mixed into a virtual device that changes only when written (a lever pressed by
    the virtual subject, a light or dispenser driven by the tree): no random pump.
    A run pumps only a device whose ``pump_state`` is its own."""

    pump_state = Device.pump_state


class DrivenDigitalChannel(_Driven, VirtualDigitalChannel):
    """A virtual digital line set only by :meth:`write_state`."""


class DrivenDigitalPort(_Driven, VirtualDigitalPort):
    """A virtual digital port set only by :meth:`write_states`."""


def virtual_bandit_devices() -> BanditDevices:
    """Driven virtual devices for a dry run, every line low."""
    lines = [DrivenDigitalChannel(name=name) for name in ("left_lever", "right_lever",
                                                          "dispenser")]
    cues = DrivenDigitalPort(name="cues", channel_names=list(CUE_CHANNELS))
    for line in lines:
        line.state = False
    for channel in CUE_CHANNELS:
        setattr(cues, channel, False)
    left, right, dispenser = lines
    return BanditDevices(left, right, cues, dispenser)


DEFAULT_PINS: Mapping[str, int] = {
    "left_lever": 5, "right_lever": 6, "dispenser": 13,
    "left_arm0": 17, "left_arm1": 27, "right_arm0": 22, "right_arm1": 23,
}
"""The BCM pins of :func:`gpio_bandit_devices` unless a rig's protocol gives others."""


def gpio_bandit_devices(pins: Mapping[str, int] = DEFAULT_PINS, executor: Any = None,
                        bounce_time: float | None = 0.01) -> BanditDevices:
    """The bandit's devices on a Raspberry Pi's GPIO pins (names as in
    :data:`DEFAULT_PINS`); ``executor`` runs their methods on the rig (a session's
    ``session.executor``). Levers read high when pressed (pull-down), debounced by
    ``bounce_time``. Raises :class:`InvalidArgument` naming a missing pin."""
    missing = [name for name in DEFAULT_PINS if name not in pins]
    if missing:
        raise InvalidArgument(
            f"bandit pins {dict(pins)!r} lack {missing}: give a pin for each of "
            f"{list(DEFAULT_PINS)}")
    levers = [GPIODigitalInput(pins[name], bounce_time=bounce_time, name=name,
                               executor=executor) for name in ("left_lever", "right_lever")]
    cues = GPIODigitalPort({name: pins[name] for name in CUE_CHANNELS}, name="cues",
                           executor=executor)
    dispenser = GPIODigitalOutput(pins["dispenser"], name="dispenser", executor=executor)
    return BanditDevices(levers[0], levers[1], cues, dispenser)


# ----------------------------------------------------------------------- tree


class BanditTrials(MoaStage):
    """The bandit's trials: ``repeat`` trials of cue -> choice -> outcome -> ITI.

    ``schedule`` (``(n_trials, 2)`` of 0/1) and ``sides`` (per trial, arm 0's and arm
    1's side) cover the whole session; trials ``first`` onwards run (a resumed
    session skips those recorded). Each trial calls ``record(**values)`` once, with
    ``trial`` (its index), ``arm`` (0/1, None if no press in ``response_window``),
    ``side`` ('left'/'right'/None), ``rewarded``, ``rt`` (seconds from cue to press,
    None without one) and ``rewards`` (the schedule's row). ``response_window`` 0
    waits for a press as long as it takes.
    """

    def __init__(self, schedule: np.ndarray, sides: Sequence[tuple[str, str]],
                 devices: BanditDevices, record: Callable[..., Any], *, iti: float = 2.0,
                 response_window: float = 0.0, reward_duration: float = 0.05,
                 first: int = 0, **kwargs: Any) -> None:
        if len(sides) != len(schedule):
            raise InvalidArgument(
                f"bandit trials: {len(sides)} sides for a schedule of {len(schedule)} trials: "
                "give one (arm 0 side, arm 1 side) per trial")
        super().__init__(repeat=max(len(schedule) - first, 0), **kwargs)
        self.schedule = schedule
        self.sides = list(sides)
        self.devices = devices
        self.record = record
        self.first = first
        self.reward_duration = reward_duration
        self.cue_time = 0.0
        self.add_stage(_Cue(self, name="cue"))
        self.choice = _Choice(devices, name="choice", max_trial_duration=response_window)
        self.add_stage(self.choice)
        self.add_stage(_Outcome(self, name="outcome"))
        self.add_stage(Delay(name="ITI", delay=iti))

    @property
    def index(self) -> int:
        """The session's index of the current trial."""
        return self.first + self.count


class _Cue(MoaStage):
    """Lights each arm's cue at its side's lever for the trial."""

    def __init__(self, trials: BanditTrials, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trials = trials

    async def do_trial(self) -> None:
        trials = self.trials
        sides = trials.sides[trials.index]
        trials.cue_time = now()
        await trials.devices.cues.write_states(
            high=[cue_channel(side, arm) for arm, side in enumerate(sides)],
            low=[cue_channel(side, 1 - arm) for arm, side in enumerate(sides)])


class _Choice(MoaStage):
    """Waits for a press of either lever; :attr:`side` is the side pressed, None while
    none was (or the trial's ``max_trial_duration`` ran out first). A lever held
    since before the trial is no press of it; a press while paused counts once
    resumed. One stage watching both levers, not two gates in parallel: no nursery
    and two stages less per trial (the synthetic runner's 4,000 trials a cycle)."""

    def __init__(self, devices: BanditDevices, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.devices = devices
        self.side: str | None = None

    def _on_lever(self, side: str, pressed: trio.Event, lever: Any, state: Any) -> None:
        if state and self.side is None:
            self.side = side
            pressed.set()

    async def do_trial(self) -> None:
        self.side = None
        pressed = trio.Event()
        levers = [(self.devices.lever(side), side) for side in SIDES]
        uids = [lever.fbind("state", self._on_lever, side, pressed) for lever, side in levers]
        try:
            while True:
                await self.wait_resumed()
                with self.pausable() as scope:
                    await pressed.wait()
                if not scope.cancelled_caught:
                    return
        finally:
            for (lever, _), uid in zip(levers, uids, strict=True):
                lever.unbind_uid("state", uid)


class _Outcome(MoaStage):
    """Cues off, the trial recorded, then the reward if the chosen arm pays now."""

    def __init__(self, trials: BanditTrials, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trials = trials

    async def do_trial(self) -> None:
        trials, devices = self.trials, self.trials.devices
        i = trials.index
        side = trials.choice.side
        arm = None if side is None else trials.sides[i].index(side)
        rewarded = arm is not None and bool(trials.schedule[i][arm])
        await devices.cues.write_states(low=CUE_CHANNELS)
        trials.record(trial=i, arm=arm, side=side, rewarded=rewarded,
                      # to the microsecond: virtual time's sums show 0.2999999999999998
                      rt=None if side is None else round(now() - trials.cue_time, 6),
                      rewards=[int(r) for r in trials.schedule[i]])
        if rewarded:
            await devices.dispenser.write_state(True)
            await self.sleep(trials.reward_duration)
            await devices.dispenser.write_state(False)


# ------------------------------------------------------------------- protocol


@dataclass
class BanditArgs:
    """The arguments of :class:`~moalab.loop.BanditProtocol` (``--arg KEY=VALUE``);
    raises :class:`~moalab.InvalidArgument` for a bad schedule or negative seconds."""

    schedule: str
    """The reward schedule, JSON ``n_trials x 2`` of 0/1 (see :func:`parse_schedule`);
    required: a session runs one condition."""
    iti: float = 2.0
    """Seconds between a trial's outcome and the next cue."""
    response_window: float = 0.0
    """Seconds a trial waits for a press (0: as long as it takes)."""
    reward_duration: float = 0.05
    """Seconds the dispenser is driven high for one reward."""
    side_seed: int | None = None
    """Seeds the counterbalanced sides; None: seeded by the session's id (a resumed
    session gets the same sides)."""

    def __post_init__(self) -> None:
        # checked here, so a bad schedule refuses the session before it is made
        parse_schedule(self.schedule, "--arg schedule")
        for name in ("iti", "response_window", "reward_duration"):
            if not getattr(self, name) >= 0:
                raise InvalidArgument(
                    f"--arg {name}={getattr(self, name)!r} is not accepted: give seconds >= 0")


class BanditProtocol(Protocol):
    """The two-armed bandit: one session runs one reward schedule (``--arg
    schedule=[[0,1],...]``), one trial per row, each recorded.

    On a rig (the session has one) the devices are :func:`gpio_bandit_devices` on
    :attr:`pins` through the session's executor; a lab subclasses this to change
    the pins. Without a rig (a dry run) they are virtual and a
    :class:`~moalab.loop.agent.QLearningAgent` with :attr:`agent_params`, seeded by
    the subject and session, presses the levers.
    """

    name = "two-armed-bandit"
    version = 1
    Args = BanditArgs
    """:class:`~moalab.loop.bandit.BanditArgs`: the ``schedule`` and the timings."""
    pins: ClassVar[Mapping[str, int]] = DEFAULT_PINS
    agent_params: ClassVar[QParams] = QParams()

    def devices(self, session: "Session") -> Sequence[Any]:
        if not hasattr(self, "_devices"):  # a protocol instance serves one session
            if session.rig is not None:
                self._rig = gpio_bandit_devices(self.pins, session.executor)
                self._devices: tuple[Any, ...] = tuple(self._rig)
            else:
                from .agent import QLearningAgent  # the agent imports this module

                self._rig = virtual_bandit_devices()
                seed = zlib.crc32(f"{session.subject.name}/{session.id}/agent".encode())
                agent = QLearningAgent(self._rig, self.agent_params, seed=seed, name="subject")
                self._devices = (*self._rig, agent)
        return self._devices

    def build_tree(self, session: "Session") -> MoaStage:
        args = session.args
        schedule = parse_schedule(args.schedule)
        seed = args.side_seed if args.side_seed is not None else zlib.crc32(
            f"{session.id}/sides".encode())
        self.devices(session)
        root = MoaStage(name=self.name)
        root.add_stage(BanditTrials(
            schedule, counterbalanced_sides(len(schedule), random.Random(seed)), self._rig,
            session.record_trial, iti=args.iti, response_window=args.response_window,
            reward_duration=args.reward_duration, first=len(session.trials), name="trials"))
        return root
