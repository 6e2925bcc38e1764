"""Two runs drive a device named ``lever`` on one moalab-server: with a namespace each
(``run_experiment(namespace=...)``), each has its own object and sees only its own
updates (issue 13)."""

import trio

from moalab import MoaStage, run_experiment
from moalab.executor.websocket import WebSocketExecutor
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

    # both levers are on the server, one in each run's namespace; deleted after
    async with WebSocketExecutor("127.0.0.1", moalab_server.port, clock_sync=None) as executor:
        listed = {(entry["namespace"], entry["name"])
                  for entry in await executor.list_remote_instances()}
    assert {(namespace, LEVER) for namespace in runs} <= listed
    for namespace in runs:
        async with WebSocketExecutor("127.0.0.1", moalab_server.port, clock_sync=None,
                                     namespace=namespace) as executor:
            await executor.delete_remote_instance(Probe(name=LEVER, executor=executor))
