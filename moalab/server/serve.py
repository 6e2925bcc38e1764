"""Serving the app with hypercorn on trio."""

import logging
from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..core.clock import now
from ..executor.registry import ObjectRegistry
from .app import create_app
from .config import ServerConfig

__all__ = ("serve",)


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    config: ServerConfig,
    *,
    graceful_timeout: float = 5.0,
    clock: Callable[[], float] = now,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve REST and WebSocket on ``config.host:config.port`` until ``shutdown_trigger``
    returns (or cancelled); then the objects are closed.

    ``task_status.started()`` gets the bound URLs (with the real port when the
    config says 0). Open connections get ``graceful_timeout`` seconds to finish.
    """
    registry = ObjectRegistry(allow=config.allow)
    hypercorn_config = HypercornConfig()
    hypercorn_config.bind = [_bind(config.host, config.port)]
    hypercorn_config.graceful_timeout = graceful_timeout
    hypercorn_config.accesslog = None
    hypercorn_config.errorlog = logging.getLogger("moalab.server")
    try:
        await hypercorn_serve(create_app(registry, clock), hypercorn_config,
                              shutdown_trigger=shutdown_trigger, task_status=task_status)
    finally:
        registry.close()
