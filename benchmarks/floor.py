"""The machine's floors: bare trio TCP and websocket echo between two processes, and a
bare hand-off from a trio task to a worker thread and back.

The server half runs as ``python -m benchmarks.floor tcp|ws`` (it prints its
port, then serves until killed); the client half is measured with the same
sizes as the executors: echo round trip (p50/p99), sequential echoes per
second, and bulk transfer in MB/s (128 KiB messages for the websocket, like
the array stream's items). The thread floor is the least any trio executor
with a worker thread pays per call: a queue put, the thread's wake-up and a
``run_sync_soon`` back (no executor machinery at all).
"""

import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import perf_counter

import outcome
import trio

from .common import SideResults, Sizes, percentile

__all__ = ("run_floors",)

ECHO_SIZE = 64


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
        if mode == b"e":
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                await stream.send_all(data)
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


async def serve_ws() -> None:
    from trio_websocket import ConnectionClosed, serve_websocket

    async def handler(request) -> None:
        ws = await request.accept()
        try:
            while True:
                message = await ws.get_message()
                if isinstance(message, str) and message.startswith("bulk "):
                    _, count, size = message.split()
                    payload = bytes(int(size))
                    for _ in range(int(count)):
                        await ws.send_message(payload)
                    await ws.send_message("end")
                else:
                    await ws.send_message(message)
        except ConnectionClosed:
            pass

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        print(server.port, flush=True)


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
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(b"e")
            message = bytes(ECHO_SIZE)

            async def echo() -> None:
                await stream.send_all(message)
                await _receive_exactly(stream, ECHO_SIZE)

            _record_echo(results, "floor_tcp", *await _echo_series(echo, sizes))
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


async def measure_ws(sizes: Sizes, results: SideResults) -> None:
    from trio_websocket import open_websocket_url

    async with _server("ws") as port:
        async with open_websocket_url(f"ws://127.0.0.1:{port}/") as ws:
            message = bytes(ECHO_SIZE)

            async def echo() -> None:
                await ws.send_message(message)
                await ws.get_message()

            _record_echo(results, "floor_websocket", *await _echo_series(echo, sizes))
            size = sizes.array_floats * 8
            start = perf_counter()
            await ws.send_message(f"bulk {sizes.array_items} {size}")
            received = 0
            while (message := await ws.get_message()) != "end":
                received += len(message)
            results.record("floor_websocket", "array_stream_mb_s",
                           received / (perf_counter() - start) / 1e6)


async def measure_thread(sizes: Sizes, results: SideResults) -> None:
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    token = trio.lowlevel.current_trio_token()

    def worker() -> None:
        while (task := jobs.get()) is not None:
            token.run_sync_soon(trio.lowlevel.reschedule, task, outcome.Value(None))

    thread = threading.Thread(target=worker, name="floor-thread", daemon=True)
    thread.start()

    async def echo() -> None:
        jobs.put(trio.lowlevel.current_task())
        await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)

    try:
        _record_echo(results, "floor_thread", *await _echo_series(echo, sizes))
    finally:
        jobs.put(None)
        thread.join()


async def run_floors(subjects: list[str], sizes: Sizes, results: SideResults) -> None:
    for name, measure in (("floor_thread", measure_thread), ("floor_tcp", measure_tcp),
                          ("floor_websocket", measure_ws)):
        if name not in subjects:
            continue
        try:
            with trio.fail_after(120):
                await measure(sizes, results)
        except Exception as exc:
            results.error(name, "*", exc)


if __name__ == "__main__":
    kind = sys.argv[1] if len(sys.argv) > 1 else ""
    if kind not in ("tcp", "ws"):
        sys.exit("usage: python -m benchmarks.floor tcp|ws")
    try:
        trio.run(serve_tcp if kind == "tcp" else serve_ws)
    except KeyboardInterrupt:
        pass
