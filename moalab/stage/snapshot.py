"""One snapshot of a stage tree, what its renderers show: :class:`StageSnapshot`.

A snapshot is made from the live stages by :func:`snapshot_tree`, or kept from a
run's records by a :class:`TreeTracker`; both give the same snapshot for the same
tree state, so a renderer (the notebook HTML of :mod:`moalab.stage.html`, a run
handle's, the CLI's live view) need not know where the tree runs.
"""

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

from ..core.errors import InvalidArgument
from ..core.records import Change, Record, RunStart, StageEnd, StageInfo, StageStart, TrialStart
from .runstate import RunState, deepest_active

if TYPE_CHECKING:
    from .stage import MoaStage

__all__ = ("StageSnapshot", "snapshot_tree", "TreeTracker", "trial_text")


class _Trials(Protocol):
    @property
    def count(self) -> int: ...

    @property
    def repeat(self) -> float: ...


def trial_text(stage: _Trials) -> str:
    """The trial a stage (live or a snapshot) is at, as ``'<trials started>/<repeat>'``
    (``∞`` for a stage that repeats until stopped)."""
    repeat = "∞" if stage.repeat < 0 or stage.repeat == float("inf") else str(stage.repeat)
    return f"{stage.count + 1}/{repeat}"


@dataclass(frozen=True, slots=True)
class StageSnapshot:
    """One stage and its children as they were at one moment; immutable.

    ``path`` is the stage's :attr:`~moalab.MoaStage.path`, ``type`` its class
    name, ``count`` the current (or last) trial (-1 before the first),
    ``paused_by`` who paused this stage ('' if not paused, or paused with its
    parent); ``children`` in the tree's order.
    """

    name: str
    path: str
    type: str
    run_state: RunState
    count: int
    repeat: int
    disabled: bool
    paused_by: str
    children: tuple["StageSnapshot", ...]

    @property
    def active(self) -> bool:
        """Whether the stage runs (paused included)."""
        return self.run_state in (RunState.RUNNING, RunState.PAUSED)

    @property
    def active_paths(self) -> tuple[str, ...]:
        """The paths of the deepest active stages from this one down (several where
        children run in parallel); empty if this stage is not active."""
        return tuple(stage.path for stage in deepest_active(self, _children))


def _children(stage: StageSnapshot) -> tuple[StageSnapshot, ...]:
    return stage.children


def snapshot_tree(root: "MoaStage") -> StageSnapshot:
    """A snapshot of ``root`` and its descendants as they are now.

    Takes no lock: for a tree that runs in another thread it is a recent state,
    each stage read at a slightly different moment.
    """
    return StageSnapshot(
        name=root.name,
        path=root.path,
        type=type(root).__name__,
        run_state=root.run_state,
        count=root.count,
        repeat=root.repeat,
        disabled=root.disabled,
        paused_by=root.paused_by,
        children=tuple(snapshot_tree(child) for child in list(root.stages)),
    )


class _Progress(NamedTuple):
    """What a run changes of one stage (the rest is in its :class:`StageInfo`); a
    named tuple, as apply makes one per record."""

    run_state: RunState = RunState.IDLE
    count: int = -1
    paused_by: str = ""


_STARTED = _Progress(RunState.RUNNING)

_ENDED: dict[str, RunState] = {
    "done": RunState.DONE,
    "stopped": RunState.STOPPED,
    "failed": RunState.FAILED,
    "cancelled": RunState.STOPPED,  # as the live stage shows a stage its parent ended
}


def _advance(progress: _Progress, record: StageStart | TrialStart | StageEnd) -> _Progress:
    if isinstance(record, StageStart):
        return _STARTED
    if isinstance(record, TrialStart):
        return _Progress(progress.run_state, record.count, progress.paused_by)
    return _Progress(_ENDED[record.outcome], record.count)


