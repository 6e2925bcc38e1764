"""Session and SessionState: one subject's run of a protocol, and its saved state.

A :class:`Session` is Mephisto's Unit/Assignment: one subject, one run of the
protocol's tree (a resumed session continues the same one). Its
:class:`SessionState` is Mephisto's AgentState, kept in the lab's database.
"""

import json
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from ..assets.types import check_key_part
from ..core.clock import now
from ..core.errors import InvalidArgument
from ..stage.stage import MoaStage, running_stage
from .rigs import executor_for

if TYPE_CHECKING:
    from ..assets.deposit import Depositor
    from ..assets.types import Asset
    from ..network import Node
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


def _trial_stage(stage: MoaStage | None) -> tuple[MoaStage | None, bool]:
    """The stage whose trial a trial recorded from ``stage`` (the running stage) is,
    and whether that trial has ended: see :meth:`Session.record_trial`."""
    if stage is None:
        return None, False
    # its trial just ended: in its on_trial_end (or on_stage_end, stage_done)
    ended = not stage.in_trial and stage.count >= 0 and stage.trial_outcome is not None
    if ended and stage.repeat != 1:
        return stage, True
    chain = [each for each in (stage, *stage.iterate_parents()) if each.in_trial]
    for each in chain:
        if each.repeat != 1:
            return each, False
    if ended:
        return stage, True
    below_root = [each for each in chain if each.parent is not None]
    return (below_root[-1], False) if below_root else (None, False)


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
    trial's outcome reaches the database. ``depositor`` is its run's (None while it
    does not run): a recording made with ``parent=session`` is deposited through
    it, and :meth:`attach` records an asset under a name of a trial, stage...
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
        write_trial: Callable[[int, dict[str, Any], float | None, float | None], None]
        | None = None,
        depositor: "Depositor | None" = None,
        end_trial: Callable[[int, float], None] | None = None,
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
        # the protocol's assets where the devices run: the lab's cache, or the rig's
        # files (PurePosixPath) for a rig reached over the network
        self.assets: dict[str, PurePath] = {}
        # for a rig reached over the network: a folder there for this session's
        # recordings (a device on the rig writes into it; see ExperimentAsset)
        self.rig_folder: PurePath | None = None
        # a main session of a protocol with networks: the subject's node (its parents'
        # infos by node.receive()), and by info id the files of the infos sent to it,
        # where the devices run (synced to the rig by hash, as the protocol's assets)
        self.node: "Node | None" = None
        self.received_assets: dict[int, PurePath] = {}
        # once submitted (on_session_submitted): its deposits' asset ids by local_key,
        # e.g. for Info(session.node, ..., asset_id=session.deposit_ids["take"])
        self.deposit_ids: dict[str, int] = {}
        self._write_trial = write_trial
        self._end_trial = end_trial
        self._last_end: float | None = None  # the end of the last trial that ended
        self._ends: dict[int, int] = {}  # trial index -> its on_trial_end binding's uid
        self._depositor = depositor
        self._executor: Any = None
        self._trial_listeners: list[Callable[["Session"], None]] = []

    @property
    def id(self) -> str:
        """The session's id in the lab's database (12 hexadecimal digits; also the name
        of its data folder), as ``moalab session`` commands take it."""
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
    def depositor(self) -> "Depositor | None":
        """The run's :class:`~moalab.assets.deposit.Depositor`; None while the session
        does not run."""
        return self._depositor

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

        Its times (experiment clock) are those of a stage trial, found from the stage
        that calls it (``moalab.stage.stage.running_stage()``), the first of: that
        stage's trial that just ended if the stage repeats (``repeat`` not 1: recorded
        from its ``on_trial_end``); the innermost stage around the call that repeats
        and is in a trial (its end is written when that trial ends); that stage's
        trial that just ended (a stage of ``repeat`` 1, from its ``on_stage_end``, as
        :class:`~moalab.protocol.StaticProtocol` records a unit); the outermost stage
        in a trial below the root (several trials recorded in one trial of such a
        stage all span it: give them a stage that repeats). With none (by hand,
        outside a run) it lasts from the end of the trial before it (the first: the
        root's trial start, or unknown outside a run) to now.

        Never blocks: the trial is queued and durable within 100 ms (and at the
        session's end), its end once its stage trial ends. Raises
        :class:`InvalidArgument` for values that are not JSON data.
        """
        _check_json(values, f"session {self.id}: record_trial's values")
        index = len(self.trials)
        self.trials.append(values)
        running = running_stage()
        stage, ended = _trial_stage(running)
        end: float | None = None
        if stage is not None and ended:
            start, end = stage.trial_start_time, now()
            self._last_end = end
        elif stage is not None:
            start = stage.trial_start_time
            uid = stage.fbind("on_trial_end", self._trial_ended, index)
            self._ends[index] = uid
        else:
            end = now()
            start = self._last_end
            if start is None and running is not None:
                root = [running, *running.iterate_parents()][-1]
                start = root.trial_start_time if root.in_trial else None
            self._last_end = end
        if self._write_trial is not None:
            self._write_trial(index, values, start, end)
        for listener in list(self._trial_listeners):
            listener(self)
        return index

    def _trial_ended(self, index: int, stage: MoaStage, count: int) -> None:
        """The stage trial that trial ``index`` was recorded in ended: write its end."""
        stage.unbind_uid("on_trial_end", self._ends.pop(index))
        self._last_end = end = now()
        if self._end_trial is not None:
            self._end_trial(index, end)

    def on_trial_recorded(self, listener: Callable[["Session"], None]) -> None:
        """Call ``listener(session)`` after each :meth:`record_trial` (the runner's
        graduation check)."""
        self._trial_listeners.append(listener)

    def attach(self, asset: "Asset", name: str, *, trial: int | None = None,
               stage: Any = None, subject: bool = False, protocol: bool = False,
               node: str | None = None) -> None:
        """Record ``asset`` as ``name`` (e.g. "response") of this session, or of one
        owner given: ``trial`` (its index), ``stage`` (a stage or its path),
        ``subject=True``, ``protocol=True`` or ``node`` (its id). The same asset may be
        trial 3's "response" and trial 4's "stimulus"; an owner's name given again
        replaces its asset. Returns at once (the record is queued after the deposits
        made before); read them back with ``Database.asset_links``.

        ``asset``: one deposited in this session, a cached or an external asset.
        Raises :class:`InvalidArgument` for two owners, a bad name, or a session that
        does not run.
        """
        check_key_part(name, f"session {self.id}: attach", "name")
        owners = [(kind, owner) for kind, owner, given in (
            ("trial", f"{self.id}/{trial}", trial is not None),
            ("stage", f"{self.id}/{getattr(stage, 'path', stage)}", stage is not None),
            ("subject", self.subject.name, subject),
            ("protocol", self.protocol.name, protocol),
            ("node", str(node), node is not None)) if given]
        if len(owners) > 1:
            raise InvalidArgument(f"session {self.id}: attach({name!r}) was given "
                                  f"{', '.join(kind for kind, _ in owners)}: give one owner "
                                  "(trial=, stage=, subject=True, protocol=True or node=), or "
                                  "none for the session")
        if trial is not None and (isinstance(trial, bool) or not isinstance(trial, int)
                                  or trial < 0):
            raise InvalidArgument(f"session {self.id}: attach({name!r}, trial={trial!r}): "
                                  "give a trial's index, a whole number from 0")
        if self._depositor is None:
            raise InvalidArgument(f"session {self.id} is not running: attach assets during "
                                  "its run")
        kind, owner = owners[0] if owners else ("session", self.id)
        self._depositor.attach(asset, kind, owner, name)

