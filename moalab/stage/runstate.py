"""The run state machine of a stage."""

from collections.abc import Callable, Iterable, Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ..core.errors import StageStateError

if TYPE_CHECKING:
    from .stage import MoaStage

__all__ = ("RunState", "check_transition", "deepest_active")


class RunState(StrEnum):
    """Where a stage is in its life.

    ``idle`` (never run) -> ``running`` <-> ``paused``; a run ends in ``done``
    (its trials completed, or ``max_duration`` ran out), ``stopped``
    (:meth:`~moalab.MoaStage.stop_stage`, or cancelled from outside) or
    ``failed`` (an exception). An ended stage can run again.
    """

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"


_ENDED = {RunState.DONE, RunState.STOPPED, RunState.FAILED}

_ALLOWED: dict[RunState, set[RunState]] = {
    RunState.IDLE: {RunState.RUNNING},
    RunState.RUNNING: {RunState.PAUSED} | _ENDED,
    # a paused stage holds at its next boundary; only max_duration ends it as done
    RunState.PAUSED: {RunState.RUNNING} | _ENDED,
    RunState.DONE: {RunState.RUNNING},
    RunState.STOPPED: {RunState.RUNNING},
    RunState.FAILED: {RunState.RUNNING},
}


def check_transition(name: str, current: RunState, new: RunState) -> None:
    """Raise :class:`StageStateError` unless ``current -> new`` is allowed."""
    if new not in _ALLOWED[current]:
        allowed = ", ".join(sorted(_ALLOWED[current]))
        raise StageStateError(
            f"stage {name!r} is {current}: it cannot become {new} (from {current} it can "
            f"become {allowed})"
        )


def _child_stages(stage: "MoaStage") -> list["MoaStage"]:
    return list(stage.stages)  # a copy: the tree may change in another thread


def deepest_active(stage: Any, children: Callable[[Any], Iterable[Any]] = _child_stages
                   ) -> Iterator[Any]:
    """Yield the deepest active stages from ``stage`` down (several where children
    run in parallel); nothing if ``stage`` is not active.

    ``stage`` is a live :class:`~moalab.MoaStage` or anything with an ``active``
    flag whose children ``children(stage)`` gives (a
    :class:`~moalab.stage.snapshot.StageSnapshot` passes its ``children``).
    """
    if not stage.active:
        return
    active = [child for child in children(stage) if child.active]
    if not active:
        yield stage
    for child in active:
        yield from deepest_active(child, children)
