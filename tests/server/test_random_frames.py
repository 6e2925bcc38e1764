"""Many thousand random frames against a live moalab-server, from several WebSocket
connections at once, while a normal WebSocketExecutor client works alongside.

Frames: random bytes, truncated and damaged requests, valid maps with wrong ops,
fields and types, real requests, several joined, big ones, text messages; and,
on a connection of its own, one over the server's size limit. Every frame is
answered as the protocol says, the bystander client never notices, the server
stays up and its memory bounded.

``MOALAB_FUZZ_SEED`` replays a run (the seed is printed); ``MOALAB_FUZZ_FRAMES``
sets how many frames (default 10,000).

Tests at the end pin fixed bugs: an empty frame, and floods (a huge stream
credit, calls whose replies are never read) that once grew the server without
bound.
"""

import os
import random
import time
from collections import Counter
from typing import Any

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, DisconnectionTimeout, open_websocket_url

from moalab.executor.codec import decode_many, encode
from moalab.executor.errors import ProtocolError
from moalab.executor.websocket import WebSocketExecutor
from tests.executor.devices import Probe

from ..conftest import AUTH_HEADERS, WS_AUTH_HEADERS, rss_mb, running_server
from .resources import socket_count, wait_released

PROBE = "tests.executor.devices:Probe"
LIMIT = 1 << 20  # --max-message-size of the server here: an oversized frame is cheap
SEED = int(os.environ.get("MOALAB_FUZZ_SEED") or random.randrange(2**32))
FRAMES = int(os.environ.get("MOALAB_FUZZ_FRAMES") or 10_000)
CONNECTIONS = 4
BIG_REPLIES = 64 << 20  # what a raw client here accepts in one message


@pytest.fixture(scope="module")
def server():
    with running_server("--max-message-size", str(LIMIT)) as server:
        yield server


def ws_url(server) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


# ------------------------------------------------------------------- frames

# methods of every kind; not sleep, tick or endless, which random arguments could
# keep busy for ever
METHODS = ["echo", "async_add", "where", "record", "async_record", "get_calls", "set_value",
           "fail_value", "fail_custom", "fail_unknown", "count", "async_count",
           "count_then_fail", "_private", "not_exposed", "__init__", "__class__", "nope", ""]
OPS = ["call", "gen", "credit", "cancel", "create", "delete", "list", "echo", "ping"]
# requests the server answers from the frame itself (no object is touched): their
# damaged copies are too
PLAIN = [{"id": 1, "op": "list"}, {"id": "e", "op": "echo"},
         {"id": 2, "op": "call", "obj": "nobody", "method": "echo", "args": [1]},
         {"id": 3, "op": "credit", "n": 4}, {"id": 4, "op": "cancel"}, {"op": "ping"},
         {"id": 5, "op": "delete", "name": "nobody"}, {"op": "fly", "id": [1.5]}]


def owed_by_frame(frame: bytes) -> tuple[int, int]:
    """(replies naming no request, pongs) that ``frame`` is owed, as the protocol
    says: an undecodable frame, a message that is not a map or an id of the wrong
    type get one error naming no request, a map without an id one reply naming none
    (bar credit, cancel and ping); a ping gets a pong."""
    try:
        messages = decode_many(frame)
    except ProtocolError:
        return 1, 0
    anonymous = pongs = 0
    for msg in messages:
        if not isinstance(msg, dict):
            anonymous += 1
            continue
        request_id, op = msg.get("id"), msg.get("op")
        if not isinstance(request_id, int | str | None):
            anonymous += 1
        elif op == "ping":
            pongs += 1
        elif request_id is None and op not in ("credit", "cancel"):
            anonymous += 1
    return anonymous, pongs


