"""Property-based fuzzing of the wire codec and of the server side of the protocol.

The frame decoder raises nothing but ProtocolError whatever bytes arrive, and
round-trips every message the codec promises to carry. A Session, served
in-process against a real ObjectRegistry, turns every bad request into an error
reply: no exception escapes handle_frame or serve(), a request that asks for a
reply gets exactly one, and the session (and its objects) keep serving.

The tests at the end pin the bugs these properties found (now fixed).
"""

import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack
import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

from moalab.executor.batching import join_frames
from moalab.executor.codec import decode, decode_many, encode, encode_parts
from moalab.executor.errors import ProtocolError
from moalab.executor.registry import ObjectRegistry
from moalab.executor.session import Session

from ..conftest import TEST_DEVICES

PROBE = "tests.executor.devices:Probe"

# database=None: no .hypothesis directory in the repository; a failure prints the
# falsifying example instead. No explain phase: it reruns a failure many times over
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
FAST = settings(max_examples=200, deadline=None, database=None, phases=PHASES,
                suppress_health_check=[HealthCheck.too_slow])
SESSION = settings(max_examples=40, deadline=None, database=None, phases=PHASES,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

UINT64_MAX = 2**64 - 1
INT64_MIN = -2**63

# ---------------------------------------------------------------- strategies

limits = st.sampled_from([UINT64_MAX, 2**63, 2**63 - 1, 2**32, 2**32 - 1, 2**31, -2**31 - 1,
                          INT64_MIN, INT64_MIN + 1, -33, -32, 127, 128, 255, 256, 65535, 65536])
msgpack_ints = st.integers(INT64_MIN, UINT64_MAX) | limits
scalars = (st.none() | st.booleans() | msgpack_ints | st.floats() | st.text(max_size=40)
           | st.binary(max_size=40))
# any value msgpack carries (bar arrays): what a random field of a request may hold
values = st.recursive(
    scalars,
    lambda children: (st.lists(children, max_size=5)
                      | st.dictionaries(st.text(max_size=10) | msgpack_ints, children,
                                        max_size=5)),
    max_leaves=20,
)

array_dtypes = (npst.scalar_dtypes() | npst.byte_string_dtypes(max_len=8)
                | npst.unicode_string_dtypes(max_len=8)
                | npst.array_dtypes(npst.scalar_dtypes() | npst.byte_string_dtypes(max_len=4),
                                    max_size=4, allow_subarrays=True))
arrays = npst.arrays(array_dtypes, npst.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                     max_side=5))
# strided, transposed and reversed views travel too (as C-contiguous copies)
array_views = arrays | arrays.map(lambda a: a.T) | arrays.map(lambda a: a[::-1] if a.ndim else a)
sendable = st.recursive(
    scalars | array_views
    | st.builds(msgpack.ExtType, st.integers(2, 127), st.binary(max_size=20)),
    lambda children: (st.lists(children, max_size=4)
                      | st.tuples(children, children)
                      | st.dictionaries(st.text(max_size=10) | msgpack_ints, children,
                                        max_size=4)),
    max_leaves=10,
)


def same(sent: Any, received: Any) -> bool:
    """``received`` is what the codec promises for ``sent``: tuples become lists,
    arrays keep dtype, shape and bytes (and arrive read only), NaN stays NaN."""
    if isinstance(sent, np.ndarray):
        return (isinstance(received, np.ndarray) and received.dtype == sent.dtype
                and received.shape == sent.shape and not received.flags.writeable
                and received.tobytes() == np.ascontiguousarray(sent).tobytes())
    if isinstance(sent, msgpack.ExtType):  # a namedtuple, but not sent as a list
        return type(received) is msgpack.ExtType and received == sent
    if isinstance(sent, (list, tuple)):
        return (type(received) is list and len(received) == len(sent)
                and all(same(a, b) for a, b in zip(sent, received)))
    if isinstance(sent, dict):
        return (type(received) is dict and list(received) == list(sent)
                and all(same(v, received[k]) for k, v in sent.items()))
    if isinstance(sent, float):
        return type(received) is float and (
            (math.isnan(sent) and math.isnan(received))
            or (sent == received and math.copysign(1, sent) == math.copysign(1, received)))
    return type(received) is type(sent) and received == sent


