"""Serving the app: hypercorn on trio, plain ``/ws`` connections on their sockets."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig

from ..core.clock import now
from ..core.errors import InvalidArgument
from ..executor.registry import ObjectRegistry
from .app import WS_ENDPOINT, create_app
from .asgi import GuardedApp
from .config import ServerConfig, check_allowed_modules
from .listen import serve_app
from .token import is_loopback

__all__ = ("serve",)

KEEP_ALIVE_MAX_REQUESTS = 2**62
"""Requests a keep-alive connection serves before the server closes it: no limit."""


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def serve(
    config: ServerConfig,
    *,
    graceful_timeout: float = 5.0,
    clock: Callable[[], float] = now,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    mount: Callable[[Any, ObjectRegistry, str | None], None] | None = None,
) -> None:
    """Serve REST and WebSocket on ``config.host:config.port`` until ``shutdown_trigger``
    returns (or cancelled); then the objects are closed.

    Clients must bring ``config.token`` (None: no check, allowed only on a
    loopback address: :class:`InvalidArgument` otherwise). With
    ``config.certfile``/``keyfile`` it serves https and wss.
    ``task_status.started()`` gets the bound URLs (with the real port when the
    config says 0). Open connections get ``graceful_timeout`` seconds to finish.
    Every module of ``config.allow`` is imported first: :class:`InvalidArgument`
    (see :func:`~moalab.server.config.check_allowed_modules`) before listening.
    Objects that ask for it get ``config.data_dir`` as the server's data folder (a
    rig's asset store is there: :mod:`moalab.assets.rig`; None: they have none).
    ``mount(app, registry, token)`` adds routes of a higher layer to the app (moalab-server
    mounts the rig's dashboard page so).
    """
    if config.token is None and not is_loopback(config.host):
        raise InvalidArgument(
            f"refusing to listen on {config.host} without a token: anyone on that network "
            "could create devices and call their methods. Give a token (config token = ..., "
            "MOALAB_TOKEN, or let moalab-server generate one), or listen on 127.0.0.1"
        )
    check_allowed_modules(config.allow)
    registry = ObjectRegistry(allow=config.allow, data_dir=config.data_dir)
    hypercorn_config = HypercornConfig()
    hypercorn_config.bind = [_bind(config.host, config.port)]
    hypercorn_config.graceful_timeout = graceful_timeout
    hypercorn_config.accesslog = None
    hypercorn_config.errorlog = logging.getLogger("moalab.server")
    hypercorn_config.websocket_max_message_size = config.max_message_size
    hypercorn_config.h11_max_incomplete_size = min(config.max_message_size, 1024 * 1024)
    # hypercorn's default (1,000) closes a REST client's connection every 1,000 calls
    # (a new TCP, and with TLS a new handshake, for the next); over HTTP/2 the request
    # sent as that GOAWAY crosses it fails (httpx raises RemoteProtocolError)
    hypercorn_config.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS
    if config.certfile is not None:
        hypercorn_config.certfile = str(config.certfile)
        hypercorn_config.keyfile = str(config.keyfile)
    app = create_app(registry, clock, config.token, namespace_grace=config.namespace_grace)
    app.config["MAX_CONTENT_LENGTH"] = config.max_message_size
    if mount is not None:
        mount(app, registry, config.token)
    try:
        await serve_app(GuardedApp(app), hypercorn_config, app.extensions[WS_ENDPOINT],
                        config.max_message_size, shutdown_trigger=shutdown_trigger,
                        task_status=task_status)
    finally:
        registry.close()
