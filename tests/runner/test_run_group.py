"""Many runs at once in one process: each with its own id, records and sinks; a
failure in one does not stop the others; a tree is held by one run at a time."""

import csv

import pytest
import trio
import trio.testing

from moalab import Delay, DigitalChannel, DigitalGateStage, MoaStage, SimpleCSVLogger
from moalab.core.errors import InvalidArgument, StageStateError
from moalab.runner import Run, RunGroup

TRIALS = 6


class Lever(DigitalChannel):
    """A lever pressed every 0.5 s (virtual); ``jams_after`` presses, its pump raises."""

    def __init__(self, jams_after=None, **kwargs):
        super().__init__(**kwargs)
        self.jams_after = jams_after

    async def pump_state(self):
        presses = 0
        while True:
            await trio.sleep(0.25)
            self.update(state=True)
            await trio.sleep(0.25)
            self.update(state=False)
            presses += 1
            if presses == self.jams_after:
                raise RuntimeError(f"{self.name} jammed")


def box(i, jams_after=None):
    lever = Lever(name="lever", jams_after=jams_after)
    root = MoaStage(name=f"box{i}", repeat=TRIALS)
    root.add_stage(DigitalGateStage(name="press", device=lever, exit_state=True))
    root.add_stage(Delay(name="reward", delay=0.3))
    return root, lever


def rows(path):
    return [row for row in csv.reader(path.open()) if not row[0].startswith("#")][1:]


def test_eight_trees_at_once_one_fails_the_others_complete(tmp_path):
    logs = [SimpleCSVLogger(tmp_path / f"box{i}.csv") for i in range(8)]

    async def main():
        async with RunGroup() as group:
            for i, log in enumerate(logs):
                root, lever = box(i, jams_after=2 if i == 3 else None)
                group.start(root, devices=[lever], sinks=[log], metadata={"box": i})
        return group.runs

    runs = trio.run(main, clock=trio.testing.MockClock(rate=50))
    for log in logs:
        log.close()
    assert len({run.run_id for run in runs}) == 8
    failed = runs[3]
    assert failed.status == "failed"
    assert isinstance(failed.error, RuntimeError) and str(failed.error) == "lever jammed"
    for i, run in enumerate(runs):
        if i == 3:
            continue
        assert run.status == "done", (i, run.error)
        mine = rows(tmp_path / f"box{i}.csv")
        # every row: each trial's start and end, each lever update; the root's end last
        trials = [r for r in mine if r[2] == f"box{i}" and r[3] == "on_trial_end"]
        assert len(trials) == TRIALS
        assert {r[2] for r in mine} == {f"box{i}", "press", "reward", "lever"}
        assert mine[-1][2:4] == [f"box{i}", "on_stage_end"]
        assert [int(r[0]) for r in mine] == sorted(int(r[0]) for r in mine)
    # the failed box's log is whole up to its failure, and says so
    failed_rows = rows(tmp_path / "box3.csv")
    assert failed_rows[-1][2:4] == ["box3", "on_stage_end"]


async def test_a_group_can_be_stopped_and_refuses_to_start_when_closed():
    group = RunGroup()
    root, lever = box(0)
    with pytest.raises(StageStateError, match="async with RunGroup"):
        group.start(root, devices=[lever])
    async with group:
        first = group.start(MoaStage(name="a", stages=[Delay(name="d", delay=100)]))
        second = group.start(Run(MoaStage(name="b", stages=[Delay(name="d", delay=100)])))
        await trio.sleep(0.05)
        group.stop()
    assert first.status == second.status == "stopped"


async def test_nursery_start_of_a_run_returns_once_its_root_has_started(autojump_clock):
    run = Run(MoaStage(name="a", stages=[Delay(name="d", delay=100)]))
    async with trio.open_nursery() as nursery:
        await nursery.start(run.execute)
        assert run.status == "running" and run.root.active
        run.stop()
    assert run.status == "stopped" and trio.current_time() < 100


def test_a_tree_is_held_by_one_run_until_it_ends():
    root = MoaStage(name="root", stages=[Delay(name="d", delay=0.01)])
    run = Run(root)
    with pytest.raises(StageStateError, match="cannot start 'root': it is already running"):
        Run(root)
    with pytest.raises(StageStateError, match="cannot start 'd': it is already running"):
        Run(root.stages[0])
    trio.run(run.execute, clock=trio.testing.MockClock(autojump_threshold=0))
    assert run.status == "done"
    with pytest.raises(StageStateError, match="executed already: make a new Run"):
        trio.run(run.execute)
    Run(root).end("stopped")  # held again, and let go


def test_run_arguments_are_checked():
    with pytest.raises(InvalidArgument, match="give the root MoaStage"):
        Run("root")
    with pytest.raises(InvalidArgument, match="metadata=.* dict with string keys"):
        Run(MoaStage(name="r"), metadata={1: "x"})
