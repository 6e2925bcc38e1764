"""Random trees under random control (pause, resume, stops, failures) keep their invariants."""

import itertools
import random

import pytest
import trio
import trio.testing

from moalab import Delay, MemoryLogger, MoaStage, StageStateError


class Failing(MoaStage):
    async def do_trial(self):
        await trio.sleep(self.after)
        raise LookupError(self.name)


def make_tree(rng: random.Random, names, depth: int = 0) -> MoaStage:
    if depth >= 3 or rng.random() < 0.4:
        if rng.random() < 0.05:
            stage = Failing(name=f"fail{next(names)}", after=rng.choice([0.2, 2, 7]))
        else:
            stage = Delay(name=f"delay{next(names)}", delay=rng.choice([0, 0.5, 1, 2.5]),
                          repeat=rng.choice([1, 1, 2, 3]))
    else:
        stage = MoaStage(name=f"stage{next(names)}", order=rng.choice(["serial", "parallel"]),
                         complete_on=rng.choice(["all", "any"]), repeat=rng.choice([1, 2, -1]))
        for _ in range(rng.randrange(4)):
            stage.add_stage(make_tree(rng, names, depth + 1))
        if stage.repeat == -1:
            # something to wait on each trial: an endless trial loop with nothing to
            # wait on never lets (virtual) time pass
            stage.complete_on = "all"
            stage.max_duration = rng.choice([3, 5.5])
            stage.add_stage(Delay(name=f"guard{next(names)}", delay=1))
    stage.disabled = depth > 0 and rng.random() < 0.1
    if rng.random() < 0.2:
        stage.max_trial_duration = rng.choice([0.7, 1.5])
    return stage


def check_events(stage: MoaStage, triggers: list[str]) -> None:
    """Stage and trial events nest properly: start/end pairs, trials inside the stage."""
    in_stage = in_trial = False
    for trigger in triggers:
        if trigger == "on_stage_start":
            assert not in_stage
            in_stage = True
        elif trigger == "on_trial_start":
            assert in_stage and not in_trial
            in_trial = True
        elif trigger == "on_trial_end":
            assert in_trial
            in_trial = False
        elif trigger == "paused_by":  # a pause or resume, only while the stage runs
            assert in_stage
        else:
            assert in_stage and not in_trial
            in_stage = False
    assert not in_stage and not in_trial, (stage, triggers)


async def run_random(seed: int) -> None:
    rng = random.Random(seed)
    root = make_tree(rng, itertools.count())
    stages = list(root.iterate_stages())
    logger = MemoryLogger()
    for stage in stages:
        logger.add_logged_instance(stage)

    async def control():
        while True:
            await trio.sleep(rng.choice([0.1, 0.3, 1.2]))
            stage = rng.choice(stages)
            action = rng.choice(["pause", "resume", "stop_stage", "stop_trial", "none"])
            if action != "none":
                try:
                    getattr(stage, action)()
                except StageStateError:
                    assert action in ("pause", "resume")

    failed = None
    with trio.move_on_after(rng.choice([5, 50, 1000])):
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(control)
                await root.run_stage()
                nursery.cancel_scope.cancel()
        except* LookupError as group:
            # a stage failed; the deadline's cancellations go on to move_on_after, and
            # any other error fails the test
            failed = group

    for stage in stages:
        assert not stage.active, stage
        assert str(stage.run_state) in ("idle", "done", "stopped", "failed"), stage
        check_events(stage, [r.trigger for r in logger.rows if r.name == stage.name])
    if failed is not None:
        assert str(root.run_state) == "failed"


@pytest.mark.parametrize("block", range(4))
def test_random_trees_keep_their_invariants(block):
    for seed in range(block * 50, block * 50 + 50):
        trio.run(run_random, seed, clock=trio.testing.MockClock(autojump_threshold=0))
