"""The wire protocol's message types: their wire form, parsing and refusals."""

import timeit

import pytest

from moalab.executor.codec import decode, encode
from moalab.executor.errors import ProtocolError
from moalab.executor.messages import (REQUESTS, Call, Cancel, Create, Credit, Delete, Echo, End,
                                      Failed, Gen, Items, List, Ok, Ping, Pong, Update,
                                      json_schema, parse_reply, parse_request, reply_id)

REQUEST_EXAMPLES = [
    Call(1, "lever", "press", [1, "x"], {"force": 2.5}),
    Gen("s", "camera", "frames", [], {}, 128),
    Credit(7, 32),
    Cancel(7),
    Create(2, "lever", "moalab.device.virtual:VirtualDigitalChannel", {"value": True}),
    Delete(3, "lever"),
    List(4),
    Echo("e"),
    Ping(),
]
REPLY_EXAMPLES = [
    Ok(1, {"created": True, "props": {"value": 1}, "seq": 0}),
    Ok("x", None),
    Failed(2, {"type": "builtins.ValueError", "message": "no", "args": ["no"]}),
    Items(3, [1, 2.5, "three"]),
    End(3),
    Update("lever", 4, {"value": 1}, True),
    Pong(),
]


@pytest.mark.parametrize("message", REQUEST_EXAMPLES, ids=lambda m: type(m).__name__)
def test_requests_round_trip(message):
    assert parse_request(decode(encode(message.to_wire()))) == message


@pytest.mark.parametrize("message", REPLY_EXAMPLES, ids=lambda m: type(m).__name__)
def test_replies_round_trip(message):
    assert parse_reply(decode(encode(message.to_wire()))) == message


def test_wire_form_is_the_protocols():
    """Old peers must not notice: the maps are the ones session.py documents."""
    assert Call(1, "o", "m").to_wire() == {"op": "call", "id": 1, "obj": "o", "method": "m",
                                           "args": [], "kwargs": {}}
    assert Ok(1, 5).to_wire() == {"id": 1, "ok": 5}
    assert Failed(1, {"type": "t"}).to_wire() == {"id": 1, "error": {"type": "t"}}
    assert Items(1, [1]).to_wire() == {"id": 1, "items": [1]}
    assert End(1).to_wire() == {"id": 1, "end": True}
    assert Update("o", 1, {}, False).to_wire() == {"op": "update", "obj": "o", "seq": 1,
                                                   "props": {}, "event": False}
    assert Pong().to_wire() == {"op": "pong"} and Ping().to_wire() == {"op": "ping"}
    # optional fields take their defaults
    assert parse_request({"op": "gen", "id": 1, "obj": "o", "method": "m"}) == Gen(
        1, "o", "m", [], {}, 64)


