"""What a server process holds, for tests that check floods leave nothing behind."""

import os

import httpx
import trio

from ..conftest import AUTH_HEADERS


def socket_count(pid: int) -> int:
    """How many socket descriptors process ``pid`` holds (Linux)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:  # closed while listed
            pass
    return count


async def live_sessions(server) -> int:
    """The server's live WebSocket sessions, as its /health counts them."""
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH_HEADERS) as client:
        return (await client.get("/health")).json()["sessions"]


async def wait_released(server, sockets: int, sessions: int,
                        timeout: float) -> tuple[int, int]:
    """Wait up to ``timeout`` seconds for the server to hold no more than ``sockets``
    sockets and ``sessions`` live sessions; return how many more of each it holds
    at the end."""
    pid = server.process.pid
    with trio.move_on_after(timeout):
        while True:
            live = await live_sessions(server)
            await trio.sleep(0.1)  # the server closes that request's connection
            if live <= sessions and socket_count(pid) <= sockets:
                break
    live = await live_sessions(server)
    await trio.sleep(0.1)
    return socket_count(pid) - sockets, live - sessions
