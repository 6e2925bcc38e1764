"""The `moalab-server` command: serve a rig's devices over REST and WebSocket.

Tests only: the environment variable ``MOALAB_CLOCK_SKEW=OFFSET,DRIFT_PPM`` runs
the server on a skewed clock, like a Pi's (see :mod:`moalab.core.clock`). It is
deliberately not a flag: no rig's command line sets it by accident.
"""

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import replace
from typing import Any

import trio
from rich.console import Console
from rich.text import Text

from ..core.errors import InvalidArgument, MoaError
from ..core.nursery import unwrap_group
from ..dashboard.rig import RIG_BASE, mount_rig_dashboard
from ..executor import worker
from ..server.config import ServerConfig, check_allowed_modules, load_config, merge_config
from ..server.serve import serve
from ..server.token import TOKEN_ENV, default_data_dir, is_loopback, load_or_create_token

__all__ = ("main", "MIN_TOKEN_LENGTH")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_STOP_GRACE = 3.0
"""Seconds a stop may take past the graceful timeout before the process is ended."""
_LEFTOVER_WAIT = 0.5
"""Seconds the stopped server's threads get to end before those left are reported."""

MIN_TOKEN_LENGTH = 16
"""Shorter tokens are refused: they could be guessed (a generated one has 43 characters)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moalab-server",
        description="Serve moalab devices over REST and WebSocket, for WebSocketExecutor and "
        "RestExecutor clients. Stops cleanly on Ctrl-C or SIGTERM; a device method that "
        "blocks the stop is abandoned after the graceful timeout plus 3 s.",
    )
    parser.add_argument("--config", metavar="FILE", help="a TOML config file (flags override it)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1: this computer "
                        "only; 0.0.0.0: every network interface)")
    parser.add_argument("--port", type=int, help="TCP port (default 5000; 0 picks a free one)")
    parser.add_argument("--allow", action="append", metavar="MODULE",
                        help="a module whose device classes clients may create (repeatable; "
                        "moalab's own devices are always allowed)")
    parser.add_argument("--graceful-timeout", type=float, default=5.0, metavar="SECONDS",
                        help="how long open connections get to finish at shutdown (default 5)")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--token", help="the token clients must bring (default: the config's, "
                      "else $MOALAB_TOKEN, else one generated and kept in the data directory)")
    auth.add_argument("--no-token", action="store_true",
                      help="let any client in: only on 127.0.0.1 (this computer)")
    parser.add_argument("--data-dir", help="where the generated token and the rig's assets "
                        "(DIR/assets, stimuli synced by clients) are kept (default "
                        "~/.local/share/moalab)")
    parser.add_argument("--certfile", help="TLS certificate (PEM): serve https and wss")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument("--max-message-size", type=int, metavar="BYTES",
                        help="largest request accepted (default 16 MiB)")
    parser.add_argument("--namespace-grace", type=float, metavar="SECONDS",
                        help="how long the objects of a namespace other than the shared one "
                        "last once no client uses it, e.g. after its client died (default 60)")
    return parser


def resolve_token(config: ServerConfig, no_token: bool, console: Console) -> ServerConfig:
    """The config with the token clients must bring (see :mod:`moalab.server.token`).

    Raises :class:`InvalidArgument` for a token under :data:`MIN_TOKEN_LENGTH`
    characters, wherever it came from."""
    if no_token:
        return replace(config, token=None)
    if config.token is not None:
        _check_length(config.token, "the token given (--token, or token in the config)")
        return config
    if os.environ.get(TOKEN_ENV):
        _check_length(os.environ[TOKEN_ENV], f"${TOKEN_ENV}")
        return replace(config, token=os.environ[TOKEN_ENV])
    data_dir = config.data_dir or default_data_dir()
    token, created = load_or_create_token(data_dir)
    path = data_dir / "token"
    _check_length(token, f"the token kept in {path}")
    if created:
        console.print(f"generated an access token for clients, kept in {path} (readable by "
                      f"this user only):\n  {token}\nclients: WebSocketExecutor(..., "
                      f"token=...), RestExecutor(..., token=...), or {TOKEN_ENV}=...",
                      highlight=False)
    else:
        console.print(f"clients must bring the access token kept in {path}", highlight=False)
    return replace(config, token=token)


def _check_length(token: str, source: str) -> None:
    """Refuse a token shorter than :data:`MIN_TOKEN_LENGTH` (:class:`InvalidArgument`
    naming ``source``, where the token came from, and how to make a good one)."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise InvalidArgument(
            f"{source} has {len(token)} characters; a token needs at least "
            f"{MIN_TOKEN_LENGTH}, or it could be guessed: make one with `python -c "
            "\"import secrets; print(secrets.token_urlsafe(32))\"`, or give none and "
            "moalab-server generates one and keeps it in its data directory")


