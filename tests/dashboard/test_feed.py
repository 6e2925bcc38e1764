"""RunFeed and Dashboard: what a page shows of a run, kept from its records, bounded."""

import sys
from collections import deque
from datetime import UTC, datetime

import numpy as np
import pytest
import trio
import trio.testing
from kivy.properties import NumericProperty

import moalab
from moalab import MoaStage, VirtualADCPort
from moalab.core.errors import InvalidArgument
from moalab.core.records import DeviceUpdate, RunStart, StageInfo, TrialEnd
from moalab.dashboard import Dashboard, RunFeed
from moalab.log.sink import RecordSink
from moalab.dashboard.feed import BINS, MAX_TRACES, TAIL_ROWS, AnalogTrace
from tests.runner.test_records import Pulser, Rewarding


def _start(**kwargs) -> RunStart:
    stages = (StageInfo("root", "root", "MoaStage", 1, False),
              StageInfo("root/trial", "trial", "MoaStage", -1, False))
    return RunStart(run_id="r1", seq=0, time=0.0, root="root", clock="virtual",
                    started_at=datetime.now(UTC), stages=stages, **kwargs)


def test_a_run_s_tree_devices_tail_and_plot_are_kept_from_its_records():
    root = MoaStage(name="root", repeat=2)
    root.add_stage(Rewarding(name="reward"))
    adc = VirtualADCPort(name="adc", num_channels=2, frequency=400, block_size=40, seed=1)
    feed = RunFeed("demo")
    handle = moalab.run(root, devices=[Pulser(name="pulser"), adc], loggers=[feed], log=False,
                        clock=trio.testing.MockClock(autojump_threshold=0))
    assert handle.status == "done"
    assert feed.status == "done" and feed.run_id == handle.run_id
    assert feed.snapshot().count == 1 and feed.elapsed == pytest.approx(0.5, abs=0.11)
    devices = feed.devices()
    assert devices["pulser"]["value"] == "5" or devices["pulser"]["value"].isdigit()
    assert devices["adc"]["data"] == "2 arrays"
    plot = feed.plot()
    assert set(plot["analog"]) == {"adc.data[0]", "adc.data[1]", "adc.raw_data[0]",
                                   "adc.raw_data[1]", "pulser.trace[0]"}
    trace = plot["analog"]["adc.data[0]"]
    assert len(trace["t"]) == len(trace["min"]) == len(trace["max"]) > 0
    assert all(lo <= hi for lo, hi in zip(trace["min"], trace["max"]))
    rows = feed.tail()
    assert 0 < len(rows) <= TAIL_ROWS and any(r[3] == "reward" for r in rows)
    assert feed.stamp() is not None and feed.stamp().device in ("pulser", "adc")
    assert feed.summary()["status"] == "done"


def test_a_trace_keeps_the_min_and_max_of_each_bin():
    trace = AnalogTrace(window=1.0, bins=10)  # bins of 0.1 s
    trace.add(np.array([1.0, 5.0, -2.0, 3.0]), 0.2)  # spread over (0.1, 0.2]
    trace.add(np.array([7.0, 0.0]), 0.4)  # at 0.3 and 0.4
    points = trace.points()
    assert points["t"] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert points["min"][0] <= -2.0 and points["max"][0] == 5.0
    assert (points["min"][2], points["max"][2]) == (7.0, 7.0)
    for i in range(100):
        trace.add(np.array([float(i)]), 0.5 + i * 0.1)
    assert len(trace) == 10


def test_trial_outcomes_and_rewards_are_counted_per_minute():
    feed = RunFeed("t")
    feed.consume(_start())
    for i, t in enumerate([10.0, 20.0, 70.0]):
        feed.consume(TrialEnd(run_id="r1", seq=i + 1, time=t, path="root/trial", name="trial",
                              count=i, values={"reward": i != 1}, outcome="done"))
    assert feed.plot()["outcomes"] == {"t": [0.0, 60.0], "trials": [2, 1], "rewards": [1.0, 1.0]}


