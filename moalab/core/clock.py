"""The experiment clock: one time base for stage events, device changes and logs.

Inside a trio run on trio's default clock the experiment clock is
:func:`time.perf_counter` (the source trio's own clock reads, without its random
offset), so it agrees with timestamps taken in other threads and processes on
the same machine. Inside a run on any other clock (e.g.
:class:`trio.testing.MockClock` for a dry run) it is that clock's virtual time.
Outside a trio run it is :func:`time.perf_counter`.

For tests of remote clock alignment only, a process can run on a skewed clock,
as a Raspberry Pi runs on its own: the environment variable
``MOALAB_CLOCK_SKEW="OFFSET[,DRIFT_PPM]"``, read once at import, makes the
real-time experiment clock ``OFFSET + (1 + DRIFT_PPM * 1e-6) * perf_counter()``.
A ``moalab-server`` or ProcessExecutor child started with it stamps its clock
echoes and its devices' timestamps (:func:`now`) on that clock. Code that reads
:func:`time.perf_counter` itself is not skewed.

A log places its experiment times in the world with a :class:`ClockOrigin`: the
wall-clock time and the experiment time read together, and the kind of clock.
"""

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from time import perf_counter
from typing import Literal, NamedTuple

import trio
from trio._core._run import SystemClock  # trio does not export the class of its default clock

from .errors import InvalidArgument

__all__ = (
    "now", "sleep_until", "to_trio_time", "clock_kind", "clock_reader", "ClockOrigin",
    "clock_origin", "SKEW_ENV",
)

SKEW_ENV = "MOALAB_CLOCK_SKEW"
"""The environment variable that skews a process's clock (tests only)."""

# A sleep ends this long before its deadline and spins on checkpoints for the
# rest: epoll rounds its timeout up to whole milliseconds, which alone would
# make every Delay end up to 1 ms late.
_SPIN_WINDOW = 0.0015


def _real_time_from_env() -> Callable[[], float]:
    spec = os.environ.get(SKEW_ENV, "").strip()
    if not spec:
        return perf_counter
    try:
        values = [float(part) for part in spec.split(",")]
        if not 1 <= len(values) <= 2:
            raise ValueError
    except ValueError:
        raise InvalidArgument(
            f"{SKEW_ENV}={spec!r} is not accepted: give OFFSET or OFFSET,DRIFT_PPM in seconds "
            "and parts per million, e.g. 3000,40"
        ) from None
    offset, rate = values[0], 1.0 + (values[1] if len(values) == 2 else 0.0) * 1e-6

    def skewed() -> float:
        return offset + rate * perf_counter()

    return skewed


_real_time = _real_time_from_env()  # perf_counter itself unless a test skews it


def now() -> float:
    """Return the current experiment time in seconds."""
    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:
        return _real_time()
    if type(clock) is SystemClock:
        return _real_time()
    return clock.current_time()


def clock_kind() -> Literal["real", "virtual"]:
    """'virtual' inside a trio run on a clock other than trio's own (a dry run,
    ``--speed``), else 'real'."""
    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:
        return "real"
    return "real" if type(clock) is SystemClock else "virtual"


def clock_reader() -> Callable[[], float]:
    """Return a function reading the current experiment clock, callable from any thread.

    Called in a trio run, the function reads that run's clock (its virtual time
    in a dry run) wherever it is called later, e.g. in an executor's worker
    thread; called elsewhere, it reads real time.
    """
    if clock_kind() == "real":
        return _real_time
    # a MockClock's current_time only reads floats: safe from other threads
    return trio.lowlevel.current_clock().current_time


class ClockOrigin(NamedTuple):
    """Where a log's time axis sits in the world: the wall clock read ``started_at``
    (local time with its UTC offset) as the experiment clock read ``start_time``.

    On a 'real' ``clock`` a timestamp ``t`` happened ``t - start_time`` seconds
    after ``started_at``; on a 'virtual' one (a dry run, ``--speed``) timestamps
    are virtual seconds and only ``started_at`` is wall-clock time.
    """

    started_at: datetime
    """The wall-clock time at the origin: local time, with its UTC offset."""
    start_time: float
    """The experiment clock's reading at the same moment (seconds)."""
    clock: Literal["real", "virtual"]
    """'real' (timestamps are real seconds) or 'virtual' (a dry run's, ``--speed``'s)."""

    def as_dict(self) -> dict[str, str | float]:
        """The fields with ``started_at`` in ISO 8601 (e.g. for a file's header)."""
        return {"started_at": self.started_at.isoformat(), "start_time": self.start_time,
                "clock": self.clock}

    def text(self) -> str:
        """One line: ``started_at: ...  start_time: ...  clock: ...``."""
        return "  ".join(f"{key}: {value}" for key, value in self.as_dict().items())


def clock_origin(at: float | None = None) -> ClockOrigin:
    """Read the wall clock and the experiment clock together, now; with ``at`` (an
    experiment time read a moment ago) the origin is at ``at``, its wall-clock time
    set back by the experiment time since."""
    start_time = now()
    started_at = datetime.now().astimezone()
    if at is not None:
        started_at -= timedelta(seconds=start_time - at)
        start_time = at
    return ClockOrigin(started_at, start_time, clock_kind())


def to_trio_time(t: float) -> float:
    """Convert experiment time ``t`` to trio's clock (for deadlines); needs a run."""
    return trio.current_time() + (t - now())


async def sleep_until(t: float) -> None:
    """Sleep until experiment time ``t``, to well under a millisecond on a real clock.

    On a virtual clock it is a plain :func:`trio.sleep_until`.
    """
    clock = trio.lowlevel.current_clock()
    if type(clock) is not SystemClock:
        await trio.sleep_until(to_trio_time(t))
        return
    if t - _real_time() > _SPIN_WINDOW:
        await trio.sleep_until(to_trio_time(t - _SPIN_WINDOW))
    while True:
        await trio.lowlevel.checkpoint()
        if _real_time() >= t:
            return
