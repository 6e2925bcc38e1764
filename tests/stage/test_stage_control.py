"""Control of a running tree: stop_stage, stop_trial, pause/resume and the run-state machine."""

import pytest
import trio

from moalab import Delay, InvalidArgument, MemoryLogger, MoaStage, RunState, StageStateError
from moalab.stage.runstate import check_transition


def record(root: MoaStage) -> MemoryLogger:
    logger = MemoryLogger()
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    return logger


def times(logger: MemoryLogger, name: str, trigger: str) -> list[float]:
    return [row.timestamp for row in logger.rows if row.name == name and row.trigger == trigger]


def states_of(stage: MoaStage) -> list[str]:
    states: list[str] = []
    stage.fbind("run_state", lambda obj, value: states.append(str(value)))
    return states


async def test_stop_stage_ends_the_stage_as_stopped(autojump_clock):
    root = MoaStage(name="root")
    a = Delay(name="a", delay=10)
    b = Delay(name="b", delay=10)
    root.add_stage(a)
    root.add_stage(b)
    logger = record(root)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(4)
        root.stop_stage()
    assert trio.current_time() == 4
    assert str(root.run_state) == "stopped"
    assert str(a.run_state) == "stopped"
    assert str(b.run_state) == "idle"
    assert times(logger, "a", "on_stage_end") == [4]
    assert times(logger, "root", "on_stage_end") == [4]


async def test_stop_stage_of_a_child_moves_on_to_the_next(autojump_clock):
    root = MoaStage(name="root")
    a = Delay(name="a", delay=10)
    b = Delay(name="b", delay=1)
    root.add_stage(a)
    root.add_stage(b)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(4)
        a.stop_stage()
    assert trio.current_time() == 5
    assert str(a.run_state) == "stopped"
    assert str(b.run_state) == "done"
    assert str(root.run_state) == "done"


async def test_stop_trial_starts_the_next_trial(autojump_clock):
    stage = Delay(name="d", delay=10, repeat=3)
    logger = record(stage)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run_stage)
        await trio.sleep(2)
        stage.stop_trial()
        await trio.sleep(3)
        stage.stop_trial()
    assert times(logger, "d", "on_trial_start") == [0, 2, 5]
    assert times(logger, "d", "on_trial_end") == [2, 5, 15]
    assert str(stage.run_state) == "done"


def test_stop_and_pause_controls_of_an_idle_stage():
    stage = Delay(name="d", delay=1)
    stage.stop_stage()  # no-ops when not running
    stage.stop_trial()
    with pytest.raises(StageStateError, match="cannot pause stage 'd': it is idle"):
        stage.pause()
    with pytest.raises(StageStateError, match="cannot resume"):
        stage.resume()
    assert str(stage.run_state) == "idle"


async def test_paused_delay_keeps_its_remaining_time(autojump_clock):
    stage = Delay(name="d", delay=10)
    states = states_of(stage)
    logger = record(stage)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run_stage)
        await trio.sleep(3)
        stage.pause()
        assert stage.paused and stage.active
        with pytest.raises(StageStateError, match="it is paused"):
            stage.pause()
        await trio.sleep(100)
        assert stage.active  # paused for far longer than the delay
        stage.resume()
        with pytest.raises(StageStateError, match="it is running"):
            stage.resume()
        await trio.sleep(2.5)
        stage.pause()
        await trio.sleep(50)
        stage.resume()
    # 3 + 2.5 s ran before the pauses; 4.5 s remained after the last resume
    assert trio.current_time() == pytest.approx(3 + 100 + 2.5 + 50 + 4.5, abs=1e-9)
    assert times(logger, "d", "on_trial_end") == [pytest.approx(160, abs=1e-9)]
    assert states == ["running", "paused", "running", "paused", "running", "done"]
    with pytest.raises(StageStateError, match="it is done"):
        stage.pause()


async def test_pause_holds_a_tree_and_its_next_children(autojump_clock):
    root = MoaStage(name="root")
    a = Delay(name="a", delay=2)
    b = Delay(name="b", delay=2)
    root.add_stage(a)
    root.add_stage(b)
    logger = record(root)
    states = states_of(root)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(1)
        root.pause()
        assert [str(s.run_state) for s in root.iterate_stages()] == ["paused", "paused", "idle"]
        await trio.sleep(10)
        assert str(b.run_state) == "idle"  # no new child starts while paused
        root.resume()
        assert [str(s.run_state) for s in root.iterate_stages()] == ["running", "running", "idle"]
    assert times(logger, "a", "on_stage_end") == [12]
    assert times(logger, "b", "on_stage_start") == [12]
    assert trio.current_time() == 14
    assert states == ["running", "paused", "running", "done"]


async def test_paused_stage_does_not_start_its_next_trial(autojump_clock):
    # a stage with no timed work of its own: its trial ends while paused
    root = MoaStage(name="root", repeat=3)
    root.add_stage(Delay(name="a", delay=1))
    logger = record(root)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(0.5)
        root.pause()
        await trio.sleep(20)
        assert len(times(logger, "root", "on_trial_start")) == 1
        root.resume()
    assert times(logger, "root", "on_trial_start") == [0, 21, 22]
    assert trio.current_time() == 23


