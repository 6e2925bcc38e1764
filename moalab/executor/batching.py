"""Batching for transports: encoded frames joined into few transport messages, stream
items split into frames of bounded size, queued frames taken a burst at a time.

The codec encodes and decodes single frames; how many of them travel together is the
transport's business, decided here for every transport (the WebSocket client and
route, length-prefixed framing, a session's sender).
"""

from typing import Any

import trio

from .codec import MAX_FRAME_MESSAGES, Frame, frame_size

__all__ = ("BURST_BYTES", "LARGE_PART_BYTES", "chunk_items", "join_frames", "receive_burst")

BURST_BYTES = 1 << 20
"""Frames are joined into transport messages of about this size at most."""

LARGE_PART_BYTES = 64 * 1024
"""A part of a frame at least this long (arrays) is written on its own, as it lies in
memory, instead of copied into a join with others."""


def join_frames(frames: list[Frame], limit: int = BURST_BYTES) -> list[bytes]:
    """Join frames end to end into messages of at most ``limit`` bytes (a larger frame
    alone) and :data:`~moalab.executor.codec.MAX_FRAME_MESSAGES` frames, for transports
    whose messages can hold several (see :func:`~moalab.executor.codec.decode_many`)."""
    messages: list[bytes] = []
    group: list[bytes | memoryview] = []
    size = count = 0
    for frame in frames:
        frame_length = frame_size(frame)
        if group and (size + frame_length > limit or count == MAX_FRAME_MESSAGES):
            messages.append(b"".join(group))
            group, size, count = [], 0, 0
        count += 1
        if isinstance(frame, bytes):
            group.append(frame)
        else:
            group.extend(frame)
        size += frame_length
    if group:
        messages.append(b"".join(group))
    return messages


def chunk_items(items: list[Any], limit: int = BURST_BYTES) -> list[list[Any]]:
    """Split a batch so that no frame holds much more than ``limit`` bytes of arrays or
    bytes: big frames keep one side idle while the other copies them."""
    chunks: list[list[Any]] = [[]]
    size = 0
    for item in items:
        item_size = getattr(item, "nbytes", None) or (len(item) if isinstance(item, bytes)
                                                      else 0)
        if chunks[-1] and size + item_size > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks


async def receive_burst(receive: trio.MemoryReceiveChannel) -> list[Any]:
    """Wait for one item of ``receive``, then take every item already waiting: a
    sender task writes them in one go."""
    items = [await receive.receive()]
    while True:
        try:
            items.append(receive.receive_nowait())
        except trio.WouldBlock:
            return items
