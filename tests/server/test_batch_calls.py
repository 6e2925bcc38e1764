"""moalab-server's batch route, POST /api/calls, against a real server process: several
calls in one request, each reply streamed as its call ends."""

import json
import time

import httpx
import numpy as np

from moalab.executor.codec import MEDIA_TYPE, decode
from moalab.executor.framing import pop_frames

PROBE = "tests.executor.devices:Probe"
_count = iter(range(1_000_000))


def new_probe(client: httpx.Client, namespace: str = "") -> str:
    name = f"batch-probe-{next(_count)}"
    response = client.post("/api/objects", json={"name": name, "cls": PROBE},
                           params={"namespace": namespace} if namespace else None)
    assert response.status_code == 201, response.text
    return name


def call(obj: str, method: str, *args, **kwargs) -> dict:
    return {"obj": obj, "method": method, "args": list(args), "kwargs": kwargs}


def batch(client: httpx.Client, calls: list, **params) -> dict[int, dict]:
    """The replies of a batch (NDJSON), by index."""
    response = client.post("/api/calls", json=calls, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    replies = [json.loads(line) for line in response.text.splitlines()]
    assert sorted(reply["index"] for reply in replies) == list(range(len(calls)))
    return {reply["index"]: reply for reply in replies}


def test_sync_calls_to_one_object_run_in_the_lists_order(client):
    probe = new_probe(client)
    replies = batch(client, [call(probe, "record", i) for i in range(20)]
                    + [call(probe, "echo", 1, key="a")])
    assert all(replies[i]["result"] is None for i in range(20))
    assert replies[20]["result"] == [[1], {"key": "a"}]
    assert batch(client, [call(probe, "get_calls")])[0]["result"] == list(range(20))


def test_a_slow_call_does_not_hold_back_a_faster_ones_reply(client):
    slow, fast = new_probe(client), new_probe(client)
    calls = [call(slow, "sleep", 0.6), call(fast, "echo", 1), call(slow, "async_sleep", 0.6),
             call(slow, "async_add", 2, 3)]
    arrived = []
    start = time.monotonic()
    with client.stream("POST", "/api/calls", json=calls) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line:
                arrived.append((json.loads(line), time.monotonic() - start))
    order = [reply["index"] for reply, _ in arrived]
    assert set(order[:2]) == {1, 3} and set(order[2:]) == {0, 2}, order
    results = {reply["index"]: reply["result"] for reply, _ in arrived}
    assert results == {0: 0.6, 1: [[1], {}], 2: 0.6, 3: 5}
    # the fast ones came while the slow ones still ran, not with them at the end
    assert max(t for reply, t in arrived if reply["index"] in (1, 3)) < 0.5


def test_a_bad_call_gets_its_own_error_and_the_others_run(client):
    probe = new_probe(client)
    replies = batch(client, [
        call(probe, "record", "first"), "not a call", {"obj": probe},
        call("no-such-object", "echo"), call(probe, "not_exposed"),
        {"obj": probe, "method": "echo", "args": {"a": 1}}, call(probe, "fail_value", "no"),
        call(probe, "record", "last")])
    assert replies[0]["result"] is None and replies[7]["result"] is None
    expected = {1: ("ProtocolError", "call 1 of the batch"), 2: ("ProtocolError", "method"),
                3: ("UnknownObject", "no-such-object"), 4: ("NotAllowed", "not_exposed"),
                5: ("ProtocolError", "args"), 6: ("ValueError", "no")}
    for index, (error_type, words) in expected.items():
        error = replies[index]["error"]
        assert error["type"].endswith(error_type) and words in error["message"], error
        assert "traceback" not in error
    assert batch(client, [call(probe, "get_calls")])[0]["result"] == ["first", "last"]


def test_a_bad_body_is_refused_whole(client):
    response = client.post("/api/calls", content=b"[[", headers={"content-type":
                                                                 "application/json"})
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]["message"]
    response = client.post("/api/calls", json={"obj": "x", "method": "echo"})
    assert response.status_code == 400
    assert "JSON list" in response.json()["error"]["message"]
    response = client.post("/api/calls", json=[])
    assert response.status_code == 200 and response.text == ""


def test_replies_carry_their_calls_updates_and_arrays_as_msgpack_frames(client):
    probe = new_probe(client)
    response = client.post("/api/calls", json=[call(probe, "set_value", 7),
                                               call(probe, "ramp", 3)],
                           headers={"Accept": MEDIA_TYPE})
    assert response.status_code == 200 and response.headers["content-type"] == MEDIA_TYPE
    replies = {reply["index"]: reply
               for reply in map(decode, pop_frames(bytearray(response.content)))}
    assert replies[0]["result"] is None
    assert [(u["obj"], u["props"]["value"]) for u in replies[0]["updates"]] == [(probe, 7)]
    np.testing.assert_array_equal(replies[1]["result"], np.arange(3, dtype=np.float32))
    assert replies[1]["updates"] == []


def test_a_result_msgpack_cannot_carry_is_that_calls_error(client):
    probe = new_probe(client)
    response = client.post("/api/calls", json=[call(probe, "echo", 2**70),
                                               call(probe, "echo", 1)],
                           headers={"Accept": MEDIA_TYPE})
    assert response.status_code == 200
    replies = {reply["index"]: reply
               for reply in map(decode, pop_frames(bytearray(response.content)))}
    error = replies[0]["error"]
    assert error["type"].endswith("OverflowError") and "2**64" in error["message"], error
    assert replies[1]["result"] == [[1], {}]


def test_token_and_namespace_as_the_other_routes(moalab_server, client):
    probe = new_probe(client, namespace="batch-ns")
    with httpx.Client(base_url=moalab_server.url, timeout=20) as anonymous:
        response = anonymous.post("/api/calls", json=[call(probe, "record", 1)])
    assert response.status_code == 401
    response = client.post("/api/calls", json=[call(probe, "echo")],
                           params={"namespace": "bad namespace"})
    assert response.status_code == 400 and "namespace" in response.json()["error"]["message"]
    assert batch(client, [call(probe, "echo", 2)], namespace="batch-ns")[0]["result"] == [
        [2], {}]
    error = batch(client, [call(probe, "echo", 2)])[0]["error"]  # not in the shared one
    assert error["type"].endswith("UnknownObject")
    assert batch(client, [call(probe, "get_calls")], namespace="batch-ns")[0]["result"] == []


def test_the_openapi_document_lists_the_route(client):
    operation = client.get("/openapi.json").json()["paths"]["/api/calls"]["post"]
    items = operation["requestBody"]["content"]["application/json"]["schema"]["items"]
    assert set(items["properties"]) == {"obj", "method", "args", "kwargs"}
    assert items["required"] == ["obj", "method"]
    assert "/api/calls" in client.get("/").text
