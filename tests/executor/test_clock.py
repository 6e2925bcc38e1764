"""Remote clock alignment: the fit on synthetic probes, then real servers and processes
on skewed clocks, directly and through the jittery proxy."""

import math
import random

import pytest
import trio

from moalab.core import clock as core_clock
from moalab.core.errors import InvalidArgument
from moalab.executor import AsyncThreadExecutor, ThreadExecutor
from moalab.executor.clock import (
    LOCAL_CLOCK,
    ClockNotAligned,
    ClockSample,
    ClockSync,
    RemoteClock,
    read_samples_csv,
)
from moalab.executor.dummy import DummyRemoteExecutor
from moalab.executor.process import ProcessExecutor
from moalab.executor.rest import RestExecutor

from .clock_rig import (
    FAST_SYNC,
    PROXY_DOWN,
    PROXY_UP,
    Skew,
    measure_alignment,
    skewed_environment,
    skewed_server,
)
from .conftest import unique_name, wait_until
from .devices import Probe
from .proxy import Delay, open_delay_proxy

# ------------------------------------------------------------- synthetic probes

SKEW = Skew(offset=3000.0, drift_ppm=40.0)


class FakeLink:
    """Probes of a far clock ``skew`` through delays drawn from ``up`` and ``down``
    (plus 20 us of far-side processing), on a virtual local clock."""

    def __init__(self, skew: Skew, up: Delay, down: Delay, seed: int = 0) -> None:
        self.skew, self.up, self.down = skew, up, down
        self.rng = random.Random(seed)
        self.t = 100.0

    def probe(self) -> tuple[float, float, float, float]:
        t0 = self.t
        arrive = t0 + self.up.draw(self.rng)
        leave = arrive + 20e-6
        t3 = leave + self.down.draw(self.rng)
        self.t = t3 + 0.001
        return t0, self.skew.to_remote(arrive), self.skew.to_remote(leave), t3

    def burst(self, n: int = 8) -> list[tuple[float, float, float, float]]:
        probes = [self.probe() for _ in range(n)]
        self.t += 0.1
        return probes


def _link(seed: int = 0) -> FakeLink:
    return FakeLink(SKEW, Delay(300e-6, 100e-6, 1.5), Delay(100e-6, 100e-6, 1.2), seed)


def test_probe_round_trip_and_offset():
    # far clock 1000 s ahead; 3 ms out, 1 ms back, 0.5 ms on the far side
    sample = ClockSample(10.0, 1010.003, 1010.0035, 10.0045)
    assert sample.round_trip == pytest.approx(0.004)
    assert sample.offset == pytest.approx(1000.001)  # off by half the asymmetry, 1 ms
    assert abs(sample.offset - 1000) <= sample.round_trip / 2
    assert sample.local_time == pytest.approx(10.00225)


def test_fit_recovers_offset_and_drift_within_its_uncertainty():
    link = _link()
    clock = RemoteClock(ClockSync(window=30))
    worst = 0.0
    for _ in range(100):  # 10 s of bursts
        clock.add_burst(link.burst())
        t = link.t
        error = abs(SKEW.error(clock, t))
        assert error <= clock.uncertainty(t)
        worst = max(worst, error)
    model = clock.model
    assert clock.drift_ppm == pytest.approx(40, abs=2)
    assert clock.uncertainty(link.t) >= model.best_round_trip / 2
    assert worst < 150e-6  # the 100 us asymmetry bias and little more
    assert clock.to_remote(clock.to_local(5000.0)) == pytest.approx(5000.0, abs=1e-9)
    assert len(clock.samples) == 800 and clock.steps == []


def test_bursts_delayed_as_a_whole_barely_count():
    link = _link(1)
    clock, clean = RemoteClock(ClockSync(window=30)), RemoteClock(ClockSync(window=30))
    for i in range(60):
        burst = link.burst()
        if i % 10 == 5:  # the far side stalled: every reply 3 ms late
            clock.add_burst([(t0, t1, t2 + 0.003 * (1 + 40e-6), t3 + 0.003)
                             for t0, t1, t2, t3 in burst])
        else:
            clock.add_burst(burst)
            clean.add_burst(burst)
    # each stalled burst says +-1.5 ms; weighted by that, they move the fit by little
    assert abs(SKEW.error(clock, link.t) - SKEW.error(clean, link.t)) < 20e-6
    assert abs(SKEW.error(clock, link.t)) < 150e-6
    assert clock.steps == []


