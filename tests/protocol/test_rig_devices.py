"""A protocol session on a rig reached over the network (a real moalab-server, over
WebSocket and REST): its devices' first calls create them on the rig, no
ensure_remote_instance needed, and a pumped device is mirrored."""

from typing import ClassVar

import pytest
import trio

from moalab import Delay, MoaStage, VirtualDigitalChannel
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab


class LightOn(MoaStage):
    """Turns its ``light`` on, then waits."""

    async def do_trial(self):
        await self.light.write_state(True)
        LightProtocol.seen.append(self.light.state)
        await Delay(delay=0.5, name="wait").run_stage()


class LightProtocol(Protocol):
    name = "light"
    seen: ClassVar[list] = []
    updates: ClassVar[list] = []

    def build_tree(self, session):
        self.light = VirtualDigitalChannel(name="light", executor=session.executor,
                                           interval=(0.01, 0.02))
        self.light.fbind("on_data_update", lambda *_: type(self).updates.append(
            self.light.timestamp))
        return LightOn(light=self.light, name="main")

    def devices(self, session):
        return [self.light]


@pytest.mark.parametrize("kind", ["websocket", "rest"])
def test_a_session_on_a_network_rig_calls_its_devices(moalab_server, tmp_path, kind):
    LightProtocol.seen, LightProtocol.updates = [], []
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("rat-1", species="rat", sex="F")
        lab.database.add_rig("box-1", kind, host="127.0.0.1", port=moalab_server.port)
        runner = ProtocolRunner(lab, LightProtocol)
        info = runner.create_session("rat-1", rig="box-1")
        ended = trio.run(runner.run_session, info)
        assert ended.status == "submitted", ended.error
        assert LightProtocol.seen == [True]
        # the rig's pump read the line again and again; each read came back here
        updates = LightProtocol.updates
        assert len(updates) > 5 and updates[-1] > updates[0] > 0
    finally:
        lab.close()
