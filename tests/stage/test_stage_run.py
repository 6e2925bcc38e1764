"""MoaStage runs in virtual time: order, repeat, count, complete_on, disabled, durations."""

import pytest
import trio

from moalab import Delay, InvalidArgument, MemoryLogger, MoaStage


def record(root: MoaStage) -> MemoryLogger:
    logger = MemoryLogger()
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    return logger


def events(logger: MemoryLogger) -> list[tuple[str, str]]:
    return [(row.name, row.trigger) for row in logger.rows]


def times(logger: MemoryLogger, name: str, trigger: str) -> list[float]:
    return [row.timestamp for row in logger.rows if row.name == name and row.trigger == trigger]


def tree(order: str = "serial", **kwargs) -> tuple[MoaStage, Delay, Delay]:
    root = MoaStage(name="root", order=order, **kwargs)
    a = Delay(name="a", delay=1)
    b = Delay(name="b", delay=2)
    root.add_stage(a)
    root.add_stage(b)
    return root, a, b


class Action(MoaStage):
    """A stage with its own action: sleeps ``duration`` each trial and notes the call."""

    duration = 0.0

    async def do_trial(self):
        self.calls = getattr(self, "calls", 0) + 1
        await trio.sleep(self.duration)


async def test_serial_children_run_one_after_another(autojump_clock):
    root, a, b = tree("serial")
    logger = record(root)
    await root.run_stage()
    assert events(logger) == [
        ("root", "on_stage_start"), ("root", "on_trial_start"),
        ("a", "on_stage_start"), ("a", "on_trial_start"),
        ("a", "on_trial_end"), ("a", "on_stage_end"),
        ("b", "on_stage_start"), ("b", "on_trial_start"),
        ("b", "on_trial_end"), ("b", "on_stage_end"),
        ("root", "on_trial_end"), ("root", "on_stage_end"),
    ]
    assert times(logger, "b", "on_stage_start") == [1]
    assert times(logger, "root", "on_stage_end") == [3]


async def test_parallel_children_run_together(autojump_clock):
    root, a, b = tree("parallel")
    logger = record(root)
    await root.run_stage()
    assert events(logger) == [
        ("root", "on_stage_start"), ("root", "on_trial_start"),
        ("a", "on_stage_start"), ("a", "on_trial_start"),
        ("b", "on_stage_start"), ("b", "on_trial_start"),
        ("a", "on_trial_end"), ("a", "on_stage_end"),
        ("b", "on_trial_end"), ("b", "on_stage_end"),
        ("root", "on_trial_end"), ("root", "on_stage_end"),
    ]
    assert times(logger, "a", "on_stage_end") == [1]
    assert times(logger, "root", "on_stage_end") == [2]


async def test_repeat_runs_trials_and_count_follows(autojump_clock):
    root, a, b = tree("serial", repeat=3)
    counts = []
    root.fbind("on_trial_start", lambda stage, i: counts.append((i, stage.count)))
    logger = record(root)
    assert root.count == -1
    await root.run_stage()
    assert counts == [(0, 0), (1, 1), (2, 2)]
    assert root.count == 2
    assert times(logger, "root", "on_trial_end") == [3, 6, 9]
    assert times(logger, "a", "on_stage_start") == [0, 3, 6]
    # the logged count: -1 at the start, the trial index in trials, the last at the end
    assert [r.value for r in logger.rows if r.name == "root"] == [-1, 0, 0, 1, 1, 2, 2, 2]
    # children run their one trial per parent trial
    assert a.count == 0 and b.count == 0


async def test_count_resets_on_a_new_run(autojump_clock):
    stage = Delay(name="d", delay=1, repeat=2)
    await stage.run_stage()
    assert stage.count == 1
    seen = []
    stage.fbind("on_stage_start", lambda s: seen.append(s.count))
    await stage.run_stage()
    assert seen == [-1]
    assert stage.count == 1


async def test_repeat_forever_until_stopped(autojump_clock):
    stage = Delay(name="d", delay=1, repeat=-1)
    logger = record(stage)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stage.run_stage)
        await trio.sleep(4.5)
        assert stage.active
        stage.stop_stage()
    assert not stage.active
    assert str(stage.run_state) == "stopped"
    assert times(logger, "d", "on_trial_start") == [0, 1, 2, 3, 4]
    assert times(logger, "d", "on_trial_end") == [1, 2, 3, 4, 4.5]
    assert stage.count == 4


