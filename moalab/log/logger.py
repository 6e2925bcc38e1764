"""ObjectLogger: binds to loggable objects and turns their changes into rows."""

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ..core.clock import ClockOrigin, clock_origin, now
from ..core.errors import InvalidArgument
from ..core.loggable import Loggable

__all__ = ("LogRow", "ObjectLogger", "COLUMNS")

COLUMNS = ("index", "timestamp", "name", "trigger", "item", "value")


class LogRow(NamedTuple):
    """One logged value. Rows written for one trigger share ``index``."""

    index: int
    timestamp: float
    name: str
    trigger: str
    item: str
    value: Any


class ObjectLogger:
    """Records changes of :class:`~moalab.core.loggable.Loggable` objects as :class:`LogRow`.

    For each instance, every trigger (a property change or an event dispatch
    named in its trigger names) writes one row per logged name, holding that
    name's current value; without logged names it writes one row with an empty
    item. A property trigger that is not itself a logged name writes one row
    with its own new value instead (a gate's ``state`` row holds the value the
    gate saw, ``wait_press,state,state,True``). An
    instance with no trigger names logs each change of a logged name as its
    own row. Timestamps are on the experiment clock; :attr:`origin` places them
    in time.

    Subclasses implement :meth:`write_rows`; it runs in the thread that changed
    the object (the experiment's trio thread) and must not block for long.
    """

    def __init__(self) -> None:
        self.logged_instances: dict[Any, list[tuple[str, int]]] = {}
        self.count = 0
        self.origin: ClockOrigin | None = None
        """The wall-clock time and experiment time of the run's start: set by
        :meth:`set_origin` (a run does it as it starts), else read as the first
        row is logged."""

    def set_origin(self, origin: ClockOrigin) -> None:
        """Record where this log's time axis starts; a logger keeps its first origin
        (log each run to loggers of its own: a dry run's virtual clock starts anew)."""
        if self.origin is None:
            self.origin = origin
            self.write_origin(origin)

    def write_origin(self, origin: ClockOrigin) -> None:
        """Record ``origin`` in the output; runs once, before the first row. Subclasses
        that write somewhere implement it."""

    def add_logged_instance(
        self,
        loggable: Loggable,
        triggered_names: Iterable[str] = (),
        logged_names: Iterable[str] = (),
        use_default_logged_names: bool = True,
        use_default_logged_trigger_names: bool = True,
    ) -> None:
        """Start logging ``loggable``: its declared names plus the ones given here."""
        triggers = list(dict.fromkeys(
            ([*loggable.logged_trigger_names] if use_default_logged_trigger_names else [])
            + list(triggered_names)
        ))
        tracked = list(dict.fromkeys(
            ([*loggable.logged_names] if use_default_logged_names else []) + list(logged_names)
        ))
        for name in triggers + tracked:
            if not hasattr(loggable, name):
                raise InvalidArgument(
                    f"cannot log {name!r} of {getattr(loggable, 'name', loggable)!r}: it has no "
                    "such property or event"
                )
        uids = self.logged_instances.setdefault(loggable, [])
        if triggers:
            for trigger in triggers:
                names = tracked
                if trigger not in tracked and loggable.property(trigger, quiet=True) is not None:
                    names = [trigger]
                uid = loggable.fbind(trigger, self._log_trigger, trigger, names)
                uids.append((trigger, uid))
        else:
            for name in tracked:
                uid = loggable.fbind(name, self._log_trigger, name, [name])
                uids.append((name, uid))

    def remove_logged_instance(self, loggable: Loggable) -> None:
        """Stop logging ``loggable``."""
        for name, uid in self.logged_instances.pop(loggable, []):
            loggable.unbind_uid(name, uid)

    def remove_all(self) -> None:
        """Stop logging every instance."""
        for loggable in list(self.logged_instances):
            self.remove_logged_instance(loggable)

    def _log_trigger(self, trigger: str, tracked: Sequence[str], obj: Any, *args: Any) -> None:
        if self.origin is None:
            self.set_origin(clock_origin())
        index = self.count
        self.count += 1
        t = now()
        name = obj.name
        if tracked:
            rows = [LogRow(index, t, name, trigger, item, getattr(obj, item)) for item in tracked]
        else:
            rows = [LogRow(index, t, name, trigger, "", "")]
        self.write_rows(rows)

    def write_rows(self, rows: list[LogRow]) -> None:
        """Record ``rows``. Subclasses implement it."""
        raise NotImplementedError
