"""A session on a rig reached over the network gets its stimuli synced to the rig (a
real moalab-server) and their paths there; a local session keeps the lab's copies."""

import os
from pathlib import Path, PurePosixPath
from typing import ClassVar

import trio

from moalab import MoaStage
from moalab.assets import CachedAsset
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab

STIMULUS = os.urandom(300_000)  # new content each test run: the rig cannot hold it yet


class Played(Protocol):
    name = "played"
    assets: ClassVar = {}  # set by the test: a file made in its tmp_path
    seen: ClassVar[list] = []

    def build_tree(self, session):
        type(self).seen.append(session.assets["tone"])
        return MoaStage(name="main")


def test_a_network_rig_gets_the_stimuli_once_and_the_tree_its_paths(moalab_server, tmp_path):
    source = tmp_path / "tone.wav"
    source.write_bytes(STIMULUS)
    Played.assets, Played.seen = {"tone": CachedAsset(source)}, []
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("rat-1", species="rat", sex="F")
        lab.database.add_rig("box-1", "websocket", host="127.0.0.1", port=moalab_server.port)
        lab.database.add_rig("bench", "thread")
        runner = ProtocolRunner(lab, Played)
        reports = []
        for rig in ("box-1", "box-1", "bench"):
            info = runner.create_session("rat-1", rig=rig)
            ended = trio.run(lambda info=info, rig=rig: runner.run_session(
                info, sync_progress=lambda *report: reports.append((rig, report))))
            assert ended.status == "submitted", ended.error
        on_rig, again, local = Played.seen
        assert type(on_rig) is PurePosixPath and not on_rig.is_relative_to(lab.cache_folder)
        assert Path(on_rig).read_bytes() == STIMULUS  # the server is on this computer
        assert again == on_rig
        assert local.is_relative_to(lab.cache_folder) and local.read_bytes() == STIMULUS
        # the first sync sent the file; the second nothing; a local session none at all
        assert reports[0] == ("box-1", (0, len(STIMULUS)))
        assert reports[-1] == ("box-1", (0, 0))
        assert ("box-1", (len(STIMULUS), len(STIMULUS))) in reports
    finally:
        lab.close()