async def test_pause_of_a_parallel_tree(autojump_clock):
    root = MoaStage(name="root", order="parallel")
    a = Delay(name="a", delay=4)
    b = Delay(name="b", delay=6)
    root.add_stage(a)
    root.add_stage(b)
    logger = record(root)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(1)
        root.pause()
        await trio.sleep(9)
        root.resume()
    assert times(logger, "a", "on_stage_end") == [13]
    assert times(logger, "b", "on_stage_end") == [15]


async def test_pause_of_a_child_only(autojump_clock):
    root = MoaStage(name="root", order="parallel")
    a = Delay(name="a", delay=4)
    b = Delay(name="b", delay=6)
    root.add_stage(a)
    root.add_stage(b)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(1)
        a.pause()
        assert str(root.run_state) == "running" and str(b.run_state) == "running"
        await trio.sleep(10)
        assert str(b.run_state) == "done" and a.active and root.active
        a.resume()
    assert trio.current_time() == 14


async def test_stop_while_paused(autojump_clock):
    root = MoaStage(name="root")
    a = Delay(name="a", delay=4)
    root.add_stage(a)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(1)
        root.pause()
        await trio.sleep(1)
        root.stop_stage()
    assert trio.current_time() == 2
    assert str(root.run_state) == "stopped" and str(a.run_state) == "stopped"
    assert not root.paused and not root.active


async def test_max_duration_ends_a_paused_stage_as_done(autojump_clock):
    stage = Delay(name="d", delay=10, max_duration=5)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run_stage)
        await trio.sleep(1)
        stage.pause()
    assert trio.current_time() == 5
    assert str(stage.run_state) == "done"


async def test_a_paused_stage_runs_again(autojump_clock):
    stage = Delay(name="d", delay=2)
    with trio.move_on_after(1):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage.run_stage)
            await trio.sleep(0.5)
            stage.pause()
    assert str(stage.run_state) == "stopped"
    # the next run starts unpaused
    start = trio.current_time()
    await stage.run_stage()
    assert trio.current_time() - start == 2
    assert str(stage.run_state) == "done"


async def test_custom_action_pauses_at_sleep_and_wait_resumed(autojump_clock):
    class Steps(MoaStage):
        async def do_trial(self):
            self.marks = []
            for _ in range(3):
                await self.sleep(1)
                await self.wait_resumed()
                self.marks.append(trio.current_time())

    stage = Steps(name="steps")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run_stage)
        await trio.sleep(1.5)
        stage.pause()
        await trio.sleep(10)
        stage.resume()
    assert stage.marks == [1, 12, 13]


async def test_running_a_running_stage_raises(autojump_clock):
    root = MoaStage(name="root")
    child = Delay(name="child", delay=5)
    root.add_stage(child)
    async with trio.open_nursery() as nursery:
        await nursery.start(root.run_stage)
        await trio.sleep(1)
        with pytest.raises(StageStateError, match="'root' is already running"):
            await root.run_stage()
        with pytest.raises(StageStateError, match="'child' is already running"):
            await child.run_stage()
    # the failed attempts did not disturb the run
    assert trio.current_time() == 5
    assert str(root.run_state) == "done" and str(child.run_state) == "done"


def test_run_state_machine():
    allowed = {
        ("idle", "running"),
        ("running", "paused"), ("running", "done"), ("running", "stopped"),
        ("running", "failed"),
        ("paused", "running"), ("paused", "done"), ("paused", "stopped"), ("paused", "failed"),
        ("done", "running"), ("stopped", "running"), ("failed", "running"),
    }
    for current in RunState:
        for new in RunState:
            if (str(current), str(new)) in allowed:
                check_transition("s", current, new)
            else:
                with pytest.raises(StageStateError, match=f"stage 's' is {current}"):
                    check_transition("s", current, new)


async def test_repr_html_and_cli_count_trials_alike(autojump_clock):
    from moalab.cli.live import render_tree  # the CLI's live view of the tree
    from moalab.stage.html import stage_tree_html
    from moalab.stage.snapshot import snapshot_tree

    stage = Delay(name="d", delay=1, repeat=2)
    views = lambda: (repr(stage), stage_tree_html(snapshot_tree(stage)),  # noqa: E731
                     str(render_tree(snapshot_tree(stage)).label))
    assert all("0/2" in view for view in views())  # before the first trial
    await stage.run_stage()
    finished = views()
    assert "trial 2/2" in finished[0] and "trial 2/2" in finished[2]
    assert ">2/2</td>" in finished[1]
    stage.repeat = -1
    assert all("/∞" in view for view in views())


async def test_pauses_and_resumes_are_logged_with_who_paused(autojump_clock):
    root = MoaStage(name="root")
    child = Delay(name="d", delay=10)
    root.add_stage(child)
    logger = record(root)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(root.run_stage)
        await trio.sleep(3)
        root.pause(by="user")
        assert root.paused_by == "user" and child.paused_by == ""  # who paused the tree
        await trio.sleep(5)
        root.resume()
        await trio.sleep(1)
        root.pause()  # from the experiment's own code
        await trio.sleep(1)
        root.stop_stage()  # stopped while paused: paused no more
    pauses = [(r.timestamp, r.name, r.item, r.value) for r in logger.rows
              if r.trigger == "paused_by"]
    assert pauses == [(3, "root", "paused_by", "user"), (8, "root", "paused_by", ""),
                      (9, "root", "paused_by", "code"), (10, "root", "paused_by", "")]
    with pytest.raises(InvalidArgument, match="by=''"):
        Delay(name="x").pause(by="")
