"""The machine's floors: bare trio TCP and websocket echo between two processes, the
same through a bare Quart app on hypercorn, and a bare hand-off from a trio task to
a worker thread and back.

The server half runs as ``python -m benchmarks.floor tcp|ws|quart`` (it prints
its port, then serves until killed); the client half is measured with the same
sizes as the executors: echo round trip (p50/p99), sequential echoes per
second, and bulk transfer in MB/s (128 KiB messages or chunks, like the array
stream's items). The Quart server (``quart_trio`` + hypercorn, the stack of both
moalab-server and PyMoa's server) has a websocket ``/ws`` like the trio-websocket
server (and ``/ws-thread``, the same with a worker-thread hand-off per message;
their client is WebSocketExecutor's connection, the trio-websocket server's is
trio-websocket's), ``POST /echo`` (``{"args": [x]}`` -> ``{"result": x + 1}``) and
``GET /bulk?count=N&size=S`` (a streamed body of N chunks of S bytes); REST also gets
the concurrent rate of 8 callers. The thread floor is the least any trio
executor with a worker thread pays per call: a queue put, the thread's wake-up
and a ``run_sync_soon`` back (no executor machinery at all). ``floor_tcp_thread``
is the TCP echo with that hand-off on the server side for each message: the
least a call to a child process that runs sync methods in a worker thread costs.
"""

import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from time import perf_counter

import outcome
import trio

from .common import SideResults, Sizes, percentile
from .workloads import concurrent_rate

__all__ = ("run_floors",)

ECHO_SIZE = 64
WS_RECEIVE_BUFFER = 1 << 20
"""``receive_buffer_size`` of the trio-websocket client (floor_websocket): its
default, 4 KiB a read, held the websocket floor to 90-190 MB/s here, below what
moalab's WebSocketExecutor (1 MiB reads) gets; with 1 MiB the floor is 650-1,600 MB/s."""


