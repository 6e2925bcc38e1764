"""Floods against a real moalab-server, while a normal client works alongside.

Frames of many tiny messages must not stall the server's other clients (issue 21
§1), and clients that leave (a close, or a TCP reset) with a backlog of replies
queued for them must leave no session, socket or memory behind (issue 21 §2).
The flooding clients speak WebSocket over raw sockets (wsproto): they never read,
and can reset their connection.
"""

import os
import socket
import struct
import time
from dataclasses import dataclass, field

import pytest
import trio
from trio_websocket import open_websocket_url
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Request

from moalab.executor.codec import MAX_FRAME_MESSAGES, decode_many, encode
from moalab.executor.session import DEAD_AFTER, QUEUE_LIMIT
from moalab.executor.websocket import WebSocketExecutor
from tests.executor.devices import Probe

from ..conftest import WS_AUTH_HEADERS, rss_mb, running_server
from .resources import live_sessions, socket_count, wait_released

PROBE = "tests.executor.devices:Probe"
LIMIT = 1 << 20  # the server's --max-message-size: 1 MiB
FLOOD_S = 5
"""Seconds a flood may take at most."""
SETTLE_S = 5
"""Seconds the server's memory gets to go back to what it was, once it holds nothing."""
P99_MS = 100
"""The bystander's p99 while clients flood and leave: 50 ms is the goal (we measured
20-45 ms), doubled for a CPU shared with other test runs."""


