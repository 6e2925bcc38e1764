import os

import pytest
import trio
import trio.testing

from moalab.executor.batching import LARGE_PART_BYTES
from moalab.executor.errors import ProtocolError
from moalab.executor.framing import FramedStream, pop_frames, prefixed, read_some

FRAMES = [b"", b"a", os.urandom(1000), os.urandom(3 << 20), b"after", os.urandom(70_000)]
def framed(frame: bytes) -> bytes:
    return b"".join(prefixed(frame))


PARTS = [b"head", memoryview(os.urandom(200_000)), b"", memoryview(os.urandom(100))]


async def _socket_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    a, b = trio.socket.socketpair()
    return trio.SocketStream(a), trio.SocketStream(b)


@pytest.mark.parametrize("pair", ["socket", "memory"])
async def test_frames_arrive_whole_and_in_order(pair):
    if pair == "socket":
        left, right = await _socket_pair()
    else:  # a stream without a socket: read in chunks
        left, right = trio.testing.memory_stream_pair()
    sender, receiver = FramedStream(left), FramedStream(right)
    received = []
    async with trio.open_nursery() as nursery:
        # a frame may come in parts (a message and its arrays' bytes): sent as one frame
        nursery.start_soon(sender.send_frames, [*FRAMES, PARTS])
        for _ in range(len(FRAMES) + 1):
            received.append(bytes(await receiver.receive_frame()))
    assert received == [*FRAMES, b"".join(PARTS)]
    await sender.aclose()
    assert await receiver.receive_frame() is None


async def test_a_large_frame_cut_short_ends_the_stream():
    left, right = await _socket_pair()
    receiver = FramedStream(right)

    async def send_part() -> None:
        await left.send_all(framed(bytes(1 << 20))[:500_000])
        await left.aclose()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send_part)
        assert await receiver.receive_frame() is None


async def test_an_oversized_frame_is_refused():
    left, right = await _socket_pair()
    await left.send_all(framed(bytes(100)))
    with pytest.raises(ProtocolError, match="over the limit of 50"):
        await FramedStream(right, max_frame=50).receive_frame()


def test_pop_frames_takes_whole_frames_only():
    buffer = bytearray(framed(b"one") + framed(b"two") + framed(b"three")[:5])
    assert pop_frames(buffer) == [b"one", b"two"]
    assert pop_frames(buffer) == []
    buffer += framed(b"three")[5:]
    assert pop_frames(buffer) == [b"three"] and buffer == bytearray()
    with pytest.raises(ProtocolError, match="over the limit"):
        pop_frames(bytearray(framed(bytes(10))), max_frame=5)


async def test_read_some_reads_as_a_socket_stream_receives():
    """Its checkpoints, its end and its errors are SocketStream.receive_some's."""
    a, b = trio.socket.socketpair()
    await a.send(b"abc")
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await read_some(b, 10)
    assert await read_some(b, 10) == b"abc"  # the cancelled read took nothing
    async with trio.open_nursery() as nursery:  # one that waits for the data
        nursery.start_soon(a.send, b"later")
        assert await read_some(b, 10) == b"later"
    await b.send(b"never read")
    a.close()  # with data unread: its peer's next read is refused
    with pytest.raises(trio.BrokenResourceError):
        await read_some(b, 10)
    c, d = trio.socket.socketpair()
    c.close()
    assert await read_some(d, 10) == b""  # the end of the stream
    d.close()
    with pytest.raises(trio.ClosedResourceError):
        await read_some(d, 10)


async def test_send_now_writes_at_once_and_leaves_the_rest_to_the_next_send():
    left, right = await _socket_pair()
    sender, receiver = FramedStream(left), FramedStream(right)
    assert sender.send_now(b"one") == 0  # written whole, with no await
    assert await receiver.receive_frame() == b"one"
    frame = os.urandom(1000)
    sent = 0
    while (unsent := sender.send_now(frame)) == 0:  # until the socket's buffer is full
        sent += 1
    assert unsent > 0
    assert sender.send_now(b"x") is None  # a part waits: nothing goes before it
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender.send_frames, [b"last"])
        for _ in range(sent + 1):
            assert await receiver.receive_frame() == frame
        assert await receiver.receive_frame() == b"last"
    assert sender.send_now(bytes(LARGE_PART_BYTES)) is None  # large: send_frames'
    assert FramedStream(trio.testing.memory_stream_pair()[0]).send_now(b"x") is None
