"""GPIO devices on gpiozero: the pins of a Raspberry Pi as moalab channels and ports.

gpiozero is imported only when a pin is first opened, so ``import moalab`` (and
constructing these devices, e.g. as the PC-side mirror of a remote instance)
does not need it. The pin factory is gpiozero's choice (lgpio on a Pi 5 /
bookworm; set ``GPIOZERO_PIN_FACTORY=mock`` for a simulation) unless a
``pin_factory`` is passed.

Pins are opened lazily on first use, or explicitly with :meth:`open` /
``async with device:``, and released by :meth:`close` (or leaving the
``async with`` block). A device closed by :meth:`close` is not opened again
behind the caller's back: use :meth:`open` for that.

The public methods are executor-dispatched (:func:`~moalab.core.dispatch.apply_executor`),
so a device with an ``executor`` runs them where its pins are, e.g. on a
Raspberry Pi running ``moalab-server``.

Pins are named as gpiozero names them: a BCM GPIO number (``17``), or a
string such as ``"GPIO17"``, ``"BOARD11"`` or ``"J8:11"``.
"""

import math
from collections import deque
from collections.abc import Iterable, Mapping
from numbers import Real
from time import perf_counter
from typing import Any

import trio

from ..core.dispatch import apply_executor
from ..core.errors import InvalidArgument, MoaError
from .analog import AnalogChannel
from .digital import DigitalChannel, DigitalPort

__all__ = (
    "GPIOError",
    "GPIODigitalInput",
    "GPIODigitalOutput",
    "GPIODigitalPort",
    "GPIOPWMOutput",
)

_PIN_HELP = "give a BCM GPIO number such as 17 or a name such as 'GPIO17' or 'BOARD11'"


class GPIOError(MoaError, RuntimeError):
    """GPIO cannot be used: gpiozero or a pin factory is missing, or the device is closed."""


def _gpiozero() -> Any:
    try:
        import gpiozero
    except ImportError as exc:
        raise GPIOError(
            "GPIO devices need gpiozero: install moalab with its Pi extra "
            "(pip install 'moalab[pi]'), or pip install gpiozero"
        ) from exc
    return gpiozero


def _check_pin(owner: str, pin: Any) -> Any:
    """Reject pin values that no pin factory accepts, before any hardware is touched."""
    if isinstance(pin, bool) or not (
        (isinstance(pin, int) and pin >= 0) or (isinstance(pin, str) and pin.strip())
    ):
        raise InvalidArgument(f"{owner}: pin={pin!r} is not accepted; {_PIN_HELP}")
    return pin


def _check_level(owner: str, state: Any) -> bool:
    """Return ``state`` as a bool; accept bools and the integers 0 and 1 (numpy's too)."""
    if not isinstance(state, str | float) and isinstance(state, Real) and state in (0, 1):
        return bool(state)
    if type(state).__name__ == "bool_":  # numpy.bool_ is not a numbers.Real
        return bool(state)
    raise InvalidArgument(f"{owner}: state={state!r} is not accepted; give True or False")