class _HandOff:
    """A worker thread that the calling trio task hands itself to and waits for: a
    queue put, the thread's wake-up, and a ``run_sync_soon`` back."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._token = trio.lowlevel.current_trio_token()
        self._thread = threading.Thread(target=self._work, name="floor-thread", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (task := self._jobs.get()) is not None:
            self._token.run_sync_soon(trio.lowlevel.reschedule, task, outcome.Value(None))

    async def __call__(self) -> None:
        self._jobs.put(trio.lowlevel.current_task())
        await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


async def _receive_exactly(stream: trio.abc.ReceiveStream, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = await stream.receive_some(n - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return bytes(data)


# ------------------------------------------------------------------- servers

async def _tcp_handler(stream: trio.SocketStream) -> None:
    try:
        mode = await _receive_exactly(stream, 1)
        if mode in (b"e", b"t"):  # echo; "t": each message through a worker thread first
            hand_off = _HandOff() if mode == b"t" else None
            try:
                while data := await stream.receive_some(65536):
                    if hand_off is not None:
                        await hand_off()
                    await stream.send_all(data)
            finally:
                if hand_off is not None:
                    hand_off.close()
        elif mode == b"b":
            total = int.from_bytes(await _receive_exactly(stream, 8), "big")
            chunk = bytes(1 << 20)
            while total > 0:
                await stream.send_all(chunk[:total])
                total -= len(chunk)
    except (EOFError, trio.BrokenResourceError):
        pass


async def serve_tcp() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(listeners[0].socket.getsockname()[1], flush=True)
    await trio.serve_listeners(_tcp_handler, listeners)


async def _ws_echo(receive: Callable[[], Awaitable[str | bytes]],
                   send: Callable[[str | bytes], Awaitable[None]]) -> None:
    """Send each message back; ``"bulk COUNT SIZE"`` gets COUNT binary messages of
    SIZE bytes, then ``"end"``."""
    while True:
        message = await receive()
        if isinstance(message, str) and message.startswith("bulk "):
            _, count, size = message.split()
            payload = bytes(int(size))
            for _ in range(int(count)):
                await send(payload)
            await send("end")
        else:
            await send(message)


async def serve_ws() -> None:
    from trio_websocket import ConnectionClosed, serve_websocket

    async def handler(request) -> None:
        ws = await request.accept()
        try:
            await _ws_echo(ws.get_message, ws.send_message)
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        print(server.port, flush=True)


async def serve_quart() -> None:
    from hypercorn.config import Config
    from hypercorn.trio import serve
    from quart import Response, request, websocket
    from quart_trio import QuartTrio

    from moalab.server.serve import KEEP_ALIVE_MAX_REQUESTS

    app = QuartTrio(__name__)

    @app.websocket("/ws")
    async def ws() -> None:
        await _ws_echo(websocket.receive, websocket.send)

    @app.websocket("/ws-thread")
    async def ws_thread() -> None:
        # each message handed to a worker thread and back before its echo, as
        # moalab-server runs a sync method's call
        hand_off = _HandOff()

        async def receive() -> str | bytes:
            message = await websocket.receive()
            await hand_off()
            return message

        try:
            await _ws_echo(receive, websocket.send)
        finally:
            hand_off.close()

    @app.post("/echo")
    async def echo() -> dict[str, int]:
        return {"result": (await request.get_json())["args"][0] + 1}

    @app.get("/bulk")
    async def bulk() -> Response:
        count = request.args.get("count", type=int)
        payload = bytes(request.args.get("size", type=int))

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(count):
                yield payload

        return Response(chunks(), mimetype="application/octet-stream")

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.loglevel = "WARNING"  # no "Running on" line in the bench output
    config.keep_alive_max_requests = KEEP_ALIVE_MAX_REQUESTS  # as moalab-server's
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(serve, app, config)  # bound URLs, with the real port
        print(urls[0].rsplit(":", 1)[1], flush=True)


# ------------------------------------------------------------------- clients

@asynccontextmanager
async def _server(kind: str) -> AsyncIterator[int]:
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "benchmarks.floor", kind], stdout=subprocess.PIPE)
    try:
        line = b""
        with trio.fail_after(30):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(64)
                if not chunk:
                    raise RuntimeError(f"the {kind} floor server exited early")
                line += chunk
        yield int(line)
    finally:
        with trio.CancelScope(shield=True):
            process.kill()
            await process.wait()


async def _echo_series(echo, sizes: Sizes) -> tuple[list[float], float]:
    for _ in range(sizes.warmup):
        await echo()
    samples: list[float] = []
    start = perf_counter()
    while len(samples) < sizes.lag_samples and perf_counter() - start < sizes.time_cap:
        t0 = perf_counter()
        await echo()
        samples.append(perf_counter() - t0)
    return samples, len(samples) / (perf_counter() - start)


def _record_echo(results: SideResults, name: str, samples: list[float], rate: float) -> None:
    results.record(name, "lag_p50_ms", percentile(samples, 50) * 1e3)
    results.record(name, "lag_p99_ms", percentile(samples, 99) * 1e3)
    results.record(name, "exec_rate_hz", rate)


async def measure_tcp(sizes: Sizes, results: SideResults) -> None:
    async with _server("tcp") as port:
        for mode, name in ((b"e", "floor_tcp"), (b"t", "floor_tcp_thread")):
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(mode)
                message = bytes(ECHO_SIZE)

                async def echo() -> None:
                    await stream.send_all(message)
                    await _receive_exactly(stream, ECHO_SIZE)

                _record_echo(results, name, *await _echo_series(echo, sizes))
        total = sizes.array_items * sizes.array_floats * 8
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            start = perf_counter()
            await stream.send_all(b"b" + total.to_bytes(8, "big"))
            received = 0
            while received < total:
                chunk = await stream.receive_some(1 << 20)
                if not chunk:
                    raise EOFError("bulk transfer cut short")
                received += len(chunk)
            results.record("floor_tcp", "array_stream_mb_s",
                           received / (perf_counter() - start) / 1e6)


WebSocketClient = tuple[Callable[[str | bytes], Awaitable[None]],
                        Callable[[], Awaitable[str | bytes | None]]]
"""A websocket client's send and receive of one message."""


@asynccontextmanager
async def _trio_websocket_client(port: int, path: str) -> AsyncIterator[WebSocketClient]:
    """trio-websocket's client (floor_websocket: trio-websocket at both ends)."""
    from trio_websocket import open_websocket_url

    async with open_websocket_url(f"ws://127.0.0.1:{port}{path}",
                                  receive_buffer_size=WS_RECEIVE_BUFFER) as ws:
        yield ws.send_message, ws.get_message


