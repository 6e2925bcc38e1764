"""Remote clock alignment: the far side's timestamps on this process's experiment clock.

A Raspberry Pi's clock has its own origin and drifts against the lab PC's by tens
of ppm. A :class:`RemoteClock` maps between the two with a linear model
``remote = a + b * local`` (offset and drift), fitted to probes sent over the
executor's own connection, and says how far each conversion can be off.

Probes (as NTP): four timestamps, local send ``t0``, far receive ``t1``, far
send ``t2``, local receive ``t3``. The round trip is ``(t3 - t0) - (t2 - t1)``
and the offset ``((t1 - t0) + (t2 - t3)) / 2`` estimates ``remote - local`` at
the local midpoint ``(t0 + t3) / 2``. Only the sum of the two one-way delays is
seen, never their split, so whatever the delays the true offset lies within
half the round trip of the estimate, and no probe can do better than that.

Sampling (as Lab Streaming Layer's time receiver): a background task sends a
burst of ``probes`` probes every ``interval`` seconds (every
``initial_interval`` for the first ``initial_bursts`` bursts, so timestamps are
aligned early) and keeps, of each burst, the probe with the lowest round trip:
delays on a local network are heavy-tailed, and the fastest probe is the one
least disturbed by queues on either side.

Fit: weighted least squares of the burst minima's offsets on local time, over
the last ``window`` seconds, refitted at every burst. Why this estimator:

- each point says how good it is: delay beyond the window's best round trip
  (``excess``) lands on either way unseen, so its offset may be off by up to
  half of it; a point is weighted by ``1 / (base**2 + excess**2 / 12)`` (a
  spread even over that range, ``base`` being the best probes' own scatter,
  5 % of their round trip). Theil-Sen or a Huber fit would throw that
  knowledge away;
- a Gaussian prior on the drift (the previous estimate, else 0, give or take
  ``drift_prior_ppm``) stops the first bursts, which span too little time to
  see drift, from fitting noise as drift; the data take over as the window
  grows;
- the scale of the points' errors is estimated from the residuals, shrunk
  towards the round-trip bound while there are few of them;
- bursts that were delayed as a whole (the far side was busy) are rejected by
  clipping residuals beyond 4 robust sigmas (residuals measured in the points'
  modelled sigmas; at most 3 rounds, never more than half the points).

It is a 2x2 solve: cheap enough to redo at every burst.

Uncertainty (:meth:`RemoteClock.uncertainty`): the weighted mean of the fitted
points' half round trips, which bounds what an unseen asymmetry of the delays
can do (at least half the best round trip), plus three standard errors of the
fitted line at that time (growing away from the window by the drift's
uncertainty).

Steps: a burst whose offset is further from the model than ``step_threshold``
times (its half round trip + the model's uncertainty) cannot be explained by
delays: the far clock stepped (a Pi rebooted) or its drift changed. One more
burst is sent at once; if it agrees with the suspect and not with the model, a
:class:`ClockStep` is recorded, a warning logged, and the model refitted from
these fresh bursts alone (quick bursts follow, as at the start).

Every probe is kept (:attr:`RemoteClock.samples`, :meth:`RemoteClock.write_csv`),
so a run can be re-aligned offline with :meth:`RemoteClock.replay`.
"""

import csv
import logging
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from os import PathLike
from typing import NamedTuple

import numpy as np
import trio

from ..core.clock import now
from ..core.errors import InvalidArgument
from .errors import ExecutorError

__all__ = (
    "ClockSync",
    "ClockSample",
    "ClockModel",
    "ClockStep",
    "ClockNotAligned",
    "RemoteClock",
    "LocalClock",
    "LOCAL_CLOCK",
    "read_samples_csv",
)

logger = logging.getLogger("moalab.executor.clock")

Probe = Callable[[], Awaitable[tuple[float, float, float, float]]]
"""Sends one probe and returns its ``(t0, t1, t2, t3)``."""

