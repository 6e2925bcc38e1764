"""The calls concurrent tasks make in one scheduler round, sent as one request.

:class:`CallBatcher` is how :class:`~moalab.executor.rest.RestExecutor` gets several
callers' calls into one HTTP request (the server's ``POST /api/calls``): an HTTP
request costs both ends a good part of a millisecond of CPU whatever it carries
(hypercorn and Quart the most), so one per call caps 8 callers well below the
machine. Nothing waits for a batch to fill: the first call of a round lets the
round's other tasks run once (a scheduler round, no sleep), then sends what has come
meanwhile; a call still alone goes as its own request, as it would without the
batcher. A call made while no other is unanswered goes alone at once: a task calling
on its own (sequential calls) pays no round.
"""

from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio

from .errors import ConnectionLost, ProtocolError
from .future import Future
from .messages import Call

__all__ = ("Answer", "CallBatcher")

Answer = Callable[[Any, outcome.Outcome], None]
"""Called with the index of a batch's call (as the server tagged its reply) and the
call's outcome."""


class CallBatcher:
    """Joins the calls made in one scheduler round into one batch (trio thread only).

    ``send_one(call)`` sends a call alone and returns its result (or raises);
    ``send_batch(calls, answer)`` sends several and calls ``answer`` as each reply
    comes, raising for a failure of the whole request (:class:`ConnectionLost` for
    the transport's). ``spawn(fn, *args)`` starts the task reading a batch's replies
    (a caller cancelled meanwhile does not stop it: its reply is dropped); it raises
    if the executor is not running.
    """

    def __init__(self, send_one: Callable[[Call], Awaitable[Any]],
                 send_batch: Callable[[list[Call], Answer], Awaitable[None]],
                 spawn: Callable[..., None]) -> None:
        self._send_one = send_one
        self._send_batch = send_batch
        self._spawn = spawn
        self._round: list[tuple[Call, Future | None]] | None = None  # calls of this round
        self._unanswered = 0  # calls made, their callers not yet answered

    async def call(self, request: Call) -> Any:
        """The result of ``request`` (or its error), sent alone or with the round's
        other calls."""
        self._unanswered += 1
        try:
            return await self._call(request)
        finally:
            self._unanswered -= 1

    async def _call(self, request: Call) -> Any:
        calls = self._round
        if calls is not None:  # the round's first call sends this one with it
            future = Future()
            calls.append((request, future))
            return await future.wait()
        if self._unanswered == 1:
            # no other call unanswered: a caller on its own, most likely (of a burst
            # after a quiet time, the first call goes alone, the others together)
            return await self._send_one(request)
        calls = self._round = [(request, None)]
        # the round's other tasks run once: those calling now join; not cancellable,
        # so the calls that joined are always sent
        await trio.lowlevel.cancel_shielded_checkpoint()
        self._round = None
        if len(calls) == 1:
            return await self._send_one(request)
        own = calls[0] = (request, Future())
        try:
            self._spawn(self._run, calls)
        except Exception as exc:  # not running: every call that joined hears it
            for _, future in calls:
                future.set(outcome.Error(exc))
        return await own[1].wait()

    async def _run(self, calls: list[tuple[Call, Future]]) -> None:
        """Send ``calls`` as one batch; answer each caller as its reply comes. Every
        call gets an answer: the request's error, or :class:`ConnectionLost` for a
        reply that never came (the executor stopped meanwhile, or the server)."""
        futures = [future for _, future in calls]

        def answer(index: Any, result: outcome.Outcome) -> None:
            if not (type(index) is int and 0 <= index < len(futures)):
                raise ProtocolError(f"a reply to a batch of {len(futures)} calls names call "
                                    f"{index!r}: the server sends indexes 0 to "
                                    f"{len(futures) - 1}")
            futures[index].set(result)

        error: BaseException | None = None
        try:
            await self._send_batch([request for request, _ in calls], answer)
        except Exception as exc:
            error = exc
        finally:
            unanswered = [future for future in futures if not future.done]
            if unanswered and error is None:
                error = ConnectionLost(f"a batch request of {len(futures)} calls ended "
                                       f"without the replies of {len(unanswered)}")
            for future in unanswered:
                future.set(outcome.Error(error))
