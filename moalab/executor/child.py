"""The child process of a ProcessExecutor: serves its parent over an inherited socket.

Run by :class:`~moalab.executor.process.ProcessExecutor` as ``python -P -m
moalab.executor.child --fd N --parent-pid PID [--main-script PATH] [--path DIR]``. Descriptor
``N`` is the child's end of a socketpair whose other end only the parent holds:
the child listens on nothing, so no other process can reach it. It writes
:data:`~moalab.executor.process.READY` on that socket once it serves, then
serves the parent's requests until the socket closes.

``-P`` keeps the working directory off ``sys.path``; the main script's folder is
put there instead (the parent's script imports its neighbours from it), and before it
the parent's first ``sys.path`` entry (``--path``: the folder of the script ``moalab
run`` runs, whose ``__main__`` is moalab's own). The
child exits with its parent, whatever its device methods do: stdin is a pipe
whose write end only the parent holds, and a thread outside the trio loop
reads it; at its end (the parent stopped or died) the thread asks the loop to
stop, and ends the process :data:`EXIT_GRACE` seconds later if it still runs
(an ``async def`` method blocking the loop). On Linux the kernel also kills the
child when its parent dies (``PR_SET_PDEATHSIG``). It inherits the parent's
environment, ``MOALAB_CLOCK_SKEW`` (tests only: a skewed clock, see
:mod:`moalab.core.clock`) included.
"""

import argparse
import ctypes
import os
import signal
import socket
import sys
import threading
import time

import trio

from .framing import FramedStream
from .process import READY
from .registry import ObjectRegistry
from .session import Session

__all__ = ("EXIT_GRACE", "main")

EXIT_GRACE = 1.0
"""Seconds a clean stop gets after the parent went, before the process is ended."""

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    """Have Linux SIGKILL this process when its parent dies (a backstop for the stdin
    watch: it works even when the interpreter is stuck)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        return  # the stdin watch remains
    if os.getppid() != parent_pid:  # the parent died before the signal was asked for
        os._exit(1)


def _watch_parent(token: trio.lowlevel.TrioToken, scope: trio.CancelScope) -> None:
    """Start the daemon thread that ends this process when stdin ends (see the module)."""

    def watch() -> None:
        # unbuffered reads: a thread blocked in sys.stdin.buffer would hold its lock at exit
        while os.read(0, 1024):
            pass
        try:
            token.run_sync_soon(scope.cancel)  # never blocks, even when the loop is stuck
        except trio.RunFinishedError:
            pass
        time.sleep(EXIT_GRACE)
        os._exit(1)  # the loop did not stop: a method blocks it

    threading.Thread(target=watch, name="moalab-parent-watch", daemon=True).start()


async def serve(sock: socket.socket, main_script: str | None) -> None:
    """Serve the parent's requests on ``sock`` until it closes or the parent goes."""
    registry = ObjectRegistry(allow_all=True, main_script=main_script)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
    try:
        with trio.CancelScope() as scope:
            _watch_parent(trio.lowlevel.current_trio_token(), scope)
            await stream.send_all(READY)
            framed = FramedStream(stream)
            try:
                await Session(registry, framed.send_frames, send_now=framed.send_now
                              ).serve(framed.receive_frame)
            except* trio.BrokenResourceError:
                pass  # the parent reset the link (closed with replies unread): its end too
    finally:
        registry.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -P -m moalab.executor.child")
    parser.add_argument("--fd", type=int, required=True,
                        help="the inherited socket to the parent")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--main-script", help="the parent's main script, for its classes")
    parser.add_argument("--path", help="the parent's first sys.path entry, put first on ours")
    args = parser.parse_args()
    _die_with_parent(args.parent_pid)
    # not for processes a device method starts: they must not keep the parent's link open
    os.set_inheritable(args.fd, False)
    sock = socket.socket(fileno=args.fd)
    if args.main_script is not None and os.path.basename(args.main_script) != "__main__.py":
        # a package's __main__.py (python -m) has its package folder, not an import root
        sys.path.insert(0, os.path.dirname(os.path.abspath(args.main_script)))
    if args.path is not None and sys.path[:1] != [args.path]:
        sys.path.insert(0, args.path)
    trio.run(serve, sock, args.main_script)


if __name__ == "__main__":
    main()
