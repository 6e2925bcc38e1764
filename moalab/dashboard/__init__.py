"""The live dashboard: a web page watching and steering runs (see :class:`Dashboard`)."""

from ..core.lazy import lazy_names

__getattr__ = lazy_names(__name__, {"Dashboard": "dashboard", "new_token": "dashboard",
                                    "RunFeed": "feed"})
"""The names imported on first use: a command's ``--dashboard`` option parses its
address (:mod:`~moalab.dashboard.address`) without trio and the runner."""

__all__ = ("Dashboard", "RunFeed", "new_token")
