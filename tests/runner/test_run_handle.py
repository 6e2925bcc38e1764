"""RunHandle, start() and run(): in a plain script (worker thread), on an asyncio loop (guest)."""

import asyncio
import gc
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest
import trio
import trio.testing

from moalab import (
    Delay,
    Device,
    InvalidArgument,
    MemoryLogger,
    MoaStage,
    SimpleCSVLogger,
    StageStateError,
    ThreadExecutor,
    apply_executor,
)
from moalab.runner import RunHandle, run, start


class PumpedDevice(Device):
    """A device whose pump updates it every 10 ms and counts its starts and stops."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pump_starts = 0
        self.pump_stops = 0
        self.pump_threads = set()

    async def pump_state(self):
        self.pump_starts += 1
        self.pump_threads.add(threading.current_thread().name)
        try:
            while True:
                await trio.sleep(0.01)
                self.update()
        finally:
            self.pump_stops += 1


class RecordingExecutor:
    """An async context manager standing in for an executor: records enter and exit."""

    def __init__(self):
        self.entered = self.exited = 0
        self.threads = set()

    async def __aenter__(self):
        self.entered += 1
        self.threads.add(threading.current_thread().name)
        return self

    async def __aexit__(self, *exc):
        self.exited += 1


class Failing(MoaStage):
    async def do_trial(self):
        await trio.sleep(0.05)
        raise ValueError("pellet jammed")


def make_tree(first=0.1, trial_delay=0.05, repeat=2, last=None):
    root = MoaStage(name="root")
    trial = MoaStage(name="trial", repeat=repeat)
    root.add_stage(Delay(name="first", delay=first))
    root.add_stage(trial)
    trial.add_stage(Delay(name="iti", delay=trial_delay))
    if last is not None:
        root.add_stage(Delay(name="last", delay=last))
    return root


def record_threads(root):
    threads = set()
    for stage in root.iterate_stages():
        stage.fbind("on_stage_start", lambda *args: threads.add(threading.current_thread().name))
    return threads


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


async def async_wait_until(condition, timeout=5.0, interval=0.005):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)


# ------------------------------------------------------------ plain script (worker thread)


def test_start_in_script_runs_in_a_worker_thread_with_pumps_executors_and_log():
    root = make_tree()
    device, executor = PumpedDevice(name="dev"), RecordingExecutor()
    threads = record_threads(root)

    handle = start(root, devices=[device], executors=[executor])
    assert isinstance(handle, RunHandle)
    assert handle.status == "running"
    assert handle.wait(timeout=10) is handle

    assert handle.status == "done" and handle.error is None and handle.finished
    assert root.run_state == "done"
    assert handle.current_path == ()
    assert threads == {"moalab run root"}
    assert device.pump_threads == {"moalab run root"}
    assert (device.pump_starts, device.pump_stops) == (1, 1)
    assert (executor.entered, executor.exited) == (1, 1)

    log = handle.log
    assert list(log.columns) == ["index", "timestamp", "name", "trigger", "item", "value"]
    assert {"root", "first", "trial", "iti", "dev"} <= set(log.name)
    assert ((log.name == "trial") & (log.trigger == "on_trial_start")).sum() == 2
    assert log.timestamp.is_monotonic_increasing
    # the handle's logger is detached once the run ends
    rows = len(log)
    root.dispatch("on_stage_start")
    assert len(handle.log) == rows


def test_current_path_names_the_deepest_active_stage():
    root = make_tree(first=5)
    handle = start(root)
    try:
        wait_until(lambda: handle.current_path == ("root/first",))
    finally:
        handle.stop()
        handle.wait(timeout=5)


def test_pause_holds_the_tree_and_resume_continues_it():
    root = make_tree(first=0.8, repeat=1)
    handle = start(root)
    wait_until(lambda: handle.current_path == ("root/first",))
    handle.pause()  # carried into the run's thread and done before it returns
    assert handle.status == "paused"
    assert root.run_state == "paused"
    time.sleep(0.9)  # longer than the delay: without the pause it would have ended
    assert not handle.finished
    assert handle.current_path == ("root/first",)
    with pytest.raises(StageStateError, match="paused"):
        handle.pause()
    handle.resume()
    assert handle.status == "running"
    handle.wait(timeout=10)
    assert handle.status == "done"
    assert handle.elapsed >= 1.7
    # the log has the pause, by the user, and the resume
    log = handle.log
    assert list(log[log.trigger == "paused_by"].value) == ["user", ""]


def test_stop_ends_the_run_as_stopped_and_stops_pumps_and_executors():
    root = make_tree(first=30)
    device, executor = PumpedDevice(name="dev"), RecordingExecutor()
    handle = start(root, devices=[device], executors=[executor])
    wait_until(lambda: root.active)
    handle.stop()
    handle.wait(timeout=5)
    assert handle.status == "stopped" and handle.error is None
    assert root.run_state == "stopped"
    assert (device.pump_starts, device.pump_stops) == (1, 1)
    assert (executor.entered, executor.exited) == (1, 1)
    assert handle.elapsed < 5
    handle.stop()  # no-op once ended
    with pytest.raises(StageStateError, match="stopped"):
        handle.pause()
    with pytest.raises(StageStateError, match="stopped"):
        handle.resume()


def test_stop_from_inside_the_run():
    root = make_tree(first=0.05, repeat=1, last=30)
    holder = []
    root.stages[-1].fbind("on_stage_start", lambda *args: holder[0].stop())
    holder.append(start(root))
    holder[0].wait(timeout=5)
    assert holder[0].status == "stopped"


def test_a_failing_stage_fails_the_run_with_its_error():
    root = MoaStage(name="root")
    root.add_stage(Failing(name="pellet"))
    device, executor = PumpedDevice(name="dev"), RecordingExecutor()
    handle = start(root, devices=[device], executors=[executor])
    handle.wait(timeout=5)
    assert handle.status == "failed"
    assert isinstance(handle.error, ValueError) and "jammed" in str(handle.error)
    assert root.run_state == "failed"
    assert (device.pump_stops, executor.exited) == (1, 1)


def test_a_second_start_on_a_running_tree_raises():
    root = make_tree(first=30)
    handle = start(root)
    try:
        with pytest.raises(StageStateError, match="'root'.*already running"):
            start(root)
        with pytest.raises(StageStateError, match="already running"):
            run(root)
        # a subtree of a running tree is running too
        with pytest.raises(StageStateError, match="already running"):
            start(root.stages[1])
    finally:
        handle.stop()
        handle.wait(timeout=5)
    # once it ended, the tree can run again
    again = start(root)
    again.stop()
    assert again.wait(timeout=5).status == "stopped"


def test_start_refuses_what_is_not_a_stage():
    with pytest.raises(InvalidArgument, match="root MoaStage"):
        start("root")


def test_wait_with_a_timeout_raises_timeout_error():
    handle = start(make_tree(first=30))
    try:
        with pytest.raises(TimeoutError, match="still running"):
            handle.wait(timeout=0.05)
    finally:
        handle.stop()
        handle.wait(timeout=5)


def test_run_blocks_in_the_calling_thread_and_returns_the_finished_handle():
    root = make_tree()
    threads = record_threads(root)
    handle = run(root)
    assert handle.status == "done" and handle.finished
    assert threads == {threading.current_thread().name}
    assert ((handle.log.name == "iti") & (handle.log.trigger == "on_stage_end")).sum() == 2


def test_run_returns_a_failed_handle_without_raising():
    root = MoaStage(name="root")
    root.add_stage(Failing(name="pellet"))
    handle = run(root)
    assert handle.status == "failed" and isinstance(handle.error, ValueError)


class Interrupting(MoaStage):
    async def do_trial(self):
        await trio.sleep(0.05)
        signal.raise_signal(signal.SIGINT)
        await trio.sleep(30)


def test_ctrl_c_during_run_stops_the_tree_cleanly_and_is_re_raised():
    root = MoaStage(name="root")
    root.add_stage(Interrupting(name="ctrl-c"))
    device = PumpedDevice(name="dev")
    with pytest.raises(KeyboardInterrupt):
        run(root, devices=[device])
    assert (device.pump_starts, device.pump_stops) == (1, 1)
    assert not root.active
    # the tree is free to run again
    assert run(make_tree()).status == "done"


def test_ctrl_c_while_waiting_in_a_script_stops_the_run_and_is_re_raised():
    device = PumpedDevice(name="dev")
    handle = start(make_tree(first=30), devices=[device])
    timer = threading.Timer(0.1, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        handle.wait(timeout=10)
    timer.join()
    assert handle.status == "stopped"
    assert (device.pump_starts, device.pump_stops) == (1, 1)


def test_run_on_a_virtual_clock_passes_long_delays_at_once():
    root = make_tree(first=100, trial_delay=50)
    t0 = time.monotonic()
    handle = run(root, clock=trio.testing.MockClock(autojump_threshold=0))
    assert handle.status == "done"
    assert time.monotonic() - t0 < 5
    ends = handle.log[(handle.log.name == "root") & (handle.log.trigger == "on_stage_end")]
    starts = handle.log[(handle.log.name == "root") & (handle.log.trigger == "on_stage_start")]
    assert ends.timestamp.iloc[0] - starts.timestamp.iloc[0] == pytest.approx(200)
    # virtual seconds from 0, started at a wall-clock time
    assert handle.log.attrs["clock"] == "virtual" and handle.log.attrs["start_time"] == 0
    assert handle.origin.started_at.isoformat() == handle.log.attrs["started_at"]


def test_the_log_and_the_loggers_say_when_the_run_started(tmp_path):
    before = datetime.now().astimezone()
    csv_log = SimpleCSVLogger(tmp_path / "run.csv")
    handle = run(make_tree(first=0.01, trial_delay=0.01), loggers=[csv_log])
    origin = handle.origin
    assert origin.clock == "real" and 0 <= (origin.started_at - before).total_seconds() < 5
    assert origin.started_at.utcoffset() is not None
    # one origin for the handle, its records and the loggers given
    assert handle.records[0].origin == csv_log.origin == origin
    frame = handle.log
    assert frame.attrs == {"started_at": origin.started_at.isoformat(),
                           "start_time": origin.start_time, "clock": "real"}
    # the first row came just after the origin, on the same (real) clock
    assert 0 <= frame.timestamp.iloc[0] - origin.start_time < 1
    assert f"# start_time: {origin.start_time}" in (tmp_path / "run.csv").read_text()


def test_extra_loggers_get_every_stage_and_device_for_the_run_only():
    root = make_tree()
    device = PumpedDevice(name="dev")
    mine = MemoryLogger()
    handle = start(root, devices=[device], loggers=[mine], log=False)
    handle.wait(timeout=10)
    assert {"root", "first", "trial", "iti", "dev"} <= {row.name for row in mine.rows}
    assert mine.logged_instances == {}
    assert handle.memory is None
    with pytest.raises(InvalidArgument, match="log=False"):
        handle.log
    with pytest.raises(InvalidArgument, match="log=False"):
        handle.records


def test_pandas_is_imported_only_when_the_log_is_read():
    code = (
        "import sys\n"
        "from moalab import MoaStage\n"
        "from moalab.runner import run\n"
        "assert 'pandas' not in sys.modules\n"
        "h = run(MoaStage(name='x'))\n"
        "assert 'pandas' not in sys.modules\n"
        "h.log\n"
        "assert 'pandas' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ------------------------------------------------------------------ asyncio loop (guest)


def test_on_an_asyncio_loop_the_tree_runs_on_the_loop_thread():
    root = make_tree()
    device, executor = PumpedDevice(name="dev"), RecordingExecutor()
    threads = record_threads(root)

    async def main():
        handle = start(root, devices=[device], executors=[executor])
        assert handle.status == "running"
        # start returned before anything ran: the loop runs the tree once we yield
        assert not root.active and not threads
        assert await handle.wait() is handle
        return handle

    handle = asyncio.run(main())
    assert handle.status == "done"
    me = threading.current_thread().name
    assert threads == {me} and device.pump_threads == {me} and executor.threads == {me}
    assert (device.pump_stops, executor.exited) == (1, 1)
    assert {"root", "first", "trial", "iti", "dev"} <= set(handle.log.name)
    assert not trio.lowlevel.in_trio_run()  # the guest run ended with the experiment


def test_on_an_asyncio_loop_pause_resume_and_a_pause_before_the_root_starts():
    root = make_tree(first=0.3, repeat=1)

    async def main():
        handle = start(root)
        handle.pause()  # the root has not started yet: it starts paused
        assert handle.status == "paused"
        await async_wait_until(lambda: root.run_state == "paused")
        await asyncio.sleep(0.4)
        # held before its first child started
        assert not handle.finished and handle.current_path == ("root",)
        assert root.stages[0].run_state == "idle"
        handle.resume()
        assert handle.status == "running" and root.run_state == "running"
        await async_wait_until(lambda: handle.current_path == ("root/trial/iti",))
        handle.pause()
        assert root.run_state == "paused"
        handle.resume()
        await handle.wait(timeout=10)
        return handle

    handle = asyncio.run(main())
    assert handle.status == "done"
    assert handle.elapsed >= 0.7


def test_on_an_asyncio_loop_controls_from_another_thread_are_carried_to_the_loop():
    root = make_tree(first=1.0, repeat=1)

    async def main():
        handle = start(root)
        await async_wait_until(lambda: root.active)
        await asyncio.to_thread(handle.pause)
        assert handle.status == "paused" and root.run_state == "paused"
        await asyncio.sleep(0.2)
        assert not handle.finished and root.run_state == "paused"
        await asyncio.to_thread(handle.resume)
        await asyncio.to_thread(handle.stop)
        await handle.wait(timeout=5)
        with pytest.raises(StageStateError, match="stopped"):
            await asyncio.to_thread(handle.pause)
        return handle

    assert asyncio.run(main()).status == "stopped"


def test_on_an_asyncio_loop_stop_and_failure():
    async def main():
        stopped = start(make_tree(first=30))
        failing_root = MoaStage(name="failing")
        failing_root.add_stage(Failing(name="pellet"))
        failed = start(failing_root)
        await async_wait_until(lambda: stopped.current_path == ("root/first",))
        stopped.stop()
        await stopped.wait(timeout=5)
        await failed.wait(timeout=5)
        return stopped, failed

    stopped, failed = asyncio.run(main())
    assert stopped.status == "stopped" and stopped.error is None
    assert failed.status == "failed" and isinstance(failed.error, ValueError)


def test_on_an_asyncio_loop_trees_run_together_and_one_after_another():
    first, second = make_tree(first=0.2), make_tree(first=0.1)

    async def main():
        a = start(first)
        b = start(second)  # a second tree joins the running guest run
        with pytest.raises(StageStateError, match="already running"):
            start(first)
        await a.wait(timeout=10)
        await b.wait(timeout=10)
        # the wait for the last experiment of a guest run ends with the run
        assert not trio.lowlevel.in_trio_run()
        c = start(first)
        # start another the moment c has ended, while its guest run is still closing
        await async_wait_until(lambda: c.finished, interval=0)
        d = start(second)
        await c.wait(timeout=10)
        await d.wait(timeout=10)
        assert not trio.lowlevel.in_trio_run()
        return a, b, c, d

    assert [h.status for h in asyncio.run(main())] == ["done"] * 4


def test_on_an_asyncio_loop_another_clock_is_refused_while_a_run_is_on():
    async def main():
        handle = start(make_tree(first=30))
        try:
            with pytest.raises(InvalidArgument, match="clock"):
                start(make_tree(), clock=trio.testing.MockClock())
        finally:
            handle.stop()
            await handle.wait(timeout=5)

    asyncio.run(main())


def test_blocking_wait_on_the_loop_thread_raises_instead_of_freezing():
    loop = asyncio.new_event_loop()
    try:

        async def begin():
            return start(make_tree(first=0.1))

        handle = loop.run_until_complete(begin())
        # the loop is not running now, but this thread is the one that must run it
        with pytest.raises(StageStateError, match="await handle.wait()"):
            handle.wait()

        async def finish():
            return await handle.wait(timeout=10)

        assert loop.run_until_complete(finish()).status == "done"
    finally:
        loop.close()


def test_wait_on_the_loop_thread_returns_an_awaitable_that_warns_if_dropped():
    async def main():
        handle = start(make_tree(first=0.1))
        waiter = handle.wait()
        assert "await handle.wait()" in repr(waiter)
        with pytest.warns(RuntimeWarning, match="not awaited"):
            del waiter
            gc.collect()
        with pytest.raises(TimeoutError, match="still running"):
            await handle.wait(timeout=0.01)
        await handle.wait(timeout=10)
        return handle

    assert asyncio.run(main()).status == "done"


class ThreadedMotor(Device):
    """The README's ThreadExecutor device: the worker thread timestamps its writes."""

    def executor_callback(self, return_value):
        self.state, self.timestamp, self.thread = return_value
        self.dispatch("on_data_update", self)

    @apply_executor(callback=executor_callback)
    def write_state(self, state):
        return state, self.now(), threading.current_thread().name


class Release(MoaStage):
    async def do_trial(self):
        await self.motor.write_state(True)


def test_a_thread_executor_method_timestamps_on_the_dry_run_clock():
    executor = ThreadExecutor(name="motor thread")
    motor = ThreadedMotor(name="motor", executor=executor)
    root = MoaStage(name="root")
    root.add_stage(Delay(name="wait", delay=1000))
    root.add_stage(Release(name="release", motor=motor))
    handle = run(root, devices=[motor], executors=[executor],
                 clock=trio.testing.MockClock(autojump_threshold=0))
    assert handle.status == "done", handle.error
    assert motor.thread == "motor thread"
    # stamped in the worker thread on the virtual clock: the log has one time axis
    assert motor.timestamp == 1000.0
    log = handle.log
    assert list(log[(log.name == "motor") & (log.item == "timestamp")].value) == [1000.0]
    # after the run the device reads real time again
    assert motor.now() == pytest.approx(time.perf_counter(), abs=1)
