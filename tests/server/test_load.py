"""Load: 50 WebSocketExecutor clients at once, 1,000 calls each, against one real
moalab-server: zero errors, the server's memory bounded; throughput and latency
printed (run with -s) and recorded as test properties.

``MOALAB_LOAD_CALLS`` sets the calls per client (default 1,000), ``MOALAB_LOAD_JSON``
a file to write the figures to.
"""

import json
import os
import time

import trio

from moalab.executor.websocket import WebSocketExecutor
from tests.executor.devices import Probe

from ..conftest import rss_mb, running_server

CLIENTS = 50
CALLS = int(os.environ.get("MOALAB_LOAD_CALLS") or 1000)
CALL_TIMEOUT = 30  # seconds: a call slower than this is an error, never a hang


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


async def test_50_clients_1000_calls_each(record_property):
    with running_server() as server:
        pid = server.process.pid
        latencies: list[float] = []
        errors: list[str] = []
        ready = 0
        go = trio.Event()
        done = 0
        rss: dict[str, float] = {}

        async def client(k: int) -> None:
            nonlocal ready, done
            async with WebSocketExecutor("127.0.0.1", server.port) as executor:
                device = Probe(name=f"load-{os.getpid()}-{k}", executor=executor)
                await executor.ensure_remote_instance(device)
                ready += 1
                await go.wait()
                for i in range(CALLS):
                    start = time.perf_counter()
                    try:
                        with trio.fail_after(CALL_TIMEOUT):
                            # sync methods run in the object's thread, async ones in
                            # the server's trio thread: both, alternately
                            if i % 2:
                                result, expected = await device.echo(k, i), [[k, i], {}]
                            else:
                                result, expected = await device.async_add(k, i), k + i
                        if result != expected:
                            errors.append(f"client {k} call {i}: {result!r} != {expected!r}")
                    except Exception as exc:
                        errors.append(f"client {k} call {i}: {type(exc).__name__}: {exc}")
                    latencies.append(time.perf_counter() - start)
                    if len(latencies) == CLIENTS * CALLS // 2 and "midway" not in rss:
                        rss["midway"] = rss_mb(pid)
                done += 1

        async with trio.open_nursery() as nursery:
            for k in range(CLIENTS):
                nursery.start_soon(client, k)
            with trio.fail_after(60):
                while ready < CLIENTS:
                    await trio.sleep(0.01)
            rss["before"] = rss_mb(pid)  # 50 connections and objects made
            start = time.perf_counter()
            go.set()
        elapsed = time.perf_counter() - start
        rss["after"] = rss_mb(pid)
        assert server.process.poll() is None, server.log()

    latencies.sort()
    figures = {
        "clients": CLIENTS, "calls_per_client": CALLS, "calls": len(latencies),
        "errors": len(errors), "seconds": round(elapsed, 2),
        "calls_per_second": round(len(latencies) / elapsed),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "rss_mb": {k: round(v, 1) for k, v in rss.items()},
        "load_average": os.getloadavg()[0],
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"\n{CLIENTS} clients x {CALLS} calls: {figures['calls_per_second']} calls/s, "
          f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; "
          f"server RSS {rss['before']:.0f} -> {rss['midway']:.0f} -> {rss['after']:.0f} MB; "
          f"{len(errors)} errors")
    if os.environ.get("MOALAB_LOAD_JSON"):
        with open(os.environ["MOALAB_LOAD_JSON"], "w") as out:
            json.dump(figures, out, indent=2)

    assert done == CLIENTS and len(latencies) == CLIENTS * CALLS
    assert not errors, errors[:10]
    # generous: the server holds nothing per call once it is answered
    assert rss["after"] - rss["before"] < 64, rss
    assert rss["after"] - rss["midway"] < 32, rss