@pytest.mark.parametrize("value, words", [
    (5, ["must be a map", "int"]),
    ({"id": [1], "op": "list"}, ["request id", "integer or a string", "[1]"]),
    ({"id": 1, "op": "fly"}, ["unknown op 'fly'", "call, gen, credit, cancel, create, delete, "
                                                  "list, echo, ping"]),
    ({"id": 1}, ["unknown op None"]),
    ({"op": "call", "obj": "o", "method": "m"}, ["call request needs an id"]),
    ({"op": "gen", "id": None, "obj": "o", "method": "m"}, ["gen request needs an id"]),
    ({"op": "call", "id": 1, "obj": 3, "method": "m"}, ["'obj'", "call request", "a string",
                                                        "not 3"]),
    ({"op": "call", "id": 1, "method": "m"}, ["'obj'", "missing", "a string"]),
    ({"op": "call", "id": 1, "obj": "o", "method": None}, ["'method'", "not None"]),
    ({"op": "call", "id": 1, "obj": "o", "method": "m", "args": {"a": 1}},
     ["'args'", "a list", "{'a': 1}"]),
    ({"op": "call", "id": 1, "obj": "o", "method": "m", "kwargs": [1]}, ["'kwargs'", "map"]),
    ({"op": "call", "id": 1, "obj": "o", "method": "m", "kwargs": {1: 2}},
     ["'kwargs'", "names (strings)", "{1: 2}"]),
    ({"op": "gen", "id": 1, "obj": "o", "method": "m", "credit": "many"},
     ["'credit'", "an integer", "'many'"]),
    ({"op": "credit", "id": 1}, ["'n'", "credit request", "missing", "an integer"]),
    ({"op": "credit", "id": 1, "n": 1.5}, ["'n'", "not 1.5"]),
    ({"op": "create", "id": 1, "name": "o", "cls": "m:C", "kwargs": [1]}, ["'kwargs'", "map"]),
    ({"op": "delete", "id": 1, "name": 3}, ["'name'", "delete request", "a string"]),
    ({"op": "call", "id": 1, "obj": "x" * 10_000, "method": 5}, ["'method'"]),
])
def test_bad_requests_are_refused_clearly(value, words):
    with pytest.raises(ProtocolError) as refused:
        parse_request(value)
    message = str(refused.value)
    assert all(word in message for word in words), message
    assert len(message) < 300  # a huge bad value is abbreviated


def test_ids_are_optional_where_no_answer_is_awaited():
    """A cancel, credit, list... without an id is one (only call and gen need one)."""
    assert parse_request({"op": "cancel"}) == Cancel(None)
    assert parse_request({"op": "credit", "n": 2}) == Credit(None, 2)
    assert parse_request({"op": "list"}) == List(None)


def test_create_leaves_name_and_class_to_the_registry():
    """The registry checks them, with messages saying what it accepts."""
    assert parse_request({"op": "create", "id": 1}) == Create(1, None, None, {})
    assert parse_request({"op": "create", "id": 1, "name": 3, "cls": 4}).name == 3


@pytest.mark.parametrize("value, words", [
    ([1], ["must be a map"]),
    ({"op": "fly"}, ["unknown op 'fly'", "update or pong"]),
    ({"id": 1}, ["ok, error, items or end"]),
    ({"id": 1, "items": 5}, ["'items'", "a list"]),
    ({"id": 1, "error": "bad"}, ["'error'", "map"]),
    ({"op": "update", "obj": "o", "seq": "1", "props": {}, "event": False}, ["'seq'"]),
])
def test_bad_replies_are_refused_clearly(value, words):
    with pytest.raises(ProtocolError) as refused:
        parse_reply(value)
    assert all(word in str(refused.value) for word in words), str(refused.value)


def test_reply_id():
    assert reply_id({"id": 3}) == 3 and reply_id({"id": "a"}) == "a"
    assert reply_id({"id": [1]}) is None and reply_id(5) is None and reply_id({}) is None


def test_table_and_schemas_come_from_the_types():
    assert REQUESTS["call"] is Call and set(REQUESTS) == {
        "call", "gen", "credit", "cancel", "create", "delete", "list", "echo", "ping"}
    schema = json_schema(Gen)
    assert schema["properties"]["op"] == {"enum": ["gen"]}
    assert schema["required"] == ["op", "id", "obj", "method"]
    assert schema["properties"]["credit"]["default"] == 64
    body = json_schema(Create, ("name", "cls", "kwargs"))
    assert set(body["properties"]) == {"name", "cls", "kwargs"}
    assert body["required"] == ["name", "cls"]
    assert body["properties"]["kwargs"]["type"] == "object"


def test_parsing_a_call_is_cheap():
    """On every call's path: a few microseconds (generous: the CPU is shared)."""
    value = Call(1, "lever", "press", [1], {"force": 2}).to_wire()
    n = 2000
    seconds = min(timeit.repeat(lambda: parse_request(value), number=n, repeat=3)) / n
    assert seconds < 50e-6, seconds
