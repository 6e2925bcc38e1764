"""A userspace TCP proxy (trio) that delays traffic unevenly: netem for one machine.

The kernel here has no netem, and every process on it shares one clock, so the
clock-alignment and link-loss tests put this proxy between a client and a real
server: :class:`DelayProxy` listens on 127.0.0.1 (port 0, read back from
:attr:`DelayProxy.port`) and forwards each connection to a target, delaying
every chunk by a base delay plus uniform and heavy-tailed (Pareto) jitter, drawn
separately for each direction, so the two ways differ. Chunks keep their order,
as TCP's bytes do: a chunk never overtakes the one before it.

Loss is what TCP makes of it: a lost segment is sent again after the
retransmission timeout, and the bytes behind it wait for it (head-of-line
blocking); so a "lost" chunk is delivered that much later, with everything after
it. :meth:`DelayProxy.black_hole` makes the link vanish (a Pi whose WiFi drops):
nothing is forwarded either way and no socket is closed until
:meth:`DelayProxy.restore`, when what waited flows on, as retransmissions would.

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
    """One direction's delay: ``base + U(-spread, spread) + jitter * (Pareto(alpha) - 1)``,
    the Pareto part at most ``cap`` (seconds). A smaller ``alpha`` is a heavier tail
    (1.5: the mean is 2 x ``jitter``, and one chunk in 100 waits over 20 x ``jitter``).
    A chunk is lost with probability ``loss``: it comes ``retransmit`` later (Linux's
    least retransmission timeout is 0.2 s)."""

    base: float = 0.0
    jitter: float = 0.0
    alpha: float = 1.5
    cap: float = 0.05
    spread: float = 0.0
    loss: float = 0.0
    retransmit: float = 0.2

    def draw(self, rng: random.Random) -> float:
        delay = self.base
        if self.spread:
            delay += rng.uniform(-self.spread, self.spread)
        if self.jitter:
            delay += min(self.jitter * (rng.paretovariate(self.alpha) - 1), self.cap)
        return delay

    def lost(self, rng: random.Random) -> bool:
        return bool(self.loss) and rng.random() < self.loss


class DelayProxy:
    """Forwards connections to ``target_host:target_port``; ``up`` delays data from
    the client to the target, ``down`` the way back. Run :meth:`serve` in a
    nursery (``await nursery.start(proxy.serve)`` returns the port), or use
    :func:`open_delay_proxy`. A connection the target refuses is closed.
    ``chunks`` and ``lost`` count the chunks forwarded and lost, by direction."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", up: Delay = Delay(),
                 down: Delay = Delay(), seed: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.up, self.down = up, down
        self.port: int | None = None
        self.connections = 0
        self.chunks = {"up": 0, "down": 0}
        self.lost = {"up": 0, "down": 0}
        self._rng = random.Random(seed)
        self._open = trio.Event()  # set while the link carries data
        self._open.set()

    def black_hole(self) -> None:
        """From now on forward nothing, either way, and close nothing: the sockets'
        buffers fill, peers hear silence. A new connection is accepted (the kernel
        does that) but not forwarded, as if its SYN waited for a retransmission."""
        if self._open.is_set():
            self._open = trio.Event()

    def restore(self) -> None:
        """End the black hole: what waited is delivered, in order."""
        self._open.set()

    async def serve(self, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.port)
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        self.connections += 1
        await self._open.wait()
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
                await self._open.wait()
                await sink.send_all(data)

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(deliver)
                last = 0.0
                async with send:
                    while data := await source.receive_some(65536):
                        self.chunks[direction] += 1
                        wait = delay.draw(self._rng)
                        if delay.lost(self._rng):
                            self.lost[direction] += 1
                            wait += delay.retransmit
                        last = max(trio.current_time() + wait, last)
                        send.send_nowait((last, data))
                        await self._open.wait()  # a black hole: leave the rest unread
        except* (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # a peer reset its end (it closed with data unread): the connection ends
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