# ------------------------------------------------------------------- decoder


def decodes_or_refuses(frame: bytes) -> None:
    for fn in (decode, decode_many):
        try:
            fn(frame)
        except ProtocolError:
            pass


@FAST
@given(st.binary(max_size=2000))
def test_decoder_refuses_random_bytes_with_protocol_error(frame):
    decodes_or_refuses(frame)


def mutations(frame: bytes) -> st.SearchStrategy[bytes]:
    n = len(frame)
    cut = st.integers(0, n)
    return st.one_of(
        cut.map(lambda i: frame[:i]),  # truncated
        st.tuples(cut, st.integers(0, 255)).map(  # one byte changed
            lambda c: frame[:c[0]] + bytes([c[1]]) + frame[c[0] + 1:]),
        st.tuples(cut, st.binary(min_size=1, max_size=8)).map(  # bytes inserted
            lambda c: frame[:c[0]] + c[1] + frame[c[0]:]),
        st.tuples(cut, cut).map(lambda c: frame[:min(c)] + frame[max(c):]),  # bytes removed
    )


@FAST
@given(st.lists(sendable, min_size=1, max_size=3).map(
    lambda messages: b"".join(encode(m) for m in messages)).flatmap(mutations))
def test_decoder_refuses_damaged_frames_with_protocol_error(frame):
    decodes_or_refuses(frame)


# arrays as an attacker may describe them: any dtype text (Python objects
# included), any shape, any number of bytes after the header
ndarray_headers = st.tuples(
    st.sampled_from(["<f8", ">i4", "|b1", "|O", "O", "<U3", "|S0", "|V0", "<M8[ns]", "f8,i4",
                     "(2,3)i4", "[('a', '|O')]", ""]) | st.text(max_size=12)
    | st.lists(st.tuples(st.sampled_from(["a", "b", ""]), st.sampled_from(["<i4", "|O", "<f8"]))),
    st.lists(st.integers(-3, 2**40), max_size=4) | values,
)


@FAST
@given(ndarray_headers, st.integers(-2, 2**40) | values, st.binary(max_size=64))
def test_decoder_refuses_bad_array_headers(header, size, data):
    # an array announces (dtype, shape, size); its bytes follow the message in a bin
    announced = msgpack.ExtType(1, msgpack.packb((*header, size)))
    frame = encode({"x": announced}) + msgpack.packb(data, use_bin_type=True)
    try:
        array = decode(frame)["x"]
    except ProtocolError:
        return
    # what decodes is an array over exactly the bytes sent, never of Python objects
    assert isinstance(array, np.ndarray) and not array.dtype.hasobject
    assert array.nbytes == len(data) == size


def test_array_bytes_must_follow_their_message():
    frame = encode({"x": np.arange(4)})
    message_end = frame.index(b"\xc6")  # the bin of the array's bytes
    with pytest.raises(ProtocolError, match="do not follow"):
        decode_many(frame[:message_end] + encode({"id": 1}))
    with pytest.raises(ProtocolError, match="inside a message"):
        decode_many(frame[:-1])
    with pytest.raises(ProtocolError, match="announce 32 bytes, 31 follow"):
        decode_many(frame[:message_end] + msgpack.packb(bytes(31), use_bin_type=True))
    # an array as a map key: refused, not left as an undecoded placeholder
    key = msgpack.ExtType(1, msgpack.packb(("<i8", (1,), 8)))
    with pytest.raises(ProtocolError, match="map key"):
        decode_many(msgpack.packb({"x": {key: 1}}) + msgpack.packb(bytes(8)))


