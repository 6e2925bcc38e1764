"""moalab-server over HTTP: documentation, health, and the REST API, against a real
server process."""

import json

import httpx
import numpy as np
import pytest
import trio

import moalab
from moalab.executor.codec import MEDIA_TYPE, decode
from moalab.executor.framing import pop_frames
from moalab.server.app import DEBUG_ENV
from ..conftest import AUTH_HEADERS, running_server

PROBE = "tests.executor.devices:Probe"
_count = iter(range(1_000_000))


@pytest.fixture
def probe(client):
    """The name of a new Probe on the server."""
    name = f"http-probe-{next(_count)}"
    response = client.post("/api/objects", json={"name": name, "cls": PROBE})
    assert response.status_code == 201, response.text
    return name


def call(client, name, method, *args, **kwargs):
    return client.post(f"/api/objects/{name}/call/{method}",
                       json={"args": list(args), "kwargs": kwargs})


def assert_error(response, status: int, error_type: str, match: str = "") -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"].endswith(error_type), error
    assert match in error["message"]
    return error


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] == moalab.__version__
    assert isinstance(body["objects"], int) and isinstance(body["sessions"], int)


def test_openapi_document(client):
    document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for path in ("/health", "/api/echo", "/api/objects", "/api/objects/{name}",
                 "/api/objects/{name}/call/{method}", "/api/objects/{name}/stream/{method}",
                 "/api/objects/{name}/updates"):
        assert path in document["paths"], path


def test_index_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "moalab-server" in response.text and "/openapi.json" in response.text
    assert "/api/objects/{name}/call/{method}" in response.text


def test_clock_echo(client):
    times = client.get("/api/echo").json()
    assert times["t1"] <= times["t2"]


def test_create_list_call_stream_delete(client):
    name = f"http-probe-{next(_count)}"
    created = client.post("/api/objects", json={"name": name, "cls": PROBE,
                                                 "kwargs": {"label": "rest"}})
    assert created.status_code == 201
    assert created.json()["created"] is True
    assert created.json()["props"]["label"] == "rest"
    again = client.post("/api/objects", json={"name": name, "cls": PROBE})
    assert again.status_code == 200 and again.json()["created"] is False

    listed = {entry["name"]: entry for entry in client.get("/api/objects").json()}
    assert listed[name]["class"] == PROBE

    response = call(client, name, "echo", 1, "a", key=[1, 2])
    assert response.status_code == 200
    assert response.json()["result"] == [[1, "a"], {"key": [1, 2]}]
    assert call(client, name, "async_add", 2, 3).json()["result"] == 5
    # an empty body means no arguments
    assert client.post(f"/api/objects/{name}/call/get_calls").json()["result"] == []

    response = client.post(f"/api/objects/{name}/stream/count", json={"args": [4]})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [{"item": 0}, {"item": 1}, {"item": 2}, {"item": 3}, {"end": True}]

    assert client.delete(f"/api/objects/{name}").json() == {"deleted": name}
    assert name not in [entry["name"] for entry in client.get("/api/objects").json()]
    assert_error(call(client, name, "echo"), 404, "UnknownObject", name)


def test_msgpack_replies_carry_arrays(client, probe):
    accept = {"Accept": MEDIA_TYPE}
    response = client.post(f"/api/objects/{probe}/call/ramp", json={"args": [5]}, headers=accept)
    assert response.headers["content-type"] == MEDIA_TYPE
    result = decode(response.content)["result"]
    assert result.dtype == np.float32 and result.tolist() == [0, 1, 2, 3, 4]
    # without the Accept header, JSON as before
    assert call(client, probe, "ramp", 2).json()["result"] == [0.0, 1.0]

    # a stream: length-prefixed frames of items, then the end; 3 MiB of arrays come in
    # several frames of about 1 MiB
    response = client.post(f"/api/objects/{probe}/stream/ramps", json={"args": [6, 1 << 18]},
                           headers=accept)
    assert response.headers["content-type"] == MEDIA_TYPE
    frames = pop_frames(bytearray(response.content))
    messages = [decode(frame) for frame in frames]
    assert messages[-1] == {"end": True}
    items = [item for message in messages[:-1] for item in message["items"]]
    assert len(messages) > 2
    assert [int(item[0]) for item in items] == list(range(6))
    assert all(item.dtype == np.int16 and item.shape == (1 << 18,) for item in items)


