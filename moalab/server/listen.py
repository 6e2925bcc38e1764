"""Serving an ASGI app with hypercorn on trio, ``/ws`` on plain TCP without it.

What :func:`hypercorn.trio.serve` does (the app's lifespan, its listeners, the
graceful stop), with one change: each plain TCP connection is first routed by its
first bytes (:func:`~moalab.server.ws_direct.is_ws_upgrade`), a WebSocket upgrade of
``/ws`` to :func:`~moalab.server.ws_direct.serve_direct`, any other request to
hypercorn's connection handler. TLS connections all go to hypercorn (its ``/ws``:
:func:`~moalab.server.ws_route.serve_ws`). Hypercorn has no hook for this, so this
module uses its trio worker's parts (``TCPServer``, ``Lifespan``,
``WorkerContext``): pyproject pins the minor version they were read from.
"""

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import ShutdownError, raise_shutdown, repr_socket_addr, wrap_app

from .ws_direct import is_ws_upgrade, serve_direct
from .ws_route import WsEndpoint

__all__ = ("serve_app",)

logger = logging.getLogger("moalab.server")


async def serve_app(app: Any, config: Config, endpoint: WsEndpoint, max_message: int, *,
                    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
                    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
                    ) -> None:
    """Serve ``app`` on ``config``'s binds until ``shutdown_trigger`` returns (or
    cancelled), plain ``/ws`` connections by ``endpoint`` (messages up to
    ``max_message`` bytes). ``task_status.started()`` gets the bound URLs."""
    asgi = wrap_app(app, config.wsgi_max_body_size, "asgi")
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(asgi, config, lifespan_state)
    context = WorkerContext(None)

    def hypercorn_connection(stream: trio.abc.Stream) -> TCPServer:
        return TCPServer(asgi, config, context, ConnectionState(lifespan_state.copy()), stream)

    async def plain_connection(stream: trio.SocketStream) -> None:
        try:
            direct = await is_ws_upgrade(stream.socket)
        except Exception:  # never the server's end: this connection's only
            logger.exception("routing a connection failed")
            await trio.aclose_forcefully(stream)
            return
        if direct:
            await serve_direct(stream, endpoint, max_message)
        else:
            await hypercorn_connection(stream)

    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as server_nursery:
            sockets = config.create_sockets()
            ssl_context = config.create_ssl_context()
            served: list[tuple[Callable[[Any], Awaitable[None]], trio.abc.Listener]] = []
            binds = []
            for sock, secure in [*((s, True) for s in sockets.secure_sockets),
                                 *((s, False) for s in sockets.insecure_sockets)]:
                sock.listen(config.backlog)
                listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))
                if secure:
                    served.append((hypercorn_connection, trio.SSLListener(
                        listener, ssl_context, https_compatible=True)))
                else:
                    served.append((plain_connection, listener))
                address = repr_socket_addr(sock.family, sock.getsockname())
                bind = f"{'https' if secure else 'http'}://{address}"
                binds.append(bind)
                await config.log.info(f"Running on {bind} (CTRL + C to quit)")
            task_status.started(binds)
            try:
                async with trio.open_nursery() as nursery:
                    if shutdown_trigger is not None:
                        nursery.start_soon(raise_shutdown, shutdown_trigger)
                    nursery.start_soon(raise_shutdown, context.terminate.wait)
                    for handler, listener in served:
                        nursery.start_soon(partial(trio.serve_listeners, handler, [listener],
                                                   handler_nursery=server_nursery))
                    await trio.sleep_forever()
            except BaseExceptionGroup as error:
                _, others = error.split((ShutdownError, KeyboardInterrupt))
                if others is not None:
                    raise others
            finally:
                await context.terminated.set()
                server_nursery.cancel_scope.deadline = (trio.current_time()
                                                        + config.graceful_timeout)
        await lifespan.wait_for_shutdown()
        lifespan_nursery.cancel_scope.cancel()