class Fuzzer:
    """Makes one connection's frames and knows what each is owed."""

    def __init__(self, rng: random.Random, conn: int, own: str) -> None:
        self.rng = rng
        self.conn = conn
        self.own = own  # a Probe of this connection's own
        self.n = 0
        self.owed: set[str] = set()  # ids answered exactly once
        self.silent: set[str] = set()  # ids never answered (credit, cancel naming nothing)
        self.expected: dict[str, Any] = {}  # exact results, of real requests
        self.streams: dict[str, list] = {}  # items of real streams, by id
        self.anonymous = 0  # replies naming no request
        self.pongs = 0
        self.kinds: Counter[str] = Counter()

    def _id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.conn}-{self.n}"

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randrange(11 if depth < 3 else 8)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.choice([0, 1, -1, 2**63 - 1, -2**63, 2**64 - 1, rng.randrange(-99, 99)])
        if kind == 3:
            return rng.choice([0.0, -0.0, 1e308, float("nan"), float("inf"), rng.random()])
        if kind == 4:
            return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(12)))
        if kind == 5:
            return rng.randbytes(rng.randrange(12))
        if kind == 6:
            return rng.choice(["p", "nobody", "", "echo", "call"])
        if kind == 7:
            return rng.randrange(-3, 40)
        if kind in (8, 9):
            return [self.value(depth + 1) for _ in range(rng.randrange(4))]
        return {self.rng.choice(["a", "n", "x", 1, 2**40, "sync_fn"]): self.value(depth + 1)
                for _ in range(rng.randrange(3))}

    def field(self, likely: list[Any]) -> Any:
        return self.rng.choice(likely) if self.rng.random() < 0.75 else self.value()

    def wrong_map(self) -> dict:
        """A map with a string id and random op, fields and types."""
        rng = self.rng
        msg: dict[str, Any] = {"id": self._id("w")}
        msg["op"] = self.field(["call"] * 3 + ["gen"] * 2 + OPS + ["fly", ""])
        for key, likely in (("obj", [self.own, self.own, "nobody", ""]),
                            ("method", METHODS),
                            ("args", [[], [1], [1, 2], [3], ["x"], [None, 2]]),
                            ("kwargs", [{}, {"a": 1}, {1: 2}, {"sync_fn": 1}, {"self": 1}]),
                            ("credit", [0, 5, 64, -1, 2**40]),
                            ("n", [1, 10, -5]),
                            ("name", [f"made-{self.conn}", "", "p"]),
                            ("cls", [PROBE, "tests.executor.devices:OtherProbe", "os:system",
                                     "tests.executor.forbidden_devices:ForbiddenProbe"])):
            if rng.random() < 0.8:
                msg[key] = self.field(likely)
        if msg.get("op") == "gen" and msg.get("method") in ("count", "async_count",
                                                           "count_then_fail"):
            msg["args"] = [rng.randrange(50)]  # a finite stream
        return msg

    def account(self, msg: dict) -> dict:
        """Note what ``msg`` (sent whole) is owed, by its id; return it."""
        op, request_id = msg.get("op"), msg.get("id")
        if request_id in self.expected or request_id in self.streams or op == "ping":
            pass
        elif op in ("credit", "cancel"):
            self.silent.add(request_id)
        elif op != "gen":  # a stream may wait for credit: any number of replies
            self.owed.add(request_id)
        return msg

    def real_request(self) -> dict:
        rng, i = self.rng, self.n
        kind = rng.randrange(5)
        if kind == 0:
            msg = {"id": self._id("v"), "op": "call", "obj": self.own, "method": "echo",
                   "args": [i]}
            self.expected[msg["id"]] = [[i], {}]
        elif kind == 1:
            msg = {"id": self._id("v"), "op": "call", "obj": self.own, "method": "async_add",
                   "args": [i, 1]}
            self.expected[msg["id"]] = i + 1
        elif kind == 2:
            msg = {"id": self._id("v"), "op": "gen", "obj": self.own, "method": "count",
                   "args": [5], "credit": 64}
            self.streams[msg["id"]] = [0, 1, 2, 3, 4]
        elif kind == 3:
            msg = {"id": self._id("v"), "op": "list"}
        else:
            msg = {"op": "ping"}
        return self.account(msg)

    def damaged(self) -> bytes:
        frame = b"".join(encode(self.rng.choice(PLAIN)) for _ in range(self.rng.randrange(1, 4)))
        cut = self.rng.randrange(len(frame))
        how = self.rng.randrange(4)
        if how == 0:
            return frame[:cut]
        if how == 1:
            return frame[:cut] + bytes([self.rng.randrange(256)]) + frame[cut + 1:]
        if how == 2:
            return frame[:cut] + self.rng.randbytes(self.rng.randrange(1, 6)) + frame[cut:]
        return frame[:cut] + frame[cut + self.rng.randrange(1, 6):]

    def frame(self) -> bytes | str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.25:
            kind, frame = "random bytes", rng.randbytes(rng.randrange(1, 300))
        elif roll < 0.35:  # never arrives whole: owed one error, naming no request
            whole = encode(self.wrong_map())
            kind, frame = "truncated", whole[:rng.randrange(1, len(whole))]
        elif roll < 0.50:
            kind, frame = "damaged", self.damaged() or b"\xc1"
        elif roll < 0.78:
            kind, frame = "wrong map", encode(self.account(self.wrong_map()))
        elif roll < 0.88:
            kind, frame = "real request", encode(self.real_request())
        elif roll < 0.97:
            parts = [self.account(self.wrong_map()) if rng.random() < 0.6
                     else self.real_request() for _ in range(rng.randrange(2, 6))]
            kind, frame = "joined", b"".join(encode(m) for m in parts)
        elif roll < 0.99:
            kind, frame = "text", "".join(chr(rng.randrange(32, 0x7FF))
                                          for _ in range(rng.randrange(1, 40)))
        else:
            kind, frame = "big", rng.randbytes(rng.randrange(100_000, LIMIT - 1000))
        self.kinds[kind] += 1
        anonymous, pongs = owed_by_frame(frame if isinstance(frame, bytes) else frame.encode())
        self.anonymous += anonymous
        self.pongs += pongs
        return frame


