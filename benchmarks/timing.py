"""Timing quality of the stage engine, in real time, and the cost of recording a run.

- Delay end-time error: a :class:`UniformRandomDelay` runs many trials; for each,
  the time between its ``on_trial_start`` and ``on_trial_end`` events minus the
  delay it drew (late is positive; p50/p99 of the absolute error).
- Gate reaction latency: a serial stage of a :class:`DigitalGateStage` then an
  action stage; a driver task sets the device's state (``device.update``) while
  the gate waits; the latency is from just before that update to the first line
  of the next stage's ``do_trial``. The same tree runs four ways
  (:data:`GATE_VARIANTS`): awaited directly (``stage_engine``, no records), and
  through :meth:`moalab.runner.run.Run.execute`, recording every stage and the
  device, with no sink, with the sinks ``moalab run`` attaches, and with a sink
  that sleeps 50 ms on every record. The four alternate tree by tree
  (``Sizes.gate_rounds`` trees each), so the machine's drift hits them alike.
- Record rate: records per second from a stage tree of zero delays, through
  ``Run.execute``, to a :class:`MemorySink` (wall time of the whole run, the
  sink's drain included).

The timer floor (``floor_timer``) measures the same two things without the
stage engine: the lateness of moalab's bare ``sleep_until`` over the same
random delays, and the wake-up of a trio task waiting on an event set by
another task. What the stage engine adds is the difference. The wake-ups take
their turn among the gate rows, a batch before each round of trees, so a goal
that divides a gate row by the floor divides figures of the same minutes.
"""

import functools
import random
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import perf_counter
from typing import Any

import trio

from moalab import Delay, DigitalGateStage, MoaStage, UniformRandomDelay
from moalab.core.clock import sleep_until
from moalab.device.digital import DigitalChannel
from moalab.log.loggers import SimpleCSVLogger
from moalab.log.sink import MemorySink, RecordSink, TreeSink
from moalab.runner.run import Run

from .common import SideResults, Sizes, percentile

__all__ = ("run_timing", "GATE_VARIANTS", "GateRunner", "GateTree", "SleepingSink",
           "run_driven", "run_gate_tree")


async def measure_delay_error(sizes: Sizes) -> dict[str, dict[str, float]]:
    lo, hi = sizes.delay_range
    stage = UniformRandomDelay(name="delay", min=lo, max=hi, repeat=sizes.delay_trials,
                               rng=random.Random(1))
    started: dict[int, float] = {}
    errors: list[float] = []

    def on_start(_: object, count: int) -> None:
        started[count] = perf_counter()

    def on_end(_: object, count: int) -> None:
        errors.append(perf_counter() - started[count] - stage.delay)

    stage.fbind("on_trial_start", on_start)
    stage.fbind("on_trial_end", on_end)
    await stage.run_stage()
    absolute = [abs(e) for e in errors]
    return {"stage_engine": {"delay_error_p50_us": percentile(absolute, 50) * 1e6,
                             "delay_error_p99_us": percentile(absolute, 99) * 1e6}}


class GateTree:
    """The gate workload's tree: ``root`` repeats [a gate on ``device``, an action]
    ``trials`` times; :meth:`drive` opens the gate and :attr:`latencies` holds, per
    trial, the seconds from the device update to the action's first line.
    :attr:`ended` is set (in the trio thread) when the root's stage ends;
    :attr:`on_action`, when set, is called in each action after its time is taken
    (a lab session records its trial there)."""

    def __init__(self, trials: int, rng: random.Random) -> None:
        # a channel without a pump of its own: a run pumps its devices, and a virtual
        # channel's pump would open the gate at random
        self.device = device = DigitalChannel(name="beam")
        device.state = False
        self._acted: list[float] = []
        self._dispatched: list[float] = []
        acted = self._acted
        self._rng = rng
        self.on_action: Callable[[], None] | None = None
        tree = self

        class FirstAction(MoaStage):
            async def do_trial(self) -> None:
                acted.append(perf_counter())
                device.update(state=False)
                if tree.on_action is not None:
                    tree.on_action()

        self.root = MoaStage(name="root", repeat=trials)
        gate = DigitalGateStage(name="gate", device=device, exit_state=True)
        self.root.add_stage(gate)
        self.root.add_stage(FirstAction(name="action"))
        self._waiting = trio.Event()
        gate.fbind("on_trial_start", lambda *_: self._waiting.set())
        self.ended = threading.Event()
        self.root.fbind("on_stage_end", lambda *_: self.ended.set())

    @property
    def latencies(self) -> list[float]:
        return [a - d for d, a in zip(self._dispatched, self._acted)]

    async def drive(self) -> None:
        """Open the gate 0.5-2 ms after each of its trials starts; runs until cancelled."""
        while True:
            await self._waiting.wait()
            self._waiting = trio.Event()
            await trio.sleep(self._rng.uniform(0.0005, 0.002))  # the gate is waiting by now
            self._dispatched.append(perf_counter())
            self.device.update(state=True)


