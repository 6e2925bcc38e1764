"""The live dashboard: a web page watching and steering runs (see :class:`Dashboard`)."""

from .dashboard import Dashboard, new_token
from .feed import RunFeed

__all__ = ("Dashboard", "RunFeed", "new_token")