async def test_zero_repeat_runs_no_trial(autojump_clock):
    root, a, b = tree(repeat=0)
    logger = record(root)
    await root.run_stage()
    assert events(logger) == [("root", "on_stage_start"), ("root", "on_stage_end")]
    assert root.count == -1


async def test_complete_on_all_waits_for_every_child(autojump_clock):
    root, a, b = tree("parallel", complete_on="all")
    await root.run_stage()
    assert trio.current_time() == 2
    assert str(a.run_state) == "done" and str(b.run_state) == "done"


async def test_complete_on_any_ends_at_the_first_and_stops_the_rest(autojump_clock):
    root, a, b = tree("parallel", complete_on="any")
    logger = record(root)
    await root.run_stage()
    assert trio.current_time() == 1
    assert str(a.run_state) == "done"
    assert str(b.run_state) == "stopped"
    assert not b.active
    assert times(logger, "b", "on_stage_end") == [1]
    assert events(logger)[-2:] == [("root", "on_trial_end"), ("root", "on_stage_end")]


async def test_complete_on_a_list_of_children(autojump_clock):
    root, a, b = tree("parallel")
    c = Delay(name="c", delay=5)
    root.add_stage(c)
    root.complete_on = [a, b]
    await root.run_stage()
    assert trio.current_time() == 2
    assert str(c.run_state) == "stopped"


async def test_complete_on_whom_with_all_and_any(autojump_clock):
    root, a, b = tree("parallel")
    c = Delay(name="c", delay=5)
    root.add_stage(c)
    root.complete_on_whom = [b, c]
    await root.run_stage()
    assert trio.current_time() == 5

    root.complete_on = "any"
    start = trio.current_time()
    await root.run_stage()
    assert trio.current_time() - start == 2
    assert str(a.run_state) == "done"
    assert str(c.run_state) == "stopped"


async def test_complete_on_any_in_serial_order_skips_the_rest(autojump_clock):
    root, a, b = tree("serial", complete_on="any")
    logger = record(root)
    await root.run_stage()
    assert trio.current_time() == 1
    assert "b" not in {name for name, _ in events(logger)}
    assert str(b.run_state) == "idle"


async def test_complete_on_own_action(autojump_clock):
    root = Action(name="root", order="parallel")
    root.duration = 3
    long = Delay(name="long", delay=10)
    root.add_stage(long)

    # by default the action counts as well as the children
    await root.run_stage()
    assert trio.current_time() == 10

    root.complete_on = [root]
    start = trio.current_time()
    await root.run_stage()
    assert trio.current_time() - start == 3
    assert str(long.run_state) == "stopped"
    assert root.calls == 2


async def test_action_runs_beside_serial_children(autojump_clock):
    root = Action(name="root")
    root.duration = 2.5
    root.add_stage(Delay(name="a", delay=1))
    root.add_stage(Delay(name="b", delay=1))
    logger = record(root)
    await root.run_stage()
    # the children (2 s) and the action (2.5 s) overlap; the trial waits for both
    assert times(logger, "b", "on_stage_end") == [2]
    assert times(logger, "root", "on_stage_end") == [2.5]


async def test_container_without_children_ends_at_once(autojump_clock):
    root = MoaStage(name="empty", repeat=3)
    logger = record(root)
    await root.run_stage()
    assert trio.current_time() == 0
    assert [t for _, t in events(logger)].count("on_trial_end") == 3


def test_complete_on_rejects_other_values():
    with pytest.raises(InvalidArgument, match="complete_on"):
        MoaStage(name="x", complete_on="most")


async def test_complete_on_a_non_child_is_rejected_at_run(autojump_clock):
    root, a, b = tree()
    stranger = Delay(name="stranger", delay=1)
    root.complete_on = [a, stranger]
    with pytest.raises(InvalidArgument, match="stranger"):
        await root.run_stage()
    assert not root.active
    assert str(root.run_state) == "failed"

    root.complete_on = "sometimes"
    with pytest.raises(InvalidArgument, match="sometimes"):
        await root.run_stage()


