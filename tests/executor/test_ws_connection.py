"""WebSocketConnection against a scripted far end: a wsproto server on a real socket,
for what a moalab-server never sends (fragments, pings, odd closes, a refusal)."""

import collections
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
)

from moalab.executor import ws_connection
from moalab.executor.errors import ConnectionLost, ProtocolError
from moalab.executor.ws_connection import connect_websocket, open_socket_stream

LIMIT = 10  # seconds, for any test here: they take well under one


class FarEnd:
    """The server's end of one connection: wsproto on a trio socket stream."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.events: collections.deque[Event] = collections.deque()

    async def send(self, *events: Event) -> None:
        await self.stream.send_all(b"".join(self.ws.send(event) for event in events))

    async def next_event(self) -> Event:
        while not self.events:
            data = await self.stream.receive_some(1 << 16)
            self.ws.receive_data(data or None)
            self.events.extend(self.ws.events())
        return self.events.popleft()

    async def next_message(self) -> bytes:
        """The next binary message, its fragments joined (a broken frame is not one)."""
        parts = []
        while True:
            event = await self.next_event()
            assert isinstance(event, BytesMessage), event
            parts.append(event.data)
            if event.message_finished:
                return b"".join(parts)

    async def accept(self) -> Request:
        request = await self.next_event()
        await self.send(AcceptConnection())
        return request


@asynccontextmanager
async def far_side(script: Callable[[FarEnd], Awaitable[None]]) -> AsyncIterator[int]:
    """A server on 127.0.0.1 that runs ``script`` on the end of one connection: its
    port."""
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]

    async def serve() -> None:
        async with listener, await listener.accept() as stream:
            await script(FarEnd(stream))

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve)
            yield listener.socket.getsockname()[1]


async def connect(port: int, **options: object) -> ws_connection.WebSocketConnection:
    stream = await open_socket_stream("127.0.0.1", port)
    return await connect_websocket(stream, f"127.0.0.1:{port}", "/ws?a=b", **options)


@asynccontextmanager
async def far_end(script: Callable[[FarEnd], Awaitable[None]],
                  **options: object) -> AsyncIterator[ws_connection.WebSocketConnection]:
    """A connection to a :func:`far_side` running ``script``."""
    async with far_side(script) as port:
        connection = await connect(port, **options)
        try:
            yield connection
        finally:
            await trio.aclose_forcefully(connection)


async def test_the_upgrade_sends_the_target_and_headers():
    requests = []

    async def script(far):
        requests.append(await far.accept())

    async with far_end(script, headers=[(b"Authorization", b"Bearer t")]):
        pass
    assert requests[0].target == "/ws?a=b"
    assert (b"authorization", b"Bearer t") in requests[0].extra_headers


async def test_a_refused_upgrade_names_its_status_and_body():
    async def script(far):
        await far.next_event()
        await far.send(RejectConnection(status_code=403, has_body=True,
                                        headers=[(b"content-length", b"9")]),
                       RejectData(data=b"not here!"))

    async with far_side(script) as port:
        with pytest.raises(ConnectionLost, match="refused the WebSocket upgrade with "
                                                 "status 403: not here!"):
            await connect(port)


async def test_a_fragmented_message_comes_whole():
    async def script(far):
        await far.accept()
        for part in (b"one ", b"two ", b"three"):
            await far.send(BytesMessage(data=part, message_finished=part == b"three"))
            await trio.sleep(0.01)  # in reads of their own
        await far.send(BytesMessage(data=b"next"))
        await far.next_event()

    async with far_end(script) as connection:
        assert await connection.receive_frame() == b"one two three"
        assert await connection.receive_frame() == b"next"


async def test_a_ping_is_answered_with_a_pong():
    async def script(far):
        await far.accept()
        await far.send(Ping(payload=b"are you there"))
        event = await far.next_event()
        await far.send(BytesMessage(data=repr(event).encode()))
        await far.next_event()

    async with far_end(script) as connection:
        answer = await connection.receive_frame()
    assert answer == repr(Pong(payload=b"are you there")).encode()


async def test_the_far_sides_close_is_answered_and_its_code_kept():
    answers = []

    async def script(far):
        await far.accept()
        await far.send(BytesMessage(data=b"last"), CloseConnection(4400, "namespace='x y'"))
        answers.append(await far.next_event())

    async with far_end(script) as connection:
        assert await connection.receive_frame() == b"last"
        assert await connection.receive_frame() is None
        assert await connection.receive_frame() is None
        assert (connection.close_code, connection.close_reason) == (4400, "namespace='x y'")
        await connection.send_frames([b"after the close: dropped"])
    assert isinstance(answers[0], CloseConnection) and answers[0].code == 4400


async def test_a_stream_that_ends_without_a_close_is_a_close():
    async def script(far):
        await far.accept()

    async with far_end(script) as connection:
        assert await connection.receive_frame() is None
    assert connection.close_code == 1006


async def test_a_message_over_the_limit_ends_the_connection_clearly():
    answers = []

    async def script(far):
        await far.accept()
        await far.next_event()  # past the upgrade: its answer's read would raise too
        await far.send(BytesMessage(data=bytes(600), message_finished=False),
                       BytesMessage(data=bytes(600)))
        answers.append(await far.next_event())

    async with far_end(script, max_message=1000) as connection:
        await connection.send_frames([b"ready"])
        with pytest.raises(ProtocolError, match="over the limit of 1000 bytes"):
            await connection.receive_frame()
    assert isinstance(answers[0], CloseConnection) and answers[0].code == 1009


async def test_a_broken_frame_ends_the_connection_clearly():
    answers = []

    async def script(far):
        await far.accept()
        await far.next_event()
        await far.stream.send_all(b"\x85\x00")  # opcode 5: reserved
        answers.append(await far.next_event())

    async with far_end(script) as connection:
        await connection.send_frames([b"ready"])
        with pytest.raises(ProtocolError, match="a broken WebSocket frame came from /ws"):
            await connection.receive_frame()
    assert isinstance(answers[0], CloseConnection) and answers[0].code == 1002


async def test_concurrent_senders_never_interleave_their_messages():
    size, senders, each = 1 << 20, 6, 3
    received = []

    async def script(far):
        await far.accept()
        await trio.sleep(0.05)  # the client's socket fills: its writes go in pieces
        while len(received) < senders * each:
            received.append(await far.next_message())

    async with far_end(script) as connection:
        async def sender(mark: int) -> None:
            for _ in range(each):
                await connection.send_frames([bytes([mark]) * size])

        async with trio.open_nursery() as nursery:
            for mark in range(senders):
                nursery.start_soon(sender, mark)
    assert sorted(message[0] for message in received) == sorted(list(range(senders)) * each)
    for message in received:
        assert message == bytes([message[0]]) * size


async def test_what_send_now_leaves_goes_first():
    received = []
    size = 60_000  # under LARGE_PART_BYTES: send_now takes it
    count = []

    async def script(far):
        await far.accept()
        await trio.sleep(0.05)  # the client's socket fills meanwhile
        while len(received) < len(count) + 1 or not count:
            received.append(await far.next_message())

    async with far_end(script) as connection:
        left = 0
        while not left:  # until the kernel takes only a part of one
            left = connection.send_now(bytes([len(count) % 256]) * size)
            count.append(left)
        assert connection.send_now(b"not now") is None  # the rest must go first
        await connection.send_frames([])
        await connection.send_frames([b"last"])
    assert received[-1] == b"last"
    assert received[:-1] == [bytes([i % 256]) * size for i in range(len(count))]


async def test_close_does_the_handshake():
    answers = []

    async def script(far):
        await far.accept()
        answers.append(await far.next_event())
        await far.send(answers[0].response())
        answers.append(await far.next_event())  # then the stream ends

    async with far_end(script) as connection:
        with trio.fail_after(0.5):  # not the bounded wait: the answer ends it
            await connection.aclose()
    # then wsproto's 1006: the client closed its socket
    assert [(type(a), a.code) for a in answers] == [(CloseConnection, 1000),
                                                    (CloseConnection, 1006)]


async def test_close_waits_a_bounded_time_for_a_silent_far_side(monkeypatch):
    monkeypatch.setattr(ws_connection, "_CLOSE_WAIT", 0.2)
    answers = []

    async def script(far):
        await far.accept()
        answers.append(await far.next_event())
        answers.append(await far.next_event())  # no answer: the client gives up

    async with far_end(script) as connection:
        start = trio.current_time()
        await connection.aclose()
        assert 0.15 < trio.current_time() - start < 2
    assert [(type(a), a.code) for a in answers] == [(CloseConnection, 1000),
                                                    (CloseConnection, 1006)]


@pytest.mark.parametrize("remote_kind", ["websocket"], indirect=True)
async def test_concurrent_callers_requests_share_messages(remote_kind, new_remote_device,
                                                          monkeypatch):
    """Against a real moalab-server: the server's cost is per message, so requests of
    callers in flight together go out joined (each alone: one message a call)."""
    device = await new_remote_device()
    sent = []
    send_message = ws_connection.WebSocketConnection.send_message

    async def counted(self, data):
        sent.append(data)
        await send_message(self, data)

    monkeypatch.setattr(ws_connection.WebSocketConnection, "send_message", counted)
    calls = 8 * 20

    async def caller(i: int) -> None:
        for j in range(20):
            assert await device.echo(i, j) == [[i, j], {}]

    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(caller, i)
    assert len(sent) < calls * 0.6, (len(sent), calls)