class SleepingSink(RecordSink):
    """A record sink whose ``consume`` sleeps ``delay`` seconds on every record (a
    plain sync sink: a run calls it in a worker thread of its own) until ``until``
    is set; then it takes the rest at once, so a run does not wait minutes for it."""

    def __init__(self, delay: float, until: threading.Event) -> None:
        self.delay = delay
        self.until = until
        self.consumed = 0

    def consume(self, record: Any) -> None:
        self.until.wait(self.delay)
        self.consumed += 1


def _csv_and_tree(tree: GateTree, folder: Path) -> list[Any]:
    files = len(list(folder.iterdir()))
    return [SimpleCSVLogger(folder / f"run-{files}.csv"), TreeSink()]


GATE_VARIANTS: dict[str, Callable[[GateTree, Path], list[Any]] | None] = {
    "stage_engine": None,
    "stage_engine_records": lambda tree, folder: [],
    "stage_engine_csv": _csv_and_tree,
    "stage_engine_slow": lambda tree, folder: [SleepingSink(0.05, tree.ended)],
}
"""How each gate row runs its tree: None awaits ``root.run_stage()`` (no records);
otherwise ``Run.execute`` with the sinks the function makes (``moalab run``'s are a
SimpleCSVLogger and a TreeSink)."""


GateRunner = Callable[[GateTree, Path], Awaitable[None]]
"""Runs a gate tree one way (a row), given a folder for its files."""


async def run_driven(tree: GateTree, run: Callable[[], Awaitable[Any]]) -> None:
    """Await ``run()`` (which runs ``tree``) while the tree's driver opens its gate."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tree.drive)
        await run()
        nursery.cancel_scope.cancel()


async def run_gate_tree(tree: GateTree, sinks: list[Any] | None) -> None:
    """Run ``tree`` with its driver: ``root.run_stage()`` when ``sinks`` is None, else
    ``Run.execute`` recording it to ``sinks`` (closed after, if they close). Raises
    RuntimeError if that run does not end 'done'."""
    if sinks is None:
        await run_driven(tree, tree.root.run_stage)
        return
    run = Run(tree.root, devices=[tree.device], sinks=sinks)
    await run_driven(tree, run.execute)
    if run.status != "done":
        raise RuntimeError(f"the gate tree's run ended {run.status}: {run.error!r}")
    for sink in sinks:
        getattr(sink, "close", lambda: None)()


def variant_runner(row: str) -> GateRunner:
    """The :data:`GATE_VARIANTS` row ``row`` as a :data:`GateRunner`."""
    make_sinks = GATE_VARIANTS[row]
    return lambda tree, folder: run_gate_tree(tree, make_sinks and make_sinks(tree, folder))


async def timer_wakeups(trials: int, rng: random.Random) -> list[float]:
    """The floor of a gate's reaction: ``trials`` times, a task waits on a trio event
    that another task sets 0.5-2 ms later (as :meth:`GateTree.drive` opens the gate);
    the seconds from each set to the waiter's next line."""
    wakeups: list[float] = []
    for _ in range(trials):
        event = trio.Event()
        dispatched = 0.0

        async def setter() -> None:
            nonlocal dispatched
            await trio.sleep(rng.uniform(0.0005, 0.002))
            dispatched = perf_counter()
            event.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setter)
            await event.wait()
            wakeups.append(perf_counter() - dispatched)
    return wakeups