def _still_running(leftover: bool = False) -> list[str]:
    """Where each moalab thread still running is (and the trio thread, unless it is the
    caller): its name and innermost frame. ``leftover``: after the stop, giving the
    threads told to end a moment to do so first (those left are busy)."""
    threads = [t for t in threading.enumerate()
               if t is not threading.current_thread()
               and (t is threading.main_thread() or t.name.startswith("moalab-"))]
    if leftover:
        deadline = time.monotonic() + _LEFTOVER_WAIT
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    frames = sys._current_frames()
    places = []
    for thread in threads:
        frame = frames.get(thread.ident)
        if not thread.is_alive() or frame is None:
            continue
        where = traceback.extract_stack(frame)[-1]
        if where.filename != worker.__file__:  # there, a worker waits for its next call
            places.append(f"{thread.name} in {where.name} ({where.filename}:{where.lineno})")
    return places


class _Stop:
    """The server's stop on SIGINT or SIGTERM: clean first, forced if need be.

    The signal handlers are Python's, not trio's: Python runs them in the main
    thread even while a device method blocks the trio loop (a ``time.sleep`` in
    an ``async def``), which trio could not notice. The first signal asks trio to
    stop (:meth:`wait` returns) and starts a daemon thread that, ``limit``
    seconds later, ends the process if it still runs, naming where each thread
    was. Use it as a context manager around ``trio.run``.
    """

    def __init__(self, limit: float, console: Console) -> None:
        self.limit = limit
        self.console = console
        self._asked: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._signal: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_Stop":
        self._previous = {s: signal.signal(s, self._on_signal) for s in _STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._signal is None:
            self._signal = signal.Signals(signum).name
            threading.Thread(target=self._end_if_stuck, name="stop-watch",
                             daemon=True).start()
        if self._token is not None:
            try:
                self._token.run_sync_soon(self._asked.set)  # safe in a signal handler
            except trio.RunFinishedError:
                pass

    async def wait(self) -> None:
        """Return once a stop is asked (at once if it was during start-up)."""
        self._asked = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        if self._signal is None:
            await self._asked.wait()

    def _end_if_stuck(self) -> None:
        time.sleep(self.limit)
        self.console.print(Text.assemble(
            ("moalab-server: ", "red"),
            f"not stopped {self.limit:g} s after {self._signal}: ending the process; still "
            f"running: {'; '.join(_still_running()) or 'nothing of moalab'}"))
        os._exit(1)


async def _main(config: ServerConfig, graceful_timeout: float, console: Console,
                stop: _Stop) -> None:
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(lambda task_status: serve(
            config, graceful_timeout=graceful_timeout, shutdown_trigger=stop.wait,
            task_status=task_status, mount=mount_rig_dashboard))
        for url in binds:
            # tests and scripts read the port from this line
            print(f"moalab-server listening on {url}", flush=True)
        console.print(startup_lines(config, binds[0]), highlight=False)


def startup_lines(config: ServerConfig, url: str) -> str:
    """What a started server says after its listening line: the device modules clients may
    create classes of, whether they need a token, and the rig's page."""
    allowed = ("allowed device modules: moalab, " + ", ".join(config.allow) if config.allow
               else "allowed device modules: moalab only (--allow MODULE adds one)")
    if config.token is None:
        return (f"{allowed}\nno token (--no-token): any client on this computer may create "
                f"devices and call their methods\nthe rig's page: {url}{RIG_BASE}")
    return (f"{allowed}\nthe rig's page: {url}{RIG_BASE} (open it with ?token= and the "
            "server's token)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # one line per message whatever the terminal's width (journalctl shows them as lines)
    console = Console(stderr=True, soft_wrap=True)
    try:
        config = load_config(args.config) if args.config else ServerConfig()
        config = merge_config(config, host=args.host, port=args.port, allow=args.allow,
                              token=args.token, data_dir=args.data_dir,
                              certfile=args.certfile, keyfile=args.keyfile,
                              max_message_size=args.max_message_size,
                              namespace_grace=args.namespace_grace)
        if args.graceful_timeout < 0:
            raise MoaError(f"--graceful-timeout {args.graceful_timeout} must be 0 or more")
        check_allowed_modules(config.allow)  # before anything else is said or generated
        # the data folder objects write in (a rig's assets), whatever the token's source
        config = replace(config, data_dir=config.data_dir or default_data_dir())
        config = resolve_token(config, args.no_token, console)
        if config.token is None and not is_loopback(config.host):
            raise MoaError(
                f"refusing to listen on {config.host} with --no-token: anyone on that network "
                "could run device methods; drop --no-token (a token is generated) or listen "
                "on 127.0.0.1")
    except MoaError as exc:
        console.print(Text.assemble(("moalab-server: ", "red"), str(exc)))
        return 2
    try:
        with _Stop(args.graceful_timeout + _STOP_GRACE, console) as stop:
            try:
                trio.run(_main, config, args.graceful_timeout, console, stop)
            except BaseExceptionGroup as group:  # hypercorn's nurseries wrap a bind error
                raise unwrap_group(group) from None
            abandoned = _still_running(leftover=True)
    except OSError as exc:
        console.print(Text.assemble(("moalab-server: ", "red"), f"cannot listen on "
                                    f"{config.host}:{config.port}: {exc.strerror or exc}"))
        return 1
    if abandoned:  # daemon threads: they end with the process
        console.print(f"moalab-server: stopped; abandoned what was still running: "
                      f"{'; '.join(abandoned)}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
