"""Loggable: declared names merge over base classes; instances add and drop their own."""

from moalab import Delay, Device, Loggable, MoaStage
from moalab.stage import DigitalGateStage


def test_declared_names_merge_over_base_classes():
    gate = DigitalGateStage(name="g")
    assert gate.logged_names == ["count"]
    assert gate.logged_trigger_names == [
        "on_stage_start", "on_trial_start", "on_trial_end", "on_stage_end", "on_record_event",
        "paused_by", "state",
    ]
    assert Device(name="d").logged_names == ["timestamp"]
    assert Device(name="d").logged_trigger_names == ["on_data_update"]


def test_instances_add_and_remove_names_independently():
    first, second = Delay(name="a"), Delay(name="b")
    first.add_logged_names(["delay", "count"])  # count is already there: not doubled
    first.add_logged_names(["repeat"], triggers=True)
    assert first.logged_names == ["count", "delay"]
    assert first.logged_trigger_names[-1] == "repeat"
    first.remove_logged_names(["count", "missing"])
    first.remove_logged_names(["on_stage_start"], triggers=True)
    assert first.logged_names == ["delay"]
    assert "on_stage_start" not in first.logged_trigger_names
    # neither another instance nor the class changed
    assert second.logged_names == ["count"]
    assert "on_stage_start" in second.logged_trigger_names
    assert MoaStage._logged_names_ == ("count",)
    assert Delay(name="c").logged_trigger_names == [*MoaStage.__events__, "paused_by"]


def test_a_plain_loggable_class():
    class Base(Loggable):
        _logged_names_ = ("a", "b")

    class Child(Base):
        _logged_names_ = ("b", "c")
        _logged_trigger_names_ = ("on_x",)

    assert Child().logged_names == ["a", "b", "c"]
    assert Child().logged_trigger_names == ["on_x"]
    assert Base().logged_trigger_names == []
