"""The session's send queue: a slow reader holds the session back, and it recovers."""

import math
from collections.abc import Awaitable, Callable

import trio

from moalab.executor.codec import decode_many, encode
from moalab.executor.framing import FramedStream
from moalab.executor.registry import ObjectRegistry
from moalab.executor.session import QUEUE_LIMIT, Session

PROBE = "tests.executor.devices:Probe"


def request_channel() -> tuple[trio.MemorySendChannel, Callable[[], Awaitable[bytes | None]]]:
    """A client's requests: frames sent into the channel, and the session's ``receive``
    (None once the channel is closed: the end of the connection)."""
    requests_send, requests_receive = trio.open_memory_channel(math.inf)

    async def receive() -> bytes | None:
        try:
            return await requests_receive.receive()
        except trio.EndOfChannel:
            return None

    return requests_send, receive


async def test_reader_and_stream_both_waiting_for_the_queue_recover():
    """A stream fills the queue past its limit while the client does not read: both the
    session's reader and the stream wait for it to drain. Once the client reads again,
    the session answers a new request (it used to wake only one of the two waiters
    and stop reading for good)."""
    registry = ObjectRegistry(allow=["tests"])
    reading = trio.Event()
    replies: list[dict] = []

    async def send_frames(frames: list[bytes]) -> None:
        await reading.wait()  # a client that has stopped reading
        for frame in frames:
            replies.extend(decode_many(frame))

    requests_send, receive = request_channel()

    session = Session(registry, send_frames)
    big = QUEUE_LIMIT // 64
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.serve, receive)
        requests_send.send_nowait(encode({"id": 1, "op": "create", "name": "p", "cls": PROBE}))
        requests_send.send_nowait(encode({"id": 2, "op": "gen", "obj": "p",
                                          "method": "endless", "args": [big],
                                          "credit": 10**6}))
        with trio.fail_after(20):
            while session._replies.size <= QUEUE_LIMIT:
                await trio.sleep(0.01)
        requests_send.send_nowait(encode({"id": 3, "op": "list"}))
        await trio.sleep(0.2)  # reader and stream are both waiting for the queue now
        queued_items = session._replies.size // big
        reading.set()
        with trio.fail_after(20):
            # the stream goes on past what was queued, and the request is answered
            while len(stream_items(replies)) <= 2 * queued_items:
                await trio.sleep(0.01)
        assert any(r.get("id") == 3 for r in replies)
        nursery.cancel_scope.cancel()
    registry.close()


def stream_items(replies: list[dict]) -> list:
    return [item for r in replies if r.get("id") == 2 for item in r.get("items", ())]


async def test_end_of_connection_is_seen_while_replies_wait():
    """A client stops reading, sends more frames, then leaves: the session sees the
    end of the connection while its replies wait (it used to wait for them to drain
    before reading on, for ever), and drops what it held for the client."""
    registry = ObjectRegistry(allow=["tests"])
    never = trio.Event()

    async def send_frames(frames: list[bytes]) -> None:
        await never.wait()  # a client that has stopped reading

    requests_send, receive = request_channel()

    session = Session(registry, send_frames)
    ended = trio.Event()

    async def serve() -> None:
        await session.serve(receive)
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        requests_send.send_nowait(encode({"id": 1, "op": "create", "name": "p", "cls": PROBE}))
        requests_send.send_nowait(encode({"id": 2, "op": "gen", "obj": "p",
                                          "method": "endless", "args": [QUEUE_LIMIT // 64],
                                          "credit": 10**6}))
        with trio.fail_after(20):
            while session._replies.size <= QUEUE_LIMIT:
                await trio.sleep(0.01)
        for _ in range(100):  # heartbeats, say
            requests_send.send_nowait(encode({"op": "ping"}))
        requests_send.close()
        with trio.fail_after(5):
            await ended.wait()
    assert session._out_send.statistics().current_buffer_used == 0
    registry.close()


class _TaskSteps(trio.abc.Instrument):
    """Counts the task steps of every task."""

    def __init__(self) -> None:
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1


async def test_a_request_nothing_waits_before_costs_no_task_switch_to_the_loop():
    """A frame read while none waits is handled by the reader itself: a non-blocking
    call's round trip takes three task steps (the client's, the reader's, the
    sender's; it took four, through serve()'s loop), an async call's five."""
    registry = ObjectRegistry(allow=["tests"])
    replied = [trio.Event()]

    async def send_frames(frames: list[bytes]) -> None:
        replied[0].set()

    requests_send, receive = request_channel()
    session = Session(registry, send_frames)
    counter = _TaskSteps()

    async def round_trip(message: dict) -> None:
        replied[0] = trio.Event()
        requests_send.send_nowait(encode(message))
        with trio.fail_after(10):
            await replied[0].wait()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.serve, receive)
        await round_trip({"id": 0, "op": "create", "name": "pin",
                          "cls": "tests.executor.nonblocking_devices:Pin"})
        await round_trip({"id": 1, "op": "create", "name": "p", "cls": PROBE})
        for method, args, most in (("write", [1], 3), ("async_add", [1, 2], 5)):
            obj = "pin" if method == "write" else "p"
            trio.lowlevel.add_instrument(counter)
            counter.steps = 0
            for i in range(20):
                await round_trip({"id": 10 + i, "op": "call", "obj": obj, "method": method,
                                  "args": args})
            trio.lowlevel.remove_instrument(counter)
            assert counter.steps / 20 <= most, (method, counter.steps / 20)
        nursery.cancel_scope.cancel()
    registry.close()


