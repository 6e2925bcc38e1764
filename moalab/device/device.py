"""Device: the base of everything that reads or drives the world."""

from collections.abc import Callable
from typing import Any

from ..core.base import MoaBase
from ..core.clock import now
from ..core.events import NumericProperty, ObjectProperty
from ..core.loggable import Loggable

__all__ = ("Device",)


class Device(MoaBase, Loggable):
    """A device whose state lives in Kivy properties.

    Whenever a device's state is updated it sets :attr:`timestamp`, then its
    state properties, then dispatches ``on_data_update`` (with itself as the
    argument), so listeners see a consistent state. Updates happen in the trio
    thread the experiment runs in.

    ``executor`` (an :class:`~moalab.Executor`) says where the device's
    executor-decorated methods run; the device itself knows nothing of it.
    Constructor keyword arguments are kept in :attr:`init_kwargs`, so the same
    device can be created again elsewhere (e.g. on a remote server).
    """

    __events__ = ("on_data_update",)

    _logged_names_ = ("timestamp",)
    _logged_trigger_names_ = ("on_data_update",)

    timestamp: float = NumericProperty(0.0)
    """Experiment time (see :func:`moalab.now`) of the last state update.

    On a mirror of a remote device (one whose executor is remote: a
    ``ProcessExecutor``, ``WebSocketExecutor``, ...) the far
    side's timestamps are converted to this process's experiment clock as they
    arrive (see :mod:`moalab.executor.clock`). A time a remote method *returns* is
    on the far side's clock: a callback that stores it should convert it with
    ``self.executor.to_local(t)``."""

    remote_timestamp: float | None = NumericProperty(None, allownone=True)
    """On a mirror of a remote device: the far side's :attr:`timestamp` of the last
    mirrored update, on the far side's clock, as received (None otherwise). It is
    set before :attr:`timestamp`."""

    executor = ObjectProperty(None, allownone=True)
    """The executor that runs this device's executor-decorated methods, or None."""

    _read_clock: Callable[[], float] = staticmethod(now)

    def __init__(self, **kwargs: Any) -> None:
        self.init_kwargs = {k: v for k, v in kwargs.items() if k != "executor"}
        super().__init__(**kwargs)

    def now(self) -> float:
        """The experiment time now, for :attr:`timestamp`, from any thread.

        In a method an executor runs in a worker thread it still reads the clock
        of the run the device is in (the virtual time in a dry run), where
        :func:`moalab.now` would read real time. A run (``moalab.run``,
        ``moalab run``, :func:`~moalab.run_experiment`) sets this for the devices
        it is given; for any other device it is :func:`moalab.now`.
        """
        return self._read_clock()

    def use_clock(self, read: Callable[[], float] | None) -> None:
        """Make :meth:`now` call ``read``; None: :func:`moalab.now` again. A run calls
        it as it starts (with ``moalab.core.clock.clock_reader()``, which reads the
        run's clock from any thread) and as it ends (with None)."""
        if read is None:
            self.__dict__.pop("_read_clock", None)
        else:
            self._read_clock = read

    def on_data_update(self, *args: Any) -> None:
        """The event dispatched after each state update (:meth:`update`), once
        :attr:`timestamp` and the state properties are set; its argument is the device.

        Bind to it (``device.fbind("on_data_update", callback)``: the callback gets the
        device twice, as the dispatcher and as the argument) to react to new data; a
        subclass may override this default, which does nothing. It runs synchronously
        where the update happens, the trio thread of the run (on a mirror of a remote
        device: as the far side's update arrives), so a callback must not block.
        Loggers record each dispatch as a row (a :class:`~moalab.DeviceUpdate` record).
        """

    def update(self, timestamp: float | None = None, **values: Any) -> None:
        """Set ``timestamp`` (default: now) and the given properties, then dispatch
        ``on_data_update``."""
        self.timestamp = now() if timestamp is None else timestamp
        for name, value in values.items():
            setattr(self, name, value)
        self.dispatch("on_data_update", self)

    async def pump_state(self) -> None:
        """Read the device continuously until cancelled. Devices that poll define it."""
        raise NotImplementedError(f"{type(self).__name__} has no pump_state")
