"""A device's first call or stream through a remote executor creates (or attaches to)
its far-side instance: no ensure_remote_instance is needed, and its properties are
mirrored from then on. Against a DummyRemoteExecutor, a ProcessExecutor child and the
session's real moalab-server (WebSocket and REST)."""

import trio

from .conftest import unique_name, wait_until
from .devices import Probe


async def test_a_first_call_creates_the_object_and_mirrors_it(remote_executor):
    device = Probe(name=unique_name(), executor=remote_executor, label="made here")
    assert await device.echo(1) == [[1], {}]
    entry, = [e for e in await remote_executor.list_remote_instances()
              if e["name"] == device.name]
    assert entry["class"] == "tests.executor.devices:Probe" and entry["watchers"] >= 1
    await device.set_value(7)  # the far side's change comes back as an update
    await wait_until(lambda: device.value == 7)
    # explicit creation still works: it attaches to the instance the call made
    assert await remote_executor.ensure_remote_instance(device) is False
    assert await device.echo(2) == [[2], {}]


async def test_a_first_stream_creates_the_object(remote_executor):
    device = Probe(name=unique_name(), executor=remote_executor)
    async with device.count(5) as items:
        assert [item async for item in items] == [0, 1, 2, 3, 4]
    assert device.name in [e["name"] for e in await remote_executor.list_remote_instances()]


async def test_concurrent_first_calls_create_it_once(remote_executor):
    device = Probe(name=unique_name(), executor=remote_executor)
    results = []

    async def call(i):
        results.append(await device.echo(i))

    async with trio.open_nursery() as nursery:
        for i in range(8):
            nursery.start_soon(call, i)
    assert sorted(results) == [[[i], {}] for i in range(8)]
    names = [e["name"] for e in await remote_executor.list_remote_instances()]
    assert names.count(device.name) == 1
    assert await remote_executor.ensure_remote_instance(device) is False


async def test_a_restarted_executor_creates_or_attaches_its_objects_again(remote_kind):
    executor = remote_kind.make()
    device = Probe(name=unique_name(), executor=executor)
    async with executor:
        assert await device.echo(1) == [[1], {}]
    # a new connection (a new child): nothing is watched there yet; a server kept the
    # object (the shared namespace), a child or a dummy registry did not
    async with executor:
        assert await device.echo(2) == [[2], {}]
        await device.set_value(3)
        await wait_until(lambda: device.value == 3)
        await executor.delete_remote_instance(device)
