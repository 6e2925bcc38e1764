"""Remote objects: creating, attaching, listing, deleting, the allowlist, and the
mirror of far-side property changes."""

import re
import subprocess
import sys
import textwrap

import pytest
import trio

from moalab import VirtualDigitalChannel
from moalab.core.errors import InvalidArgument
from moalab.executor import NotAllowed
from moalab.executor.errors import UnknownObject
from moalab.executor.messages import Call

from .conftest import REMOTE_BUT_PROCESS, SERVED, new_executor, unique_name, wait_until
from .devices import OtherProbe, Probe
from .forbidden_devices import ForbiddenProbe


async def test_list_and_delete(remote_executor):
    device = Probe(name=unique_name(), executor=remote_executor)
    await remote_executor.ensure_remote_instance(device)
    listed = {entry["name"]: entry for entry in await remote_executor.list_remote_instances()}
    assert listed[device.name]["class"] == "tests.executor.devices:Probe"
    assert listed[device.name]["watchers"] >= 1

    await remote_executor.delete_remote_instance(device)
    names = [entry["name"] for entry in await remote_executor.list_remote_instances()]
    assert device.name not in names
    with pytest.raises(UnknownObject, match=device.name):  # a bare request does not create
        await remote_executor._request(Call(None, device.name, "echo", [1], {}))
    with pytest.raises(UnknownObject):
        await remote_executor.delete_remote_instance(device)
    # created again, it is a new object
    assert await remote_executor.ensure_remote_instance(device) is True
    assert await device.echo(2) == [[2], {}]
    # deleted, a device's next call creates it again
    await remote_executor.delete_remote_instance(device)
    assert await device.echo(3) == [[3], {}]
    assert await remote_executor.ensure_remote_instance(device) is False


@pytest.mark.parametrize("remote_kind", REMOTE_BUT_PROCESS, indirect=True)
async def test_remote_instance_context(remote_executor):
    device = Probe(name=unique_name(), executor=remote_executor)
    async with remote_executor.remote_instance(device) as entered:
        assert entered is device
        assert await device.echo(1) == [[1], {}]
        names = [entry["name"] for entry in await remote_executor.list_remote_instances()]
        assert device.name in names
    names = [entry["name"] for entry in await remote_executor.list_remote_instances()]
    assert device.name not in names
    # deleted after an error too
    with pytest.raises(ValueError):
        async with remote_executor.remote_instance(device):
            await device.fail_value("boom")
    names = [entry["name"] for entry in await remote_executor.list_remote_instances()]
    assert device.name not in names


@pytest.mark.parametrize("remote_kind", REMOTE_BUT_PROCESS, indirect=True)
async def test_constructor_arguments_travel_and_names_are_unique(remote_executor):
    device = Probe(name=unique_name(), executor=remote_executor, label="from the client",
                   value=3)
    await remote_executor.ensure_remote_instance(device)
    device.value = 0  # the local copy only
    await device.echo(0)
    await remote_executor.ensure_remote_instance(device)  # attach: the far side's values
    assert (device.label, device.value) == ("from the client", 3)

    other = OtherProbe(name=device.name, executor=remote_executor)
    with pytest.raises(InvalidArgument, match="already exists"):
        await remote_executor.ensure_remote_instance(other)


@pytest.mark.parametrize("key, value", [
    ("rng", 1),  # the pump would call 1.uniform(...)
    ("on_data_update", None),  # would replace the event every watcher relies on
    ("__dict__", {}),
    ("_bound", 1),
    ("stats", {}),  # an attribute the object's __init__ sets, not an argument
    ("helper", "x"),  # accepted locally by a user's class, never remotely
])
async def test_remote_create_takes_only_declared_arguments(remote_executor, key, value):
    device = Probe(name=unique_name(), executor=remote_executor, label="ok")
    device.init_kwargs[key] = value  # what a client may send, whatever its class says
    with pytest.raises(NotAllowed) as info:
        await remote_executor.ensure_remote_instance(device)
    message = str(info.value)
    assert f"Probe cannot be created with argument(s) {key!r}" in message
    assert "label" in message and "value" in message  # what is accepted
    names = [entry["name"] for entry in await remote_executor.list_remote_instances()]
    assert device.name not in names


@pytest.mark.parametrize("interval", [[5, 1], "ab"])
async def test_remote_create_refuses_a_bad_value_by_name(remote_executor, interval):
    device = VirtualDigitalChannel(name=unique_name("line"), executor=remote_executor)
    device.init_kwargs["interval"] = interval
    with pytest.raises(InvalidArgument, match=f"interval={re.escape(repr(interval))} is not"):
        await remote_executor.ensure_remote_instance(device)


async def test_unnamed_device_is_refused(remote_kind):
    executor = remote_kind.make()  # refused before anything is sent: no need to start it
    with pytest.raises(InvalidArgument, match="name"):
        await executor.ensure_remote_instance(Probe(executor=executor))


# ------------------------------------------------------------------- mirror

