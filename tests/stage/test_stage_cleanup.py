"""Cancellation and failure of a running tree always clean up every active stage."""

import pytest
import trio

from moalab import Delay, MemoryLogger, MoaStage


class Tracked(MoaStage):
    """Notes its cleanup hooks; ``work`` seconds of action per trial, ``fail`` raises after it."""

    work = 0.0
    fail: BaseException | None = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.done_calls: list[str] = []

    async def do_trial(self):
        await trio.sleep(self.work)
        if self.fail is not None:
            raise self.fail

    async def trial_done(self):
        # cleanup may await: it runs shielded even when the trial was cancelled
        await trio.sleep(0.5)
        self.done_calls.append("trial_done")

    async def stage_done(self):
        await trio.sleep(0.5)
        self.done_calls.append("stage_done")


def build() -> tuple[MoaStage, dict[str, MoaStage]]:
    """root (parallel) -> [slow, branch (serial) -> [leaf, after]]"""
    root = Tracked(name="root", order="parallel")
    slow = Tracked(name="slow", work=100)
    branch = Tracked(name="branch")
    leaf = Tracked(name="leaf", work=3)
    after = Tracked(name="after", work=1)
    root.add_stage(slow)
    root.add_stage(branch)
    branch.add_stage(leaf)
    branch.add_stage(after)
    return root, {s.name: s for s in root.iterate_stages()}


def record(root: MoaStage) -> MemoryLogger:
    logger = MemoryLogger()
    for stage in root.iterate_stages():
        logger.add_logged_instance(stage)
    return logger


def ended(logger: MemoryLogger) -> list[str]:
    return [row.name for row in logger.rows if row.trigger == "on_stage_end"]


def assert_cleaned_up(stages: dict[str, MoaStage], logger: MemoryLogger, ran: set[str]) -> None:
    for name, stage in stages.items():
        assert not stage.active, name
        if name in ran:
            assert stage.done_calls[-2:] == ["trial_done", "stage_done"], name
        else:
            assert stage.done_calls == [], name
    assert sorted(ended(logger)) == sorted(ran)
    starts = [row.name for row in logger.rows if row.trigger == "on_stage_start"]
    assert sorted(starts) == sorted(ran)


async def test_cancel_from_outside_cleans_up_every_active_stage(autojump_clock):
    root, stages = build()
    logger = record(root)
    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(root.run_stage)
            await trio.sleep(2)
            scope.cancel()
    assert scope.cancelled_caught
    assert_cleaned_up(stages, logger, ran={"root", "slow", "branch", "leaf"})
    assert {str(s.run_state) for n, s in stages.items() if n != "after"} == {"stopped"}
    assert str(stages["after"].run_state) == "idle"
    # children end before their parents
    assert ended(logger).index("leaf") < ended(logger).index("branch") < ended(logger).index(
        "root"
    )
    # the shielded cleanups awaited their sleeps (1 s per stage): slow and leaf side by
    # side, then branch, then root
    assert trio.current_time() == pytest.approx(2 + 1 + 1 + 1)


async def test_cancel_by_deadline_around_run_stage(autojump_clock):
    root, stages = build()
    logger = record(root)
    with trio.move_on_after(3.25) as scope:
        await root.run_stage()
    assert scope.cancelled_caught
    assert_cleaned_up(stages, logger, ran={"root", "slow", "branch", "leaf"})


async def test_cancel_while_paused_cleans_up(autojump_clock):
    root, stages = build()
    logger = record(root)
    with trio.move_on_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(root.run_stage)
            await trio.sleep(1)
            root.pause()
    assert_cleaned_up(stages, logger, ran={"root", "slow", "branch", "leaf"})
    assert {str(s.run_state) for n, s in stages.items() if n != "after"} == {"stopped"}


async def test_exception_in_a_deep_stage_propagates_with_its_type(autojump_clock):
    root, stages = build()
    error = KeyError("sensor unplugged")
    stages["leaf"].fail = error
    logger = record(root)
    with pytest.raises(KeyError) as info:
        await root.run_stage()
    assert info.value is error
    assert not isinstance(info.value, BaseExceptionGroup)
    # the whole tree cleaned up before the error came out
    assert_cleaned_up(stages, logger, ran={"root", "slow", "branch", "leaf"})
    assert str(stages["leaf"].run_state) == "failed"
    assert str(stages["branch"].run_state) == "failed"
    assert str(stages["root"].run_state) == "failed"
    assert str(stages["slow"].run_state) == "stopped"


async def test_exception_in_a_serial_child_stops_the_rest(autojump_clock):
    root = MoaStage(name="root", repeat=3)
    bad = Tracked(name="bad", work=1, fail=ValueError("bad value"))
    later = Delay(name="later", delay=1)
    root.add_stage(bad)
    root.add_stage(later)
    logger = record(root)
    with pytest.raises(ValueError, match="bad value"):
        await root.run_stage()
    assert str(later.run_state) == "idle"
    assert [r.trigger for r in logger.rows if r.name == "root"] == [
        "on_stage_start", "on_trial_start", "on_trial_end", "on_stage_end",
    ]
    assert not root.active


async def test_exception_in_a_hook_propagates(autojump_clock):
    class BadInit(MoaStage):
        async def init_trial(self, i):
            raise RuntimeError("cannot start trial")

    root = MoaStage(name="root", order="parallel")
    root.add_stage(Delay(name="d", delay=5))
    root.add_stage(BadInit(name="bad"))
    with pytest.raises(RuntimeError, match="cannot start trial"):
        await root.run_stage()
    assert not any(s.active for s in root.iterate_stages())
    assert trio.current_time() == 0


async def test_two_failures_come_out_as_a_group(autojump_clock):
    root = MoaStage(name="root", order="parallel")
    root.add_stage(Tracked(name="a", fail=ValueError("a")))
    root.add_stage(Tracked(name="b", fail=TypeError("b")))
    with pytest.raises(BaseExceptionGroup) as info:
        await root.run_stage()
    assert info.group_contains(ValueError) and info.group_contains(TypeError)
    assert not any(s.active for s in root.iterate_stages())


async def test_stage_can_run_again_after_failure(autojump_clock):
    stage = Tracked(name="s", work=1, fail=ValueError("once"))
    with pytest.raises(ValueError):
        await stage.run_stage()
    stage.fail = None
    await stage.run_stage()
    assert str(stage.run_state) == "done"
