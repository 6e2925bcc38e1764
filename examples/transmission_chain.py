"""A transmission chain of tones (Dallinger's Chain): a source tone, then five subjects,
each hearing its parent's output and producing its own.

The chain's source sends the protocol's 440 Hz tone to the first subject. Each
session plays the subject what its parent produced (the first: the source's tone;
later: the parent's recording, synced to the rig by hash), records the tone the
subject sings back (``response.wav``, deposited as a Recording) and, once submitted,
transmits it along the chain as an Info carrying that recording: the next subject's
stimulus. If a session fails, its node fails and the next subject hears the last
tone that was produced. In a dry run the subject is a :class:`ToneImitator` that
sings back what it heard with some noise, so the frequency drifts down the chain.

    moalab lab init mylab && cd mylab
    for s in s1 s2 s3 s4 s5; do moalab subject add $s; done
    for s in s1 s2 s3 s4 s5; do
        moalab session run ../examples/transmission_chain.py --subject $s --dry-run
    done
    moalab network show 1 --png chain.png
"""

import zlib
from typing import ClassVar

from moalab import Delay, MoaStage
from moalab.assets import CachedFunctionAsset, Recording
from moalab.core.realtime import run_in_thread
from moalab.network import Chain, Info, Source, ToneImitator
from moalab.network.imitator import write_tone
from moalab.protocol import Protocol

SOURCE_HZ = 440.0
SUBJECTS = 5


class Hear(MoaStage):
    """Plays the subject its stimulus: the tone its parent produced (the latest info it
    received that carries a file), else the protocol's source tone."""

    def __init__(self, session, imitator, **kwargs):
        super().__init__(**kwargs)
        self.session = session
        self.imitator = imitator

    async def do_trial(self):
        infos = await run_in_thread(self.session.node.receive)
        carried = [info.id for info in infos if info.id in self.session.received_assets]
        stimulus = (self.session.received_assets[carried[-1]] if carried
                    else self.session.assets["tone"])
        await self.imitator.hear(stimulus)


class Sing(MoaStage):
    """Records the tone the subject sings back and deposits it as the session's
    ``response``."""

    def __init__(self, session, imitator, **kwargs):
        super().__init__(**kwargs)
        self.session = session
        self.imitator = imitator

    async def do_trial(self):
        path = self.session.data_dir / "response.wav"
        produced = await self.imitator.produce(path)
        Recording(local_key="response", input_path=path, extension=".wav",
                  parent=self.session).deposit(async_=True)
        self.session.record_trial(heard=self.imitator.heard, produced=produced)


class TransmissionChain(Protocol):
    name = "transmission-chain"
    version = 1
    assets: ClassVar = {"tone": CachedFunctionAsset(write_tone, extension=".wav",
                                                    freq=SOURCE_HZ)}
    experiment_repeats = 1

    def create_network(self):
        chain = Chain(max_size=1 + SUBJECTS)
        chain.add(Source(contents={"freq": SOURCE_HZ}))  # its info carries no file: the tone
        return chain

    def devices(self, session):
        # a protocol instance serves one session: its subject is made once
        if not hasattr(self, "_imitator"):
            self._imitator = ToneImitator(
                name="subject", noise=0.1, seed=zlib.crc32(session.subject.name.encode()))
        return (self._imitator,)

    def build_tree(self, session):
        (imitator,) = self.devices(session)
        root = MoaStage(name="transmission chain")
        root.add_stage(Hear(session, imitator, name="hear"))
        root.add_stage(Delay(name="pause", delay=1.0))
        root.add_stage(Sing(session, imitator, name="sing"))
        return root

    def on_session_submitted(self, session):
        # the deposit is done now: the Info carries it to the next subject
        produced = session.trials[-1]["produced"]
        Info(origin=session.node, contents={"freq": produced},
             asset_id=session.deposit_ids["response"])
