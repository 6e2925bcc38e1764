"""Gate stages: wait until a device property meets a condition."""

import collections
import math
from typing import Any

import trio

from ..core.arguments import (
    FLAG,
    NUMBER,
    SECONDS,
    CheckedBooleanProperty,
    CheckedNumericProperty,
    check_range,
)
from ..core.errors import InvalidArgument
from ..core.events import ObjectProperty, StringProperty
from .stage import MoaStage

__all__ = ("GateStage", "DigitalGateStage", "AnalogGateStage")


_PAUSED = object()
"""What :meth:`_Values.pop` returns when the gate's stage is paused."""


class _Values:
    """The values a device property takes, queued for the gate's task.

    The gate's task parks itself and a new value reschedules it directly (no
    channel, no :class:`trio.Event` made per wait): a gate reacts within
    microseconds. :meth:`cancel` is how :meth:`MoaStage.pause` interrupts the wait
    (it needs no cancel scope around it): :meth:`pop` returns :data:`_PAUSED`.
    All in the trio thread the tree runs in.
    """

    __slots__ = ("items", "task", "paused")

    def __init__(self) -> None:
        self.items: collections.deque[Any] = collections.deque()
        self.task: trio.lowlevel.Task | None = None  # the gate's task while it waits
        self.paused = False

    def push(self, _: Any, value: Any) -> None:
        self.items.append(value)
        self._wake()

    def cancel(self) -> None:
        """Make the waiting (or next) :meth:`pop` return :data:`_PAUSED`."""
        self.paused = True
        self._wake()

    def _wake(self) -> None:
        task = self.task
        if task is not None:
            self.task = None
            trio.lowlevel.reschedule(task)

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED

    async def pop(self) -> Any:
        """The next value, or :data:`_PAUSED` once :meth:`cancel` was called."""
        while not self.paused:
            if self.items:
                return self.items.popleft()
            self.task = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort)
        return _PAUSED


class GateStage(MoaStage):
    """Waits each trial until ``device.<state_prop>`` passes :meth:`check_done`.

    The gate binds to the device property directly (no Kivy clock), so it must
    be changed from the trio thread the tree runs in. With :attr:`hold_time`
    the value must stay passing that long. By default (:attr:`use_initial`) a
    value already passing as the trial starts lets the gate exit at once. While
    paused the gate does not exit; after :meth:`resume` the current value counts.
    Each value the gate sees is logged as a ``state`` row holding that value.
    """

    _logged_trigger_names_ = ("state",)

    device = ObjectProperty(None, allownone=True)
    """The device to watch."""

    state_prop: str = StringProperty("state")
    """The name of the device property to watch."""

    hold_time: float = CheckedNumericProperty(0, SECONDS)
    """Seconds the value must keep passing before the gate exits."""

    use_initial: bool = CheckedBooleanProperty(True, FLAG)
    """Whether a value already passing when the trial starts lets the gate exit at
    once (the default: a lever still pressed passes); if False, a passing value
    counts only after one that does not pass."""

    state = ObjectProperty(None, allownone=True)
    """The last value of the watched property seen by the gate."""

    def check_done(self, value: Any) -> bool:
        """Return whether ``value`` lets the gate exit. Subclasses define it."""
        raise NotImplementedError

    async def do_trial(self) -> None:
        """Watch ``device.<state_prop>`` until a value passes :meth:`check_done` (and
        keeps passing :attr:`hold_time` seconds), then return: the trial is done.
        Raises :class:`~moalab.InvalidArgument` without a :attr:`device` or if it has
        no property :attr:`state_prop`."""
        device = self.device
        if device is None:
            raise InvalidArgument(f"gate {self.name!r} has no device: pass device=<a Device>")
        if not hasattr(device, self.state_prop):
            raise InvalidArgument(
                f"gate {self.name!r}: device {getattr(device, 'name', device)!r} has no "
                f"property {self.state_prop!r}; set state_prop to one of its properties"
            )
        use_initial = self.use_initial
        while True:
            await self.wait_resumed()
            if await self._wait_for_exit(device, use_initial):
                return
            use_initial = True

    async def _wait_for_exit(self, device: Any, use_initial: bool) -> bool:
        """Wait for a passing value: True once one lets the gate exit, False if the
        stage was paused first."""
        values = _Values()
        prop = self.state_prop
        uid = device.fbind(prop, values.push)
        pause_wakers = self._pause_wakers
        pause_wakers.add(values)
        try:
            ignore_passing = not use_initial
            hold_deadline = math.inf
            value = getattr(device, prop)
            # the value on entry is recorded even when it equals the last one seen
            if self.state == value:
                self.property("state").dispatch(self)
            else:
                self.state = value
            while True:
                if not self.check_done(value):
                    ignore_passing = False
                    hold_deadline = math.inf
                elif not ignore_passing:
                    if not self.hold_time:
                        return True
                    if hold_deadline == math.inf:
                        hold_deadline = trio.current_time() + self.hold_time
                if hold_deadline == math.inf:  # no scope to enter: a quicker exit
                    value = await values.pop()
                else:
                    with trio.move_on_at(hold_deadline) as hold:
                        value = await values.pop()
                    if hold.cancelled_caught:
                        return True
                if value is _PAUSED:
                    return False
                self.state = value
        finally:
            pause_wakers.discard(values)
            device.unbind_uid(prop, uid)


class DigitalGateStage(GateStage):
    """Exits when the device's digital state equals :attr:`exit_state`."""

    exit_state: bool = CheckedBooleanProperty(False, FLAG)
    """The state that lets the gate exit (False by default: e.g. a beam broken)."""

    def check_done(self, value: Any) -> bool:
        """Whether ``value`` equals :attr:`exit_state`."""
        return value == self.exit_state


class AnalogGateStage(GateStage):
    """Exits when the device's value lies in [:attr:`min`, :attr:`max`]."""

    min: float = CheckedNumericProperty(0, NUMBER)
    """The lowest value that lets the gate exit."""

    max: float = CheckedNumericProperty(0, NUMBER)
    """The highest value that lets the gate exit (at least :attr:`min`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_range(self, "min", "max")

    async def init_trial(self, i: int) -> None:
        """Check that :attr:`min` is not above :attr:`max` (raises
        :class:`~moalab.InvalidArgument`), as they may have been set one at a time."""
        # checked again here: min and max may have been set one at a time since
        check_range(self, "min", "max")

    def check_done(self, value: Any) -> bool:
        """Whether ``value`` lies in [:attr:`min`, :attr:`max`] (None never does)."""
        return value is not None and self.min <= value <= self.max
