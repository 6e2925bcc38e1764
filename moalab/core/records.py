"""Records: what happens in a run, as a stream of small immutable values.

A run emits, in order: one :class:`RunStart`; then :class:`StageStart`,
:class:`TrialStart`, :class:`TrialEnd`, :class:`StageEnd` as its stages run,
:class:`DeviceUpdate` as its devices change, :class:`Change` for any other
logged property or event, :class:`UserEvent` from
:meth:`~moalab.MoaStage.record_event`; and last one :class:`RunEnd`. Every
record has the ``run_id`` of its run, its ``seq`` (0 for the run start, then one
more for each record) and its ``time`` on the experiment clock (see
:func:`moalab.now`). The shape follows bluesky's documents (start, events,
stop); sinks consume them (see :mod:`moalab.log`).

``values`` map logged property names to their values when the record was
made; numpy arrays in them are the device's own arrays, not copies (a device
replaces its arrays on update, it does not write into them). :meth:`Record.to_message`
and :func:`record_from_message` turn a record into a plain dict and back, for
the wire codec.

Records are frozen :class:`msgspec.Struct` s: a stage transition makes several,
and a Struct is made in a tenth of the time of a frozen dataclass.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import msgspec

from .clock import ClockOrigin
from .errors import InvalidArgument

__all__ = (
    "Record", "RunStart", "StageInfo", "StageStart", "StageEnd", "TrialStart", "TrialEnd",
    "DeviceUpdate", "Change", "UserEvent", "RunEnd", "Outcome", "RunStatus",
    "record_from_message", "RECORD_TYPES",
)

Outcome = Literal["done", "stopped", "failed", "cancelled"]
"""How a stage or trial ended: 'done' (its trials, or its time, ran out),
'stopped' (``stop_stage`` / ``stop_trial``, or the run was stopped), 'failed'
(an exception in it) or 'cancelled' (ended early by its parent, e.g. a sibling
completed a ``complete_on='any'`` trial)."""

RunStatus = Literal["done", "stopped", "failed"]
"""How a run ended (see :class:`RunEnd`)."""


class Record(msgspec.Struct, frozen=True, kw_only=True):
    """The fields every record has: its run, its place in the run, its time."""

    kind: ClassVar[str] = ""
    run_id: str
    seq: int
    time: float

    def to_message(self) -> dict[str, Any]:
        """The record as a dict of plain values (``kind`` names its type), for the codec."""
        message: dict[str, Any] = {"kind": self.kind}
        for name in self.__struct_fields__:
            message[name] = _plain(getattr(self, name))
        return message


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple) and value and isinstance(value[0], StageInfo):
        return [msgspec.structs.asdict(info) for info in value]
    return value


class StageInfo(msgspec.Struct, frozen=True):
    """One stage of a run's tree, as the run started: where it is and what it is."""

    path: str
    name: str
    type: str
    repeat: int
    disabled: bool


class RunStart(Record, frozen=True, kw_only=True):
    """A run began: its root, its clock, its tree, and what the caller said about it.

    ``time`` is the experiment clock as the wall clock read ``started_at``;
    ``metadata`` holds what the caller knows (subject, session, protocol, ...).
    """

    kind: ClassVar[str] = "run_start"
    root: str
    clock: Literal["real", "virtual"]
    started_at: datetime
    stages: tuple[StageInfo, ...] = ()
    metadata: Mapping[str, Any] = msgspec.field(default_factory=dict)

    @property
    def origin(self) -> ClockOrigin:
        """Where the run's time axis sits in the world (for a log's header)."""
        return ClockOrigin(self.started_at, self.time, self.clock)


class _StageRecord(Record, frozen=True, kw_only=True):
    path: str
    name: str
    count: int
    values: Mapping[str, Any]


class StageStart(_StageRecord, frozen=True, kw_only=True):
    """A stage started (``count`` is -1: no trial yet); ``values``: its logged names."""

    kind: ClassVar[str] = "stage_start"


class StageEnd(_StageRecord, frozen=True, kw_only=True):
    """A stage ended after trial ``count``, with its :data:`Outcome`."""

    kind: ClassVar[str] = "stage_end"
    outcome: Outcome


class TrialStart(_StageRecord, frozen=True, kw_only=True):
    """Trial ``count`` of a stage started."""

    kind: ClassVar[str] = "trial_start"


class TrialEnd(_StageRecord, frozen=True, kw_only=True):
    """Trial ``count`` of a stage ended, with its :data:`Outcome`."""

    kind: ClassVar[str] = "trial_end"
    outcome: Outcome


class DeviceUpdate(Record, frozen=True, kw_only=True):
    """A device's state was updated: its logged property values (``timestamp`` among them)."""

    kind: ClassVar[str] = "device_update"
    device: str
    values: Mapping[str, Any]


class Change(Record, frozen=True, kw_only=True):
    """Another logged trigger fired on stage or device ``source`` (its name; ``path``
    is a stage's path, '' for a device): a property changed (``values`` holds its new
    value) or an event was dispatched (``values`` holds the object's logged names),
    e.g. a stage's ``paused_by`` or a gate's ``state``."""

    kind: ClassVar[str] = "change"
    source: str
    path: str
    trigger: str
    values: Mapping[str, Any]


class UserEvent(Record, frozen=True, kw_only=True):
    """An event a stage recorded with :meth:`~moalab.MoaStage.record_event`."""

    kind: ClassVar[str] = "user_event"
    path: str
    name: str
    event: str
    values: Mapping[str, Any]


class RunEnd(Record, frozen=True, kw_only=True):
    """A run ended: 'done', 'stopped' or 'failed'; ``error`` is ``'Type: message'``
    of the exception a failed run raised, else None."""

    kind: ClassVar[str] = "run_end"
    status: RunStatus
    error: str | None = None


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls
    for cls in (RunStart, StageStart, StageEnd, TrialStart, TrialEnd, DeviceUpdate, Change,
                UserEvent, RunEnd)
}
"""The record classes by their ``kind``."""


def record_from_message(message: Mapping[str, Any]) -> Record:
    """The record :meth:`Record.to_message` made ``message`` from (e.g. after the codec).

    Raises :class:`InvalidArgument` naming the problem if it is not such a dict.
    """
    kind = message.get("kind") if isinstance(message, Mapping) else None
    cls = RECORD_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise InvalidArgument(
            f"not a record message: kind={kind!r}; expected one of {', '.join(RECORD_TYPES)}"
        )
    fields = set(cls.__struct_fields__)
    given = {key: value for key, value in message.items() if key != "kind"}
    if set(given) != fields:
        missing, extra = fields - set(given), set(given) - fields
        raise InvalidArgument(
            f"a {kind} record message does not fit: missing {sorted(missing)}, "
            f"unknown {sorted(extra)}"
        )
    if cls is RunStart:
        given["started_at"] = datetime.fromisoformat(given["started_at"])
        given["stages"] = tuple(StageInfo(**info) for info in given["stages"])
    return cls(**given)