@pytest.mark.parametrize("frame", [
    b"\x91" * 100_000 + b"\x00",  # nested past msgpack's stack
    b"\xdd\xff\xff\xff\xff",  # an array of 2**32-1 items announced, none sent
    b"\xdb\xff\xff\xff\xff" + b"x" * 10,  # a 4 GiB string announced
    b"\xc7\xff\x01" + b"\x00" * 10,  # an ndarray extension cut short
    b"\x81\xa1x\xc7\x04\x01\x93\xa3<f8\x90\x08",  # an array whose bytes never come
    b"",
])
def test_decoder_refuses_bombs(frame):
    with pytest.raises(ProtocolError):
        decode_many(frame)


def test_frame_ending_inside_a_message_is_refused():
    whole = encode({"id": 1, "op": "list"})
    for cut in range(1, len(whole)):
        with pytest.raises(ProtocolError, match="inside a message"):
            decode_many(whole + whole[:cut])  # it used to decode the first, drop the rest


# ----------------------------------------------------------------- round trip


@FAST
@given(sendable)
def test_encode_decode_round_trip(message):
    assert same(message, decode(encode(message)))


@FAST
@given(st.lists(sendable, min_size=1, max_size=5))
def test_joined_frames_decode_to_their_messages(messages):
    received = decode_many(b"".join(encode(m) for m in messages))
    assert same(messages, received)


@FAST
@given(array_views)
def test_arrays_round_trip(array):
    assert same(array, decode(encode(array)))


@FAST
@given(st.integers(UINT64_MAX + 1) | st.integers(max_value=INT64_MIN - 1))
def test_ints_beyond_msgpack_limits_are_refused_when_encoding(n):
    with pytest.raises(OverflowError):
        encode({"args": [n]})


def test_object_arrays_are_refused_when_encoding():
    with pytest.raises(TypeError, match="numeric dtype"):
        encode(np.array([object()]))


# ------------------------------------------------- a Session served in-process


class Served:
    """A :class:`Session` over a real registry: frames go straight to
    ``handle_frame``, replies are decoded into :attr:`replies`."""

    def __init__(self, registry: ObjectRegistry) -> None:
        self.registry = registry
        self.replies: list[Any] = []
        self.session = Session(registry, self._send_frames)

    async def _send_frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.replies.extend(decode_many(frame))

    async def send(self, *messages: Any) -> None:
        await self.session.handle_frame(b"".join(encode(m) for m in messages), 0.0)

    def answers(self, request_id: Any) -> list[dict]:
        """The replies to ``request_id`` so far (updates left out)."""
        key = encode(request_id)
        return [r for r in self.replies if isinstance(r, dict)
                and r.get("op") not in ("update", "pong") and encode(r.get("id")) == key]

    def pongs(self) -> int:
        return sum(isinstance(r, dict) and r.get("op") == "pong" for r in self.replies)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5) -> None:
        with trio.fail_after(timeout):
            while not predicate():
                await trio.sleep(0.002)

    async def request(self, message: dict) -> dict:
        await self.send(message)
        await self.wait_for(lambda: self.answers(message["id"]))
        reply, = self.answers(message["id"])
        return reply

    async def check_serving(self, *names: str) -> None:
        """The session answers calls, async calls and streams on a new object and
        on ``names`` (those still in the registry)."""
        fresh = f"fresh-{len(self.replies)}"
        reply = await self.request({"id": "fresh", "op": "create", "name": fresh, "cls": PROBE})
        assert reply["ok"]["created"] is True, reply
        for name in (fresh, *names):
            if ("", name) not in self.registry.objects:
                continue
            reply = await self.request({"id": f"echo-{name}", "op": "call", "obj": name,
                                        "method": "echo", "args": [name]})
            assert reply["ok"] == [[name], {}], reply
            reply = await self.request({"id": f"add-{name}", "op": "call", "obj": name,
                                        "method": "async_add", "args": [1, 2]})
            assert reply["ok"] == 3, reply
            stream_id = f"count-{name}"
            await self.send({"id": stream_id, "op": "gen", "obj": name, "method": "count",
                       "args": [3], "credit": 8})
            await self.wait_for(lambda: any("end" in r or "error" in r
                                            for r in self.answers(stream_id)))
            items = [i for r in self.answers(stream_id) if "items" in r for i in r["items"]]
            assert items == [0, 1, 2], self.answers(stream_id)
        assert isinstance((await self.request({"id": "list", "op": "list"}))["ok"], list)


