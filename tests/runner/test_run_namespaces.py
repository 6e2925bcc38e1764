"""Two runs drive a device named ``lever`` on one moalab-server: with a namespace each
(``run_experiment(namespace=...)``), each has its own object and sees only its own
updates; a run's objects do not outlive it, those of a namespace given by the user
do (issue 13)."""

import pytest
import trio

from moalab import MoaStage, run_experiment
from moalab.executor.rest import RestExecutor
from moalab.executor.websocket import WebSocketExecutor
from moalab.runner import Run
from tests.executor.conftest import unique_name
from tests.executor.devices import Probe

LEVER = "lever"


class Press(MoaStage):
    """Creates its run's lever on the first trial, then adds ``step`` to its value each
    trial (on the far side); ``created`` holds what the create returned."""

    lever: Probe
    step: int
    created: list[bool]

    async def do_trial(self):
        if self.count == 0:
            self.created.append(await self.lever.executor.ensure_remote_instance(self.lever))
        await self.lever.set_value(self.lever.value + self.step)


def run_tree(port: int, step: int) -> tuple[MoaStage, WebSocketExecutor, Probe, list[float]]:
    executor = WebSocketExecutor("127.0.0.1", port, clock_sync=None)
    lever = Probe(name=LEVER, executor=executor)
    root = Press(name="press", repeat=3)
    root.lever, root.step, root.created = lever, step, []
    seen: list[float] = []
    lever.fbind("value", lambda _obj, value: seen.append(value))
    return root, executor, lever, seen


async def test_two_runs_each_have_their_own_lever(moalab_server):
    runs = {unique_name("run"): 1, unique_name("run"): 10}
    trees = {namespace: run_tree(moalab_server.port, step) for namespace, step in runs.items()}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for namespace, (root, executor, _, _) in trees.items():
                nursery.start_soon(lambda root=root, executor=executor, namespace=namespace:
                                   run_experiment(root, executors=[executor],
                                                  namespace=namespace))
    for namespace, step in runs.items():
        root, executor, lever, seen = trees[namespace]
        assert executor.namespace == namespace
        assert root.created == [True]  # not attached to the other run's lever
        assert seen == [step, 2 * step, 3 * step]  # its own updates, and only those

    # each run's stop deleted its lever: nothing of either run is left on the server
    assert await server_objects(moalab_server.port, *runs) == set()


async def server_objects(port: int, *namespaces: str) -> set[tuple[str, str]]:
    """The (namespace, name) of the server's objects in ``namespaces``."""
    async with WebSocketExecutor("127.0.0.1", port, clock_sync=None) as executor:
        return {(entry["namespace"], entry["name"])
                for entry in await executor.list_remote_instances()
                if entry["namespace"] in namespaces}


def executor_of(kind: str, port: int, **options) -> WebSocketExecutor | RestExecutor:
    cls = WebSocketExecutor if kind == "websocket" else RestExecutor
    return cls("127.0.0.1", port, clock_sync=None, **options)


def press_tree(executor, step: int = 1) -> tuple[MoaStage, Probe]:
    lever = Probe(name=LEVER, executor=executor)
    root = Press(name="press", repeat=3)
    root.lever, root.step, root.created = lever, step, []
    return root, lever


@pytest.mark.parametrize("kind", ["websocket", "rest"])
async def test_a_run_leaves_no_object_behind(moalab_server, kind):
    executor = executor_of(kind, moalab_server.port)
    root, lever = press_tree(executor)
    run = Run(root, executors=[executor])
    with trio.fail_after(30):
        await run.execute()
    assert run.status == "done", run.error
    assert executor.namespace == run.run_id and root.created == [True]
    assert lever.value == 3
    assert await server_objects(moalab_server.port, run.run_id) == set()


async def test_an_executor_serves_run_after_run(moalab_server):
    """The stop deletes one run's objects; the next run is given a namespace of its own."""
    executor = executor_of("websocket", moalab_server.port)
    ids = []
    for _ in range(2):
        root, lever = press_tree(executor, step=2)
        run = Run(root, executors=[executor])
        with trio.fail_after(30):
            await run.execute()
        assert run.status == "done", run.error
        assert root.created == [True]  # not the last run's, left behind
        assert lever.value == 6
        ids.append(run.run_id)
    assert ids[0] != ids[1]
    assert await server_objects(moalab_server.port, *ids) == set()


async def test_a_namespace_given_by_the_user_keeps_its_objects(moalab_server):
    """namespace="rig-a": shared by intent, its objects stay after the run."""
    namespace = unique_name("rig-a")
    executor = executor_of("websocket", moalab_server.port, namespace=namespace)
    root, _ = press_tree(executor)
    run = Run(root, executors=[executor])
    with trio.fail_after(30):
        await run.execute()
    assert run.status == "done", run.error
    assert executor.namespace == namespace
    assert await server_objects(moalab_server.port, namespace) == {(namespace, LEVER)}
    async with executor_of("websocket", moalab_server.port, namespace=namespace) as again:
        lever = Probe(name=LEVER, executor=again)
        assert await again.ensure_remote_instance(lever) is False
        assert lever.value == 3  # the run left it as it was
        await again.delete_remote_instance(lever)
