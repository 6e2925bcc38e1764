"""ProcessExecutor: device methods in a child process, over a local TCP connection."""

import subprocess
import sys

from typing import Any

import trio

from .clock import ClockSync
from .errors import ExecutorError
from .framing import FramedStream
from .remote import RemoteExecutor, Transport

__all__ = ("ProcessExecutor", "MultiprocessSocketExecutor")

_START_TIMEOUT = 30.0


class ProcessExecutor(RemoteExecutor):
    """Runs device methods in a child Python process serving the moalab protocol.

    Objects are created there with :meth:`ensure_remote_instance`; classes
    defined in the running script (``__main__``) are found by importing the
    script in the child (without running its main block). The child exits
    when the executor stops, and also when this process dies, even by SIGKILL.
    The child's clock is aligned with this one (``clock_sync``, see
    :class:`RemoteExecutor`) like a server's: the same machine's clock, unless a
    test skews it (``MOALAB_CLOCK_SKEW``, see :mod:`moalab.core.clock`; the child
    inherits this process's environment).
    """

    def __init__(self, timeout: float | None = None, stream_window: int = 1024,
                 python: str = sys.executable,
                 clock_sync: ClockSync | None = ClockSync(), **options: Any) -> None:
        super().__init__(timeout, stream_window, clock_sync, **options)
        self.python = python
        self.process: trio.Process | None = None

    async def _connect(self, nursery: trio.Nursery) -> Transport:
        command = [self.python, "-m", "moalab.executor.child"]
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if main_file:
            command += ["--main-script", main_file]
        self.process = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            with trio.fail_after(_START_TIMEOUT):
                line = b""
                while not line.endswith(b"\n"):
                    chunk = await self.process.stdout.receive_some(64)
                    if not chunk:
                        raise ExecutorError(
                            f"the ProcessExecutor child exited during start-up (code "
                            f"{await self.process.wait()}); run `{' '.join(command)}` to see why"
                        )
                    line += chunk
            stream = await trio.open_tcp_stream("127.0.0.1", int(line))
        except BaseException:
            await self._end_process()
            raise
        return _ChildTransport(FramedStream(stream), self)

    async def _end_process(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with trio.CancelScope(shield=True):
            await process.stdin.aclose()  # the child exits when its stdin closes
            with trio.move_on_after(5):
                await process.wait()
                return
            process.kill()
            await process.wait()


class _ChildTransport:
    def __init__(self, framed: FramedStream, executor: ProcessExecutor) -> None:
        self.framed = framed
        self.executor = executor
        self.send_frames = framed.send_frames
        self.receive_frame = framed.receive_frame

    async def aclose(self) -> None:
        await self.framed.aclose()
        await self.executor._end_process()


MultiprocessSocketExecutor = ProcessExecutor
"""PyMoa's name for :class:`ProcessExecutor`."""
