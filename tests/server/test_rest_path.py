"""The REST routes as an adapter over the sessions' call path, through Quart's test
client against the real app and a real ObjectRegistry: the OpenAPI document's
schemas come from the message types, a stream longer than its credit goes on as the
response is read, and every route's errors map to one status table."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from moalab.executor.messages import CALL_BODY, CREATE_BODY, Call, Create, json_schema
from moalab.executor.registry import ObjectRegistry
from moalab.server.app import STREAM_CREDIT, create_app

from ..conftest import TEST_DEVICES

PROBE = "tests.executor.devices:Probe"


def run_app(body: Callable[[Any, ObjectRegistry], Awaitable[None]]) -> None:
    """Run ``body(client, registry)`` against the app, with a Probe named ``p``."""

    async def main() -> None:
        registry = ObjectRegistry(allow=[TEST_DEVICES])
        try:
            async with create_app(registry).test_app() as test_app:
                client = test_app.test_client()
                response = await client.post("/api/objects", json={"name": "p", "cls": PROBE})
                assert response.status_code == 201, await response.get_data()
                with trio.fail_after(20):
                    await body(client, registry)
        finally:
            registry.close()

    trio.run(main)


def test_openapi_schemas_come_from_the_message_types():
    async def body(client: Any, registry: ObjectRegistry) -> None:
        document = await (await client.get("/openapi.json")).get_json()
        paths = document["paths"]

        def request_schema(path: str) -> dict:
            return paths[path]["post"]["requestBody"]["content"]["application/json"]["schema"]

        call = request_schema("/api/objects/{name}/call/{method}")
        assert call == json_schema(Call, CALL_BODY)
        # the field's own description, written once, on the message type
        assert call["properties"]["kwargs"]["description"] == "keyword arguments of the " \
                                                               "method, by name"
        assert request_schema("/api/objects/{name}/stream/{method}") == call
        create = request_schema("/api/objects")
        assert create == json_schema(Create, CREATE_BODY)
        assert create["required"] == ["name", "cls"]
        assert set(document["components"]["schemas"]["Update"]["properties"]) == {
            "op", "obj", "seq", "props", "event"}

    run_app(body)


def test_a_stream_longer_than_its_credit_goes_on():
    """Credit goes back to the stream as the response takes its items."""
    n = 3 * STREAM_CREDIT + 5

    async def body(client: Any, registry: ObjectRegistry) -> None:
        response = await client.post("/api/objects/p/stream/count", json={"args": [n]})
        assert response.status_code == 200
        lines = [json.loads(line) for line in (await response.get_data(as_text=True)).splitlines()]
        assert [line["item"] for line in lines[:-1]] == list(range(n))
        assert lines[-1] == {"end": True}

    run_app(body)


def test_every_route_maps_errors_alike():
    async def body(client: Any, registry: ObjectRegistry) -> None:
        async def error(response: Any, status: int, kind: str) -> dict:
            assert response.status_code == status, await response.get_data()
            error = (await response.get_json())["error"]
            assert error["type"].endswith(kind), error
            return error

        for path in ("/api/objects/nobody/call/echo", "/api/objects/nobody/stream/count"):
            await error(await client.post(path, json={}), 404, "UnknownObject")
        await error(await client.delete("/api/objects/nobody"), 404, "UnknownObject")
        await error(await client.get("/api/objects/nobody/updates"), 404, "UnknownObject")
        for path in ("/api/objects/p/call/_private", "/api/objects/p/stream/echo"):
            await error(await client.post(path, json={}), 403, "NotAllowed")
        message = (await error(await client.post("/api/objects/p/call/echo",
                                                 json={"kwargs": {"a": 1}, "args": "x"}),
                               400, "ProtocolError"))["message"]
        assert "'args'" in message and "a list" in message, message
        await error(await client.post("/api/objects/p/call/fail_value", json={"args": ["no"]}),
                    500, "ValueError")
        await error(await client.get("/api/objects?namespace=no/good"), 400, "InvalidArgument")

    run_app(body)
