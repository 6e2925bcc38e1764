"""MoaBase: named dispatchers whose keyword arguments are checked by name and value."""

import pytest

from moalab import Delay, Device, InvalidArgument, MoaStage
from moalab.core.base import MoaBase
from moalab.core.events import NumericProperty


class Widget(MoaBase):
    size = NumericProperty(1)


class Pellet(MoaStage):
    """A user's stage configured as PyMoa's guide does it."""

    gain = 2  # a plain class attribute
    motor: object  # annotated only

    async def do_trial(self):
        pass


def test_properties_and_attributes_from_keywords():
    marker = object()
    widget = Widget(name="w", size=3, helper=marker)
    assert widget.name == "w" and widget.size == 3
    assert widget.helper is marker
    assert "helper" not in widget.properties()
    assert repr(widget) == "<Widget name='w'>"


def test_name_is_bindable():
    widget = Widget()
    seen = []
    widget.fbind("name", lambda obj, value: seen.append(value))
    widget.name = "renamed"
    assert seen == ["renamed"]


@pytest.mark.parametrize("make, fragments", [
    (lambda: Delay(dealy=5), ["Delay", "dealy=5", "did you mean 'delay'"]),
    (lambda: MoaStage(nmae="typo"), ["MoaStage", "nmae='typo'", "did you mean 'name'"]),
    (lambda: Delay(name="d", dealy=5), ["Delay 'd'", "dealy=5", "'delay'"]),
    (lambda: Device(name="dev", on_data_update=1), ["Device 'dev'", "on_data_update=1",
                                                     "accepts executor, name"]),
    (lambda: MoaStage(name="s", _logged_names_=()), ["MoaStage 's'", "_logged_names_"]),
])
def test_unknown_arguments_of_moalab_classes_are_refused(make, fragments):
    with pytest.raises(InvalidArgument) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_a_misspelt_delay_no_longer_runs_as_zero():
    with pytest.raises(InvalidArgument, match="dealy"):
        Delay(name="d", dealy=5)


def test_a_user_subclass_takes_declared_and_new_attributes():
    motor = object()
    # the guide's SugarPalletStage(motor_device=..., delay=0.2): names it never declares
    stage = Pellet(name="p", motor_device=motor, delay=0.2, gain=3, motor=motor)
    assert (stage.motor_device, stage.delay, stage.gain, stage.motor) == (motor, 0.2, 3, motor)
    assert Pellet.gain == 2  # set on the instance only


@pytest.mark.parametrize("kwargs, fragments", [
    # a typo of an accepted name: refused, with how to declare a new one
    ({"repaet": 3}, ["repaet=3", "did you mean 'repeat'", "declare it in the class body"]),
    ({"gian": 3}, ["did you mean 'gain'"]),
    # never a method, a private or a dunder name
    ({"do_trial": None}, ["do_trial=None", "already an attribute of Pellet"]),
    ({"stop_stage": 1}, ["already an attribute"]),
    ({"_secret": 1}, ["private names cannot be set"]),
    ({"__dict__": {}}, ["__dict__", "private names cannot be set"]),
])
def test_a_user_subclass_refuses_typos_and_shadowing(kwargs, fragments):
    with pytest.raises(InvalidArgument) as info:
        Pellet(name="p", **kwargs)
    message = str(info.value)
    assert message.startswith("Pellet 'p': unknown argument")
    for fragment in fragments:
        assert fragment in message


def test_moalab_class_attributes_are_not_arguments():
    # a class of moalab's library with a plain class attribute: still not settable
    library = type("Library", (MoaStage,), {"__module__": "moalab.stage.fake", "knob": 1})
    with pytest.raises(InvalidArgument, match="knob"):
        library(knob=2)
    user = type("User", (library,), {"__module__": "lab.stages"})
    with pytest.raises(InvalidArgument, match="already an attribute of User"):
        user(knob=2)
    # a user's subclass that declares the name itself configures it
    declared = type("Declared", (library,), {"__module__": "lab.stages", "knob": 1})
    assert declared(knob=2).knob == 2


def test_kivy_refusals_become_invalid_argument_naming_the_object():
    # name comes last, yet the message names the stage: it is set first
    with pytest.raises(InvalidArgument, match=r"MoaStage 'o': order='x' is not accepted"):
        MoaStage(order="x", name="o")
    with pytest.raises(InvalidArgument, match=r"MoaStage: name=5 is not accepted"):
        MoaStage(name=5)
