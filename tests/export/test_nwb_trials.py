"""The NWB trials table of a lab session run in virtual time with virtual devices (an
HDF5 log): each trial from the start to the end of the stage trial it was recorded in,
as the ``stages`` table has it, none of zero length (nwbinspector); a trial recorded
outside a stage trial from the one before's end to its record."""

import importlib.util
import random
from dataclasses import dataclass

import pytest
import trio
import trio.testing

from moalab import (
    Delay,
    DigitalGateStage,
    MoaStage,
    UniformRandomDelay,
    VirtualADCPort,
    VirtualDigitalChannel,
)
from moalab.export import export_nwb
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab
from tests.conftest import require

from .test_nwb import checked


@pytest.fixture(autouse=True)
def _pynwb():
    require(all(importlib.util.find_spec(name) is not None
                for name in ("h5py", "pynwb", "nwbinspector")),
            "h5py, pynwb or nwbinspector is not installed (pip install -e '.[data,test]')")


@pytest.fixture
def lab(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    lab.database.add_subject("rat-1", species="rat", sex="F", dob="2026-09-01")
    yield lab
    lab.close()


@dataclass
class Args:
    n_trials: int = 4


class Pellet(MoaStage):
    """A pellet (the motor high for 0.2 s), then the trial's record."""

    def __init__(self, session, motor, **kwargs):
        super().__init__(**kwargs)
        self.session, self.motor = session, motor

    async def do_trial(self):
        await self.motor.write_state(True)
        await self.sleep(0.2)
        await self.motor.write_state(False)
        self.session.record_trial(pellet=True)


class BeamPellet(Protocol):
    """docs/tutorials/nwb.md's protocol: wait for the beam, a pellet, a 5-10 s ITI."""

    name = "beam-pellet"
    version = 1
    Args = Args

    def devices(self, session):
        if not hasattr(self, "_devices"):
            self._devices = (
                VirtualDigitalChannel(name="beam", rng=random.Random(1)),
                VirtualDigitalChannel(name="motor", interval=(1e9, 1e9)),
                VirtualADCPort(name="breathing", frequency=100, num_channels=2,
                               block_size=50, seed=1))
        return self._devices

    def build_tree(self, session):
        beam, motor, _ = self.devices(session)
        trial = MoaStage(name="trial", repeat=session.args.n_trials - len(session.trials))
        trial.add_stage(DigitalGateStage(device=beam, exit_state=True, name="wait for beam"))
        trial.add_stage(Pellet(session, motor, name="pellet"))
        trial.add_stage(UniformRandomDelay(min=5, max=10, rng=random.Random(2), name="iti"))
        return MoaStage(name="root", stages=[trial])


class ByHand(Protocol):
    """Delays of 2, 3, 1 and 1 s; a trial recorded as each after the first starts
    (``on_stage_start``: before its trial, in no stage trial but the root's)."""

    name = "by-hand"
    version = 1

    def build_tree(self, session):
        root = MoaStage(name="root")
        for n, delay in enumerate((2, 3, 1, 1)):
            stage = Delay(delay=delay, name=f"delay {n}")
            if n:
                stage.fbind("on_stage_start", lambda stage, n=n: session.record_trial(
                    n=f"record {n}"))
            root.add_stage(stage)
        return root


def run(lab, protocol):
    runner = ProtocolRunner(lab, protocol)
    info = runner.create_session("rat-1")
    ended = trio.run(runner.run_session, info,
                     clock=trio.testing.MockClock(autojump_threshold=0))
    assert ended.status == "submitted", ended.error
    return ended.id


def trials_checked(path):
    """The trials table of the NWB file at ``path``, once nwbinspector finds no trial
    that stops before or as it starts."""
    from nwbinspector import inspect_nwbfile

    stops = [m for m in inspect_nwbfile(nwbfile_path=str(path))
             if m.check_function_name == "check_time_intervals_stop_after_start"
             and m.object_name == "trials"]
    assert stops == []
    with checked(path) as io:
        nwb = io.read()
        stages = nwb.intervals["stages"].to_dataframe()
        return nwb.trials.to_dataframe(), stages


def test_each_trial_spans_its_stage_trial_as_the_stages_table_has_it(lab, tmp_path):
    session = run(lab, BeamPellet)
    summary = export_nwb(lab, session, tmp_path / "beam.nwb")
    assert summary.trials == 4
    trials, stages = trials_checked(tmp_path / "beam.nwb")
    own = stages[(stages.stage == "trial") & (stages.kind == "trial")]
    assert list(zip(trials.start_time, trials.stop_time)) == \
        list(zip(own.start_time, own.stop_time))
    assert (trials.stop_time - trials.start_time >= 5.2).all()  # a pellet and an ITI
    assert list(trials.pellet) == [True] * 4


def test_trials_recorded_outside_a_stage_trial_follow_each_other(lab, tmp_path):
    session = run(lab, ByHand)
    export_nwb(lab, session, tmp_path / "by-hand.nwb")
    trials, _ = trials_checked(tmp_path / "by-hand.nwb")
    # flat: pytest.approx takes no nesting
    assert [time for span in zip(trials.start_time, trials.stop_time) for time in span] == \
        pytest.approx([0, 2, 2, 5, 5, 6])
    assert list(trials.n) == ["record 1", "record 2", "record 3"]