def run_served(body: Callable[[Served], Awaitable[None]], *objects: str) -> None:
    """Run ``body`` against a served Session with a Probe for each of ``objects``;
    fail if serve() raises."""

    async def main() -> None:
        registry = ObjectRegistry(allow=[TEST_DEVICES])
        served = Served(registry)
        end_send, end_receive = trio.open_memory_channel(1)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(served.session.serve, end_receive.receive)
                await trio.testing.wait_all_tasks_blocked()  # serve()'s nursery is open
                for name in objects:
                    reply = await served.request({"id": f"create-{name}", "op": "create",
                                                  "name": name, "cls": PROBE})
                    assert reply["ok"]["created"], reply
                await body(served)
                await end_send.send(None)
        finally:
            registry.close()

    trio.run(main)


def well_formed(reply: Any) -> bool:
    if not isinstance(reply, dict):
        return False
    if reply.get("op") == "update":
        return {"obj", "seq", "props", "event"} <= reply.keys()
    if reply.get("op") == "pong":  # the answer to a heartbeat ping
        return reply.keys() == {"op"}
    return "id" in reply and len(reply.keys() & {"ok", "error", "items", "end"}) == 1


# ----------------------------------------------------------- arbitrary bytes

# requests the session answers at once, from handle_frame itself: their damaged
# copies must too
_PLAIN_REQUESTS = [{"id": 1, "op": "list"}, {"id": "e", "op": "echo"},
                   {"id": 2, "op": "call", "obj": "nobody", "method": "echo", "args": [1]},
                   {"id": 3, "op": "credit", "n": 4}, {"id": 4, "op": "cancel"},
                   {"id": 5, "op": "delete", "name": "nobody"}, {"op": "fly", "id": [1.5]}]
damaged = st.lists(st.sampled_from(_PLAIN_REQUESTS), min_size=1, max_size=3).map(
    lambda messages: b"".join(encode(m) for m in messages)).flatmap(mutations)


def expected_replies(frame: bytes) -> int | None:
    """How many replies handle_frame owes for ``frame`` (None: it decodes to a
    request that could start real work, not counted here)."""
    try:
        messages = decode_many(frame)
    except ProtocolError:
        return 1
    owed = 0
    for msg in messages:
        if not isinstance(msg, dict):
            owed += 1
            continue
        op, request_id = msg.get("op"), msg.get("id")
        if op in ("credit", "cancel"):
            try:
                hash(request_id)
            except TypeError:
                owed += 1  # an id that cannot name a request: an error reply
        elif op in ("call", "gen") and msg.get("obj") == "p":
            return None
        else:
            owed += 1
    return owed


@SESSION
@given(st.lists(st.binary(max_size=300) | damaged, min_size=1, max_size=20))
def test_session_answers_arbitrary_bytes_and_keeps_serving(frames):
    async def body(served: Served) -> None:
        for frame in frames:
            before = len(served.replies)
            await served.session.handle_frame(frame, 0.0)
            await trio.testing.wait_all_tasks_blocked()  # the sender wrote the replies
            owed = expected_replies(frame)
            new = served.replies[before:]
            assert all(well_formed(r) for r in new), new
            if owed is not None:
                assert len(new) == owed, (frame, new)
            try:
                decode_many(frame)
            except ProtocolError:
                assert new[0]["id"] is None
                assert new[0]["error"]["type"] == "moalab.executor.errors.ProtocolError"
        await served.check_serving("p")

    run_served(body, "p")


# ------------------------------------------------------------ random requests