def test_msgpack_stream_error_is_the_last_frame(client, probe):
    response = client.post(f"/api/objects/{probe}/stream/count_then_fail", json={"args": [2]},
                           headers={"Accept": MEDIA_TYPE})
    messages = [decode(frame) for frame in pop_frames(bytearray(response.content))]
    assert [item for message in messages[:-1] for item in message["items"]] == [0, 1]
    assert messages[-1]["error"]["type"].endswith("ValueError")


def test_stream_error_is_the_last_line(client, probe):
    response = client.post(f"/api/objects/{probe}/stream/count_then_fail", json={"args": [2]})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[:2] == [{"item": 0}, {"item": 1}]
    assert lines[2]["error"]["type"] == "builtins.ValueError"
    assert len(lines) == 3


def test_method_error_is_500_with_type_and_message_and_its_traceback_in_the_log(
        moalab_server, client, probe):
    error = assert_error(call(client, probe, "fail_value", "no good 17"), 500, "ValueError",
                         "no good 17")
    # the client learns what went wrong, not the server's files and code
    assert "traceback" not in error and "devices.py" not in json.dumps(error), error
    log = moalab_server.log()
    assert "no good 17" in log and 'fail_value\n    raise ValueError' in log.replace('"', "")
    error = assert_error(call(client, probe, "fail_custom", "custom"), 500,
                         "tests.executor.devices.ProbeError")
    assert "traceback" not in error


def test_stream_error_has_no_traceback(client, probe):
    response = client.post(f"/api/objects/{probe}/stream/count_then_fail", json={"args": [1]})
    error = json.loads(response.text.splitlines()[-1])["error"]
    assert error["type"] == "builtins.ValueError" and "traceback" not in error, error


def test_debug_server_sends_tracebacks():
    with running_server(env={DEBUG_ENV: "1"}) as server:
        with httpx.Client(base_url=server.url, headers=AUTH_HEADERS, timeout=20) as client:
            response = client.post("/api/objects", json={"name": "debug-probe", "cls": PROBE})
            assert response.status_code == 201, response.text
            error = assert_error(call(client, "debug-probe", "fail_value", "no good"), 500,
                                 "ValueError", "no good")
    assert "fail_value" in error["traceback"], error


