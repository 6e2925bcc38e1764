"""A userspace TCP proxy (trio) that delays traffic unevenly: netem for one machine.

The kernel here has no netem, and every process on it shares one clock, so the
clock-alignment tests put this proxy between a client and a real server:
:class:`DelayProxy` listens on 127.0.0.1 (port 0, read back from
:attr:`DelayProxy.port`) and forwards each connection to a target, delaying
every chunk by a base delay plus heavy-tailed (Pareto) jitter, drawn separately
for each direction, so the two ways differ. Chunks keep their order, as TCP's
bytes do: a chunk never overtakes the one before it.

Only trio and the standard library: the benchmark suite uses it too.
"""

import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

__all__ = ("Delay", "DelayProxy", "open_delay_proxy")


@dataclass(frozen=True)
class Delay:
    """One direction's delay: ``base + jitter * (Pareto(alpha) - 1)``, at most
    ``base + cap`` (seconds). A smaller ``alpha`` is a heavier tail (1.5: the
    mean is 2 x ``jitter``, and one chunk in 100 waits over 20 x ``jitter``)."""

    base: float = 0.0
    jitter: float = 0.0
    alpha: float = 1.5
    cap: float = 0.05

    def draw(self, rng: random.Random) -> float:
        if not self.jitter:
            return self.base
        return self.base + min(self.jitter * (rng.paretovariate(self.alpha) - 1), self.cap)


class DelayProxy:
    """Forwards connections to ``target_host:target_port``; ``up`` delays data from
    the client to the target, ``down`` the way back. Run :meth:`serve` in a
    nursery (``await nursery.start(proxy.serve)`` returns the port), or use
    :func:`open_delay_proxy`. A connection the target refuses is closed."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", up: Delay = Delay(),
                 down: Delay = Delay(), seed: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.up, self.down = up, down
        self.port: int | None = None
        self.connections = 0
        self.chunks = {"up": 0, "down": 0}
        self._rng = random.Random(seed)

    async def serve(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        try:
            server = await trio.open_tcp_stream(*self.target)
        except OSError:
            await client.aclose()
            return
        async with client, server:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._pipe, client, server, self.up, "up", nursery.cancel_scope)
                nursery.start_soon(self._pipe, server, client, self.down, "down",
                                   nursery.cancel_scope)

    async def _pipe(self, source: trio.SocketStream, sink: trio.SocketStream, delay: Delay,
                    direction: str, connection: trio.CancelScope) -> None:
        """Copy ``source`` to ``sink``, each chunk delivered at its drawn time; at the
        end of either stream, deliver what is due, then close the connection."""
        send, receive = trio.open_memory_channel(math.inf)

        async def deliver() -> None:
            async for due, data in receive:
                await trio.sleep_until(due)
                await sink.send_all(data)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(deliver)
                last = 0.0
                async with send:
                    while data := await source.receive_some(65536):
                        self.chunks[direction] += 1
                        last = max(trio.current_time() + delay.draw(self._rng), last)
                        send.send_nowait((last, data))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        connection.cancel()


@asynccontextmanager
async def open_delay_proxy(target_port: int, target_host: str = "127.0.0.1",
                           up: Delay = Delay(), down: Delay = Delay(),
                           seed: int | None = None) -> AsyncIterator[DelayProxy]:
    """``async with open_delay_proxy(port, up=..., down=...) as proxy:`` connect to
    ``proxy.port``; the proxy stops at the end of the block."""
    proxy = DelayProxy(target_port, target_host, up, down, seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        try:
            yield proxy
        finally:
            nursery.cancel_scope.cancel()
