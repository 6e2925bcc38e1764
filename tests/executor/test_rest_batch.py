"""RestExecutor's call batching (moalab.executor.rest_batch) against a real moalab-server:
calls concurrent tasks make in one scheduler round share one HTTP request (POST
/api/calls); a call made alone takes the call route. The requests are counted on their
way to the server, by a TCP proxy reading their request lines."""

import re
from contextlib import asynccontextmanager

import pytest
import trio

from moalab.executor.errors import ConnectionLost
from moalab.executor.rest import RestExecutor

from ..conftest import running_server
from .conftest import unique_name
from .devices import Probe, ProbeError

_REQUEST_LINE = re.compile(rb"POST (/api/calls|/api/objects/[^ ]+/call/)[^ ]* HTTP/1\.1\r\n")


class CountingProxy:
    """Forwards connections to a server, counting the call requests on their way:
    ``batches`` to the batch route, ``singles`` to the call route."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.batches = self.singles = 0
        self.port: int | None = None

    async def serve(self, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream("127.0.0.1", self.target_port)
        async with client, server, trio.open_nursery() as nursery:
            nursery.start_soon(self._pipe, client, server, True, nursery.cancel_scope)
            nursery.start_soon(self._pipe, server, client, False, nursery.cancel_scope)

    async def _pipe(self, source, sink, upstream: bool, connection: trio.CancelScope) -> None:
        seen = b""  # a request line may straddle two chunks
        try:
            while data := await source.receive_some(65536):
                if upstream:
                    seen = seen[-200:] + data
                    for match in _REQUEST_LINE.finditer(seen):
                        if match.group(1) == b"/api/calls":
                            self.batches += 1
                        else:
                            self.singles += 1
                    seen = seen[seen.rfind(b"\r\n") + 2:]  # counted lines are not seen again
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        connection.cancel()


@asynccontextmanager
async def counted_executor(server_port: int):
    """A started RestExecutor whose requests go through a :class:`CountingProxy`, and
    the proxy."""
    proxy = CountingProxy(server_port)
    async with trio.open_nursery() as nursery:
        await nursery.start(proxy.serve)
        async with RestExecutor("127.0.0.1", proxy.port, clock_sync=None) as executor:
            yield executor, proxy
        nursery.cancel_scope.cancel()


async def new_probe(executor: RestExecutor) -> Probe:
    probe = Probe(name=unique_name("batch"), executor=executor)
    await executor.ensure_remote_instance(probe)
    return probe


async def test_concurrent_callers_share_requests_and_get_their_own_results(moalab_server):
    async with counted_executor(moalab_server.port) as (executor, proxy):
        probes = [await new_probe(executor) for _ in range(2)]
        results: dict[int, list] = {i: [] for i in range(8)}

        async def caller(i: int) -> None:
            probe = probes[i % 2]
            for round_ in range(10):
                results[i].append(await probe.echo(i, round_))
                if i == 7:
                    with pytest.raises(ProbeError, match=f"no {round_}"):
                        await probe.fail_custom(f"no {round_}")
                if i == 6:
                    await probe.set_value(round_ + 100)
                    assert probe.value == round_ + 100  # its update came with its reply

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                for i in range(8):
                    nursery.start_soon(caller, i)
        assert results == {i: [[[i, r], {}] for r in range(10)] for i in range(8)}
        calls = 8 * 10 + 2 * 10
        requests = proxy.batches + proxy.singles
        # a request per call without batching; about a third of that here (4 to 8 calls
        # a batch), more under load
        assert proxy.batches >= 1 and requests < calls * 0.75, (proxy.batches, proxy.singles)


async def test_a_call_made_alone_takes_the_call_route(moalab_server):
    async with counted_executor(moalab_server.port) as (executor, proxy):
        probe = await new_probe(executor)
        for i in range(5):
            assert await probe.echo(i) == [[i], {}]
        assert (proxy.batches, proxy.singles) == (0, 5)


async def test_a_cancelled_caller_leaves_the_batch_to_the_others(moalab_server):
    async with counted_executor(moalab_server.port) as (executor, proxy):
        slow, fast = await new_probe(executor), await new_probe(executor)
        results = {}

        async def caller(i: int) -> None:
            if i == 1:
                results[i] = await fast.async_add(i, 1)
                return
            with trio.move_on_after(0.1):  # cancelled while its call runs
                results[i] = await slow.async_sleep(0.4)

        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                # a call in flight: the next ones have company, and go together
                nursery.start_soon(fast.async_sleep, 0.3)
                await trio.sleep(0.05)
                # the first and the last started: whichever sends the batch is cancelled
                for i in range(3):
                    nursery.start_soon(caller, i)
            assert results == {1: 2}
            assert (proxy.batches, proxy.singles) == (1, 1)
            assert await fast.async_add(2, 3) == 5  # the executor carries on
            assert await slow.echo("after") == [["after"], {}]


async def test_a_server_killed_mid_batch_fails_every_call_of_it():
    with running_server() as server:
        async with RestExecutor("127.0.0.1", server.port, clock_sync=None) as executor:
            probe = await new_probe(executor)
            errors = []

            async def caller(i: int) -> None:
                try:
                    await probe.async_sleep(30)
                except ConnectionLost as exc:
                    errors.append(exc)

            with trio.fail_after(15):
                async with trio.open_nursery() as nursery:
                    for i in range(4):
                        nursery.start_soon(caller, i)
                    await trio.sleep(0.3)  # the batch is in flight
                    server.process.kill()
            assert len(errors) == 4
