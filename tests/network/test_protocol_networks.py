"""A protocol's networks in the lab: made once per lab and protocol with their roles,
a session's node in the first network not full (practice first, never twice in one),
a failed or abandoned session's node failed; and across rigs, subject A's recording
synced by hash to B's rig (a real moalab-server) as B's stimulus, then to C's once
B's session failed."""

import os
from pathlib import Path, PurePosixPath
from typing import ClassVar

import pytest
import trio

from moalab import MoaStage
from moalab.assets import Recording
from moalab.network import Chain, Empty, Info, Source
from moalab.protocol import Protocol, ProtocolRunner, SubjectRefused
from moalab.store import Lab
from tests.store.conftest import database_url, postgres_url  # noqa: F401
from tests.store.test_concurrency import started


class Repeated(Protocol):
    """Two practice networks and one experiment network of two places each."""

    name = "repeated"
    practice_repeats = 2
    experiment_repeats = 1
    joined: ClassVar[list] = []

    def create_network(self):
        return Empty(max_size=2)

    def build_tree(self, session):
        type(self).joined.append((session.subject.name, session.node.network.role,
                                  session.node.network.id))
        return MoaStage(name="main")


def run(runner, subject, rig=None):
    info = runner.create_session(subject, rig=rig)
    return trio.run(runner.run_session, info)


def test_networks_are_made_once_and_taken_practice_first(lab):
    for subject in ("m1", "m2", "m3"):
        lab.database.add_subject(subject)
    runner, Repeated.joined = ProtocolRunner(lab, Repeated), []
    for subject in ("m1", "m1", "m2", "m1", "m2"):
        assert run(runner, subject).status == "submitted"
    practice, practice_2, experiment = (n.id for n in runner.networks())
    assert [n.role for n in runner.networks()] == ["practice", "practice", "experiment"]
    assert Repeated.joined == [("m1", "practice", practice), ("m1", "practice", practice_2),
                               ("m2", "practice", practice), ("m1", "experiment", experiment),
                               ("m2", "practice", practice_2)]
    assert [n.id for n in runner.networks(full=True)] == [practice, practice_2]
    assert [n.id for n in runner.networks(role="experiment", full=False)] == [experiment]
    # m1 has been in every network: never twice in one
    with pytest.raises(SubjectRefused, match="each of its networks is full or has a node "
                                             "of this subject"):
        run(runner, "m1")
    # another runner (the next session, another controller) makes no more networks
    assert len(ProtocolRunner(lab, Repeated).make_networks()) == 3


def test_two_controllers_at_once_make_the_networks_once(database_url, tmp_path):  # noqa: F811
    lab = Lab.init(tmp_path / "shared", database_url=database_url)
    try:
        with started(database_url, *[["networks", str(lab.folder)]] * 2) as procs:
            made = [int(process.stdout.readline()) for process in procs]
        assert made == [3, 3]
        assert [n.role for n in ProtocolRunner(lab, Repeated).networks()] == [
            "practice", "practice", "experiment"]
    finally:
        lab.close()


def test_an_abandoned_or_failed_session_frees_its_place(lab):
    lab.database.add_subject("m1")
    runner = ProtocolRunner(lab, Repeated)
    info = runner.create_session("m1")
    trio.run(runner.run_session, info)
    [node] = runner.networks()[0].nodes()
    lab.database.end_session(info.id, "abandoned")
    assert runner.networks()[0].nodes() == [] and node.network.nodes(failed=True) == [node]


STIMULUS = os.urandom(200_000)  # new each run: B's rig cannot hold it already


class Relay(Protocol):
    """A transmission chain: a source's tone, then each subject records a take that
    the next subject hears."""

    name = "relay"
    heard: ClassVar[dict] = {}
    fail: ClassVar[set] = set()

    def create_network(self):
        chain = Chain(max_size=5)
        chain.add(Source(contents={"frequency": 440.0}))
        return chain

    def build_tree(self, session):
        subject = session.subject.name
        type(self).heard[subject] = (
            [info.contents for info in session.node.receive()],
            {info: Path(path).read_bytes() for info, path in session.received_assets.items()},
            session.received_assets)
        if subject in type(self).fail:
            raise RuntimeError(f"{subject} fell asleep")
        take = session.data_dir / "take.bin"
        take.write_bytes(subject.encode() + STIMULUS)
        Recording("take", take, ".bin", parent=session).deposit(async_=True)
        return MoaStage(name="main")

    def on_session_submitted(self, session):
        Info(session.node, contents={"by": session.subject.name},
             asset_id=session.deposit_ids["take"])


def test_a_recording_reaches_the_next_subjects_rig_and_skips_a_failed_one(
        lab, moalab_server):
    for subject in ("A", "B", "C"):
        lab.database.add_subject(subject)
    lab.database.add_rig("bench", "thread")
    lab.database.add_rig("box-2", "websocket", host="127.0.0.1", port=moalab_server.port)
    runner, Relay.heard, Relay.fail = ProtocolRunner(lab, Relay), {}, {"B"}

    assert run(runner, "A", rig="bench").status == "submitted"
    contents, files, _ = Relay.heard["A"]
    assert contents == [{"frequency": 440.0}] and files == {}  # the source's tone

    with pytest.raises(RuntimeError, match="B fell asleep"):
        run(runner, "B", rig="box-2")
    contents, files, paths = Relay.heard["B"]
    assert contents == [{"by": "A"}]
    [path] = paths.values()
    assert type(path) is PurePosixPath and not path.is_relative_to(lab.cache_folder)
    assert list(files.values()) == [b"A" + STIMULUS]  # A's take, on B's rig

    assert run(runner, "C", rig="box-2").status == "submitted"
    contents, files, _ = Relay.heard["C"]
    assert contents == [{"by": "A"}] and list(files.values()) == [b"A" + STIMULUS]
    [chain] = runner.networks()
    source, a, c = chain.nodes()
    [b] = chain.nodes(failed=True)
    assert (a.participant, b.participant, c.participant) == ("A", "B", "C")
    assert c.neighbors(direction="from") == [a] and isinstance(source, Source)
