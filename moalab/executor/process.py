"""ProcessExecutor: device methods in a child process, over a private socketpair."""

import os
import socket
import subprocess
import sys

from typing import Any

import trio

from ..core.realtime import fail_after_real
from .clock import ClockSync
from .errors import ExecutorError
from .framing import FramedStream
from .remote import RemoteExecutor, Transport

__all__ = ("ProcessExecutor", "MultiprocessSocketExecutor")

READY = b"moalab-child-ready\n"
"""What the child writes on its socket first, once it serves."""

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0


class ProcessExecutor(RemoteExecutor):
    """Runs device methods in a child Python process serving the moalab protocol.

    Parent and child talk over a socketpair the child inherits: it listens on
    no port, so no other process can reach it. Objects are created there on their
    first call (or by :meth:`ensure_remote_instance`); classes defined in the
    running script (``__main__``) are found by importing the script in the child (without
    running its main block). The child runs ``python -P``: the working directory
    is not on its ``sys.path``; the main script's folder is, and first this process's
    first ``sys.path`` entry (the script's folder under ``moalab run SCRIPT`` too). It exits when the
    executor stops, and within about a second when this process dies, even by
    SIGKILL and even while one of its methods blocks (see
    ``moalab.executor.child``). The child's clock is aligned with this one
    (``clock_sync``, see :class:`RemoteExecutor`) like a server's: the same
    machine's clock, unless a test skews it (``MOALAB_CLOCK_SKEW``, see
    ``moalab.core.clock``; the child inherits this process's environment).
    """

    _far_side_shared = False  # the child's objects end with it

    def __init__(self, timeout: float | None = None, stream_window: int = 1024,
                 python: str = sys.executable,
                 clock_sync: ClockSync | None = ClockSync(), **options: Any) -> None:
        super().__init__(timeout, stream_window, clock_sync, **options)
        self.python = python
        self.process: subprocess.Popen | None = None

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        parent_end, child_end = socket.socketpair()
        command = [self.python, "-P", "-m", "moalab.executor.child",
                   "--fd", str(child_end.fileno()), "--parent-pid", str(os.getpid())]
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if main_file:
            command += ["--main-script", main_file]
        # the child imports what this process imports first: the script's folder under
        # `python SCRIPT` and under `moalab run SCRIPT` (whose __main__ is moalab's own)
        if sys.path and sys.path[0] and os.path.isdir(sys.path[0]):
            command += ["--path", os.path.abspath(sys.path[0])]
        try:
            with child_end:
                # forked from this thread, not from one of trio's worker threads: Linux
                # sends the child's parent-death signal when the thread that forked it
                # ends, and trio's worker threads end when idle
                self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                                pass_fds=(child_end.fileno(),))
        except BaseException:
            parent_end.close()
            raise
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(parent_end))
        try:
            await self._wait_ready(stream)
        except BaseException:
            await self._end_process()  # shielded: a stop cancels start-ups too
            await stream.aclose()
            raise
        return _ChildTransport(FramedStream(stream), self)

    async def _wait_ready(self, stream: trio.SocketStream) -> None:
        """Read the child's greeting; :class:`ExecutorError` if it exits first or takes
        over ``_START_TIMEOUT`` seconds (it is killed then)."""
        ready = b""
        try:
            # real time, not trio's: the run's clock may be virtual (--speed, dry runs)
            with fail_after_real(_START_TIMEOUT):
                while len(ready) < len(READY):
                    chunk = await stream.receive_some(len(READY) - len(ready))
                    if not chunk:
                        raise ExecutorError(
                            f"the ProcessExecutor child ({self.python}) exited during start-up "
                            f"(code {await _wait_exit(self.process)}); its error, if any, is "
                            "in this process's stderr")
                    ready += chunk
        except trio.TooSlowError:
            self.process.kill()
            raise ExecutorError(f"the ProcessExecutor child ({self.python}) did not start "
                                f"within {_START_TIMEOUT:g} s") from None
        if ready != READY:
            raise ExecutorError(f"the ProcessExecutor child ({self.python}) started with "
                                f"{ready!r}, not moalab's greeting: is it moalab's child?")

    async def _end_process(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with trio.CancelScope(shield=True):
            process.stdin.close()  # the child exits when its stdin closes
            if await _wait_exit(process, _STOP_TIMEOUT) is None:
                process.kill()
                await _wait_exit(process)


async def _wait_exit(process: subprocess.Popen, timeout: float | None = None) -> int | None:
    """``process``'s exit code, or None if it still runs after ``timeout`` seconds (real
    time, waited in a thread: the run's clock may be virtual)."""
    try:
        return await trio.to_thread.run_sync(process.wait, timeout)
    except subprocess.TimeoutExpired:
        return None


class _ChildTransport:
    def __init__(self, framed: FramedStream, executor: ProcessExecutor) -> None:
        self.framed = framed
        self.executor = executor
        self.send_frames = framed.send_frames
        self.send_now = framed.send_now
        self.receive_frame = framed.receive_frame

    async def aclose(self) -> None:
        await self.framed.aclose()
        await self.executor._end_process()


MultiprocessSocketExecutor = ProcessExecutor
"""PyMoa's name for :class:`ProcessExecutor`."""