def test_bad_requests(client, probe):
    response = client.post("/api/objects", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert_error(response, 400, "ProtocolError", "not JSON")
    response = client.post("/api/objects", json={"cls": PROBE})
    assert_error(response, 400, "InvalidArgument", "name")
    response = client.post("/api/objects", json=[1, 2])
    assert_error(response, 400, "ProtocolError", "JSON object")
    response = client.post("/api/objects", json={"name": "x", "cls": PROBE, "kwargs": [1]})
    assert_error(response, 400, "ProtocolError", "kwargs")
    response = client.post("/api/objects", json={"name": "x", "cls": "no-colon"})
    assert_error(response, 400, "InvalidArgument", "module:QualName")
    response = client.post("/api/objects", json={"name": "", "cls": PROBE})
    assert_error(response, 400, "InvalidArgument")
    response = client.post("/api/objects", json={"name": "x", "cls": "tests.executor.devices:Nope"})
    assert_error(response, 400, "InvalidArgument", "cannot import")

    response = client.post(f"/api/objects/{probe}/call/record", content=b"[[[",
                           headers={"content-type": "application/json"})
    assert_error(response, 400, "ProtocolError", "not JSON")
    response = client.post(f"/api/objects/{probe}/stream/count", content=b"{'args': [1]}")
    assert_error(response, 400, "ProtocolError", "not JSON")
    assert call(client, probe, "get_calls").json()["result"] == []  # nothing was called
    response = client.post(f"/api/objects/{probe}/call/echo", json={"args": {"a": 1}})
    assert_error(response, 400, "ProtocolError", "args")
    response = client.post(f"/api/objects/{probe}/call/echo", json="text")
    assert_error(response, 400, "ProtocolError", "JSON object")
    response = call(client, probe, "sleep", "not a number")
    assert_error(response, 500, "TypeError")
    # the server is fine after all that
    assert call(client, probe, "echo", 1).json()["result"] == [[1], {}]


def test_unknown_objects(client):
    assert_error(call(client, "no-such-object", "echo"), 404, "UnknownObject",
                 "no-such-object")
    response = client.post("/api/objects/no-such-object/stream/count", json={"args": [1]})
    assert_error(response, 404, "UnknownObject")
    assert_error(client.delete("/api/objects/no-such-object"), 404, "UnknownObject")
    assert_error(client.get("/api/objects/no-such-object/updates"), 404, "UnknownObject")


def test_refusals(client, probe):
    for cls in ("tests.executor.forbidden_devices:ForbiddenProbe",
                "tests.executor.devices:ProbeError",  # allowed module, not a device
                "__main__:Probe", "os:system"):
        response = client.post("/api/objects", json={"name": f"refused-{next(_count)}",
                                                     "cls": cls})
        assert_error(response, 403, "NotAllowed")
    for method in ("not_exposed", "_private", "__init__", "__class__", "stats", "count"):
        assert_error(call(client, probe, method), 403, "NotAllowed")
    assert_error(client.post(f"/api/objects/{probe}/stream/echo", json={}), 403, "NotAllowed")


@pytest.mark.parametrize("kwargs", [{"on_data_update": 1}, {"__dict__": {}}, {"rng": 1},
                                    {"label": "ok", "calls": []}])
def test_create_refuses_undeclared_arguments(client, kwargs):
    name = f"refused-{next(_count)}"
    response = client.post("/api/objects", json={"name": name, "cls": PROBE, "kwargs": kwargs})
    refused = next(key for key in kwargs if key != "label")
    error = assert_error(response, 403, "NotAllowed", f"argument(s) {refused!r}")
    assert "declared properties and constructor parameters" in error["message"]
    assert name not in [entry["name"] for entry in client.get("/api/objects").json()]


def test_create_refuses_moalab_modules_other_than_devices(client):
    response = client.post("/api/objects", json={
        "name": f"refused-{next(_count)}", "cls": "moalab.examples.sugar_pellet:VirtualDevice"})
    assert_error(response, 403, "NotAllowed", "--allow moalab.examples.sugar_pellet")
    # the device library and the guide's remote sample still are
    for cls in ("moalab.device.virtual:VirtualDigitalChannel",
                "moalab.examples.remote_devices:VirtualDevice"):
        name = f"ok-{next(_count)}"
        created = client.post("/api/objects", json={"name": name, "cls": cls})
        assert created.status_code == 201, created.text
        assert client.delete(f"/api/objects/{name}").status_code == 200


def test_create_refuses_a_bad_value_by_name(client):
    name = f"line-{next(_count)}"
    response = client.post("/api/objects", json={
        "name": name, "cls": "moalab.device.virtual:VirtualDigitalChannel",
        "kwargs": {"interval": "ab"}})
    assert_error(response, 400, "InvalidArgument",
                 f"VirtualDigitalChannel {name!r}: interval='ab' is not accepted")


def test_updates_stream(moalab_server, client, probe):
    with httpx.Client(base_url=moalab_server.url, headers=AUTH_HEADERS, timeout=20) as watcher:
        with watcher.stream("GET", f"/api/objects/{probe}/updates") as response:
            lines = response.iter_lines()
            first = json.loads(next(lines))
            assert first["op"] == "update" and first["obj"] == probe
            assert first["props"]["value"] == 0
            reply = call(client, probe, "set_value", 9).json()
            # the reply carries the call's updates too
            assert any(update["props"].get("value") == 9 for update in reply["updates"])
            # the change may come in more than one update (timestamp, then value)
            with_value = next(update for update in map(json.loads, lines)
                              if "value" in update["props"])
            assert with_value["props"]["value"] == 9


async def test_error_replies_keep_the_connection_usable(moalab_server):
    """An error answered before the request body was read used to stall the keep-alive
    connection: the next request on it never got an answer."""
    name = f"http-probe-{next(_count)}"
    async with httpx.AsyncClient(base_url=moalab_server.url, headers=AUTH_HEADERS,
                                 timeout=10) as client:
        response = await client.post("/api/objects", json={"name": name, "cls": PROBE})
        assert response.status_code == 201
        with trio.fail_after(30):
            for i in range(30):
                refused = await client.post(f"/api/objects/{name}/call/not_exposed",
                                            json={"args": [], "kwargs": {}})
                assert refused.status_code == 403
                unknown = await client.post(f"/api/objects/nothing-{i}/stream/count",
                                            json={"args": [1]})
                assert unknown.status_code == 404
                response = await client.post(f"/api/objects/{name}/call/echo",
                                             json={"args": [i]})
                assert response.json()["result"] == [[i], {}]