def test_traces_are_bounded_in_number():
    feed = RunFeed("t")
    feed.consume(_start())
    block = [np.zeros(5)] * (MAX_TRACES + 4)
    feed.consume(DeviceUpdate(run_id="r1", seq=1, time=0.1, device="adc", values={"data": block}))
    assert len(feed.plot()["analog"]) == MAX_TRACES


class _Trial(MoaStage):
    """A trial every 5 s, rewarded every other one."""

    reward = NumericProperty(0)
    _logged_names_ = ("count", "reward")

    async def do_trial(self):
        self.reward = self.count % 2
        await self.sleep(5.0)


def _deep_size(obj, seen=None) -> int:
    """Bytes held by ``obj`` and what it refers to (containers, plain objects, arrays)."""
    seen = set() if seen is None else seen
    if id(obj) in seen or isinstance(obj, type):
        return 0
    seen.add(id(obj))
    size = obj.nbytes if isinstance(obj, np.ndarray) else sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep_size(k, seen) + _deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | deque):
        size += sum(_deep_size(item, seen) for item in obj)
    elif hasattr(obj, "__dict__"):
        size += _deep_size(vars(obj), seen)
    return size


def _feed_size(feed: RunFeed) -> int:
    # what the feed keeps itself; its run, tree tracker and trio token are not its memory
    state = {k: v for k, v in vars(feed).items()
             if k not in ("run", "tracker", "trio_token", "_on_change", "_lock")}
    return _deep_size(state)


def test_a_ten_minute_1khz_run_keeps_bounded_points_and_memory():
    root = MoaStage(name="root")
    root.add_stage(_Trial(name="trial", repeat=120))
    adc = VirtualADCPort(name="adc", num_channels=2, frequency=1000, block_size=100, seed=2)
    feed = RunFeed("long")
    sizes: list[tuple[float, int, int]] = []  # (time, feed's bytes, analog points)

    class Measure(RecordSink):  # after the feed, in the same thread: its state every 30 s
        runs_in_thread = False

        def consume(self, record) -> None:
            if feed.tracker is not None and (not sizes or record.time >= sizes[-1][0] + 30):
                points = sum(len(t["t"]) for t in feed.plot()["analog"].values())
                sizes.append((record.time, _feed_size(feed), points))

    handle = moalab.run(root, devices=[adc], loggers=[feed, Measure()], log=False,
                        clock=trio.testing.MockClock(autojump_threshold=0))
    assert handle.status == "done" and feed.elapsed >= 600
    traces = feed.plot()["analog"]
    assert len(traces) == 4 and all(len(t["t"]) == BINS for t in traces.values())
    later = [s for s in sizes if s[0] >= 120]
    assert len(later) >= 15 and {s[2] for s in later} == {4 * BINS}
    # after two minutes (the window long full) the feed's memory stays flat to the end
    first, most = later[0][1], max(s[1] for s in later)
    assert most < first * 1.05, f"the feed grew from {first} to {most} bytes"
    assert first < 2_000_000
    outcomes = feed.plot()["outcomes"]
    assert sum(outcomes["trials"]) == 120 and sum(outcomes["rewards"]) == 60
    assert len(feed.tail()) == TAIL_ROWS


async def test_changes_wake_a_waiting_page_once_per_burst():
    dashboard = Dashboard(token="t0")
    dashboard.bind()
    feed = dashboard.watch("a")
    seen = dashboard.version
    for _ in range(100):
        feed.consume(_start())
    with trio.fail_after(5):
        version = await dashboard.wait_change(seen)
    assert version == seen + 1  # 100 changes, one wake-up
    assert dashboard.feed(None) is feed and dashboard.feed("r1") is feed
    with pytest.raises(InvalidArgument, match="no run 'nope' on this dashboard: the runs are 'r1'"):
        dashboard.feed("nope")