@asynccontextmanager
async def _moalab_client(port: int, path: str) -> AsyncIterator[WebSocketClient]:
    """WebSocketExecutor's connection (:mod:`moalab.executor.ws_connection`), opened as
    the executor opens it: the floor of the executor's own exchange."""
    from moalab.executor.ws_connection import connect_websocket, open_socket_stream

    stream = await open_socket_stream("127.0.0.1", port)
    connection = await connect_websocket(stream, f"127.0.0.1:{port}", path)
    try:
        yield connection.send_message, connection.receive_frame
    finally:
        await connection.aclose()


async def measure_ws(name: str, kind: str, path: str,
                     client: Callable[[int, str], AbstractAsyncContextManager[WebSocketClient]],
                     sizes: Sizes, results: SideResults) -> None:
    """``client`` to the ``kind`` floor server's websocket at ``path``."""
    async with _server(kind) as port, client(port, path) as (send, receive):
        message = bytes(ECHO_SIZE)

        async def echo() -> None:
            await send(message)
            await receive()

        _record_echo(results, name, *await _echo_series(echo, sizes))
        size = sizes.array_floats * 8
        start = perf_counter()
        await send(f"bulk {sizes.array_items} {size}")
        received = 0
        while (message := await receive()) not in ("end", b"end"):
            received += len(message)
        results.record(name, "array_stream_mb_s", received / (perf_counter() - start) / 1e6)


async def measure_rest(sizes: Sizes, results: SideResults) -> None:
    """RestExecutor's HTTP client (:class:`~moalab.executor.http_client.HTTPClient`, its
    kept-alive connections) to the Quart floor server."""
    from moalab.executor.http_client import HTTPClient

    async with _server("quart") as port, HTTPClient(f"http://127.0.0.1:{port}") as client:

        async def call(x: int) -> None:
            response = await client.request("POST", "/echo", json={"args": [x]})
            if response.status_code != 200 or response.json() != {"result": x + 1}:
                raise AssertionError(f"POST /echo {x}: {response.status_code} {response.text}")

        _record_echo(results, "floor_quart_rest", *await _echo_series(partial(call, 1), sizes))
        results.record("floor_quart_rest", "concurrent_rate_hz",
                       await concurrent_rate(call, sizes.time_cap))
        size = sizes.array_floats * 8
        total = sizes.array_items * size
        start = perf_counter()
        received = 0
        async with client.stream(
                "GET", f"/bulk?count={sizes.array_items}&size={size}") as response:
            if response.status_code != 200:
                raise AssertionError(f"GET /bulk: {response.status_code} {response.reason}")
            async for chunk in response.aiter_raw():
                received += len(chunk)
        if received != total:
            raise EOFError(f"bulk transfer cut short: {received} of {total} bytes")
        results.record("floor_quart_rest", "array_stream_mb_s",
                       received / (perf_counter() - start) / 1e6)


async def measure_thread(sizes: Sizes, results: SideResults) -> None:
    hand_off = _HandOff()
    try:
        _record_echo(results, "floor_thread", *await _echo_series(hand_off, sizes))
    finally:
        hand_off.close()


FLOORS = {
    "floor_thread": measure_thread,
    "floor_tcp": measure_tcp,
    "floor_websocket": partial(measure_ws, "floor_websocket", "ws", "/", _trio_websocket_client),
    "floor_quart_ws": partial(measure_ws, "floor_quart_ws", "quart", "/ws", _moalab_client),
    "floor_quart_ws_thread": partial(measure_ws, "floor_quart_ws_thread", "quart", "/ws-thread",
                                     _moalab_client),
    "floor_quart_rest": measure_rest,
}
"""Each floor's row name and its measurement, in the order they run."""


async def run_floors(subjects: list[str], sizes: Sizes, results: SideResults) -> None:
    for name, measure in FLOORS.items():
        if name not in subjects:
            continue
        try:
            with trio.fail_after(120):
                await measure(sizes, results)
        except Exception as exc:
            results.error(name, "*", exc)


SERVERS = {"tcp": serve_tcp, "ws": serve_ws, "quart": serve_quart}


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in SERVERS:
        sys.exit(f"usage: python -m benchmarks.floor {'|'.join(SERVERS)}")
    try:
        trio.run(SERVERS[kind])
    except KeyboardInterrupt:
        pass
