"""ObjectLogger (through MemoryLogger): which changes become rows, and with what values."""

import pytest
import trio

from moalab import (
    Delay,
    InvalidArgument,
    LogRow,
    MemoryLogger,
    MoaStage,
    VirtualDigitalChannel,
    VirtualDigitalPort,
)


async def test_each_trigger_writes_a_row_per_logged_name(autojump_clock):
    stage = Delay(name="d", delay=2, repeat=2)
    logger = MemoryLogger()
    logger.add_logged_instance(stage, logged_names=["delay", "repeat"])
    await stage.run_stage()
    rows = logger.rows
    assert len(rows) == 6 * 3
    # the rows of one trigger share index and timestamp, one per name
    for k in range(6):
        group = rows[3 * k: 3 * k + 3]
        assert {r.index for r in group} == {k}
        assert len({r.timestamp for r in group}) == 1
        assert [r.item for r in group] == ["count", "delay", "repeat"]
    assert rows[6] == LogRow(2, 2.0, "d", "on_trial_end", "count", 0)
    assert [r.timestamp for r in rows[::3]] == [0, 0, 2, 2, 4, 4]
    assert logger.count == 6


async def test_property_triggers_and_chosen_names(autojump_clock):
    beam = VirtualDigitalChannel(name="beam")
    logger = MemoryLogger()
    logger.add_logged_instance(
        beam, triggered_names=["state"], use_default_logged_trigger_names=False,
    )
    await trio.sleep(1)
    await beam.write_state(True)
    await beam.write_state(True)  # no change: no row
    await trio.sleep(1)
    await beam.write_state(False)
    assert [(r.timestamp, r.trigger, r.item, r.value) for r in logger.rows] == [
        (1, "state", "timestamp", 1), (1, "state", "state", True),
        (2, "state", "timestamp", 2), (2, "state", "state", False),
    ]


async def test_without_triggers_each_change_is_its_own_row(autojump_clock):
    port = VirtualDigitalPort(name="io", channel_names=["a", "b"])
    logger = MemoryLogger()
    logger.add_logged_instance(port, use_default_logged_trigger_names=False,
                               use_default_logged_names=False, logged_names=["a", "b"])
    await port.write_states(high=["a", "b"])
    await port.write_states(low=["b"])
    assert [(r.index, r.trigger, r.item, r.value) for r in logger.rows] == [
        (0, "a", "a", True), (1, "b", "b", True), (2, "b", "b", False),
    ]


def test_a_trigger_without_logged_names_writes_one_empty_row():
    stage = MoaStage(name="s")
    logger = MemoryLogger()
    logger.add_logged_instance(stage, use_default_logged_names=False)
    stage.dispatch("on_stage_start")
    assert [(r.trigger, r.item, r.value) for r in logger.rows] == [("on_stage_start", "", "")]


def test_unknown_names_are_rejected():
    with pytest.raises(InvalidArgument, match="cannot log 'colour' of 's'"):
        MemoryLogger().add_logged_instance(MoaStage(name="s"), logged_names=["colour"])
    with pytest.raises(InvalidArgument, match="'on_nothing'"):
        MemoryLogger().add_logged_instance(MoaStage(name="s"), triggered_names=["on_nothing"])


def test_remove_logged_instance_stops_logging():
    first, second = MoaStage(name="a"), MoaStage(name="b")
    logger = MemoryLogger()
    logger.add_logged_instance(first)
    logger.add_logged_instance(second)
    first.dispatch("on_stage_start")
    second.dispatch("on_stage_start")
    logger.remove_logged_instance(first)
    logger.remove_logged_instance(first)  # twice is fine
    first.dispatch("on_stage_end")
    second.dispatch("on_stage_end")
    assert [(r.name, r.trigger) for r in logger.rows] == [
        ("a", "on_stage_start"), ("b", "on_stage_start"), ("b", "on_stage_end"),
    ]
    logger.remove_all()
    second.dispatch("on_stage_start")
    assert len(logger.rows) == 3
    assert logger.logged_instances == {}


def test_instance_names_are_read_when_added():
    stage = Delay(name="d", delay=3)
    stage.add_logged_names(["delay"])
    stage.remove_logged_names(["on_trial_start", "on_trial_end"], triggers=True)
    logger = MemoryLogger()
    logger.add_logged_instance(stage)
    stage.dispatch("on_trial_start", 0)  # no longer a trigger
    stage.dispatch("on_stage_start")
    assert [(r.trigger, r.item, r.value) for r in logger.rows] == [
        ("on_stage_start", "count", -1), ("on_stage_start", "delay", 3),
    ]


def test_two_loggers_log_the_same_instance():
    stage = MoaStage(name="s")
    first, second = MemoryLogger(), MemoryLogger()
    first.add_logged_instance(stage)
    second.add_logged_instance(stage)
    stage.dispatch("on_stage_start")
    first.remove_logged_instance(stage)
    stage.dispatch("on_stage_end")
    assert len(first.rows) == 1 and len(second.rows) == 2


def test_a_property_trigger_logs_its_own_value():
    # not a logged name: its row holds the new value, not the logged names' values
    stage = MoaStage(name="s")
    logger = MemoryLogger()
    logger.add_logged_instance(stage, triggered_names=["repeat"],
                               use_default_logged_trigger_names=False)
    stage.repeat = 4
    assert [(r.trigger, r.item, r.value) for r in logger.rows] == [("repeat", "repeat", 4)]
