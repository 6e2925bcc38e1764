"""RequestMux: replies matched to their requests; what the far side garbles is skipped."""

import logging

import trio

from moalab.executor.codec import decode, encode
from moalab.executor.errors import ExecutorNotRunning
from moalab.executor.messages import List
from moalab.executor.multiplexer import RequestMux

from .conftest import wait_until


class _Wire:
    """The frames a mux writes, kept (no far side needed to answer by hand)."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []

    async def send_frames(self, frames: list[bytes]) -> None:
        self.frames.extend(frames)


async def test_a_reply_that_does_not_parse_is_logged_and_skipped(caplog):
    wire = _Wire()
    mux = RequestMux(lambda: ExecutorNotRunning("stopped"), lambda update: None,
                     lambda: "TestMux")
    mux.open(wire)
    results = []

    async def call() -> None:
        results.append(await mux.request(List(None)))

    with caplog.at_level(logging.WARNING, "moalab.executor.remote"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call)
            await wait_until(lambda: bool(wire.frames), timeout=5)
            request_id = decode(wire.frames[0])["id"]
            # a reply without a result, and an update without its fields: neither may
            # answer the call nor end the connection; the real reply after them does
            mux.receive(encode({"id": request_id, "bogus": 1})
                        + encode({"op": "update", "obj": 3})
                        + encode({"id": request_id, "ok": 7}))
    assert results == [7]
    assert caplog.text.count("TestMux: a message from the far side is ignored") == 2
