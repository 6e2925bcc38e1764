"""Session and SessionState: one subject's run of a protocol, and its saved state.

A :class:`Session` is Mephisto's Unit/Assignment: one subject, one run of the
protocol's tree (a resumed session continues the same one). Its
:class:`SessionState` is Mephisto's AgentState, kept in the lab's database.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.clock import now
from ..core.errors import InvalidArgument
from .rigs import executor_for

if TYPE_CHECKING:
    from ..store.database import RigInfo, SessionInfo, SubjectInfo
    from .protocol import Protocol

__all__ = ("Session", "SessionState")


class SessionState:
    """The state of one session (Mephisto's AgentState), saved in the lab's database.

    ``init`` is what the session started from (set once: a resumed session keeps
    its first); ``data`` what the session keeps as it goes (a dict, changed with
    :meth:`update_data`). ``save`` writes both in one transaction; the runner
    gives a function that queues that write (it never blocks the run).
    """

    def __init__(self, init: Any = None, data: dict[str, Any] | None = None,
                 save: Callable[[Any, dict[str, Any]], None] | None = None,
                 trials: list[dict[str, Any]] | None = None) -> None:
        self._init = init
        self._data: dict[str, Any] = dict(data or {})
        self._save = save
        self._trials = trials if trials is not None else []
        self._loaded = (init, dict(data or {}))

    def set_init_state(self, data: Any) -> bool:
        """Start the state from ``data``; False (and nothing changes) if it has one."""
        if self._init is not None:
            return False
        _check_json(data, "the init state")
        self._init = data
        return True

    def get_init_state(self) -> Any:
        """What the session started from (None before :meth:`set_init_state`)."""
        return self._init

    def load_data(self) -> None:
        """Go back to the state as it was loaded (its last save before this run)."""
        self._init, data = self._loaded
        self._data = dict(data)

    def get_data(self) -> dict[str, Any]:
        """The state's data (a copy)."""
        return dict(self._data)

    def get_parsed_data(self) -> dict[str, Any]:
        """The state for review and export: init, data and the trials recorded."""
        return {"init": self._init, "data": dict(self._data), "trials": list(self._trials)}

    def update_data(self, **values: Any) -> None:
        """Set these keys of the data (saved by :meth:`save_data`)."""
        _check_json(values, "the state's data")
        self._data.update(values)

    def save_data(self) -> None:
        """Save init and data, in one transaction (queued: never blocks the run)."""
        if self._save is not None:
            self._save(self._init, dict(self._data))


def _check_json(value: Any, what: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"{what} must be JSON data (numbers, strings, booleans, None, lists, dicts with "
            f"string keys): {exc}"
        ) from None


class Session:
    """One subject's session of a protocol: what :meth:`Protocol.build_tree` reads.

    ``info`` is the database's row (id, status, kind, step); ``trials`` the values
    recorded so far, an earlier interrupted run's included; ``units`` the static
    protocol's rows for this session. :meth:`record_trial` is the only way a
    trial's outcome reaches the database.
    """

    def __init__(
        self,
        info: "SessionInfo",
        protocol: "Protocol",
        subject: "SubjectInfo",
        rig: "RigInfo | None",
        args: Any,
        data_dir: Path,
        trials: list[dict[str, Any]],
        state: SessionState,
        write_trial: Callable[[int, dict[str, Any], float], None] | None = None,
    ) -> None:
        self.info = info
        self.protocol = protocol
        self.subject = subject
        self.rig = rig
        self.args = args
        self.data_dir = data_dir
        self.trials = trials
        self.state = state
        self.units: list[dict[str, Any]] = []
        self.units_done = 0  # a static protocol's units done in the subject's earlier sessions
        self.assets: dict[str, Path] = {}  # the protocol's assets where the devices run
        self._write_trial = write_trial
        self._executor: Any = None
        self._trial_listeners: list[Callable[["Session"], None]] = []

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def executor(self) -> Any:
        """The executor that reaches the session's rig (made on first use; see
        :func:`~moalab.protocol.rigs.executor_for`), or None without a rig. A
        protocol gives it to its devices (``executor=session.executor``); the run
        enters it by default (:meth:`Protocol.executors`)."""
        if self._executor is None and self.rig is not None:
            self._executor = executor_for(self.rig)
        return self._executor

    @property
    def kind(self) -> str:
        """'main', 'training' or 'screening'."""
        return self.info.kind

    @property
    def step(self) -> int | None:
        """The training step of a training session, else None."""
        return self.info.step

    def __repr__(self) -> str:
        return (f"<Session {self.id} {self.protocol.name!r} v{self.protocol.version} "
                f"{self.kind} subject {self.subject.name!r}, {len(self.trials)} trials>")

    def record_trial(self, **values: Any) -> int:
        """Record one trial's outcome (e.g. ``correct=True, rt=0.41``); return its index.

        Never blocks: the trial is queued and durable within 100 ms (and at the
        session's end). Raises :class:`InvalidArgument` for values that are not
        JSON data.
        """
        _check_json(values, f"session {self.id}: record_trial's values")
        index = len(self.trials)
        self.trials.append(values)
        if self._write_trial is not None:
            self._write_trial(index, values, now())
        for listener in list(self._trial_listeners):
            listener(self)
        return index

    def on_trial_recorded(self, listener: Callable[["Session"], None]) -> None:
        """Call ``listener(session)`` after each :meth:`record_trial` (the runner's
        graduation check)."""
        self._trial_listeners.append(listener)
