"""Kivy's event dispatcher and properties, imported headless.

This is the only module in moalab that imports kivy. Before the import it sets
kivy's environment switches (with ``os.environ.setdefault``, so a user's own
choice wins) so that kivy neither parses ``sys.argv`` (which can exit the
program), nor writes files under ``~/.kivy``, nor hooks the root logger, nor
replaces ``sys.stderr``.
"""

import os

for _name in ("KIVY_NO_ARGS", "KIVY_NO_CONFIG", "KIVY_NO_FILELOG", "KIVY_NO_CONSOLELOG"):
    os.environ.setdefault(_name, "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

from kivy.event import EventDispatcher  # noqa: E402
from kivy.properties import (  # noqa: E402
    AliasProperty,
    BooleanProperty,
    BoundedNumericProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    Property,
    ReferenceListProperty,
    StringProperty,
)

__all__ = (
    "EventDispatcher",
    "AliasProperty",
    "BooleanProperty",
    "BoundedNumericProperty",
    "DictProperty",
    "ListProperty",
    "NumericProperty",
    "ObjectProperty",
    "OptionProperty",
    "Property",
    "ReferenceListProperty",
    "StringProperty",
)