async def test_disabled_child_is_skipped(autojump_clock):
    root, a, b = tree("serial")
    a.disabled = True
    logger = record(root)
    await root.run_stage()
    assert trio.current_time() == 2
    assert "a" not in {name for name, _ in events(logger)}
    assert str(a.run_state) == "idle"
    assert str(b.run_state) == "done"


async def test_disabled_child_is_not_waited_for_in_parallel(autojump_clock):
    root, a, b = tree("parallel")
    b.disabled = True
    await root.run_stage()
    assert trio.current_time() == 1
    assert str(b.run_state) == "idle"

    # also when it is named in complete_on
    root.complete_on = [b]
    start = trio.current_time()
    await root.run_stage()
    assert trio.current_time() == start


async def test_disabled_root_does_nothing(autojump_clock):
    root, a, b = tree()
    root.disabled = True
    logger = record(root)
    await root.run_stage()
    assert logger.rows == []
    assert trio.current_time() == 0
    assert str(root.run_state) == "idle"


async def test_max_duration_ends_the_stage_as_done(autojump_clock):
    root, a, b = tree("serial", repeat=-1, max_duration=7.5)
    logger = record(root)
    await root.run_stage()
    assert trio.current_time() == 7.5
    assert str(root.run_state) == "done"
    assert str(b.run_state) == "stopped"
    assert times(logger, "root", "on_trial_end") == [3, 6, 7.5]
    assert times(logger, "root", "on_stage_end") == [7.5]
    assert not any(stage.active for stage in root.iterate_stages())


async def test_max_trial_duration_ends_each_trial(autojump_clock):
    stage = Delay(name="d", delay=10, repeat=3, max_trial_duration=2)
    logger = record(stage)
    await stage.run_stage()
    assert times(logger, "d", "on_trial_end") == [2, 4, 6]
    assert str(stage.run_state) == "done"


async def test_max_trial_duration_of_a_parent_stops_its_children(autojump_clock):
    root, a, b = tree("serial", repeat=2, max_trial_duration=1.5)
    logger = record(root)
    await root.run_stage()
    assert times(logger, "root", "on_trial_end") == [1.5, 3]
    assert times(logger, "b", "on_stage_end") == [1.5, 3]
    assert str(b.run_state) == "stopped"
    assert str(root.run_state) == "done"


async def test_hooks_run_in_order_around_events(autojump_clock):
    calls = []

    class Hooked(MoaStage):
        async def init_stage(self):
            calls.append("init_stage")

        def init_trial(self, i):  # a plain function is accepted too
            calls.append(f"init_trial {i}")

        async def do_trial(self):
            calls.append("do_trial")
            await trio.sleep(1)

        async def trial_done(self):
            calls.append("trial_done")

        def stage_done(self):
            calls.append("stage_done")

    stage = Hooked(name="h", repeat=2)
    for event in MoaStage.__events__:
        stage.fbind(event, lambda *args, event=event: calls.append(event))
    await stage.run_stage()
    assert calls == [
        "on_stage_start", "init_stage",
        "init_trial 0", "on_trial_start", "do_trial", "trial_done", "on_trial_end",
        "init_trial 1", "on_trial_start", "do_trial", "trial_done", "on_trial_end",
        "stage_done", "on_stage_end",
    ]


async def test_extra_keyword_arguments_become_attributes(autojump_clock):
    class Pellet(MoaStage):
        async def do_trial(self):
            self.seen = (self.motor_device, self.delay)
            await trio.sleep(self.delay)

    motor = object()
    stage = Pellet(name="pellet", motor_device=motor, delay=0.2, repeat=2)
    assert stage.repeat == 2 and stage.name == "pellet"
    await stage.run_stage()
    assert stage.seen == (motor, 0.2)
    assert trio.current_time() == pytest.approx(0.4)


async def test_run_stage_started_after_stage_start(autojump_clock):
    stage = Delay(name="d", delay=3)
    async with trio.open_nursery() as nursery:
        await nursery.start(stage.run_stage)
        assert stage.active
        assert str(stage.run_state) == "running"
    assert trio.current_time() == 3
    assert not stage.active