_CSV_COLUMNS = ("burst", "t0", "t1", "t2", "t3", "round_trip", "offset")
_SIGMAS = 3.0  # standard errors in the uncertainty
_CLIP = 4.0  # robust sigmas beyond which a burst is an outlier
_BASE_JITTER = 0.05  # the fastest probes' own scatter, as a fraction of their round trip
_MIN_SCALE = 0.1  # robust scale floor (modelled sigmas): clean data are not clipped to nothing
# the error scale assumed before the residuals say: the best probe's offset error spread
# evenly over +-half its round trip
_SCALE_PRIOR = 1 / (2 * math.sqrt(3) * _BASE_JITTER)
_SCALE_PRIOR_WEIGHT = 1.0  # pseudo-points that assumption counts for


class ClockNotAligned(ExecutorError):
    """A conversion was asked of a remote clock that has no successful probe yet."""


@dataclass(frozen=True)
class ClockSync:
    """How a remote executor aligns the far side's clock (``RemoteExecutor(clock_sync=)``).

    Times in seconds. ``probes`` per burst, ``probe_spacing`` apart; a burst every
    ``interval``, but every ``initial_interval`` for the first ``initial_bursts``
    (and again after a step); the model is fitted to the bursts of the last
    ``window``. ``drift_prior_ppm``: the drift assumed possible before the data
    say (1 sigma). ``step_threshold``: how many times its error bound a burst must
    miss the model by to count as a clock step. ``start_timeout``: how long
    starting the executor waits for the first burst. ``probe_timeout``: a probe
    without a reply after this long is abandoned.
    """

    probes: int = 8
    probe_spacing: float = 0.002
    interval: float = 2.0
    initial_bursts: int = 5
    initial_interval: float = 0.1
    window: float = 300.0
    drift_prior_ppm: float = 100.0
    step_threshold: float = 3.0
    start_timeout: float = 5.0
    probe_timeout: float = 2.0

    def __post_init__(self) -> None:
        if not (isinstance(self.probes, int) and self.probes >= 1):
            raise InvalidArgument(f"ClockSync probes={self.probes!r} is not accepted: give >= 1")
        if not self.initial_bursts >= 0:
            raise InvalidArgument(
                f"ClockSync initial_bursts={self.initial_bursts!r} is not accepted: give >= 0")
        for name in ("interval", "initial_interval", "window", "drift_prior_ppm",
                     "step_threshold", "start_timeout", "probe_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise InvalidArgument(f"ClockSync {name}={value!r} is not accepted: give > 0")
        if not self.probe_spacing >= 0:
            raise InvalidArgument(
                f"ClockSync probe_spacing={self.probe_spacing!r} is not accepted: give >= 0")


class ClockSample(NamedTuple):
    """One probe: local send, far receive, far send, local receive, and its burst."""

    t0: float
    t1: float
    t2: float
    t3: float
    burst: int = 0

    @property
    def round_trip(self) -> float:
        """Time on the wire and in transit, without the far side's own processing."""
        return (self.t3 - self.t0) - (self.t2 - self.t1)

    @property
    def offset(self) -> float:
        """Estimated ``remote - local`` at :attr:`local_time`, within half the round trip."""
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2

    @property
    def local_time(self) -> float:
        return (self.t0 + self.t3) / 2


class ClockStep(NamedTuple):
    """A step of the far clock: when (local time), by how much, and the new epoch."""

    local_time: float
    offset_change: float
    epoch: int


@dataclass(frozen=True)
class ClockModel:
    """A fitted ``remote = local + offset + drift * (local - center)``, with its errors.

    ``offset`` is ``remote - local`` at local time ``center``; ``drift`` is
    ``b - 1`` of ``remote = a + b * local``. ``var_offset``, ``var_drift`` and
    ``cov`` are the fit's (co)variances; ``systematic`` the bound on what an
    unseen delay asymmetry can add; ``best_round_trip`` the lowest round trip
    fitted; ``points`` and ``span`` how many bursts over how many seconds;
    ``epoch`` counts the clock steps before it.
    """

    offset: float
    drift: float
    center: float
    var_offset: float
    var_drift: float
    cov: float
    systematic: float
    best_round_trip: float
    points: int
    span: float
    epoch: int = 0

    @property
    def a(self) -> float:
        return self.offset - self.drift * self.center

    @property
    def b(self) -> float:
        return 1.0 + self.drift

    def offset_at(self, local: float) -> float:
        return self.offset + self.drift * (local - self.center)

    def to_remote(self, local: float) -> float:
        return local + self.offset_at(local)

    def to_local(self, remote: float) -> float:
        return self.center + (remote - self.center - self.offset) / (1.0 + self.drift)

    def uncertainty(self, local: float) -> float:
        dx = local - self.center
        variance = self.var_offset + 2 * dx * self.cov + dx * dx * self.var_drift
        return self.systematic + _SIGMAS * math.sqrt(max(variance, 0.0))


def _solve(dx: np.ndarray, y: np.ndarray, w: np.ndarray, scale2: float, prior: float,
           prior_var: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of ``y = c0 + c1 * dx`` with point variances ``scale2 / w``
    and a Gaussian prior ``c1 ~ N(prior, prior_var)``: the estimate and its covariance."""
    ws = w / scale2
    a = np.array([[ws.sum(), (ws * dx).sum()],
                  [(ws * dx).sum(), (ws * dx * dx).sum() + 1 / prior_var]])
    rhs = np.array([(ws * y).sum(), (ws * dx * y).sum() + prior / prior_var])
    cov = np.linalg.inv(a)
    return cov @ rhs, cov


def fit_clock(local: np.ndarray, offset: np.ndarray, round_trip: np.ndarray,
              drift_prior: float = 0.0, drift_prior_ppm: float = 100.0, epoch: int = 0
              ) -> tuple[ClockModel, np.ndarray]:
    """Fit a :class:`ClockModel` to burst minima (local midpoints, offsets, round
    trips); see the module's docstring. Returns the model and the inlier mask."""
    n = len(local)
    rtt = np.maximum(round_trip, 1e-9)
    excess = rtt - rtt.min()
    w = 1 / ((_BASE_JITTER * rtt.min()) ** 2 + excess**2 / 12)  # 1 / modelled variance
    center = float((w * local).sum() / w.sum())
    dx = local - center
    ref = float(offset[np.argmin(rtt)])  # fit small numbers: offsets may be thousands of s
    y = offset - ref
    prior_var = (drift_prior_ppm * 1e-6) ** 2
    mask = np.ones(n, dtype=bool)
    for clip_round in range(4):
        scale2 = _SCALE_PRIOR**2
        for _ in range(2):  # the error scale, then the fit again under it
            c, cov = _solve(dx[mask], y[mask], w[mask], scale2, drift_prior, prior_var)
            r = y - c[0] - c[1] * dx
            chi2 = float((w[mask] * r[mask] ** 2).sum())
            dof = max(int(mask.sum()) - 2, 0)
            scale2 = (_SCALE_PRIOR_WEIGHT * _SCALE_PRIOR**2 + chi2) / (_SCALE_PRIOR_WEIGHT + dof)
        if n < 5 or clip_round == 3:
            break
        z = np.abs(r) * np.sqrt(w)
        limit = _CLIP * max(1.4826 * float(np.median(z[mask])), _MIN_SCALE)
        new_mask = z <= limit
        if new_mask.sum() < n // 2 + 1:  # never reject most of the data
            new_mask = z <= np.sort(z)[n // 2]
        if np.array_equal(new_mask, mask):
            break
        mask = new_mask
    wi = w[mask]
    model = ClockModel(
        offset=ref + float(c[0]), drift=float(c[1]), center=center,
        var_offset=float(cov[0, 0]), var_drift=float(cov[1, 1]), cov=float(cov[0, 1]),
        systematic=float((wi * rtt[mask] / 2).sum() / wi.sum()),
        best_round_trip=float(rtt[mask].min()), points=int(mask.sum()),
        span=float(local[mask].max() - local[mask].min()), epoch=epoch,
    )
    return model, mask


class RemoteClock:
    """The far side's clock as seen from here: probes, the fitted model, conversions.

    A remote executor owns one (``executor.clock``) and runs :meth:`run` as a task
    of its connection. :meth:`add_burst` does the bookkeeping without trio, so
    recorded samples can be replayed offline (:meth:`replay`). Conversions may be
    called from the trio thread or any other (the model is replaced, never
    changed in place).
    """

    remote = True

    def __init__(self, sync: ClockSync | None = None) -> None:
        self.sync = sync or ClockSync()
        self.samples: list[ClockSample] = []
        """Every probe so far, in order (raw, for offline re-alignment); about 100
        bytes each: 8 probes every 2 s is under 2 MB an hour."""
        self.steps: list[ClockStep] = []
        """The far clock's steps detected so far."""
        self.model: ClockModel | None = None
        """The current fit (None before the first probe)."""
        self.epoch = 0
        self._points: list[ClockSample] = []  # burst minima of this epoch, in the window
        self._suspect: ClockSample | None = None
        self._quick_left = self.sync.initial_bursts
        self._bursts = 0
        # set by run() after its first burst; made here, not in run(), so a wait that
        # starts before the task does is not missed
        self._first_burst = trio.Event()

    # ------------------------------------------------------------- conversions

    @property
    def aligned(self) -> bool:
        return self.model is not None

    def _model(self) -> ClockModel:
        model = self.model
        if model is None:
            raise ClockNotAligned(
                "the remote clock has no successful probe yet: start the executor (it probes "
                "at start) and check that its connection works"
            )
        return model

    def to_local(self, remote_ts: float) -> float:
        """``remote_ts`` (far clock) on this process's experiment clock."""
        return self._model().to_local(remote_ts)

    def to_remote(self, local_ts: float) -> float:
        """``local_ts`` (experiment clock) on the far clock."""
        return self._model().to_remote(local_ts)

    def uncertainty(self, local_ts: float | None = None) -> float:
        """How far (seconds) a conversion at local time ``local_ts`` (default: now)
        may be off either way; at least half the best round trip."""
        return self._model().uncertainty(now() if local_ts is None else local_ts)

    @property
    def drift_ppm(self) -> float:
        """The far clock's rate minus this one's, in parts per million."""
        return self._model().drift * 1e6

    # ------------------------------------------------------------------ bursts

    def add_burst(self, burst: Iterable[tuple[float, float, float, float]]) -> None:
        """Record one burst of probes (``(t0, t1, t2, t3)`` each) and refit."""
        index = self._bursts
        self._bursts += 1
        samples = [ClockSample(*probe[:4], burst=index) for probe in burst]
        self.samples.extend(samples)
        if not samples:
            return
        best = min(samples, key=lambda s: s.round_trip)
        model = self.model
        if model is None or self._consistent(model, best):
            self._suspect = None
            self._add_point(best)
            return
        suspect, self._suspect = self._suspect, best
        if suspect is None or not self._agree(suspect, best, model.drift):
            return  # one burst off the model: wait for the next before believing it
        self._suspect = None
        change = suspect.offset - model.offset_at(suspect.local_time)
        self.epoch += 1
        self.steps.append(ClockStep(suspect.local_time, change, self.epoch))
        logger.warning("remote clock stepped by %+.6f s near local time %.6f: refitting from "
                       "fresh probes", change, suspect.local_time)
        self._points = []
        self._quick_left = self.sync.initial_bursts
        self._add_point(suspect, refit=False)
        self._add_point(best, drift_prior=model.drift)

    def _consistent(self, model: ClockModel, sample: ClockSample) -> bool:
        miss = abs(sample.offset - model.offset_at(sample.local_time))
        bound = sample.round_trip / 2 + model.uncertainty(sample.local_time)
        return miss <= self.sync.step_threshold * bound

    def _agree(self, first: ClockSample, second: ClockSample, drift: float) -> bool:
        expected = first.offset + drift * (second.local_time - first.local_time)
        slack = (first.round_trip + second.round_trip) / 2 + abs(
            second.local_time - first.local_time) * self.sync.drift_prior_ppm * 1e-6
        return abs(second.offset - expected) <= self.sync.step_threshold * slack

    def _add_point(self, point: ClockSample, refit: bool = True,
                   drift_prior: float | None = None) -> None:
        self._points.append(point)
        start = point.local_time - self.sync.window
        if self._points[0].local_time < start:
            self._points = [p for p in self._points if p.local_time >= start]
        if not refit:
            return
        if drift_prior is None:
            drift_prior = self.model.drift if self.model is not None else 0.0
        points = np.array([(p.local_time, p.offset, p.round_trip) for p in self._points])
        self.model, _ = fit_clock(points[:, 0], points[:, 1], points[:, 2], drift_prior,
                                  self.sync.drift_prior_ppm, self.epoch)

    def next_delay(self) -> float:
        """Seconds until the next burst: at once to confirm a suspect burst, quickly at
        the start and after a step, else the regular interval."""
        if self._suspect is not None:
            return self.sync.probe_spacing
        if self._quick_left > 0:
            self._quick_left -= 1
            return self.sync.initial_interval
        return self.sync.interval

    # --------------------------------------------------------------- the task

    async def run(self, probe: Probe) -> None:
        """Probe in bursts until cancelled; ``probe`` is the executor's
        ``get_echo_clock``. Failed probes are skipped: the executor reports a lost
        connection, and a restarted server answers again."""
        if self._first_burst.is_set():  # a restart
            self._first_burst = trio.Event()
        first = self._first_burst
        try:
            while True:
                burst = []
                for i in range(self.sync.probes):
                    if i and self.sync.probe_spacing:
                        await trio.sleep(self.sync.probe_spacing)
                    with trio.move_on_after(self.sync.probe_timeout):
                        try:
                            burst.append(await probe())
                        except Exception as exc:  # e.g. the connection closing: this task
                            # lives in the connection's nursery and must not take it down
                            logger.debug("clock probe failed: %r", exc)
                self.add_burst(burst)
                first.set()
                await trio.sleep(self.next_delay())
        finally:
            first.set()

    async def wait_aligned(self) -> None:
        """Wait (at most ``sync.start_timeout`` s) for the first burst of :meth:`run`;
        return at once when already aligned."""
        if self.model is None:
            with trio.move_on_after(self.sync.start_timeout):
                await self._first_burst.wait()

    # ----------------------------------------------------------------- offline

    def write_csv(self, path: str | PathLike) -> None:
        """Write every probe as CSV: ``burst,t0,t1,t2,t3,round_trip,offset``."""
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(_CSV_COLUMNS)
            for s in self.samples:
                writer.writerow((s.burst, *(repr(v) for v in s[:4]), repr(s.round_trip),
                                 repr(s.offset)))

    @classmethod
    def replay(cls, samples: Iterable[ClockSample], sync: ClockSync | None = None
               ) -> "RemoteClock":
        """A clock fed ``samples`` (e.g. from :func:`read_samples_csv`) burst by burst,
        as it would have been live. Give ``ClockSync(window=math.inf)`` to fit each
        epoch as a whole."""
        clock = cls(sync)
        burst: list[ClockSample] = []
        for sample in samples:
            if burst and sample.burst != burst[0].burst:
                clock.add_burst(burst)
                burst = []
            burst.append(sample)
        if burst:
            clock.add_burst(burst)
        return clock


def read_samples_csv(path: str | PathLike) -> list[ClockSample]:
    """The probes written by :meth:`RemoteClock.write_csv`."""
    with open(path, newline="") as f:
        return [ClockSample(float(row["t0"]), float(row["t1"]), float(row["t2"]),
                            float(row["t3"]), int(row["burst"]))
                for row in csv.DictReader(f)]


class LocalClock:
    """The far side shares this process's clock (thread executors, the dummy): every
    conversion is the identity, exact."""

    remote = False
    aligned = True
    model = None
    drift_ppm = 0.0
    samples: tuple[ClockSample, ...] = ()
    steps: tuple[ClockStep, ...] = ()

    def to_local(self, remote_ts: float) -> float:
        return remote_ts

    def to_remote(self, local_ts: float) -> float:
        return local_ts

    def uncertainty(self, local_ts: float | None = None) -> float:
        return 0.0

    async def run(self, probe: Probe) -> None:
        """Nothing to probe."""

    async def wait_aligned(self) -> None:
        pass

    def write_csv(self, path: str | PathLike) -> None:
        with open(path, "w", newline="") as f:
            csv.writer(f).writerow(_CSV_COLUMNS)


LOCAL_CLOCK = LocalClock()
