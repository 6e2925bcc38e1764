"""Property-based fuzzing of moalab-server's REST endpoints, through Quart's test client
against the real app and a real ObjectRegistry.

Random paths, names, methods, JSON bodies (wrong types, huge strings, bad
bytes) and tokens: every answer comes (no hang), an error is a 4xx/5xx JSON
error, a request without the right token runs nothing, and the app keeps
answering /health and calls. The tests at the end pin the bugs the property
found (now fixed).
"""

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, unquote

import pytest
import trio
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException

from moalab.executor.registry import ObjectRegistry
from moalab.server.app import create_app

from ..conftest import TEST_DEVICES

PROBE = "tests.executor.devices:Probe"
TOKEN = "rest-fuzz-token"
GOOD = f"Bearer {TOKEN}"
LIMIT = 1 << 20  # the app's MAX_CONTENT_LENGTH here (moalab-server sets its own)

# no .hypothesis directory; no explain phase (it reruns a failure many times over)
REST = settings(max_examples=100, deadline=None, database=None,
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_app(body: Callable[[Any, ObjectRegistry, Any], Awaitable[None]]) -> None:
    """Run ``body(client, registry, app)`` against the app, with a Probe named ``p``."""

    async def main() -> None:
        registry = ObjectRegistry(allow=[TEST_DEVICES])
        app = create_app(registry, token=TOKEN)
        app.config["MAX_CONTENT_LENGTH"] = LIMIT
        try:
            async with app.test_app() as test_app:
                client = test_app.test_client()
                response = await client.post("/api/objects", json={"name": "p", "cls": PROBE},
                                             headers={"Authorization": GOOD})
                assert response.status_code == 201
                await body(client, registry, app)
        finally:
            registry.close()

    trio.run(main)


async def still_serving(client: Any, registry: ObjectRegistry) -> None:
    """/health answers, and a call on ``p`` (or a new Probe, if ``p`` was deleted) works."""
    with trio.fail_after(10):
        response = await client.get("/health")
        assert response.status_code == 200
        assert (await response.get_json())["status"] == "ok"
        name = "p" if ("", "p") in registry.objects else "p-again"
        if ("", name) not in registry.objects:
            response = await client.post("/api/objects", json={"name": name, "cls": PROBE},
                                         headers={"Authorization": GOOD})
            assert response.status_code == 201, await response.get_data()
        response = await client.post(f"/api/objects/{name}/call/echo", json={"args": [1]},
                                     headers={"Authorization": GOOD})
        assert response.status_code == 200, await response.get_data()
        assert (await response.get_json())["result"] == [[1], {}]


# ---------------------------------------------------------------- strategies

# sync, async, generator, failing, refused and missing methods; not the ones whose
# random arguments could sleep or run for ever (sleep, tick, endless)
METHODS = ["echo", "async_add", "where", "record", "async_record", "get_calls", "set_value",
           "fail_value", "fail_custom", "fail_unknown", "count", "async_count",
           "count_then_fail", "_private", "not_exposed", "__init__", "__class__", "stats",
           "nope", ""]
CLASSES = [PROBE, "tests.executor.devices:OtherProbe", "tests.executor.devices:ProbeError",
           "tests.executor.forbidden_devices:ForbiddenProbe", "os:system", "__main__:Probe",
           "tests.executor.devices:Nope", "no-colon", ""]

huge_text = st.sampled_from([10_000, 300_000]).map(lambda n: "n" * n)
names = st.sampled_from(["p", "p", "nobody", "", " ", "p/../p", "..", "%", "ü"]) | st.text(
    max_size=30) | huge_text
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 40) | st.integers(-10**30, 10**30)
    | st.floats() | st.text(max_size=20) | huge_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                        children, max_size=4),
    max_leaves=12,
)


def mostly(likely: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """``likely`` three times in four, else ``other``."""
    # not one_of(likely, likely, likely, other): one_of drops repeated branches
    return st.integers(0, 3).flatmap(lambda i: other if i == 3 else likely)


# what a route reads, with right and wrong types
body_fields = st.fixed_dictionaries({}, optional={
    "args": st.lists(st.integers(-3, 40) | st.text(max_size=5), max_size=3) | json_values,
    "kwargs": st.just({}) | st.dictionaries(st.sampled_from(["a", "n", "self", "name", "value",
                                                           "sync_fn", "async_fn"])
                                            | st.text(max_size=6), json_values, max_size=3)
    | json_values,
    "name": mostly(st.sampled_from(["q", "r"]), names | json_values),
    "cls": mostly(st.just(PROBE), st.sampled_from(CLASSES) | json_values),
}).map(json.dumps)
bodies = st.one_of(
    body_fields,
    st.none(),
    json_values.map(json.dumps),
    st.binary(max_size=200),  # not JSON, maybe not even UTF-8
    st.just('{"args": [' + "9" * 5000 + "]}"),  # past Python's int digit limit
    st.just("[" * 5000 + "]" * 5000),  # past the JSON parser's recursion limit
    st.just('{"args": ["' + "x" * (LIMIT + 10) + '"]}'),  # past the size limit
)
bodies = mostly(body_fields, bodies)
authorizations = mostly(st.just(GOOD), st.none() | st.sampled_from(
    [f"Bearer {TOKEN}x", "Bearer ", "Bearer", TOKEN, f"bearer {TOKEN}", f"Basic {TOKEN}"])
    | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))