@pytest.fixture
def server():
    """A server of the test's own: the figures measured are its alone."""
    with running_server("--max-message-size", str(LIMIT)) as server:
        yield server


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@dataclass
class Bystander:
    """A normal client calling all along; its latencies, in seconds."""

    latencies: list[float] = field(default_factory=list)
    stop: trio.Event = field(default_factory=trio.Event)

    async def run(self, server, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with WebSocketExecutor("127.0.0.1", server.port) as executor:
            device = Probe(name=f"bystander-{os.getpid()}", executor=executor)
            await executor.ensure_remote_instance(device)
            task_status.started()
            i = 0
            while not self.stop.is_set():
                start = time.perf_counter()
                with trio.fail_after(10):
                    assert await device.echo(i) == [[i], {}]
                    assert await device.async_add(i, 1) == i + 1
                self.latencies.append((time.perf_counter() - start) / 2)
                i += 1
                await trio.sleep(0.005)

    def p_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


class RawClient:
    """A WebSocket client on a raw socket: it sends, never reads, and may leave with
    a TCP reset."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    async def connect(cls, port: int) -> "RawClient":
        client = cls(await trio.open_tcp_stream("127.0.0.1", port))
        await client.stream.send_all(client.ws.send(Request(
            host=f"127.0.0.1:{port}", target="/ws", extra_headers=WS_AUTH_HEADERS)))
        while True:
            client.ws.receive_data(await client.stream.receive_some(65536))
            if any(isinstance(event, AcceptConnection) for event in client.ws.events()):
                return client

    async def send(self, *messages: dict) -> None:
        await self.stream.send_all(self.ws.send(BytesMessage(
            b"".join(encode(m) for m in messages))))

    async def leave(self, reset: bool) -> None:
        if reset:  # SO_LINGER 0: close() sends a RST
            self.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                          struct.pack("ii", 1, 0))
        await self.stream.aclose()


# ------------------------------------------------------------ §1: many messages


async def test_frames_of_many_tiny_messages_do_not_stall_other_clients(server):
    """Frames of 16K..256K one-byte messages (each once froze the server for up to
    8.8 s) are refused at once with one error naming the limit; a frame at the limit
    is answered, one error per message, without tracebacks; the bystander's calls
    go on and its link stays up; the server's memory stays bounded."""
    bystander = Bystander()
    rss_before = rss_mb(server.process.pid)
    rss_peak = rss_before
    async with trio.open_nursery() as nursery:
        await nursery.start(bystander.run, server)
        async with open_websocket_url(f"ws://127.0.0.1:{server.port}/ws",
                                      extra_headers=WS_AUTH_HEADERS,
                                      max_message_size=64 << 20) as ws:
            for n in (16 << 10, 64 << 10, 256 << 10):
                await ws.send_message(b"\x01" * n)
                with trio.fail_after(10):
                    refusal, = decode_many(await ws.get_message())
                assert refusal["id"] is None, refusal
                assert f"more than {MAX_FRAME_MESSAGES} messages" in refusal["error"]["message"]
                rss_peak = max(rss_peak, rss_mb(server.process.pid))
            # frames at the limit, for a while: each message gets its error
            deadline = trio.current_time() + 3
            frames = 0
            while trio.current_time() < deadline:
                await ws.send_message(b"\x01" * MAX_FRAME_MESSAGES)
                replies: list[dict] = []
                with trio.fail_after(10):
                    while len(replies) < MAX_FRAME_MESSAGES:
                        replies += decode_many(await ws.get_message())
                assert len(replies) == MAX_FRAME_MESSAGES
                assert all("traceback" not in r["error"] for r in replies), replies[0]
                frames += 1
                rss_peak = max(rss_peak, rss_mb(server.process.pid))
        bystander.stop.set()
    print(f"\n{frames} frames of {MAX_FRAME_MESSAGES} messages in 3 s; bystander: "
          f"{len(bystander.latencies)} calls, p50 {bystander.p_ms(0.5):.1f} ms, p99 "
          f"{bystander.p_ms(0.99):.1f} ms; server RSS {rss_before:.0f} MiB, peak "
          f"{rss_peak:.0f} MiB")
    # the bug froze the server for up to 8.8 s; a shared 2-core CI machine gave p99s
    # of 228 ms in two runs of 2026-12-01 (under 200 in the runs before)
    assert bystander.p_ms(0.99) < 400, bystander.p_ms(0.99)
    assert rss_peak - rss_before < 50, (rss_before, rss_peak)
    assert server.process.poll() is None, server.log()
    assert "Traceback" not in server.log(), server.log()[-3000:]


# ------------------------------------------------ §2: leaving with a backlog


async def stream_flood(client: RawClient, n: int) -> None:
    """A stream with all the credit in the world, then a hundred pings: items pile
    up for the client, and more frames wait behind them than the transport's
    queues hold (the server once never saw the end of such a connection)."""
    await client.send({"id": 1, "op": "create", "name": "flood", "cls": PROBE},
                      {"id": 2, "op": "gen", "obj": "flood", "method": "endless",
                       "args": [1000], "credit": 2**62})
    await trio.sleep(0.5)
    for _ in range(100):
        await client.send({"op": "ping"})
    await trio.sleep(0.5)


async def call_flood(client: RawClient, n: int) -> None:
    """Calls in frames of their own, whose replies (12 MB) outgrow the reply bound;
    the requests left waiting fit in what the server reads ahead."""
    payload = b"x" * 60_000
    await client.send({"id": -1, "op": "create", "name": "flood", "cls": PROBE})
    for i in range(200):
        await client.send({"id": i, "op": "call", "obj": "flood", "method": "echo",
                           "args": [payload]})
    await trio.sleep(1)


async def endless_call_flood(client: RawClient, n: int) -> None:
    """Calls until the client's socket takes no more: more requests wait than the
    server reads ahead."""
    payload = b"x" * 100_000
    await client.send({"id": -1, "op": "create", "name": "flood", "cls": PROBE})
    with trio.move_on_after(2):
        for i in range(0, 10**9, 4):
            await client.send(*({"id": i + j, "op": "call", "obj": "flood",
                                 "method": "echo", "args": [payload]} for j in range(4)))


def rss_bound(before: float) -> float:
    """The RSS (MiB) a server that held ``before`` may hold once floods have left:
    10% more, and one reply backlog (:data:`QUEUE_LIMIT`), which glibc may keep of
    blocks freed after the server last gave memory back (measured: 73-82 MiB
    after rounds of these floods from 73-82 MiB; the old server went 85 -> 131)."""
    return 1.1 * before + QUEUE_LIMIT / 2**20


async def leave_after_floods(server, floods: list, warm_up: list, settle: float) -> dict:
    """Run ``floods`` (each on a connection of its own, half of them leaving with a
    reset) while a bystander calls; return the figures, after checking that within
    ``settle`` seconds of the last one leaving the server holds no session and no
    more sockets than before, and that its memory went back (:func:`rss_bound`).
    Before, ``warm_up`` floods ran: the memory a first one takes for good
    (the allocator's pools) is no leak."""
    pid = server.process.pid
    bystander = Bystander()
    async with trio.open_nursery() as nursery:
        await nursery.start(bystander.run, server)
        for flood in warm_up:
            warm = await RawClient.connect(server.port)
            with trio.move_on_after(FLOOD_S):
                await flood(warm, -1)
            await warm.leave(reset=False)
        with trio.fail_after(settle + 5):
            while await live_sessions(server) > 1:
                await trio.sleep(0.1)
        await trio.sleep(1)
        sockets, rss_before = socket_count(pid), rss_mb(pid)
        rss_peak = rss_before
        for k, flood in enumerate(floods):
            client = await RawClient.connect(server.port)
            with trio.move_on_after(FLOOD_S):  # a server that stops reading blocks it
                await flood(client, k)
            rss_peak = max(rss_peak, rss_mb(pid))
            await client.leave(reset=k % 2 == 1)
        left = time.perf_counter()
        # the bystander's session stays
        sockets_left, sessions_left = await wait_released(server, sockets, 1, settle)
        released = time.perf_counter() - left
        with trio.move_on_after(SETTLE_S):  # the last frees
            while rss_mb(pid) >= rss_bound(rss_before):
                await trio.sleep(0.1)
        figures = {
            "released_s": released, "sockets": sockets_left, "sessions": sessions_left,
            "rss_before": rss_before, "rss_peak": rss_peak, "rss_after": rss_mb(pid),
            "p99_ms": bystander.p_ms(0.99), "calls": len(bystander.latencies),
        }
        bystander.stop.set()
    print(f"\n{len(floods)} floods left; released after {figures['released_s']:.1f} s: "
          f"{figures['sessions']} sessions, {figures['sockets']} sockets left; server RSS "
          f"{rss_before:.0f} -> peak {rss_peak:.0f} -> {figures['rss_after']:.0f} MiB; "
          f"bystander: {figures['calls']} calls, p99 {figures['p99_ms']:.1f} ms")
    assert figures["sessions"] == 0 and figures["sockets"] <= 0, figures
    assert figures["rss_after"] < rss_bound(rss_before), figures
    assert server.process.poll() is None, server.log()
    return figures


async def test_clients_leaving_with_a_backlog_leave_nothing_behind(server):
    """The end of their connections is seen while their replies wait (the server
    used to wait for the backlog to drain, and kept 3-7 of 10 such sessions and
    sockets for good): everything goes within 5 s."""
    floods = [stream_flood, call_flood] * 5
    figures = await leave_after_floods(server, floods, warm_up=floods, settle=5)
    assert figures["released_s"] < 5, figures
    assert figures["p99_ms"] < P99_MS, figures


async def test_clients_leaving_with_more_requests_than_read_ahead_leave_nothing(server):
    """With more requests waiting than the server reads ahead, the end of the
    connection is seen once the client has been silent for the dead time; then
    everything goes."""
    figures = await leave_after_floods(server, [endless_call_flood] * 4,
                                       warm_up=[endless_call_flood], settle=DEAD_AFTER + 10)
    assert figures["released_s"] < DEAD_AFTER + 10, figures
    assert figures["p99_ms"] < P99_MS, figures