async def measure_gate_latencies(sizes: Sizes, runners: dict[str, GateRunner],
                                 floor: bool = False) -> dict[str, dict[str, float]]:
    """Gate reaction p50/p99 of each row of ``runners``: trees of ``gate_trials /
    gate_rounds`` trials, the rows taking turns; with ``floor``, as many
    :func:`timer_wakeups` (``floor_timer``'s) before each round."""
    rng = random.Random(2)
    per_tree = max(1, sizes.gate_trials // sizes.gate_rounds)
    latencies: dict[str, list[float]] = {"floor_timer": []} if floor else {}
    latencies.update({row: [] for row in runners})
    with tempfile.TemporaryDirectory(prefix="moalab-bench-gate-") as folder:
        for _ in range(sizes.gate_rounds):
            if floor:
                latencies["floor_timer"] += await timer_wakeups(per_tree, rng)
            for row, run in runners.items():
                tree = GateTree(per_tree, rng)
                await run(tree, Path(folder))
                latencies[row] += tree.latencies
    return {row: {"gate_latency_p50_us": percentile(values, 50) * 1e6,
                  "gate_latency_p99_us": percentile(values, 99) * 1e6}
            for row, values in latencies.items()}


async def measure_record_rate(sizes: Sizes) -> dict[str, dict[str, float]]:
    root = MoaStage(name="root", repeat=sizes.record_trials)
    root.add_stage(Delay(name="step", delay=0))
    sink = MemorySink()
    run = Run(root, sinks=[sink])
    start = perf_counter()
    await run.execute()
    elapsed = perf_counter() - start
    if run.status != "done":
        raise RuntimeError(f"the record tree's run ended {run.status}: {run.error!r}")
    return {"records": {"record_rate_hz": len(sink.records) / elapsed}}


async def measure_timer_floor(sizes: Sizes) -> dict[str, dict[str, float]]:
    """``floor_timer``'s delay errors: moalab's bare ``sleep_until`` over the delays
    :func:`measure_delay_error` draws (its wake-ups: :func:`measure_gate_latencies`)."""
    rng = random.Random(1)
    errors = []
    for _ in range(sizes.delay_trials):
        delay = rng.uniform(*sizes.delay_range)
        start = perf_counter()
        await sleep_until(start + delay)
        errors.append(abs(perf_counter() - start - delay))
    return {"floor_timer": {"delay_error_p50_us": percentile(errors, 50) * 1e6,
                            "delay_error_p99_us": percentile(errors, 99) * 1e6}}


async def run_timing(subjects: list[str], sizes: Sizes, results: SideResults,
                     more_gates: dict[str, GateRunner] | None = None) -> None:
    """Measure the timing rows among ``subjects`` (``floor_timer``, ``stage_engine`` and
    its gate variants, ``records``) and record their values; the gate rows of
    ``more_gates`` (e.g. the lab's sessions) take turns with those variants. A measure
    that fails is recorded as an error of its rows."""
    gate_runners = {row: variant_runner(row) for row in GATE_VARIANTS if row in subjects}
    gate_runners.update(more_gates or {})
    floor = "floor_timer" in subjects
    gate_rows = (["floor_timer"] if floor else []) + list(gate_runners)
    measures: list[tuple[str, str, Callable[[Sizes], Awaitable[dict[str, dict[str, float]]]]]] = []
    if floor:
        measures.append(("floor_timer", "timer_floor", measure_timer_floor))
    if "stage_engine" in subjects:
        measures.append(("stage_engine", "delay_error", measure_delay_error))
    if gate_rows:
        measures.append((",".join(gate_rows), "gate_latency",
                         functools.partial(measure_gate_latencies, runners=gate_runners,
                                           floor=floor)))
    if "records" in subjects:
        measures.append(("records", "record_rate", measure_record_rate))
    for rows, what, measure in measures:
        try:
            with trio.fail_after(120):
                by_row = await measure(sizes)
        except Exception as exc:
            results.error(rows, what, exc)
            continue
        for row, values in by_row.items():
            for metric, value in values.items():
                results.record(row, metric, value)