class _GPIODevice:
    """Opening, closing and error reporting shared by the GPIO devices.

    A subclass implements :meth:`_open_devices`, returning the gpiozero devices
    it opened; they are closed, in reverse order, by :meth:`close`.
    """

    def __init__(self, *, pin_factory: Any = None, **kwargs: Any) -> None:
        # set first: a port's channel names are checked against these in its __init__
        self._pin_factory = pin_factory
        self._devices: list[Any] | None = None
        self._closed = False
        super().__init__(**kwargs)

    @property
    def pin_factory(self) -> Any:
        """The gpiozero pin factory given, or None for gpiozero's default."""
        return self._pin_factory

    @property
    def _owner(self) -> str:
        name = getattr(self, "name", "")
        return f"{type(self).__name__} {name!r}" if name else type(self).__name__

    @property
    def is_open(self) -> bool:
        """Whether the device holds its pins."""
        return self._devices is not None

    def _open_devices(self, gpiozero: Any) -> list[Any]:
        raise NotImplementedError

    def _opened(self) -> None:
        """Called once the pins are open. Runs in the caller's thread."""

    def _open_one(self, gpiozero: Any, cls: Any, pin: Any, **kwargs: Any) -> Any:
        """Create one gpiozero device, turning gpiozero's errors into moalab's."""
        try:
            return cls(pin, pin_factory=self._pin_factory, **kwargs)
        except gpiozero.BadPinFactory as exc:
            raise GPIOError(
                f"{self._owner}: no GPIO pin factory could be loaded ({exc}); on a Raspberry "
                "Pi install moalab[pi] (it brings lgpio); elsewhere set "
                "GPIOZERO_PIN_FACTORY=mock to simulate pins"
            ) from exc
        except gpiozero.PinPWMUnsupported as exc:
            raise InvalidArgument(
                f"{self._owner}: pin {pin!r} does not support PWM with pin factory "
                f"{type(self._pin_factory or gpiozero.Device.pin_factory).__name__}"
            ) from exc
        except gpiozero.GPIOZeroError as exc:
            raise InvalidArgument(
                f"{self._owner}: pin {pin!r} cannot be used ({exc}); {_PIN_HELP}, "
                "not used by another device"
            ) from exc

    def open(self) -> None:
        """Claim the pins (again, after :meth:`close`); does nothing if they are open.

        Raises :class:`InvalidArgument` for a pin the factory rejects or that is in
        use, :class:`GPIOError` when gpiozero or a pin factory is missing.
        """
        if self._devices is not None:
            return
        gpiozero = _gpiozero()
        devices: list[Any] = []
        try:
            devices.extend(self._open_devices(gpiozero))
        except BaseException:
            for device in reversed(devices):
                device.close()
            raise
        self._devices = devices
        self._closed = False
        self._opened()

    def close(self) -> None:
        """Release the pins; safe to call more than once."""
        self._closed = True
        self._release()

    def _release(self) -> None:
        """Release the pins without closing the device: the next use opens them again."""
        devices, self._devices = self._devices, None
        for device in reversed(devices or ()):
            device.close()

    def _ensure_open(self) -> list[Any]:
        if self._devices is None:
            if self._closed:
                raise GPIOError(f"{self._owner} is closed; call open() to use its pins again")
            self.open()
        assert self._devices is not None
        return self._devices

    async def __aenter__(self) -> Any:
        self.open()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()


class GPIODigitalInput(_GPIODevice, DigitalChannel):
    """A digital input pin; :attr:`state` (True = high) follows the pin's edges.

    Each edge is timestamped in gpiozero's callback thread with
    :func:`time.perf_counter` (the experiment clock on trio's default clock) and
    queued; :meth:`pump_state`, running in the experiment's trio thread, turns
    every queued edge into one :meth:`update`, in the order the edges came, so a
    burst of edges loses none. Edges that come while nothing pumps wait in the
    queue for the next pump or :meth:`read_state`.

    :param pin: the pin (see the module docstring).
    :param pull_up: True for the internal pull-up, False (default) for the
        pull-down, None for a floating pin.
    :param bounce_time: seconds after an edge during which further edges are
        ignored, or None (default) for no debouncing.
    :param pin_factory: a gpiozero pin factory; None for gpiozero's default.
    """

    def __init__(
        self,
        pin: Any,
        *,
        pull_up: bool | None = False,
        bounce_time: float | None = None,
        pin_factory: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pin_factory=pin_factory, **kwargs)
        self.pin = _check_pin(self._owner, pin)
        if pull_up not in (True, False, None):
            raise InvalidArgument(
                f"{self._owner}: pull_up={pull_up!r} is not accepted; give True, False or None"
            )
        if bounce_time is not None and not (
            isinstance(bounce_time, Real) and not isinstance(bounce_time, bool)
            and 0 < bounce_time < math.inf
        ):
            raise InvalidArgument(
                f"{self._owner}: bounce_time={bounce_time!r} is not accepted; give seconds "
                "above 0, or None for no debouncing"
            )
        self.pull_up = pull_up
        self.bounce_time = bounce_time
        self.init_kwargs.update(pin=pin, pull_up=pull_up, bounce_time=bounce_time)
        # (perf_counter time, level) per edge: appended in gpiozero's thread, popped
        # in the trio thread; deque's append and popleft are thread-safe
        self._edges: deque[tuple[float, bool]] = deque()
        self._token: trio.lowlevel.TrioToken | None = None
        self._wakeup = trio.Event()

    def _open_devices(self, gpiozero: Any) -> list[Any]:
        device = self._open_one(
            gpiozero,
            gpiozero.InputDevice,
            self.pin,
            pull_up=self.pull_up,
            # gpiozero needs an active state for a floating pin; state here is the level
            active_state=True if self.pull_up is None else None,
        )
        try:
            pin = device.pin
            pin.bounce = self.bounce_time
            pin.edges = "both"
            pin.when_changed = self._on_edge
        except BaseException:
            device.close()
            raise
        return [device]

    def _opened(self) -> None:
        self._read_level()

    def _read_level(self) -> None:
        assert self._devices is not None
        self.update(timestamp=perf_counter(), state=bool(self._devices[0].pin.state))

    def _on_edge(self, ticks: float, level: Any) -> None:
        # gpiozero's callback thread: no moalab state is touched here
        self._edges.append((perf_counter(), bool(level)))
        token = self._token
        if token is not None:
            try:
                token.run_sync_soon(self._wake, idempotent=True)
            except trio.RunFinishedError:
                pass

    def _wake(self) -> None:
        self._wakeup.set()

    def _deliver_edges(self) -> None:
        """Update once per queued edge, oldest first. Runs in the trio thread."""
        edges = self._edges
        while edges:
            timestamp, level = edges.popleft()
            self.update(timestamp=timestamp, state=level)

    @property
    def pending_edges(self) -> int:
        """How many edges wait to be delivered."""
        return len(self._edges)

    @apply_executor
    async def pump_state(self) -> None:
        """Deliver the pin's edges as updates until cancelled.

        Opens the pin if needed (and then releases it on exit, so a later pump
        or read opens it again). Runs in the experiment's trio thread; one pump
        per device at a time: raises :class:`GPIOError` if another task pumps it, or
        if the device was closed (:meth:`open` it again).
        """
        if self._token is not None:
            raise GPIOError(f"{self._owner} is already pumped by another task")
        opened_here = not self.is_open
        self._token = trio.lowlevel.current_trio_token()
        try:
            self._ensure_open()
            while True:
                self._deliver_edges()
                await self._wakeup.wait()
                self._wakeup = trio.Event()
        finally:
            self._token = None
            if opened_here:
                self._release()

    @apply_executor
    async def read_state(self) -> None:
        """Deliver the queued edges, then update with the level read now."""
        self._ensure_open()
        self._deliver_edges()
        self._read_level()