async def _framed_session(registry: ObjectRegistry) -> tuple[Session, FramedStream,
                                                               FramedStream]:
    """A session on one end of a socket pair, written with its FramedStream's send_now,
    as a process executor's child serves; the other end is the client's."""
    a, b = trio.socket.socketpair()
    server, client = FramedStream(trio.SocketStream(a)), FramedStream(trio.SocketStream(b))
    return Session(registry, server.send_frames, send_now=server.send_now), server, client


async def test_a_reply_written_at_once_costs_no_task_switch_to_the_sender():
    """With the connection's send_now, a reply none waits before is written by the task
    that made it: a non-blocking call's round trip takes two task steps (the client's,
    the reader's; three through the sender)."""
    registry = ObjectRegistry(allow=["tests"])
    session, server, client = await _framed_session(registry)
    counter = _TaskSteps()

    async def round_trip(message: dict) -> list:
        await client.send_frames([encode(message)])
        with trio.fail_after(10):
            return decode_many(await client.receive_frame())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.serve, server.receive_frame)
        await round_trip({"id": 0, "op": "create", "name": "pin",
                          "cls": "tests.executor.nonblocking_devices:Pin"})
        trio.lowlevel.add_instrument(counter)
        for i in range(20):
            assert await round_trip({"id": 10 + i, "op": "call", "obj": "pin",
                                     "method": "write", "args": [i]}) == [{"id": 10 + i, "ok": i}]
        trio.lowlevel.remove_instrument(counter)
        assert counter.steps / 20 <= 2, counter.steps / 20
        nursery.cancel_scope.cancel()
    registry.close()


async def test_replies_written_at_once_keep_their_order_when_the_socket_fills():
    """A client that does not read: the socket fills, a reply goes out in part, the
    next ones queue behind its rest; once it reads, every reply comes whole, in order."""
    registry = ObjectRegistry(allow=["tests"])
    session, server, client = await _framed_session(registry)
    count, size = 100, 30_000  # 3 MB of replies: far more than a socket's buffer
    async with trio.open_nursery() as nursery:
        nursery.start_soon(session.serve, server.receive_frame)
        await client.send_frames([encode({"id": 0, "op": "create", "name": "pin",
                                          "cls": "tests.executor.nonblocking_devices:Pin"})])
        assert "ok" in decode_many(await client.receive_frame())[0]
        nursery.start_soon(client.send_frames, [
            encode({"id": i, "op": "call", "obj": "pin", "method": "write",
                    "args": [[i, bytes(size)]]}) for i in range(1, count + 1)])
        with trio.fail_after(20):
            while session._replies.size < size:  # replies queue behind a rest
                await trio.sleep(0.01)
            replies = [decode_many(await client.receive_frame())[0] for _ in range(count)]
        assert [reply["id"] for reply in replies] == list(range(1, count + 1))
        assert all(reply["ok"] == [reply["id"], bytes(size)] for reply in replies)
        nursery.cancel_scope.cancel()
    registry.close()
