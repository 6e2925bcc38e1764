"""moalab-server: the Quart app that serves device objects over REST and WebSocket."""

from .app import create_app
from .config import ServerConfig, load_config
from .serve import serve

__all__ = ("create_app", "serve", "ServerConfig", "load_config")