class TreeTracker:
    """A run's stage tree kept from its records, for renderers: :meth:`snapshot`.

    Made from the run's :class:`~moalab.core.records.RunStart` (every stage idle)
    with :meth:`from_run_start`; :meth:`apply` each record of the run after it, in
    order. A stage start makes the stage running at count -1, a trial start sets
    its count, a stage end sets its outcome ('cancelled' shows as stopped); a
    ``paused_by`` change pauses the stage and its running descendants, or
    (``''``) resumes it and its paused descendants, as
    :meth:`~moalab.MoaStage.pause` and :meth:`~moalab.MoaStage.resume` do. Other
    records, and records of a path not in the tree, change nothing. Stages that
    share a path (siblings of one name) cannot be told apart by their records:
    the first of them takes them.

    :meth:`apply` and :meth:`snapshot` may be called from different threads.
    """

    def __init__(self, stages: Sequence[StageInfo]) -> None:
        """Track the tree ``stages`` lists, depth first from its root (as
        :attr:`RunStart.stages <moalab.core.records.RunStart.stages>` does).

        Raises :class:`InvalidArgument` if ``stages`` is empty or a stage after the
        first is not below it.
        """
        self._infos = tuple(stages)
        if not self._infos:
            raise InvalidArgument("a TreeTracker needs the run's stages: got none; give "
                                  "RunStart.stages, the root first")
        self._index: dict[str, int] = {}
        self._children: list[list[int]] = [[] for _ in self._infos]
        # depth first, stage i's descendants are i+1 .. self._end[i]-1
        self._end = [len(self._infos)] * len(self._infos)
        ancestors: list[int] = []
        for i, info in enumerate(self._infos):
            self._index.setdefault(info.path, i)
            while ancestors and not info.path.startswith(self._infos[ancestors[-1]].path + "/"):
                self._end[ancestors.pop()] = i
            if i and not ancestors:
                raise InvalidArgument(
                    f"a TreeTracker's stages are one tree, depth first: stage {info.path!r} "
                    f"is not below the root {self._infos[0].path!r}; give RunStart.stages"
                )
            if ancestors:
                self._children[ancestors[-1]].append(i)
            ancestors.append(i)
        self._progress = [_Progress()] * len(self._infos)
        self._lock = threading.Lock()  # apply's writes happen whole for snapshot
        self._version = 0  # changes made so far, so an unchanged tree is not rebuilt
        self._snapshot: tuple[int, StageSnapshot] | None = None

    @classmethod
    def from_run_start(cls, record: RunStart) -> "TreeTracker":
        """Track the tree of the run ``record`` starts."""
        return cls(record.stages)

    def apply(self, record: Record) -> None:
        """Update the tree for ``record`` (see the class docstring); any thread.

        O(1) but for a pause or resume, which visits the stage's descendants.
        """
        if isinstance(record, Change):
            if record.trigger == "paused_by":
                self._pause(record.path, record.values.get("paused_by", ""))
        elif isinstance(record, (StageStart, TrialStart, StageEnd)):
            i = self._index.get(record.path)
            if i is None:
                return
            with self._lock:
                self._progress[i] = _advance(self._progress[i], record)
                self._version += 1

    def _pause(self, path: str, by: str) -> None:
        i = self._index.get(path)
        if i is None:
            return
        old, new = ((RunState.RUNNING, RunState.PAUSED) if by
                    else (RunState.PAUSED, RunState.RUNNING))
        with self._lock:
            progress = self._progress
            for j in range(i, self._end[i]):
                if progress[j].run_state is old:
                    progress[j] = progress[j]._replace(run_state=new)
            progress[i] = progress[i]._replace(paused_by=by)
            self._version += 1

    def snapshot(self) -> StageSnapshot:
        """The tree as the records applied so far left it; any thread."""
        with self._lock:
            cached, version = self._snapshot, self._version
            if cached is not None and cached[0] == version:
                return cached[1]
            progress = tuple(self._progress)
        snapshot = self._build(0, progress)
        self._snapshot = (version, snapshot)
        return snapshot

    def _build(self, i: int, progress: tuple[_Progress, ...]) -> StageSnapshot:
        info, state = self._infos[i], progress[i]
        return StageSnapshot(
            name=info.name,
            path=info.path,
            type=info.type,
            run_state=state.run_state,
            count=state.count,
            repeat=info.repeat,
            disabled=info.disabled,
            paused_by=state.paused_by,
            children=tuple(self._build(child, progress) for child in self._children[i]),
        )