# ------------------------------------------------------------------- clients


async def fuzz_connection(server, conn: int, frames: int, log: list[str]) -> None:
    """Send ``frames`` random frames on a connection of its own, reading replies all
    along; then check every frame got what it is owed."""
    fuzzer = Fuzzer(random.Random(SEED * 100 + conn), conn, f"fuzz-{os.getpid()}-{conn}")
    replies: list[dict] = []
    answered: set[Any] = set()  # the ids replies named so far
    anonymous = 0  # replies naming no request so far

    async with open_websocket_url(ws_url(server), extra_headers=WS_AUTH_HEADERS,
                                  max_message_size=BIG_REPLIES) as ws:
        async def read() -> None:
            nonlocal anonymous
            while True:
                try:
                    message = await ws.get_message()
                except ConnectionClosed:
                    return
                for reply in decode_many(message):
                    replies.append(reply)
                    if reply.get("op") in ("update", "pong"):
                        continue
                    if reply.get("id") is None:
                        anonymous += 1
                    elif isinstance(reply.get("id"), int | str):
                        answered.add(reply["id"])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read)
            await ws.send_message(encode({"id": f"own-{conn}", "op": "create",
                                          "name": fuzzer.own, "cls": PROBE}))
            for _ in range(frames):
                await ws.send_message(fuzzer.frame())
            await ws.send_message(encode({"id": f"end-{conn}", "op": "echo"}))
            owed = fuzzer.owed | {f"end-{conn}"}
            with trio.fail_after(60):
                # replies of sync calls may follow the end marker's
                while not (owed <= answered and anonymous >= fuzzer.anonymous):
                    await trio.sleep(0.05)
            await trio.sleep(0.2)  # room for replies that should not come
            nursery.cancel_scope.cancel()

    by_id: dict[Any, list[dict]] = {}
    for reply in replies:
        if reply.get("op") in ("update", "pong"):
            continue
        key = reply.get("id") if isinstance(reply.get("id"), int | str | None) else repr(
            reply.get("id"))
        by_id.setdefault(key, []).append(reply)
    anonymous = by_id.get(None, [])
    assert len(anonymous) == fuzzer.anonymous, (SEED, conn, len(anonymous), fuzzer.anonymous)
    assert all("error" in r or "ok" in r for r in anonymous), anonymous
    pongs = sum(r.get("op") == "pong" for r in replies)
    assert pongs == fuzzer.pongs, (SEED, conn, pongs, fuzzer.pongs)
    for request_id in fuzzer.owed:
        assert len(by_id.get(request_id, [])) == 1, (SEED, request_id, by_id.get(request_id))
    for request_id, result in fuzzer.expected.items():
        assert by_id[request_id][0].get("ok") == result, (SEED, by_id[request_id])
    for request_id, items in fuzzer.streams.items():
        got = by_id.get(request_id, [])
        assert [i for r in got if "items" in r for i in r["items"]] == items, (SEED, got)
        assert "end" in got[-1], (SEED, got)
    for request_id in fuzzer.silent:
        assert request_id not in by_id, (SEED, by_id[request_id])
    strangers = [key for key in by_id if isinstance(key, str) and key.startswith(("w", "v"))
                 and "-" in key and not key[1:].startswith(f"{conn}-")]
    assert not strangers, (SEED, strangers)  # replies meant for another connection
    log.append(f"connection {conn}: {dict(fuzzer.kinds)}, {len(replies)} replies")


async def oversized_connection(server) -> int:
    """A frame over the size limit: returns the close code the server ends with."""
    async with open_websocket_url(ws_url(server), extra_headers=WS_AUTH_HEADERS,
                                  max_message_size=BIG_REPLIES) as ws:
        await ws.send_message(encode({"id": 1, "op": "list"}))
        with trio.fail_after(10):
            assert decode_many(await ws.get_message())[0]["id"] == 1
        try:
            await ws.send_message(encode({"id": 2, "op": "echo", "pad": b"x" * LIMIT}))
            with trio.fail_after(10):
                while True:
                    await ws.get_message()
        except ConnectionClosed as exc:
            return exc.reason.code
    raise AssertionError("unreachable")