def test_a_wild_burst_is_clipped():
    link = _link(4)
    clock = RemoteClock(ClockSync(window=30))
    for i in range(40):
        burst = link.burst()
        if i == 20:  # far stamps 0.8 ms off: within the step threshold, not within the fit
            burst = [(t0, t1 + 0.0008, t2 + 0.0008, t3) for t0, t1, t2, t3 in burst]
        clock.add_burst(burst)
    assert clock.steps == [] and clock.model.points == 39
    assert abs(SKEW.error(clock, link.t)) < 150e-6


def test_a_clock_step_is_detected_and_the_model_refitted():
    link = _link(2)
    clock = RemoteClock(ClockSync(window=30))
    for _ in range(30):
        clock.add_burst(link.burst())
    # one wild burst alone is not a step
    wild = [(t0, t1 + 0.05, t2 + 0.05, t3) for t0, t1, t2, t3 in link.burst()]
    clock.add_burst(wild)
    clock.add_burst(link.burst())
    assert clock.steps == [] and clock.epoch == 0
    # the far side restarts 0.25 s ahead
    link.skew = stepped = Skew(SKEW.offset + 0.25, SKEW.drift_ppm)
    clock.add_burst(link.burst())
    assert clock.steps == []  # a suspect, not yet believed
    assert clock.next_delay() == clock.sync.probe_spacing  # confirm at once
    clock.add_burst(link.burst())
    assert len(clock.steps) == 1
    step = clock.steps[0]
    assert step.offset_change == pytest.approx(0.25, abs=1e-3) and step.epoch == 1
    assert clock.model.epoch == 1 and clock.model.points == 2
    assert abs(stepped.error(clock, link.t)) <= clock.uncertainty(link.t)
    for _ in range(20):
        clock.add_burst(link.burst())
        assert abs(stepped.error(clock, link.t)) <= clock.uncertainty(link.t)
    assert abs(stepped.error(clock, link.t)) < 150e-6


def test_samples_written_as_csv_replay_to_the_same_model(tmp_path):
    link = _link(3)
    clock = RemoteClock()
    for _ in range(20):
        clock.add_burst(link.burst())
    path = tmp_path / "probes.csv"
    clock.write_csv(path)
    assert path.read_text().splitlines()[0] == "burst,t0,t1,t2,t3,round_trip,offset"
    samples = read_samples_csv(path)
    assert samples == clock.samples
    replayed = RemoteClock.replay(samples)
    assert replayed.model == clock.model
    whole = RemoteClock.replay(samples, ClockSync(window=math.inf))
    assert whole.model.points == 20


def test_conversions_need_a_probe_first():
    clock = RemoteClock()
    assert not clock.aligned
    with pytest.raises(ClockNotAligned, match="no successful probe"):
        clock.to_local(1.0)
    clock.add_burst([])  # a burst whose probes all failed
    assert not clock.aligned


@pytest.mark.parametrize("field", ["probes", "interval", "window", "step_threshold",
                                   "probe_spacing"])
def test_clock_sync_rejects_bad_settings(field):
    with pytest.raises(InvalidArgument, match=field):
        ClockSync(**{field: -1})


def test_skew_environment_variable(monkeypatch):
    monkeypatch.setenv(core_clock.SKEW_ENV, "100,50")
    skewed = core_clock._real_time_from_env()
    from time import perf_counter

    before = perf_counter()
    value = skewed()
    after = perf_counter()
    assert 100 + (1 + 50e-6) * before <= value <= 100 + (1 + 50e-6) * after
    monkeypatch.setenv(core_clock.SKEW_ENV, "soon")
    with pytest.raises(InvalidArgument, match="OFFSET,DRIFT_PPM"):
        core_clock._real_time_from_env()


