"""Timing quality of the stage engine, in real time.

- Delay end-time error: a :class:`UniformRandomDelay` runs many trials; for each,
  the time between its ``on_trial_start`` and ``on_trial_end`` events minus the
  delay it drew (late is positive; p50/p99 of the absolute error).
- Gate reaction latency: a serial stage of a :class:`DigitalGateStage` then an
  action stage; a driver task sets the device's state (``device.update``) while
  the gate waits; the latency is from just before that update to the first line
  of the next stage's ``do_trial``.

The timer floor (``floor_timer``) measures the same two things without the
stage engine: the lateness of moalab's bare ``sleep_until`` over the same
random delays, and the wake-up of a trio task waiting on an event set by
another task. What the stage engine adds is the difference.
"""

import random
from time import perf_counter

import trio

from .common import SideResults, Sizes, percentile

__all__ = ("run_timing",)


async def measure_delay_error(sizes: Sizes) -> dict[str, float]:
    from moalab import UniformRandomDelay

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
    return {"delay_error_p50_us": percentile(absolute, 50) * 1e6,
            "delay_error_p99_us": percentile(absolute, 99) * 1e6}


async def measure_gate_latency(sizes: Sizes) -> dict[str, float]:
    from moalab import DigitalGateStage, MoaStage, VirtualDigitalChannel

    acted: list[float] = []
    dispatched: list[float] = []
    device = VirtualDigitalChannel(name="beam")
    device.state = False

    class FirstAction(MoaStage):
        async def do_trial(self) -> None:
            acted.append(perf_counter())
            device.update(state=False)

    root = MoaStage(name="root", repeat=sizes.gate_trials)
    gate = DigitalGateStage(name="gate", device=device, exit_state=True)
    root.add_stage(gate)
    root.add_stage(FirstAction(name="action"))
    waiting = trio.Event()

    def on_gate_trial(*_: object) -> None:
        waiting.set()

    gate.fbind("on_trial_start", on_gate_trial)
    rng = random.Random(2)

    async def driver() -> None:
        nonlocal waiting
        while True:
            await waiting.wait()
            waiting = trio.Event()
            await trio.sleep(rng.uniform(0.0005, 0.002))  # the gate is waiting by now
            dispatched.append(perf_counter())
            device.update(state=True)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(driver)
        await root.run_stage()
        nursery.cancel_scope.cancel()
    latencies = [a - d for d, a in zip(dispatched, acted)]
    return {"gate_latency_p50_us": percentile(latencies, 50) * 1e6,
            "gate_latency_p99_us": percentile(latencies, 99) * 1e6}


async def measure_timer_floor(sizes: Sizes) -> dict[str, float]:
    from moalab.core.clock import sleep_until

    rng = random.Random(1)
    errors = []
    for _ in range(sizes.delay_trials):
        delay = rng.uniform(*sizes.delay_range)
        start = perf_counter()
        await sleep_until(start + delay)
        errors.append(abs(perf_counter() - start - delay))
    wakeups: list[float] = []
    rng = random.Random(2)
    for _ in range(sizes.gate_trials):
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
    return {"delay_error_p50_us": percentile(errors, 50) * 1e6,
            "delay_error_p99_us": percentile(errors, 99) * 1e6,
            "gate_latency_p50_us": percentile(wakeups, 50) * 1e6,
            "gate_latency_p99_us": percentile(wakeups, 99) * 1e6}


async def run_timing(subjects: list[str], sizes: Sizes, results: SideResults) -> None:
    measures = []
    if "floor_timer" in subjects:
        measures.append(("floor_timer", measure_timer_floor))
    if "stage_engine" in subjects:
        measures += [("stage_engine", measure_delay_error), ("stage_engine", measure_gate_latency)]
    for subject, measure in measures:
        try:
            with trio.fail_after(120):
                values = await measure(sizes)
        except Exception as exc:
            results.error(subject, measure.__name__.removeprefix("measure_"), exc)
            continue
        for metric, value in values.items():
            results.record(subject, metric, value)