OPS = ["call", "gen", "credit", "cancel", "create", "delete", "list", "echo", "ping"]
# every kind of method: sync, async, generators, failing, refused, missing; not the
# ones whose random arguments could sleep or allocate without bound (sleep, tick,
# endless)
METHODS = ["echo", "async_add", "where", "record", "async_record", "get_calls", "get_stats",
           "peek_stats", "set_value", "fail_value", "fail_custom", "fail_unknown", "count",
           "async_count", "count_then_fail"]
REFUSED = ["_private", "not_exposed", "__init__", "__class__", "stats", "nope", ""]
CLASSES = [PROBE, "tests.executor.devices:OtherProbe", "tests.executor.devices:ProbeError",
           "tests.executor.forbidden_devices:ForbiddenProbe", "os:system", "__main__:Probe",
           "tests.executor.devices:Nope", "no-colon", ""]
small = st.none() | st.booleans() | st.integers(-3, 40) | st.floats(-1e3, 1e3) | st.text(max_size=6)

def mostly(likely: st.SearchStrategy, garbage: st.SearchStrategy = values) -> st.SearchStrategy:
    """``likely`` three times in four, else ``garbage``."""
    # not one_of(likely, likely, likely, garbage): one_of drops repeated branches
    return st.integers(0, 3).flatmap(lambda i: garbage if i == 3 else likely)


FIELDS = {
    # calls and streams most: they start work
    "op": mostly(st.sampled_from(["call"] * 4 + ["gen"] * 2 + OPS),
                 st.sampled_from(["fly", "", "CALL"]) | values),
    "obj": mostly(st.sampled_from(["p", "p", "p", "q", "q", "nobody", ""])),
    "method": mostly(st.sampled_from(METHODS), st.sampled_from(REFUSED) | values),
    "args": mostly(st.lists(small, max_size=4)),
    # names a method takes, names outcome.capture takes, keys that are not names
    "kwargs": mostly(st.dictionaries(st.sampled_from(["a", "b", "n", "self", "name", "value",
                                                      "sync_fn", "async_fn"])
                                     | st.text(max_size=6), small, max_size=3)
                     | st.just({})),
    "credit": mostly(st.integers(-2, 100)),
    "n": mostly(st.integers(-2, 100)),
    "name": mostly(st.sampled_from(["r", "r", "q", "p", ""])),
    "cls": mostly(st.sampled_from(CLASSES)),
}
# every field, bar a few left out; an unknown one now and then
request_fields = st.builds(
    lambda fields, left_out, extra: {**{k: v for k, v in fields.items()
                                        if k == "op" or k not in left_out}, **extra},
    st.fixed_dictionaries(FIELDS), st.sets(st.sampled_from(sorted(FIELDS)), max_size=3),
    st.dictionaries(st.sampled_from(["extra", "id2", "ok"]), values, max_size=1),
)


# a request and, for credit and cancel, which earlier request it names (if any)
requests = st.lists(st.tuples(request_fields, st.integers(0, 9)),
                    min_size=1, max_size=10)