def segment(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return strategy.map(lambda s: quote(s, safe=""))


object_names = segment(mostly(st.just("p"), names))
method_names = segment(mostly(st.sampled_from(METHODS), st.text(max_size=12)))
any_method = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"])
# requests for the app's routes mostly (with the right HTTP method mostly), and
# anything at all
requests = st.one_of(
    st.tuples(mostly(st.just("POST"), any_method), st.builds(
        "/api/objects/{}/{}/{}".format, object_names, mostly(st.just("call"), st.just("stream")),
        method_names)),
    st.tuples(mostly(st.just("POST"), any_method), st.just("/api/objects")),
    st.tuples(mostly(st.just("DELETE"), any_method), st.builds(
        "/api/objects/{}".format, segment(mostly(st.sampled_from(["q", "r", "nobody"]), names)))),
    st.tuples(mostly(st.just("GET"), any_method), st.builds(
        "/api/objects/{}/updates".format, segment(names))),
    st.tuples(any_method, st.sampled_from(
        ["/", "/health", "/openapi.json", "/api/echo", "/api/objects", "/api/objects/", "/api",
         "/api/", "//", "/ws", "/api/objects/p/call", "/api/objects/p/call/",
         "/api/objects/p/nope/echo"])
        | st.text(alphabet="abcdefghijklmnopqrstuvwxyz/._-%~0123456789", max_size=60).map(
            lambda s: "/" + s)),
).flatmap(lambda request: st.tuples(st.just(request[0]), st.just(request[1]), bodies,
                                    authorizations))


def bounded(path: str, body: str | bytes | None,
            registry: ObjectRegistry) -> tuple[str, str | bytes | None]:
    """The request, but not one that rightly never ends: the updates stream of an
    existing object, or a stream of millions of items."""
    parts = path.split("/")
    if len(parts) == 5 and parts[1:3] == ["api", "objects"] and parts[4] == "updates" \
            and ("", parts[3]) in registry.objects:
        path = path.replace(f"/{parts[3]}/", "/nobody/")
    if isinstance(body, str) and body.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            return path, body
        if "/stream/" in path:  # count(n) streams n items
            if isinstance(data.get("args"), list) and data["args"] and \
                    isinstance(data["args"][0], int):
                data["args"][0] = min(data["args"][0], 1000)
            if isinstance(data.get("kwargs"), dict) and isinstance(data["kwargs"].get("n"), int):
                data["kwargs"]["n"] = min(data["kwargs"]["n"], 1000)
        body = json.dumps(data)
    return path, body


def authorized(authorization: str | None) -> bool:
    """Whether the header brings the token (the scheme's case does not matter)."""
    return (authorization is not None and authorization[:7].lower() == "bearer "
            and authorization[7:].strip() == TOKEN)


def route_error(app: Any, method: str, path: str) -> int | None:
    """The status Quart's routing answers ``method path`` with (404, 405, 308...), or
    None when a route of the app takes it."""
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(unquote(path), method=method)
    except HTTPException as exc:
        return exc.code
    return None


# ----------------------------------------------------------------- property


async def state_of(client: Any, registry: ObjectRegistry) -> Any:
    probe = registry.objects.get(("", "p"))
    return (sorted(registry.objects), None if probe is None else
            (list(probe.obj.calls), probe.obj.value, dict(probe.obj.stats)))


@REST
@given(st.lists(requests, min_size=1, max_size=4))
def test_rest_answers_random_requests_with_json_errors(requests):
    async def body(client: Any, registry: ObjectRegistry, app: Any) -> None:
        for method, path, data, authorization in requests:
            path, data = bounded(path, data, registry)
            headers = {} if authorization is None else {"Authorization": authorization}
            if isinstance(data, str) and data[:1] in "{[":
                headers["Content-Type"] = "application/json"
            before = await state_of(client, registry)
            with trio.fail_after(20):
                response = await client.open(path, method=method, headers=headers,
                                             data=data if data is not None else b"")
                text = await response.get_data(as_text=False)
            status = response.status_code
            event(f"status {status}")  # see --hypothesis-show-statistics
            needs_token = unquote(path).startswith("/api/")  # as the app sees it
            refused = needs_token and not authorized(authorization)
            routing = route_error(app, method, path)
            oversized = data is not None and len(data) > LIMIT
            if refused:  # a body over the limit is read (and refused) before the token
                assert status == (413 if oversized else 401), (method, path, status, text[:200])
                assert await state_of(client, registry) == before  # nothing ran
            elif routing is not None:
                assert status == routing, (method, path, status, text[:200])
            elif oversized and method == "POST":  # a route that reads its body
                assert status in (400, 413), (method, path, status, text[:200])
            assert 200 <= status < 600, status
            if method == "HEAD" or method == "OPTIONS":
                pass  # no body
            elif status >= 400:
                assert response.content_type == "application/json", (status, text[:300])
                error = json.loads(text)["error"]
                assert error["type"] and isinstance(error["message"], str), error
            elif "/stream/" in path:
                lines = [json.loads(line) for line in text.splitlines()]
                assert lines and ("end" in lines[-1] or "error" in lines[-1]), lines[-3:]
            elif path.startswith("/api/"):
                assert response.content_type == "application/json", (status, text[:300])
                json.loads(text)
        await still_serving(client, registry)

    run_app(body)


def test_wrong_tokens_run_nothing():
    async def body(client: Any, registry: ObjectRegistry, app: Any) -> None:
        for authorization in (None, f"Bearer {TOKEN}x", TOKEN, "Bearer ", f"Basic {TOKEN}"):
            headers = {} if authorization is None else {"Authorization": authorization}
            for method, path, data in [
                    ("POST", "/api/objects/p/call/record", {"args": [1]}),
                    ("POST", "/api/objects/p/call/set_value", {"args": [5]}),
                    ("POST", "/api/objects", {"name": "q", "cls": PROBE}),
                    ("DELETE", "/api/objects/p", None),
                    ("POST", "/api/objects/p/stream/count", {"args": [3]})]:
                response = await client.open(path, method=method, headers=headers, json=data)
                assert response.status_code == 401
                error = (await response.get_json())["error"]
                assert error["type"].endswith("AuthenticationError")
        assert sorted(registry.objects) == [("", "p")]
        probe = registry.get("p").obj
        assert probe.calls == [] and probe.value == 0
        await still_serving(client, registry)

    run_app(body)


# ---------------------------------------------- bugs the property above found


@pytest.mark.parametrize("method, path, authorization, data, status", [
    ("GET", "/nope", GOOD, b"", 404),
    ("PUT", "/api/objects", GOOD, b"", 405),
    ("GET", "/api/objects/p/call/echo", GOOD, b"", 405),
    ("POST", "/api/objects/p/call/echo", "Bearer wrong", b"x" * (LIMIT + 1), 413),
    # "//" was merged by a redirect: an HTML 308 page
    ("DELETE", "/api/objects//updates", GOOD, b"{}", 404),
    ("GET", "/api/objects//updates", GOOD, b"", 404),
])
def test_quart_errors_are_json_errors(method, path, authorization, data, status):
    """Quart's own errors used to be its HTML pages."""
    async def body(client: Any, registry: ObjectRegistry, app: Any) -> None:
        response = await client.open(path, method=method, data=data,
                                     headers={"Authorization": authorization})
        assert response.status_code == status
        assert response.content_type == "application/json"
        assert (await response.get_json())["error"]["message"]

    run_app(body)


def test_deeply_nested_result_gets_a_json_error():
    """Echoing arguments nested 800 deep (json.loads takes them) used to raise
    RecursionError out of app.call, building the reply: a 500 HTML page. Whether
    the reply can be built depends on how deep the stack already is (it differs
    between a lone run and the whole suite): either way the answer is JSON."""
    async def body(client: Any, registry: ObjectRegistry, app: Any) -> None:
        data = '{"args": ' + "[" * 800 + "]" * 800 + "}"
        response = await client.post("/api/objects/p/call/echo", data=data,
                                     headers={"Authorization": GOOD})
        assert response.status_code in (200, 500)
        assert response.content_type == "application/json"
        assert ("error" in await response.get_json()) == (response.status_code == 500)
        await still_serving(client, registry)

    run_app(body)


@pytest.mark.parametrize("method", ["echo", "async_add"])
def test_keyword_named_like_capture_s_parameter(method):
    """It used to raise TypeError in the object's worker thread, which died: the call
    never answered, nor any later sync call on that object."""
    async def body(client: Any, registry: ObjectRegistry, app: Any) -> None:
        with trio.fail_after(5):
            response = await client.post(f"/api/objects/p/call/{method}",
                                         json={"args": [1, 2], "kwargs": {"sync_fn": 1}},
                                         headers={"Authorization": GOOD})
            if method == "echo":
                assert (await response.get_json())["result"] == [[1, 2], {"sync_fn": 1}]
            else:
                assert response.status_code == 500
            await still_serving(client, registry)

    run_app(body)