async def bystander(server, stop: trio.Event, stats: dict) -> None:
    """A normal client calling all along: every call answers, and right."""
    async with WebSocketExecutor("127.0.0.1", server.port) as executor:
        device = Probe(name=f"bystander-{os.getpid()}", executor=executor)
        await executor.ensure_remote_instance(device)
        i = 0
        while not stop.is_set():
            start = time.perf_counter()
            with trio.fail_after(10):
                assert await device.echo(i) == [[i], {}]
                assert await device.async_add(i, 1) == i + 1
            stats["worst"] = max(stats.get("worst", 0), time.perf_counter() - start)
            stats["calls"] = stats.get("calls", 0) + 2
            i += 1
            await trio.sleep(0.01)


async def test_many_random_frames_from_several_connections(server):
    print(f"MOALAB_FUZZ_SEED={SEED} MOALAB_FUZZ_FRAMES={FRAMES}")
    rss_before = rss_mb(server.process.pid)
    sockets_before = socket_count(server.process.pid)
    log: list[str] = []
    stats: dict[str, float] = {}
    stop = trio.Event()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(bystander, server, stop, stats)
        async with trio.open_nursery() as fuzzers:
            for conn in range(CONNECTIONS):
                fuzzers.start_soon(fuzz_connection, server, conn, FRAMES // CONNECTIONS, log)
            # the limit ends that connection only: the server closes it, code 1009
            assert await oversized_connection(server) == 1009
        stop.set()
    elapsed = time.perf_counter() - start

    assert server.process.poll() is None, server.log()
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH_HEADERS) as client:
        assert (await client.get("/health")).json()["status"] == "ok"
    async with WebSocketExecutor("127.0.0.1", server.port) as executor:  # a new client
        device = Probe(name=f"after-{os.getpid()}", executor=executor)
        await executor.ensure_remote_instance(device)
        assert await device.echo("after") == [["after"], {}]
    growth = rss_mb(server.process.pid) - rss_before
    # every connection has ended: the server holds none of them (it once kept
    # sessions and sockets of fuzzing connections, growing by 100 MiB a round)
    sockets_left, sessions_left = await wait_released(server, sockets_before, 0, timeout=5)
    print(*log, sep="\n")
    print(f"{FRAMES} frames in {elapsed:.1f} s; bystander: {stats.get('calls', 0):.0f} calls, "
          f"worst {stats.get('worst', 0) * 1000:.0f} ms; server RSS {rss_before:.0f} MB "
          f"+{growth:.0f} MB, then {rss_mb(server.process.pid):.0f} MB; "
          f"{sockets_left} sockets and {sessions_left} sessions left")
    assert stats.get("calls", 0) >= 10, stats
    assert growth < 100, f"server RSS grew by {growth:.0f} MB"
    assert sockets_left <= 0 and sessions_left == 0, (sockets_left, sessions_left)


# ------------------------------------------------------------------ bugs found


async def test_unhashable_id_with_a_call_pending_leaves_the_server_up(server):
    """It used to end the whole server: a TypeError in a run_sync_soon callback is a
    TrioInternalError."""
    name = f"pending-{os.getpid()}"
    async with open_websocket_url(ws_url(server), extra_headers=WS_AUTH_HEADERS) as ws:
        await ws.send_message(b"".join(encode(m) for m in (
            {"id": 1, "op": "create", "name": name, "cls": PROBE},
            {"id": 2, "op": "call", "obj": name, "method": "sleep", "args": [0.3]},
            {"id": [3], "op": "call", "obj": name, "method": "echo"})))
        replies: list[dict] = []
        with trio.fail_after(10):
            while not any(r.get("id") == 2 for r in replies):
                replies += decode_many(await ws.get_message())
        refusal, = [r for r in replies if r.get("id") is None]
        assert "request id" in refusal["error"]["message"]
    await trio.sleep(0.3)
    assert server.process.poll() is None, server.log()
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH_HEADERS) as client:
        assert (await client.get("/health")).json()["status"] == "ok"



async def test_empty_frame_gets_an_error_reply(server):
    async with open_websocket_url(ws_url(server), extra_headers=WS_AUTH_HEADERS) as ws:
        await ws.send_message(b"")
        with trio.fail_after(10):
            reply, = decode_many(await ws.get_message())
        assert reply["id"] is None and "empty frame" in reply["error"]["message"]
        await ws.send_message(encode({"id": 1, "op": "list"}))
        with trio.fail_after(10):
            assert decode_many(await ws.get_message())[0]["id"] == 1


