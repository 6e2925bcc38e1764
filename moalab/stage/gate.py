"""Gate stages: wait until a device property meets a condition."""

import collections
import math
import weakref
from collections.abc import Awaitable
from typing import Any

import outcome
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
"""What :class:`_Values` gives once the gate's stage is paused."""

_EMPTY = object()
"""What :meth:`_Values.take` returns when no value is queued."""


class _Values:
    """The values a device property takes while the gate watches it.

    Bound to the property once (:meth:`watch`) and kept bound between waits: binding
    and unbinding each trial cost about 2 us on the reaction path. Between waits
    (:meth:`start` ... :meth:`stop`) values are dropped. The gate's task parks
    itself and a new value reschedules it directly, with that value (no channel, no
    :class:`trio.Event` made per wait, no coroutine of this class on the task's
    stack): a gate reacts within microseconds. Values that arrive before the task
    runs again are queued. :meth:`cancel` is how :meth:`MoaStage.pause` interrupts
    the wait (it needs no cancel scope around it). All in the trio thread the tree
    runs in.
    """

    __slots__ = ("items", "task", "paused", "watching", "source", "unbind")

    def __init__(self) -> None:
        self.items: collections.deque[Any] = collections.deque()
        self.task: trio.lowlevel.Task | None = None  # the gate's task while it waits
        self.paused = False
        self.watching = False
        self.source: tuple[Any, str] | None = None  # (device, property) bound to
        self.unbind: weakref.finalize | None = None

    def watch(self, gate: "GateStage", device: Any, prop: str) -> None:
        """Be bound to ``device.<prop>`` (and to nothing else) from now on, until
        ``gate`` is garbage: a device outliving its gates (a rig's, session after
        session) keeps no binding of theirs."""
        if self.source is not None:
            if self.source[0] is device and self.source[1] == prop:
                return
            self.unbind()
        self.source = (device, prop)
        self.unbind = weakref.finalize(gate, device.unbind_uid, prop,
                                       device.fbind(prop, self.push))
        self.unbind.atexit = False

    def start(self) -> None:
        """Begin a wait: keep the values from now on."""
        self.items.clear()
        self.paused = False
        self.watching = True

    def stop(self) -> None:
        """End a wait: drop values until the next :meth:`start`."""
        self.watching = False

    def push(self, _: Any, value: Any) -> None:
        if self.watching and not self._wake(value):
            self.items.append(value)

    def cancel(self) -> None:
        """Make the waiting (or next) wait give :data:`_PAUSED`."""
        self.paused = True
        self._wake(_PAUSED)

    def _wake(self, value: Any) -> bool:
        task = self.task
        if task is None:
            return False
        self.task = None
        trio.lowlevel.reschedule(task, outcome.Value(value))
        return True

    def _abort(self, _: Any) -> trio.lowlevel.Abort:
        self.task = None
        return trio.lowlevel.Abort.SUCCEEDED

    def take(self) -> Any:
        """The next queued value, :data:`_PAUSED` once :meth:`cancel` was called, or
        :data:`_EMPTY`: then await :meth:`wait`."""
        if self.paused:
            return _PAUSED
        return self.items.popleft() if self.items else _EMPTY

    def wait(self) -> Awaitable[Any]:
        """Await it when :meth:`take` gave :data:`_EMPTY`: the next value, or
        :data:`_PAUSED` once :meth:`cancel` is called."""
        self.task = trio.lowlevel.current_task()
        return trio.lowlevel.wait_task_rescheduled(self._abort)


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

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._values = _Values()

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
        values = self._values
        values.watch(self, device, self.state_prop)
        values.start()
        pause_wakers = self._pause_wakers
        pause_wakers.add(values)
        try:
            ignore_passing = not use_initial
            hold_deadline = math.inf
            value = getattr(device, self.state_prop)
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
                value = values.take()
                if value is _EMPTY:
                    if hold_deadline == math.inf:  # no scope to enter: a quicker exit
                        value = await values.wait()
                    else:
                        with trio.move_on_at(hold_deadline) as hold:
                            value = await values.wait()
                        if hold.cancelled_caught:
                            return True
                if value is _PAUSED or values.paused:
                    return False
                self.state = value
        finally:
            pause_wakers.discard(values)
            values.stop()


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
