"""Recorder: binds to stages and devices and turns their changes into records.

One recorder serves one run (or one logger used on its own, as in PyMoa's guide):
it numbers the records it makes and hands each to ``emit``, synchronously, in the
thread that changed the object (the experiment's trio thread).
"""

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

    def __init__(self, emit: Callable[[Record], None], run_id: str | None = None) -> None:
        self.emit = emit
        self.run_id = run_id or new_run_id()
        self.seq = 0
        self.bound: dict[Any, list[tuple[str, int]]] = {}

    def make(self, cls: type[Record], time: float | None = None, **fields: Any) -> Record:
        """Make the next record of this run, at experiment time ``time`` (default: now),
        and emit it."""
        record = cls(run_id=self.run_id, seq=self.seq, time=now() if time is None else time,
                     **fields)
        self.seq += 1
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
                uids.append((name, loggable.fbind(name, self._changed, name, [name])))
            return
        for trigger in triggers:
            names = tracked
            if trigger not in tracked and loggable.property(trigger, quiet=True) is not None:
                names = [trigger]
            uids.append((trigger, loggable.fbind(trigger, self._callback(loggable, trigger),
                                                 trigger, names)))

    def _callback(self, loggable: Loggable, trigger: str) -> Callable[..., None]:
        if isinstance(loggable, MoaStage):
            if trigger in _STAGE_RECORDS:
                return self._stage
            if trigger == "on_record_event":
                return self._user_event
        if isinstance(loggable, Device) and trigger == "on_data_update":
            return self._device
        return self._changed

    def remove(self, loggable: Loggable) -> None:
        """Stop recording ``loggable``."""
        for name, uid in self.bound.pop(loggable, []):
            loggable.unbind_uid(name, uid)

    def remove_all(self) -> None:
        """Stop recording every object."""
        for loggable in list(self.bound):
            self.remove(loggable)

    # the callbacks Kivy calls: (trigger, names, obj, *the event's or property's args)

    def _stage(self, trigger: str, names: Sequence[str], stage: MoaStage, *_: Any) -> None:
        fields: dict[str, Any] = {}
        if trigger == "on_trial_end":
            fields["outcome"] = stage.trial_outcome
        elif trigger == "on_stage_end":
            fields["outcome"] = stage.outcome
        self.make(_STAGE_RECORDS[trigger], path=stage.path, name=stage.name, count=stage.count,
                  values={name: getattr(stage, name) for name in names}, **fields)

    def _user_event(self, trigger: str, names: Sequence[str], stage: MoaStage, event: str,
                    values: dict[str, Any], *_: Any) -> None:
        self.make(UserEvent, path=stage.path, name=stage.name, event=event, values=values)

    def _device(self, trigger: str, names: Sequence[str], device: Device, *_: Any) -> None:
        self.make(DeviceUpdate, device=device.name,
                  values={name: getattr(device, name) for name in names})

    def _changed(self, trigger: str, names: Sequence[str], obj: Any, *_: Any) -> None:
        self.make(Change, source=obj.name, path=obj.path if isinstance(obj, MoaStage) else "",
                  trigger=trigger, values={name: getattr(obj, name) for name in names})