async def test_empty_text_frame_gets_an_error_reply(server):
    async with open_websocket_url(ws_url(server), extra_headers=WS_AUTH_HEADERS) as ws:
        await ws.send_message("")
        with trio.fail_after(10):
            reply, = decode_many(await ws.get_message())
        assert reply["id"] is None and "empty frame" in reply["error"]["message"]


# -------------------------------------------------------------------- floods


@pytest.fixture
def own_server():
    """A server of the test's own: a flood may leave it big."""
    with running_server("--max-message-size", str(LIMIT)) as server:
        yield server


BOUND_MB = 100
"""How much a flood may grow the server's RSS: a bounded server stays far below."""


async def rss_growth_while(server, seconds: float, flood) -> float:
    """How much the server's RSS grew while ``flood(ws)`` ran for ``seconds``, or until
    it grew past :data:`BOUND_MB` (which fails the test without eating the machine)."""
    before = rss_mb(server.process.pid)
    growth = 0.0
    async with trio.open_nursery() as drainers:
        try:
            async with open_websocket_url(ws_url(server), extra_headers=WS_AUTH_HEADERS,
                                          max_message_size=BIG_REPLIES,
                                          disconnect_timeout=2) as ws:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(flood, ws)
                    with trio.move_on_after(seconds):
                        while growth <= BOUND_MB:
                            await trio.sleep(0.1)
                            growth = rss_mb(server.process.pid) - before
                    nursery.cancel_scope.cancel()
                # trio-websocket's reader waits for each message to be taken: take them
                # while closing, or the reader never sees the server's closing reply and
                # the connection's exit waits for it forever (seen: a hang of CI)
                drainers.start_soon(_drain, ws)
        except DisconnectionTimeout:
            pass  # a server busy with its backlog may not finish the closing handshake
        drainers.cancel_scope.cancel()
    return growth


async def _drain(ws) -> None:
    try:
        while True:
            await ws.get_message()
    except ConnectionClosed:
        pass


async def still_serving(server) -> None:
    assert server.process.poll() is None
    async with WebSocketExecutor("127.0.0.1", server.port) as executor:
        device = Probe(name=f"after-flood-{os.getpid()}", executor=executor)
        await executor.ensure_remote_instance(device)
        with trio.fail_after(10):
            assert await device.echo(1) == [[1], {}]


def call_flood(method: str, arg: object, per_frame: int, pause: float = 0):
    """A flood for :func:`rss_growth_while`: frames of ``per_frame`` calls of
    ``method(arg)`` on a Probe, sent without reading a reply, ``pause`` s apart."""
    ids = iter(range(10**9))

    async def flood(ws) -> None:
        await ws.send_message(encode({"id": -1, "op": "create", "name": "flood",
                                      "cls": PROBE}))
        while True:
            await ws.send_message(b"".join(
                encode({"id": next(ids), "op": "call", "obj": "flood", "method": method,
                        "args": [arg]}) for _ in range(per_frame)))
            await trio.sleep(pause)

    return flood


async def test_stream_with_huge_credit_and_no_reader_is_bounded(own_server):
    async def flood(ws) -> None:
        await ws.send_message(encode({"id": 1, "op": "create", "name": "flood",
                                      "cls": PROBE}))
        await ws.send_message(encode({"id": 2, "op": "gen", "obj": "flood",
                                      "method": "endless", "args": [1000],
                                      "credit": 2**62}))
        await trio.sleep_forever()  # reading nothing

    growth = await rss_growth_while(own_server, 4, flood)
    await still_serving(own_server)
    assert growth <= BOUND_MB, f"server RSS grew by {growth:.0f} MB"


async def test_calls_without_reading_replies_are_bounded(own_server):
    growth = await rss_growth_while(own_server, 4, call_flood("echo", b"x" * 100_000, 8))
    await still_serving(own_server)
    assert growth <= BOUND_MB, f"server RSS grew by {growth:.0f} MB"


async def test_frames_of_calls_with_big_results_and_no_reader_are_bounded(own_server):
    """Each frame asks for 64 results of 4 MB: the object's thread takes the calls a
    few at a time, and none while the replies wait for the client (it used to run
    them all, queueing 256 MB of replies a frame)."""
    growth = await rss_growth_while(own_server, 4, call_flood("ramp", 1_000_000, 64, 0.05))
    await still_serving(own_server)
    assert growth <= BOUND_MB, f"server RSS grew by {growth:.0f} MB"