@SESSION
@given(requests, st.lists(st.booleans(), min_size=10, max_size=10))
def test_session_answers_random_requests_once_and_keeps_serving(drawn, new_frame):
    messages: list[dict] = []
    for i, (fields, target) in enumerate(drawn):
        request_id = 1000 + i  # unique: reused ones are tested below
        if fields["op"] in ("credit", "cancel") and target < i:
            request_id = messages[target]["id"]
        messages.append({**fields, "id": request_id})
    cancelled = {m["id"] for m in messages if m["op"] == "cancel"}
    bad_credits: dict[int, int] = {}
    for m in messages:
        if m["op"] == "credit" and not isinstance(m.get("n"), int):
            bad_credits[m["id"]] = bad_credits.get(m["id"], 0) + 1
    owed = {m["id"] for m in messages  # exactly one reply each (unless cancelled)
            if m["op"] not in ("gen", "credit", "cancel", "ping")}
    pings = sum(m["op"] == "ping" for m in messages)  # each answered by a pong
    streams = {m["id"] for m in messages if m["op"] == "gen"}
    # credit and cancel naming no other request: nothing to answer
    silent = {m["id"] for m in messages if m["op"] in ("credit", "cancel", "ping")} - owed - streams

    async def body(served: Served) -> None:
        start = len(served.replies)
        frame: list[dict] = []
        for msg, new in zip(messages, new_frame):
            if frame and new:
                await served.send(*frame)
                frame = []
            frame.append(msg)
        await served.send(*frame)
        await served.wait_for(lambda: all(served.answers(i) for i in owed - cancelled))
        await trio.testing.wait_all_tasks_blocked()  # the sender wrote what is queued

        sent = {encode(m["id"]) for m in messages}
        for reply in served.replies[start:]:
            assert well_formed(reply), reply
            assert reply.get("op") in ("update", "pong") or encode(reply["id"]) in sent, reply
        assert served.pongs() == pings
        for m in messages:  # what was reached: see --hypothesis-show-statistics
            kinds = sorted({k for a in served.answers(m["id"]) for k in a if k != "id"})
            event(f"{m['op'] if isinstance(m['op'], str) else 'bad op'}: {'/'.join(kinds)}")
        for request_id in owed:
            answers = served.answers(request_id)
            assert len(answers) == (len(answers[:1]) if request_id in cancelled else 1), answers
        for request_id in silent:
            assert not served.answers(request_id), served.answers(request_id)
        for request_id in streams:
            answers = served.answers(request_id)
            credit_errors = [a for a in answers
                             if "error" in a and "request field 'n'" in a["error"]["message"]]
            assert len(credit_errors) <= bad_credits.get(request_id, 0), answers
            rest = [a for a in answers if a not in credit_errors]
            ends = [i for i, a in enumerate(rest) if "end" in a or "error" in a]
            # items, then at most one end (or error), and nothing after it
            assert len(ends) <= 1 and (not ends or ends[0] == len(rest) - 1), answers
        await served.check_serving("p", "q")

    run_served(body, "p", "q")


ids = (st.none() | st.booleans() | msgpack_ints | st.floats() | st.text(max_size=10)
       | st.binary(max_size=10) | st.lists(small, max_size=3)
       | st.dictionaries(st.text(max_size=3), small, max_size=2))


@SESSION
@given(ids, st.sampled_from(OPS + ["fly"]), st.sampled_from(["echo", "async_add", "count", "nope"]))
def test_replies_carry_the_request_id_back(request_id, op, method):
    """The reply names the request by its id; or the session refuses the id itself (an
    id that is not an integer or a string) with one error naming no request."""
    try:
        hash(request_id)
        hashable = True
    except TypeError:
        hashable = False
    msg = {"id": request_id, "op": op, "obj": "p", "method": method, "args": [1, 2],
           "name": "p", "cls": PROBE, "n": 1}

    async def body(served: Served) -> None:
        start = len(served.replies)
        await served.send(msg)

        def refusals() -> list[dict]:  # an id of a type the session does not take
            return [r for r in served.replies[start:] if r.get("id") is None and "error" in r
                    and "request id" in r["error"]["message"]]

        if op == "gen":
            await served.wait_for(lambda: refusals() or any(
                "end" in r or "error" in r for r in served.answers(request_id)))
        elif op not in ("credit", "cancel", "ping"):
            await served.wait_for(lambda: refusals() or served.answers(request_id))
        await trio.testing.wait_all_tasks_blocked()
        replies = [r for r in served.replies[start:] if r.get("op") not in ("update", "pong")]
        if refusals() and request_id is not None:
            assert not isinstance(request_id, int | str), replies
            assert replies == refusals() and len(replies) == 1, replies
        else:
            assert all(encode(r.get("id")) == encode(request_id) for r in replies), replies
            if op in ("credit", "cancel"):
                assert len(replies) == (0 if hashable else 1), replies
            elif op == "ping":
                assert served.pongs() == 1 and not replies, replies
            elif op != "gen":
                assert len(replies) == 1, replies
        await served.check_serving("p")

    run_served(body, "p")