@pytest.mark.parametrize("remote_kind", REMOTE_BUT_PROCESS, indirect=True)
async def test_call_changes_are_mirrored_before_the_reply(new_remote_device):
    device = await new_remote_device()
    updates = []
    device.fbind("on_data_update", lambda obj, arg: updates.append(obj.value))
    await device.set_value(5)
    assert device.value == 5
    assert updates[-1:] == [5]


async def test_far_side_pump_updates_the_mirror(remote_executor):
    device = VirtualDigitalChannel(name=unique_name("beam"), executor=remote_executor,
                                   interval=(0.005, 0.01))
    await remote_executor.ensure_remote_instance(device)
    updates = []
    device.fbind("on_data_update", lambda obj, arg: updates.append(obj.state))
    with trio.move_on_after(0.5):
        await device.pump_state()  # runs on the far side until cancelled
    assert len(updates) >= 5
    assert set(updates) <= {True, False}
    # cancelling the call stopped the pump there
    await trio.sleep(0.2)
    count = len(updates)
    await trio.sleep(0.3)
    assert len(updates) == count


async def test_changes_stream_back_while_a_call_runs(remote_kind, new_remote_device):
    device = await new_remote_device()
    seen = []
    device.fbind("value", lambda obj, value: seen.append((value, trio.current_time())))
    with trio.fail_after(20):
        assert await device.tick(4, 0.15) == 4
    returned = trio.current_time()
    assert [value for value, _ in seen] == [1, 2, 3, 4]
    # the first change arrived while the call was still running
    assert seen[0][1] < returned - 0.2


# ------------------------------------------------------- second client, names

@pytest.mark.parametrize("second", SERVED)
async def test_second_client_attaches(moalab_server, second):
    name = unique_name()
    async with new_executor("websocket", moalab_server.port) as first_executor, \
            new_executor(second, moalab_server.port) as second_executor:
        first = Probe(name=name, executor=first_executor, label="first")
        assert await first_executor.ensure_remote_instance(first) is True
        await first.set_value(42)

        attached = Probe(name=name, executor=second_executor)
        assert await second_executor.ensure_remote_instance(attached) is False
        assert (attached.value, attached.label) == (42, "first")

        # the second client sees what the first one does, and the other way round
        await first.set_value(7)
        await wait_until(lambda: attached.value == 7)
        await attached.set_value(8)
        await wait_until(lambda: first.value == 8)
        assert await attached.echo("hi") == [["hi"], {}]

        entry, = [e for e in await first_executor.list_remote_instances() if e["name"] == name]
        assert entry["watchers"] >= 2


# ---------------------------------------------------------------- allowlist

@pytest.mark.parametrize("kind", SERVED, indirect=True)
async def test_class_from_a_module_not_allowed(executor):
    device = ForbiddenProbe(name=unique_name(), executor=executor)
    with pytest.raises(NotAllowed, match="--allow tests"):
        await executor.ensure_remote_instance(device)
    names = [entry["name"] for entry in await executor.list_remote_instances()]
    assert device.name not in names


@pytest.mark.parametrize("kind", SERVED, indirect=True)
async def test_class_from_the_client_main_script_not_allowed(executor):
    main_class = type("MainProbe", (Probe,), {"__module__": "__main__"})
    with pytest.raises(NotAllowed, match="main script"):
        await executor.ensure_remote_instance(main_class(name=unique_name(), executor=executor))


@pytest.mark.parametrize("kind", SERVED, indirect=True)
async def test_moalab_devices_are_always_allowed(executor):
    device = VirtualDigitalChannel(name=unique_name("line"), executor=executor)
    await executor.ensure_remote_instance(device)
    await device.write_state(True)
    assert device.state is True


@pytest.mark.parametrize("kind", SERVED, indirect=True)
@pytest.mark.parametrize("module", ["moalab.examples.sugar_pellet", "moalab.cli.main",
                                    "moalab.stage.delay", "moalab"])
async def test_moalab_modules_other_than_devices_are_not_allowed(executor, module):
    outsider = type("Outsider", (Probe,), {"__module__": module})
    with pytest.raises(NotAllowed, match=f"--allow {module} "):
        await executor.ensure_remote_instance(outsider(name=unique_name(), executor=executor))


def test_a_refused_moalab_module_is_not_imported():
    """Naming a class of moalab.examples or moalab.cli runs none of its code on the server."""
    script = textwrap.dedent("""
        import sys
        from moalab.executor import NotAllowed
        from moalab.executor.registry import ObjectRegistry

        registry = ObjectRegistry()
        for path in ("moalab.examples.sugar_pellet:VirtualDevice", "moalab.cli.main:main",
                     "moalab.cli.server:main"):
            try:
                registry.resolve_class(path)
            except NotAllowed:
                pass
            else:
                raise SystemExit(f"{path} was allowed")
        registry.resolve_class("moalab.examples.remote_devices:VirtualDevice")
        print(sorted(name for name in sys.modules
                     if name.startswith(("moalab.examples", "moalab.cli"))))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    imported = result.stdout.strip().splitlines()[-1]
    assert imported == "['moalab.examples', 'moalab.examples.remote_devices']"
