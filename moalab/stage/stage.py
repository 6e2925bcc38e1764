"""MoaStage: a node of the experiment tree that runs trials of its action and children."""

import contextvars
import inspect
from collections.abc import Awaitable, Iterator
from contextlib import nullcontext
from typing import Any

import trio

from ..core.arguments import (
    FLAG,
    SECONDS,
    TRIALS,
    CheckedBooleanProperty,
    CheckedNumericProperty,
    describe,
)
from ..core.base import MoaBase
from ..core.clock import now, sleep_until
from ..core.errors import InvalidArgument, StageStateError
from ..core.events import (
    BooleanProperty,
    BoundedNumericProperty,
    ListProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from ..core.loggable import Loggable
from ..core.nursery import open_nursery, unwrap_group
from ..core.records import Outcome
from .html import stage_tree_html
from .runstate import RunState, check_transition
from .snapshot import snapshot_tree, trial_text

__all__ = ("MoaStage", "running_stage")

# a task's innermost running stage: a child task (a parallel child, an action) starts
# with its parent's, then sets its own
_running: contextvars.ContextVar["MoaStage | None"] = contextvars.ContextVar(
    "moalab_running_stage", default=None)


def running_stage() -> "MoaStage | None":
    """The innermost stage running in the calling trio task, from its ``on_stage_start``
    to its ``on_stage_end`` (their callbacks and its hooks included), or None outside
    a stage. A stage's children that run in tasks of their own see their own; code
    outside a stage's task (another thread, a device's callback) sees None."""
    return _running.get()


_NO_SCOPE = nullcontext()
"""What a stage enters in place of a cancel scope when it runs in its serial parent's."""

_OUTCOMES: dict[RunState, Outcome] = {
    RunState.DONE: "done", RunState.STOPPED: "stopped", RunState.FAILED: "failed",
}


def _is_cancellation(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        exc = unwrap_group(exc)
    return isinstance(exc, trio.Cancelled)


_OVERRIDABLE = ("init_stage", "init_trial", "do_trial", "trial_done", "stage_done")


async def _call_hook(stage: "MoaStage", name: str, *args: Any, shield: bool = False) -> None:
    """Call hook ``name`` of ``stage``; callers skip it unless ``name`` is in the class's
    ``_overridden_`` (MoaStage's own are no-ops: not even a coroutine is made, which
    keeps stage transitions short). Hooks may be coroutines or plain functions;
    ``shield``: a coroutine hook runs shielded from cancellation (cleanup hooks)."""
    result = getattr(type(stage), name)(stage, *args)
    if not inspect.isawaitable(result):
        return
    if shield:
        with trio.CancelScope(shield=True):
            await result
    else:
        await result


class _Pausable:
    """``with stage.pausable() as scope``: a cancel scope registered for :meth:`pause`
    while entered (a class, not a generator: it is on every Delay's path)."""

    __slots__ = ("scopes", "scope")

    def __init__(self, scopes: set[Any]) -> None:
        self.scopes = scopes
        self.scope = trio.CancelScope()

    def __enter__(self) -> trio.CancelScope:
        self.scope.__enter__()
        self.scopes.add(self.scope)
        return self.scope

    def __exit__(self, *exc: Any) -> bool:
        self.scopes.discard(self.scope)
        return self.scope.__exit__(*exc)


class _Completion:
    """Ends a trial (by cancelling its scope) once the stages it waits on have finished."""

    def __init__(self, whom: list["MoaStage"], any_: bool, scope: trio.CancelScope) -> None:
        self.pending = set(whom)
        self.any = any_
        self.scope = scope
        if not whom:
            scope.cancel()

    def finished(self, stage: "MoaStage") -> None:
        if stage not in self.pending:
            return
        self.pending.discard(stage)
        if self.any or not self.pending:
            self.scope.cancel()


class MoaStage(MoaBase, Loggable):
    """A stage of an experiment: runs ``repeat`` trials of its action and its children.

    Each trial calls :meth:`init_trial`, then runs :meth:`do_trial` (the stage's
    own action, if a subclass defines one) alongside the child stages, serially
    or in parallel as :attr:`order` says. The trial ends when the stages named by
    :attr:`complete_on` / :attr:`complete_on_whom` are done; the rest are
    cancelled (and cleaned up). Hooks may be coroutines or plain functions.

    Events, in order: ``on_stage_start``, then per trial ``on_trial_start`` /
    ``on_trial_end``, then ``on_stage_end``. ``on_trial_end`` and
    ``on_stage_end`` (and :meth:`trial_done` / :meth:`stage_done`) always run,
    also when the run is stopped, cancelled or fails; :attr:`trial_outcome` and
    :attr:`outcome` say how the trial or stage ended. :meth:`record_event`
    dispatches ``on_record_event`` (a run records it).

    Control from the same trio run: :meth:`stop_stage`, :meth:`stop_trial`,
    :meth:`pause`, :meth:`resume`.
    """

    __events__ = ("on_stage_start", "on_trial_start", "on_trial_end", "on_stage_end",
                  "on_record_event")

    _state_names_ = {
        "parent": "add the stage to its parent with parent.add_stage(stage)",
        "count": "", "active": "", "run_state": "", "paused_by": "pass it to pause(by=...)",
    }

    _logged_names_ = ("count",)
    _logged_trigger_names_ = (*__events__, "paused_by")

    stages: list["MoaStage"] = ListProperty([])
    """The child stages, in order. Change with :meth:`add_stage` / :meth:`remove_stage`."""

    parent: "MoaStage | None" = ObjectProperty(None, allownone=True)
    """The stage this one is a child of, or None for a root."""

    repeat: int = CheckedNumericProperty(1, TRIALS)
    """How many trials to run: a whole number >= 0; -1 (or ``math.inf``) runs trials
    until stopped."""

    count: int = BoundedNumericProperty(-1, min=-1)
    """Index of the current (or last) trial; -1 before the first trial of a run."""

    order: str = OptionProperty("serial", options=["serial", "parallel"])
    """Whether children run one after another ('serial') or together ('parallel')."""

    complete_on = ObjectProperty("all")
    """'all': a trial ends when all of :attr:`complete_on_whom` are done; 'any': when
    one is; a list of stages: when all of those are."""

    complete_on_whom: list["MoaStage"] = ListProperty([])
    """The stages :attr:`complete_on` refers to; empty means every enabled child,
    plus this stage's own :meth:`do_trial` when a subclass defines one."""

    disabled: bool = CheckedBooleanProperty(False, FLAG)
    """A disabled stage is skipped: running it does nothing."""

    max_duration: float = CheckedNumericProperty(0, SECONDS)
    """If non-zero, the stage ends (as done) after this many seconds, trials included."""

    max_trial_duration: float = CheckedNumericProperty(0, SECONDS)
    """If non-zero, each trial ends after this many seconds."""

    active: bool = BooleanProperty(False)
    """True while the stage runs (paused included)."""

    run_state: RunState = ObjectProperty(RunState.IDLE)
    """The stage's :class:`RunState`; read only."""

    paused_by: str = StringProperty("")
    """Who or what paused this stage with :meth:`pause` (``'user'``, ``'lost link:
    ...'``, ``'code'``); '' otherwise (also for a stage paused with its parent).
    Read only. A logged trigger: each pause and resume writes a row with it."""

    _overridden_: frozenset[str] = frozenset()
    """Which of the hooks (and ``do_trial``) this class overrides; set per subclass."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._overridden_ = frozenset(
            name for name in _OVERRIDABLE if getattr(cls, name) is not getattr(MoaStage, name))

    def __init__(self, **kwargs: Any) -> None:
        stages = kwargs.pop("stages", ())
        super().__init__(**kwargs)
        self._check_complete_on(self.complete_on)
        self._stage_scope: trio.CancelScope | None = None
        self._trial_scope: trio.CancelScope | None = None
        self._stop_requested = False
        self._resumed: trio.Event | None = None  # set while paused, None otherwise
        # what pause() interrupts: pausable() scopes and waits with a cancel() of their
        # own (a gate's: no cancel scope on its reaction path)
        self._pause_wakers: set[Any] = set()
        # experiment time the current (or last) trial started, just before on_trial_start
        self.trial_start_time = 0.0
        self._trial_stop_requested = False
        self.in_trial = False
        """Whether a trial of the stage runs: from just before ``on_trial_start`` to just
        before ``on_trial_end``."""
        self.trial_outcome: Outcome | None = None
        """How the last trial ended ('done', 'stopped', 'failed', 'cancelled'; see
        :data:`~moalab.core.records.Outcome`), set before ``on_trial_end``; None
        while a trial runs and before the first."""
        self.outcome: Outcome | None = None
        """How the last run of the stage ended, set before ``on_stage_end``; None
        while it runs and before its first run."""
        self.held_by: Any = None
        """The :class:`~moalab.runner.run.Run` that holds the tree this stage is in,
        from its start until its end (set by the runner), else None."""
        for stage in stages:  # as add_stage does: each checked, its parent set
            self.add_stage(stage)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} name={self.name!r} {self.run_state} "
            f"trial {trial_text(self)}>"
        )

    def _repr_html_(self) -> str:
        """The tree from this stage down as an HTML table (shown by Jupyter)."""
        return stage_tree_html(snapshot_tree(self))

    # ----------------------------------------------------------------- the tree

    def add_stage(self, stage: "MoaStage", index: int | None = None) -> None:
        """Add ``stage`` as a child, at the end or at ``index`` (as ``list.insert``).

        Raises :class:`~moalab.InvalidArgument` for something that is not a
        :class:`MoaStage`, a stage that already has a parent (remove it there first),
        or this stage or one of its ancestors. Change the tree while it does not run."""
        if not isinstance(stage, MoaStage):
            raise InvalidArgument(
                f"cannot add {stage!r} to stage {self.name!r}: only MoaStage instances can be "
                "child stages"
            )
        if stage.parent is not None:
            raise InvalidArgument(
                f"cannot add stage {stage.name!r} to {self.name!r}: it is already a child of "
                f"{stage.parent.name!r}; remove it there first"
            )
        if stage is self or stage in self.iterate_parents():
            raise InvalidArgument(f"cannot add stage {stage.name!r} to itself or its descendant")
        stage.parent = self
        if index is None:
            self.stages.append(stage)
        else:
            self.stages.insert(index, stage)

    def remove_stage(self, stage: "MoaStage") -> None:
        """Remove the child ``stage``; it becomes a root (its ``parent`` None). Raises
        :class:`~moalab.InvalidArgument` if it is not a child of this stage."""
        if stage.parent is not self:
            raise InvalidArgument(f"stage {stage.name!r} is not a child of {self.name!r}")
        self.stages.remove(stage)
        stage.parent = None

    def iterate_stages(self) -> Iterator["MoaStage"]:
        """Yield this stage and all its descendants, depth first, in order."""
        yield self
        for stage in self.stages:
            yield from stage.iterate_stages()

    def iterate_parents(self) -> Iterator["MoaStage"]:
        """Yield the parent, its parent, and so on up to the root."""
        stage = self.parent
        while stage is not None:
            yield stage
            stage = stage.parent

    @property
    def path(self) -> str:
        """The names from the root to this stage, joined by '/'."""
        names = [stage.name for stage in self.iterate_parents()][::-1] + [self.name]
        return "/".join(names)

    # -------------------------------------------------------------------- hooks

    async def init_stage(self) -> None:
        """Called when the stage starts, right after ``on_stage_start``."""

    async def init_trial(self, i: int) -> None:
        """Called at the start of trial ``i``, before ``on_trial_start``."""

    async def do_trial(self) -> None:
        """The stage's own action, run each trial beside the children. Override it."""

    async def trial_done(self) -> None:
        """Called when a trial ends (also when stopped or failed), before ``on_trial_end``."""

    async def stage_done(self) -> None:
        """Called when the stage ends (also when stopped or failed), before ``on_stage_end``."""

    def on_stage_start(self, *args: Any) -> None:
        """The event dispatched as the stage starts, before :meth:`init_stage`; no
        arguments. :attr:`run_state` is already 'running'. Runs in the stage's trio task,
        synchronously: bind a callback (``stage.fbind("on_stage_start", callback)``,
        which gets the stage) or override this default, which does nothing."""

    def on_trial_start(self, count: int, *args: Any) -> None:
        """The event dispatched as trial ``count`` (from 0; also :attr:`count`) starts,
        after :meth:`init_trial` and before the trial's action and children run. Runs in
        the stage's trio task, synchronously: bind a callback (it gets the stage and
        ``count``) or override this default, which does nothing."""

    def on_trial_end(self, count: int, *args: Any) -> None:
        """The event dispatched as trial ``count`` ends, after :meth:`trial_done`, with
        :attr:`trial_outcome` set; it is dispatched also when the trial is stopped,
        cancelled or fails. Runs in the stage's trio task, synchronously: bind a
        callback (it gets the stage and ``count``) or override this default, which does nothing."""

    def on_stage_end(self, *args: Any) -> None:
        """The event dispatched as the stage ends, last, after :meth:`stage_done`, with
        :attr:`outcome` and :attr:`run_state` set; no arguments. It is dispatched also
        when the stage is stopped, cancelled or fails. Runs in the stage's trio task,
        synchronously: bind a callback (it gets the stage) or override this default,
        which does nothing."""

    def on_record_event(self, event: str, values: dict[str, Any], *args: Any) -> None:
        """The event :meth:`record_event` dispatches, with the ``event``'s name and its
        ``values`` (a dict); a run turns it into a :class:`~moalab.UserEvent` record.
        Runs synchronously in the task that called :meth:`record_event`: bind a
        callback (it gets the stage, ``event`` and ``values``) or override this
        default, which does nothing."""

    def record_event(self, event: str, **values: Any) -> None:
        """Record that ``event`` happened in this stage, with ``values`` (e.g.
        ``self.record_event("reward", volume_ul=5)``): the run's record stream gets
        a :class:`~moalab.core.records.UserEvent`, a CSV log one row per value.
        Raises :class:`~moalab.InvalidArgument` unless ``event`` is a non-empty string.
        Call it in the trio thread the tree runs in (a stage's hooks do)."""
        if not isinstance(event, str) or not event:
            raise InvalidArgument(
                f"stage {self.name!r}: record_event({event!r}) is not accepted; name the "
                "event in a non-empty string, e.g. record_event('reward', volume_ul=5)"
            )
        self.dispatch("on_record_event", event, values)

    # ------------------------------------------------------------------ control

    def stop_stage(self) -> None:
        """End the running stage early; it ends as ``stopped``. No-op if not running."""
        if self._stage_scope is not None:
            self._stop_requested = True
            self._stage_scope.cancel()

    def stop_trial(self) -> None:
        """End the current trial early; the next trial (if any) starts. No-op if not running.

        A leaf stage (no children) of ``repeat`` 1 and no ``max_trial_duration`` runs
        its one trial in the stage's own cancel scope (it is on a gate's reaction
        path): stopping that trial ends the stage, even if ``repeat`` was raised
        during the trial (set ``repeat`` before the stage starts to have more)."""
        if self._trial_scope is not None:
            self._trial_stop_requested = True
            if self._trial_scope is self._stage_scope and self._resumed is not None:
                # the stage's scope would end the stage while paused: resume() cancels it
                return
            self._trial_scope.cancel()

    def pause(self, by: str = "code") -> None:
        """Pause this stage and its running descendants; ``by`` says who or what
        pauses, for :attr:`paused_by` and the log ('user' from a
        :class:`~moalab.RunHandle`, 'lost link: ...' from an executor).

        A paused stage starts no new trial or child and does not end; a
        :class:`Delay` keeps its remaining time and a gate does not exit until
        :meth:`resume`. A custom ``do_trial`` pauses where it awaits
        :meth:`sleep` or :meth:`wait_resumed`.

        Raises :class:`~moalab.StageStateError` unless the stage is running (a paused
        one raises too), :class:`~moalab.InvalidArgument` for an empty ``by``. Call it in the
        trio thread the tree runs in (from elsewhere: :meth:`RunHandle.pause
        <moalab.RunHandle.pause>`).
        """
        if not isinstance(by, str) or not by:
            raise InvalidArgument(
                f"cannot pause stage {self.name!r} by={by!r}: say who or what pauses it in a "
                "non-empty string, e.g. by='user'"
            )
        if self.run_state is not RunState.RUNNING:
            raise StageStateError(f"cannot pause stage {self.name!r}: it is {self.run_state}")
        for stage in self.iterate_stages():
            if stage.run_state is RunState.RUNNING:
                stage._set_run_state(RunState.PAUSED)
                stage._resumed = trio.Event()
                for waker in stage._pause_wakers:
                    waker.cancel()
        self.paused_by = by

    def resume(self) -> None:
        """Resume this stage and its paused descendants; :attr:`paused_by` becomes ''.
        Raises :class:`~moalab.StageStateError` unless this stage is paused. Call it in
        the trio thread the tree runs in (from elsewhere: :meth:`RunHandle.resume
        <moalab.RunHandle.resume>`)."""
        if self.run_state is not RunState.PAUSED:
            raise StageStateError(f"cannot resume stage {self.name!r}: it is {self.run_state}")
        self.paused_by = ""
        for stage in self.iterate_stages():
            if stage.run_state is RunState.PAUSED:
                stage._set_run_state(RunState.RUNNING)
                if stage._trial_stop_requested and stage._trial_scope is stage._stage_scope:
                    # a stop_trial while paused, held back (see stop_trial); before the
                    # wake-up, so the trial is cancelled where it waits, as it would have been
                    stage._trial_scope.cancel()
                stage._resumed.set()
                stage._resumed = None

    @property
    def paused(self) -> bool:
        """Whether this stage is paused (:attr:`run_state` is 'paused'), by its own
        :meth:`pause` or its parent's. Read only."""
        return self.run_state is RunState.PAUSED

    def wait_resumed(self) -> Awaitable[None]:
        """Await it: returns at once if not paused (raising if cancelled), else when resumed.

        Not a scheduling point when running: stage transitions stay a few
        microseconds (a gate's exit reaches the next stage sooner). A plain method
        returning trio's awaitable: no coroutine frame of its own on that path.
        """
        resumed = self._resumed
        if resumed is None:
            return trio.lowlevel.checkpoint_if_cancelled()
        return resumed.wait()

    def pausable(self) -> "_Pausable":
        """A cancel scope that :meth:`pause` cancels; check ``cancelled_caught`` after it."""
        return _Pausable(self._pause_wakers)

    async def sleep(self, duration: float, since: float | None = None) -> None:
        """Sleep ``duration`` seconds of running time from experiment time ``since``
        (default: now); time spent paused does not count."""
        remaining = duration if since is None else duration - (now() - since)
        while True:
            await self.wait_resumed()
            end = now() + remaining
            with self.pausable() as scope:
                await sleep_until(end)
            if not scope.cancelled_caught:
                return
            remaining = max(end - now(), 0.0)

    # ------------------------------------------------------------------ running

    def _set_run_state(self, state: RunState) -> None:
        check_transition(self.name, self.run_state, state)
        self.run_state = state

    def _check_complete_on(self, value: Any) -> None:
        if value in ("all", "any") or isinstance(value, (list, tuple)):
            return
        raise InvalidArgument(
            f"{describe(self)}: complete_on={value!r} is not accepted; give 'all', 'any' or a "
            "list of stages"
        )

    def _completion_targets(self) -> tuple[list["MoaStage"], bool]:
        complete_on = self.complete_on
        if not self.stages and not self.complete_on_whom and complete_on in ("all", "any"):
            # a leaf (a gate, an action): the common case, on a gate's reaction path
            return ([self] if self._has_action and not self.disabled else []), complete_on == "any"
        self._check_complete_on(complete_on)
        if isinstance(complete_on, (list, tuple)):
            whom, any_ = list(complete_on), False
        else:
            whom, any_ = list(self.complete_on_whom), complete_on == "any"
            if not whom:
                whom = [stage for stage in self.stages if not stage.disabled]
                if self._has_action:
                    whom.append(self)
        for stage in whom:
            if stage is not self and stage not in self.stages:
                raise InvalidArgument(
                    f"stage {self.name!r} completes on {stage.name!r}, which is not one of its "
                    "children: name only its children or itself"
                )
        return [stage for stage in whom if not stage.disabled], any_

    @property
    def _has_action(self) -> bool:
        return "do_trial" in self._overridden_

    async def run_stage(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Run the stage to its end; a disabled stage returns at once.

        Exceptions raised in this stage or a descendant propagate with their own
        type after the whole tree has cleaned up. ``task_status.started()`` is
        called once ``on_stage_start`` was dispatched (for ``nursery.start``).
        """
        await self._run_stage_in(None, task_status)

    async def _run_stage_in(self, shared: trio.CancelScope | None,
                            task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """:meth:`run_stage` in a cancel scope of its own, or, without a ``max_duration``,
        in ``shared``: the scope a serial parent's children share until one is stopped
        (entering and leaving a cancel scope costs about 10 us, on the path from one
        stage's end to the next one's start). A stop cancels ``shared``: the stage ends
        as it would in a scope of its own, and the cancellation goes on to ``shared``."""
        max_duration = self.max_duration
        if max_duration:
            shared = None  # the deadline is its own
        if self.disabled:
            task_status.started()
            return
        if self.active:
            raise StageStateError(
                f"stage {self.name!r} is already running: wait for it to end or stop it first"
            )
        self._set_run_state(RunState.RUNNING)
        self._stop_requested = False
        self.outcome = None
        self.count = -1
        self.active = True
        running = _running.set(self)
        outcome = RunState.DONE
        try:
            self._stage_scope = trio.CancelScope() if shared is None else shared
            with self._stage_scope if shared is None else _NO_SCOPE:
                if max_duration:
                    self._stage_scope.deadline = trio.current_time() + max_duration
                self.dispatch("on_stage_start")
                if "init_stage" in self._overridden_:
                    await _call_hook(self, "init_stage")
                task_status.started()
                await self._run_trials()
            if self._stop_requested:
                outcome = RunState.STOPPED
        except BaseException as exc:
            if not _is_cancellation(exc):
                outcome = RunState.FAILED
            elif shared is None or not shared.cancel_called or self._stop_requested:
                outcome = RunState.STOPPED
            # else a stop_trial of its one trial cancelled ``shared``: the stage is done
            raise
        finally:
            self._stage_scope = None
            try:
                if "stage_done" in self._overridden_:
                    await _call_hook(self, "stage_done", shield=True)
            finally:
                self.active = False
                self._resumed = None
                self.paused_by = ""  # a stage stopped while paused is paused no more
                self._set_run_state(outcome)
                self.outcome = _OUTCOMES[outcome]
                if outcome is RunState.STOPPED and not self._stop_requested:
                    self.outcome = "cancelled"
                try:
                    self.dispatch("on_stage_end")
                finally:
                    _running.reset(running)

    async def _run_trials(self) -> None:
        i = 0
        while (repeat := self.repeat) < 0 or i < repeat:
            await self.wait_resumed()
            self.count = i
            if "init_trial" in self._overridden_:
                await _call_hook(self, "init_trial", i)
            self.trial_start_time = now()
            self._trial_stop_requested = False
            self.trial_outcome = None
            self.in_trial = True
            self.dispatch("on_trial_start", i)
            outcome: Outcome = "done"
            try:
                whom, any_ = self._completion_targets()
                if whom and repeat == 1 and not self.stages and not self.max_trial_duration:
                    # the one trial of a leaf (a gate, an action, a Delay) of repeat 1
                    # with no trial deadline, inline and in the stage's cancel scope: no
                    # coroutines and no scope of its own on a gate's reaction path (a
                    # scope each costs about 10 us entered and left). stop_trial cancels
                    # the stage's scope, which ends the stage as the trial's end would.
                    self._trial_scope = self._stage_scope
                    try:
                        await self.do_trial()
                    finally:
                        self._trial_scope = None
                    await self.wait_resumed()
                else:
                    await self._run_trial(whom, any_)
                if self._trial_stop_requested:
                    outcome = "stopped"
            except BaseException as exc:
                if not _is_cancellation(exc):
                    outcome = "failed"
                elif self._stop_requested or self._trial_stop_requested:
                    outcome = "stopped"
                else:
                    outcome = "cancelled"
                raise
            finally:
                try:
                    if "trial_done" in self._overridden_:
                        await _call_hook(self, "trial_done", shield=True)
                finally:
                    self.trial_outcome = outcome
                    self.in_trial = False
                    self.dispatch("on_trial_end", i)
            i += 1

    async def _run_trial(self, whom: list["MoaStage"], any_: bool) -> None:
        if not whom:  # nothing to wait for: yield once, so a repeat=-1 loop cannot spin
            await trio.lowlevel.checkpoint()
        try:
            with trio.CancelScope() as self._trial_scope:
                if self.max_trial_duration:
                    self._trial_scope.deadline = trio.current_time() + self.max_trial_duration
                if not self.stages:
                    # a leaf (a Delay, a gate): its action runs in this task and its
                    # return ends the trial: no nursery, no task switch, no completion
                    if not whom:
                        self._trial_scope.cancel()
                    if self._has_action:
                        await self.do_trial()
                elif not self._has_action and self.order == "serial":
                    await self._run_serial(_Completion(whom, any_, self._trial_scope))
                else:
                    completion = _Completion(whom, any_, self._trial_scope)
                    async with open_nursery() as nursery:
                        if self._has_action:
                            nursery.start_soon(self._run_action, completion)
                        if self.order == "serial":
                            nursery.start_soon(self._run_serial, completion)
                        else:
                            for stage in self.stages:
                                await nursery.start(self._run_child, stage, completion)
        finally:
            self._trial_scope = None
        # a paused stage does not end its trial until resumed
        await self.wait_resumed()

    async def _run_action(self, completion: _Completion) -> None:
        await self.do_trial()
        completion.finished(self)

    async def _run_child(
        self,
        stage: "MoaStage",
        completion: _Completion,
        task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED,
    ) -> None:
        await stage.run_stage(task_status=task_status)
        completion.finished(stage)

    async def _run_serial(self, completion: _Completion) -> None:
        stages = list(self.stages)
        i = 0
        while i < len(stages):
            # the children share a cancel scope until one is stopped (see _run_stage_in)
            with trio.CancelScope() as shared:
                while i < len(stages):
                    await self.wait_resumed()
                    stage = stages[i]
                    await stage._run_stage_in(shared)
                    completion.finished(stage)
                    i += 1
                    # stopped after its last checkpoint, it cancelled ``shared`` without
                    # a Cancelled: the next stage gets a scope of its own (the flags are
                    # checked first: cancel_called reads the clock)
                    if ((stage._stop_requested or stage._trial_stop_requested)
                            and shared.cancel_called):
                        break
            if shared.cancelled_caught:  # stages[i] was stopped, its cancellation caught here
                completion.finished(stages[i])
                i += 1
