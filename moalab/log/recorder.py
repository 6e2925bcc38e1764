"""Recorder: binds to stages and devices and turns their changes into records.

One recorder serves one run (or one logger used on its own, as in PyMoa's guide):
it numbers the records it makes and hands each to ``emit``, synchronously, in the
thread that changed the object (the experiment's trio thread).
"""

import itertools
import secrets
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..core.clock import now
from ..core.errors import InvalidArgument
from ..core.loggable import Loggable
from ..core.records import (
    Change,
    DeviceUpdate,
    Record,
    StageEnd,
    StageStart,
    TrialEnd,
    TrialStart,
    UserEvent,
)
from ..device.device import Device
from ..stage.stage import MoaStage

__all__ = ("Recorder", "new_run_id")

_STAGE_RECORDS: dict[str, type[Record]] = {
    "on_stage_start": StageStart,
    "on_trial_start": TrialStart,
    "on_trial_end": TrialEnd,
    "on_stage_end": StageEnd,
}


def new_run_id() -> str:
    """A new run id: 12 hexadecimal digits, unique for all practical purposes."""
    return secrets.token_hex(6)


class Recorder:
    """Makes records of the :class:`~moalab.Loggable` objects added to it.

    For each object, every trigger (a property change or an event dispatch named in
    its trigger names) makes one record holding the current values of its logged
    names: a stage's ``on_stage_start`` ... ``on_stage_end`` make stage and trial
    records, its ``on_record_event`` a :class:`UserEvent`, a device's
    ``on_data_update`` a :class:`DeviceUpdate`, any other trigger a :class:`Change`.
    A property trigger that is not itself a logged name records its own new value
    instead (a gate's ``state`` holds the value the gate saw). An object with no
    trigger names records each change of a logged name as a :class:`Change`.
    """

    def __init__(self, emit: Callable[[Record], None], run_id: str | None = None,
                 clock: Callable[[], float] = now) -> None:
        """``clock`` reads the experiment time for each record; a run gives its
        :func:`~moalab.core.clock.clock_reader` (cheaper than :func:`moalab.now`)."""
        self.emit = emit
        self.run_id = run_id or new_run_id()
        self.clock = clock
        self._next_seq = itertools.count().__next__
        self.bound: dict[Any, list[tuple[str, int]]] = {}

    def make(self, cls: type[Record], time: float | None = None, **fields: Any) -> Record:
        """Make the next record of this run, at experiment time ``time`` (default: now),
        and emit it."""
        record = cls(run_id=self.run_id, seq=self._next_seq(),
                     time=self.clock() if time is None else time, **fields)
        self.emit(record)
        return record

    def add(
        self,
        loggable: Loggable,
        triggered_names: Iterable[str] = (),
        logged_names: Iterable[str] = (),
        use_default_logged_names: bool = True,
        use_default_logged_trigger_names: bool = True,
    ) -> None:
        """Record ``loggable``: its declared names plus the ones given here.

        Raises :class:`InvalidArgument` for a name it has no property or event of.
        """
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
        uids = self.bound.setdefault(loggable, [])
        if not triggers:
            for name in tracked:
                uids.append((name, loggable.fbind(name, self._maker(loggable, name, [name]))))
            return
        for trigger in triggers:
            names = tracked
            if trigger not in tracked and loggable.property(trigger, quiet=True) is not None:
                names = [trigger]
            uids.append((trigger, loggable.fbind(trigger, self._maker(loggable, trigger, names))))

    def _maker(self, obj: Any, trigger: str, names: Sequence[str]) -> Callable[..., None]:
        """The callback that records ``trigger`` of ``obj``: made once per binding, with
        what does not change while it is bound (a run holds its tree) read now, as a
        stage transition makes several records."""
        emit, run_id, name, clock, seq = self.emit, self.run_id, obj.name, self.clock, \
            self._next_seq
        path = obj.path if isinstance(obj, MoaStage) else ""
        cls = _STAGE_RECORDS.get(trigger) if isinstance(obj, MoaStage) else None
        read_values = _values_reader(tuple(names))

        if cls is not None:
            outcome = {"on_trial_end": "trial_outcome", "on_stage_end": "outcome"}.get(trigger)
            if outcome is None:
                def record(*_: Any) -> None:
                    emit(cls(run_id=run_id, seq=seq(), time=clock(), path=path, name=name,
                             count=obj.count, values=read_values(obj)))
            else:
                def record(*_: Any) -> None:
                    emit(cls(run_id=run_id, seq=seq(), time=clock(), path=path, name=name,
                             count=obj.count, values=read_values(obj),
                             outcome=getattr(obj, outcome)))
        elif isinstance(obj, MoaStage) and trigger == "on_record_event":
            def record(_: Any, event: str, values: dict[str, Any], *__: Any) -> None:
                emit(UserEvent(run_id=run_id, seq=seq(), time=clock(), path=path, name=name,
                               event=event, values=values))
        elif isinstance(obj, Device) and trigger == "on_data_update":
            def record(*_: Any) -> None:
                emit(DeviceUpdate(run_id=run_id, seq=seq(), time=clock(), device=name,
                                  values=read_values(obj)))
        else:
            def record(*_: Any) -> None:
                emit(Change(run_id=run_id, seq=seq(), time=clock(), source=name, path=path,
                            trigger=trigger, values=read_values(obj)))
        return record

    def remove(self, loggable: Loggable) -> None:
        """Stop recording ``loggable``."""
        for name, uid in self.bound.pop(loggable, []):
            loggable.unbind_uid(name, uid)

    def remove_all(self) -> None:
        """Stop recording every object."""
        for loggable in list(self.bound):
            self.remove(loggable)


def _values_reader(names: tuple[str, ...]) -> Callable[[Any], dict[str, Any]]:
    """A function reading ``names`` of an object into a dict (one name, the usual
    case of a stage's ``count``, without a loop)."""
    if len(names) == 1:
        (only,) = names
        return lambda obj: {only: getattr(obj, only)}
    return lambda obj: {name: getattr(obj, name) for name in names}