class GPIODigitalOutput(_GPIODevice, DigitalChannel):
    """A digital output pin, driven by :meth:`write_state` (True = high).

    :param pin: the pin (see the module docstring).
    :param initial: the level the pin is driven to when opened (default low).
    :param pin_factory: a gpiozero pin factory; None for gpiozero's default.
    """

    def __init__(
        self, pin: Any, *, initial: bool = False, pin_factory: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(pin_factory=pin_factory, **kwargs)
        self.pin = _check_pin(self._owner, pin)
        self.initial = _check_level(self._owner, initial)
        self.init_kwargs.update(pin=pin, initial=self.initial)

    def _open_devices(self, gpiozero: Any) -> list[Any]:
        return [
            self._open_one(
                gpiozero, gpiozero.DigitalOutputDevice, self.pin, initial_value=self.initial
            )
        ]

    def _opened(self) -> None:
        self.update(state=self.initial)

    @apply_executor
    async def write_state(self, state: bool, **kwargs: Any) -> None:
        """Drive the pin high (True) or low (False), then update :attr:`state`.

        Runs in the trio thread; opens the pin on first use. Raises
        :class:`InvalidArgument` for a state other than a bool or 0/1.
        """
        level = _check_level(self._owner, state)
        (device,) = self._ensure_open()
        device.value = level
        self.update(state=level)

    @apply_executor
    async def read_state(self) -> None:
        """Update :attr:`state` with the level the pin is driven to."""
        (device,) = self._ensure_open()
        self.update(state=bool(device.value))


class GPIODigitalPort(_GPIODevice, DigitalPort):
    """Several digital output pins, one channel each, written together.

    :param pins: ``{channel name: pin}``; the names become the port's channels.
    :param initial: the level every pin is driven to when opened (default low).
    :param pin_factory: a gpiozero pin factory; None for gpiozero's default.

    gpiozero sets pins one after another, so :meth:`write_states` changes its
    pins within microseconds of each other, not at one instant; the port's
    update comes once, after the last pin.
    """

    initial: bool = False
    """The level every pin is driven to when opened."""

    @property
    def pins(self) -> dict[str, Any]:
        """``{channel name: pin}``."""
        return dict(self._pins)

    def __init__(
        self,
        pins: Mapping[str, Any],
        *,
        initial: bool = False,
        pin_factory: Any = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(pins, Mapping) or not pins:
            raise InvalidArgument(
                f"GPIODigitalPort: pins={pins!r} is not accepted; give a non-empty "
                "{channel name: pin} mapping, e.g. {'light': 17, 'motor': 27}"
            )
        if "channel_names" in kwargs and list(kwargs["channel_names"]) != list(pins):
            raise InvalidArgument(
                f"GPIODigitalPort: channel_names={kwargs['channel_names']!r} differ from "
                f"the pins' names {list(pins)}; leave channel_names out"
            )
        kwargs["channel_names"] = list(pins)
        super().__init__(pin_factory=pin_factory, **kwargs)
        self._pins = {
            name: _check_pin(f"{self._owner} channel {name!r}", pin) for name, pin in pins.items()
        }
        self.initial = _check_level(self._owner, initial)
        self.init_kwargs.pop("channel_names", None)
        self.init_kwargs.update(pins=self.pins, initial=self.initial)

    def _open_devices(self, gpiozero: Any) -> list[Any]:
        devices = []
        try:
            for pin in self._pins.values():
                devices.append(
                    self._open_one(
                        gpiozero, gpiozero.DigitalOutputDevice, pin, initial_value=self.initial
                    )
                )
        except BaseException:
            for device in reversed(devices):
                device.close()
            raise
        return devices

    def _opened(self) -> None:
        self.update(**dict.fromkeys(self.channel_names, self.initial))

    @apply_executor
    async def write_states(
        self, high: Iterable[str] = (), low: Iterable[str] = (), **kwargs: Any
    ) -> None:
        """Drive the channels in ``high`` high and those in ``low`` low, then update.

        Runs in the trio thread; opens the pins on first use. Raises
        :class:`InvalidArgument` for an unknown channel or one named in both.
        """
        high, low = list(high), list(low)
        self._check_channels(high + low)
        both = sorted(set(high) & set(low))
        if both:
            raise InvalidArgument(
                f"{self._owner}: channels {both} are in both high and low; name each once"
            )
        devices = dict(zip(self.channel_names, self._ensure_open(), strict=True))
        for name in high:
            devices[name].on()
        for name in low:
            devices[name].off()
        self.update(**dict.fromkeys(high, True), **dict.fromkeys(low, False))

    @apply_executor
    async def read_state(self) -> None:
        """Update every channel with the level its pin is driven to."""
        devices = self._ensure_open()
        self.update(
            **{name: bool(d.value) for name, d in zip(self.channel_names, devices, strict=True)}
        )


class GPIOPWMOutput(_GPIODevice, AnalogChannel):
    """A PWM output pin; :meth:`write_state` sets the duty cycle, 0 (off) to 1 (on).

    :param pin: the pin (see the module docstring); the pin factory must support
        PWM on it (lgpio does in software on every GPIO).
    :param frequency: PWM frequency in Hz (default 100).
    :param initial: the duty cycle when opened (default 0).
    :param pin_factory: a gpiozero pin factory; None for gpiozero's default.
    """

    def __init__(
        self,
        pin: Any,
        *,
        frequency: float = 100,
        initial: float = 0.0,
        pin_factory: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(pin_factory=pin_factory, **kwargs)
        self.pin = _check_pin(self._owner, pin)
        if isinstance(frequency, bool) or not isinstance(frequency, Real) or not (
            0 < frequency < math.inf
        ):
            raise InvalidArgument(
                f"{self._owner}: frequency={frequency!r} is not accepted; give Hz above 0"
            )
        self.frequency = float(frequency)
        self.initial = self._check_duty(initial)
        self.init_kwargs.update(pin=pin, frequency=self.frequency, initial=self.initial)

    def _check_duty(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
            raise InvalidArgument(
                f"{self._owner}: value={value!r} is not accepted; give a duty cycle from "
                "0 (off) to 1 (fully on)"
            )
        return float(value)

    def _open_devices(self, gpiozero: Any) -> list[Any]:
        return [
            self._open_one(
                gpiozero,
                gpiozero.PWMOutputDevice,
                self.pin,
                frequency=self.frequency,
                initial_value=self.initial,
            )
        ]

    def _opened(self) -> None:
        self.update(state=self.initial)

    @apply_executor
    async def write_state(self, state: float, **kwargs: Any) -> None:
        """Set the duty cycle to ``state`` (0 to 1), then update :attr:`state`.

        Runs in the trio thread; opens the pin on first use.
        """
        value = self._check_duty(state)
        (device,) = self._ensure_open()
        device.value = value
        self.update(state=value)

    @apply_executor
    async def read_state(self) -> None:
        """Update :attr:`state` with the pin's duty cycle."""
        (device,) = self._ensure_open()
        self.update(state=float(device.value))
