"""The rig's page on a real moalab-server: its namespaces and their objects' properties,
live over SSE, behind the server's token (the same cookie scheme as a run's page)."""

import os
import uuid

import httpx
import trio

from moalab.dashboard.app import HEARTBEAT
from tests.conftest import AUTH_HEADERS

TOKEN = os.environ["MOALAB_TOKEN"]

PROBE = "tests.executor.devices:Probe"


async def _rig_events(response: httpx.Response):
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data: "):
            data.append(line[6:])
        elif not line and data:
            yield "\n".join(data)
            data = []


async def test_the_rig_page_shows_namespaces_and_properties_live(moalab_server):
    namespace = f"run-{uuid.uuid4().hex[:8]}"
    params = {"namespace": namespace}
    async with httpx.AsyncClient(base_url=moalab_server.url, timeout=10) as client:
        assert (await client.get("/dashboard/")).status_code == 401
        assert (await client.get("/dashboard/events")).status_code == 401
        created = await client.post("/api/objects", json={"name": "lever", "cls": PROBE},
                                    params=params, headers=AUTH_HEADERS)
        assert created.status_code in (200, 201), created.text
        try:
            link = await client.get(f"/dashboard/?token={TOKEN}")
            assert link.status_code == 302 and "HttpOnly" in link.headers["set-cookie"]
            page = await client.get("/dashboard/")  # the cookie now
            assert page.status_code == 200 and f'data-namespace="{namespace}"' in page.text
            assert "/dashboard/static/vendor/htmx.min.js" in page.text
            assert "/dashboard/static/dashboard.js" in page.text  # its stale notice
            rig = (await client.get("/dashboard/api/rig")).json()
            assert rig[namespace]["lever"]["value"] == "0"
            with trio.fail_after(10):
                async with client.stream("GET", "/dashboard/events") as events:
                    async for html in _rig_events(events):
                        if namespace in html and "7.5" in html:
                            break
                        await client.post("/api/objects/lever/call/set_value",
                                          json={"args": [7.5]}, params=params,
                                          headers=AUTH_HEADERS)
        finally:
            await client.delete("/api/objects/lever", params=params, headers=AUTH_HEADERS)


async def test_a_quiet_rig_stream_sends_named_heartbeats(moalab_server):
    # nothing changes on the rig: its page still hears an event every 5 s
    cookies = {"moalab_token": TOKEN}
    async with httpx.AsyncClient(base_url=moalab_server.url, cookies=cookies,
                                 timeout=10) as client:
        with trio.fail_after(HEARTBEAT + 5):  # generous for a shared CPU
            async with client.stream("GET", "/dashboard/events") as events:
                async for line in events.aiter_lines():
                    if line == "event: heartbeat":
                        break