# ---------------------------------------------- bugs the properties above found
# Each used to end the connection, wedge an object or kill the whole server.


@pytest.mark.parametrize("op, method, args", [("call", "async_add", [1, 2]),
                                              ("call", "sleep", [0.2]),
                                              ("gen", "count", [3])])
def test_reused_request_id_is_refused_while_in_flight(op, method, args):
    """It used to end the connection: the first to finish deleted the other's cancel
    scope, and the second's `del self._scopes[id]` raised KeyError out of serve()."""
    async def body(served: Served) -> None:
        request = {"id": 5, "op": op, "obj": "p", "method": method, "args": args}
        await served.send(request, request)
        await served.wait_for(lambda: any("ok" in r or "end" in r for r in served.answers(5)))
        refused = [r for r in served.answers(5) if "error" in r]
        assert len(refused) == 1 and "in flight" in refused[0]["error"]["message"]
        await served.check_serving("p")

    run_served(body, "p")


@pytest.mark.parametrize("method", ["async_add", "echo"])
@pytest.mark.parametrize("kwargs", [{1: 2}, {"async_fn": 1}, {"sync_fn": 1}])
def test_keywords_a_call_cannot_take_get_a_reply(method, kwargs):
    """A key that is not a string, or named like outcome.capture's own parameter, used
    to raise out of serve() (async methods) or kill the object's worker thread, after
    which its sync calls hung for ever (sync methods)."""
    async def body(served: Served) -> None:
        with trio.fail_after(5):
            reply = await served.request({"id": 6, "op": "call", "obj": "p", "method": method,
                                          "args": [1, 2], "kwargs": kwargs})
            if method == "echo" and isinstance(next(iter(kwargs)), str):
                assert reply["ok"] == [[1, 2], kwargs]  # echo takes any name
            else:
                assert "error" in reply, reply
            await served.check_serving("p")

    run_served(body, "p")


@pytest.mark.parametrize("other_call_pending", [False, True])
@pytest.mark.parametrize("method", ["echo", "async_add"])
def test_unhashable_id_gets_one_refusal(method, other_call_pending):
    """On a sync call it used to get two replies (an error, then the result) or, with
    another call pending, a TypeError in a run_sync_soon callback: TrioInternalError,
    the end of the whole server. On an async call it used to leave the object's
    start ticket taken: every later async call on it waited for ever."""
    async def body(served: Served) -> None:
        if other_call_pending:
            await served.send({"id": 1, "op": "call", "obj": "q", "method": "sleep", "args": [0.3]})
        start = len(served.replies)
        await served.send({"id": [2], "op": "call", "obj": "p", "method": method, "args": [1, 2]})
        await trio.sleep(0.5)
        answers = [r for r in served.replies[start:] if r.get("id") != 1]
        assert len(answers) == 1 and answers[0]["id"] is None, answers
        assert "request id" in answers[0]["error"]["message"]
        with trio.fail_after(5):
            await served.check_serving("p", "q")

    run_served(body, "p", "q")


def test_parts_point_at_the_arrays_and_join_to_the_frame():
    arrays = [np.arange(10.0), np.ones((3, 4), dtype=np.int16)]
    message = {"id": 1, "items": arrays}
    parts = encode_parts(message)
    # the arrays' bytes are not copied: the parts are views of them
    assert [np.shares_memory(np.frombuffer(part, np.uint8), array)
            for part, array in zip(parts[2:], arrays)] == [True, True]
    assert b"".join(parts) == encode(message)
    small = encode({"id": 2})
    for joined in (join_frames([parts, small]), join_frames([small, parts], limit=10)):
        received = [m for frame in joined for m in decode_many(frame)]
        assert [m["id"] for m in received] in ([1, 2], [2, 1])
        items = next(m for m in received if m["id"] == 1)["items"]
        assert all(same(a, b) for a, b in zip(arrays, items))
