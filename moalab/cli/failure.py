"""How the CLI shows an exception of the user's code: where it was raised (the stage,
the device) and a traceback of the user's own frames.

A stage tree runs in nested trio nurseries, so its exception reaches the CLI
through trio's and moalab's frames, often wrapped in an exception group. The
user wrote none of those frames: they are dropped here (the full traceback is
one flag away), and a group is split into the exceptions it carries
(:func:`~moalab.core.nursery.leaves`).
"""

from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..device.device import Device
    from ..stage.stage import MoaStage

__all__ = ("is_user_file", "user_traceback", "full_traceback", "raised_in", "headline")

_MOALAB = Path(__file__).resolve().parents[1]
# the examples shipped in the package are experiments, written as a user would
_MOALAB_USER = (_MOALAB / "examples",)
_STDLIB = tuple({Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")})
_LIBRARIES = {"site-packages", "dist-packages"}


def is_user_file(filename: str) -> bool:
    """Whether code in ``filename`` is the user's: not moalab's (but for its examples),
    not an installed library's, not the standard library's."""
    if filename.startswith("<frozen "):
        return False
    path = Path(filename).resolve()
    if _LIBRARIES.intersection(path.parts):
        return False
    if path.is_relative_to(_MOALAB):
        return any(path.is_relative_to(root) for root in _MOALAB_USER)
    return not any(path.is_relative_to(root) for root in _STDLIB)


def _trim(summary: traceback.TracebackException, seen: set[int]) -> bool:
    """Keep the user's frames in ``summary`` and in the exceptions chained to it;
    return whether any frame was kept."""
    if id(summary) in seen:
        return False
    seen.add(id(summary))
    summary.stack = traceback.StackSummary.from_list(
        [frame for frame in summary.stack if is_user_file(frame.filename)]
    )
    kept = bool(summary.stack)
    for other in (summary.__cause__, summary.__context__, *(summary.exceptions or ())):
        if other is not None:
            kept = _trim(other, seen) or kept
    return kept


def user_traceback(exc: BaseException) -> str | None:
    """The traceback of ``exc`` (and of the exceptions chained to it) through the
    user's frames only, as Python prints it; None when no frame is the user's."""
    summary = traceback.TracebackException.from_exception(exc)
    return "".join(summary.format()) if _trim(summary, set()) else None


def full_traceback(exc: BaseException) -> str:
    """The whole traceback of ``exc``, every frame and group (for ``--traceback``)."""
    return "".join(traceback.format_exception(exc))


def raised_in(exc: BaseException) -> tuple[MoaStage | None, Device | None]:
    """The stage and the device whose methods ``exc`` was last raised through.

    The innermost frame whose ``self`` is a stage names the stage; the device is
    the one whose method ran in a frame below it (a device method the stage
    called), or the one whose pump raised when no stage is on the way.
    """
    # imported here: a command of the lab never needs them, nor their trio and numpy
    from ..device.device import Device
    from ..stage.stage import MoaStage

    stage: MoaStage | None = None
    device: Device | None = None
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if isinstance(owner, MoaStage):
            stage, device = owner, None
        elif isinstance(owner, Device):
            device = owner
        tb = tb.tb_next
    return stage, device


def headline(exc: BaseException) -> str:
    """One line for the user: ``ZeroDivisionError in stage 'bad' (root/bad): ...``."""
    stage, device = raised_in(exc)
    where = []
    if device is not None:
        where.append(f"device {device.name!r}")
    if stage is not None:
        path = f" ({stage.path})" if stage.path != stage.name else ""
        where.append(f"stage {stage.name!r}{path}")
    place = f" in {', called by '.join(where)}" if where else ""
    message = f": {exc}" if str(exc) else ""
    return f"{type(exc).__name__}{place}{message}"