# ------------------------------------------------------------------ executors

async def test_local_executors_use_the_identity():
    for executor in (ThreadExecutor(), AsyncThreadExecutor(), DummyRemoteExecutor()):
        async with executor:
            assert executor.clock is LOCAL_CLOCK
            assert executor.to_local(12.5) == 12.5 and executor.to_remote(12.5) == 12.5
            assert executor.clock.uncertainty() == 0.0
            t0, t1, t2, t3 = await executor.get_echo_clock()
            assert t0 <= t1 <= t2 <= t3  # one clock on both sides


async def test_loopback_alignment_over_websocket():
    stats = await measure_alignment("websocket", proxy=False, duration=3.0)
    assert stats["within_uncertainty"] == 1.0, stats
    assert stats["error_max_us"] < 500, stats  # measured: tens of us
    assert abs(stats["drift_error_ppm"]) < 25, stats
    assert stats["steps"] == 0


async def test_loopback_alignment_with_a_process_executor():
    stats = await measure_alignment("process", duration=2.5)
    assert stats["within_uncertainty"] == 1.0, stats
    assert stats["error_max_us"] < 500, stats
    assert stats["steps"] == 0


async def test_alignment_through_the_jittery_proxy():
    stats = await measure_alignment("websocket", proxy=True, duration=6.0)
    # the proxy's 1.2 ms asymmetry puts the probes' offsets ~0.6 ms off: no probe can
    # see it, the uncertainty must cover it
    assert stats["within_uncertainty"] == 1.0, stats
    assert stats["goal_met"], stats
    # 6 s of jittered probes pin the 40 ppm drift to within about +-20 ppm; the bound
    # has room for a loaded machine and still tells the drift from none
    assert abs(stats["drift_error_ppm"]) < 30, stats
    assert stats["steps"] == 0


async def test_remote_device_timestamps_are_on_the_local_clock():
    from time import perf_counter

    skew = Skew(offset=-500.0, drift_ppm=-30.0)
    executor = ProcessExecutor(clock_sync=FAST_SYNC)
    with skewed_environment(skew):
        await executor.start_executor()
    async with executor:
        device = Probe(name=unique_name("clocked"), executor=executor)
        await executor.ensure_remote_instance(device)
        seen = []
        device.fbind("on_data_update",
                     lambda obj, *_: seen.append((obj.timestamp, obj.remote_timestamp)))
        before = perf_counter()
        await device.set_value(3)  # the child calls update(): timestamp = its now()
        after = perf_counter()
        await wait_until(lambda: bool(seen))
        timestamp, remote = seen[-1]
        bound = executor.clock.uncertainty(timestamp)
        assert before - bound <= timestamp <= after + bound
        assert remote == pytest.approx(skew.to_remote(timestamp), abs=bound)
        assert device.value == 3 and device.timestamp == timestamp


async def test_a_server_restart_with_a_stepped_clock_is_detected():
    sync = ClockSync(probes=6, probe_spacing=0.001, interval=0.1, initial_bursts=3,
                     initial_interval=0.05, window=30.0)
    first, second = SKEW, Skew(SKEW.offset + 0.25, SKEW.drift_ppm)
    async with skewed_server(first) as server:
        port = server.port
        async with open_delay_proxy(port, up=PROXY_UP, down=PROXY_DOWN, seed=1) as proxy:
            async with RestExecutor("127.0.0.1", proxy.port, clock_sync=sync) as executor:
                clock = executor.clock
                await trio.sleep(1.5)
                assert abs(first.error(clock)) <= clock.uncertainty()
                await _stop(server)
                async with skewed_server(second, port=port):
                    await wait_until(lambda: bool(clock.steps), timeout=10)
                    assert len(clock.steps) == 1, clock.steps
                    assert clock.steps[0].offset_change == pytest.approx(0.25, abs=0.01)
                    await trio.sleep(0.5)
                    assert abs(second.error(clock)) <= clock.uncertainty()
                    assert clock.model.epoch == 1


async def _stop(server) -> None:
    server.process.terminate()
    with trio.fail_after(10):
        await server.process.wait()
