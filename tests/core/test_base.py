"""MoaBase: named dispatchers whose unknown keyword arguments become attributes."""

from moalab.core.base import MoaBase
from moalab.core.events import NumericProperty


class Widget(MoaBase):
    size = NumericProperty(1)


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
