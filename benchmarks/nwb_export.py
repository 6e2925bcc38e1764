"""The NWB export row (issue 18), ``nwb_export``, on a lab made in a temporary folder
(SQLite):

- ``nwb_export_s``: the wall time of ``moalab.export.export_nwb`` for a synthetic
  1-hour session: a ``MockProtocol`` session of :data:`TRIALS` trials of
  :data:`TRIAL_S` s run in virtual time (its trials in the lab, its logs in its data
  folder), whose HDF5 log is then replaced by a run's of the same hour written by
  ``HDF5Logger``: a 1-channel int16 ADC at :data:`ADC_HZ` Hz in 1 s blocks and a lick
  sensor's state each second, with the session's stage and trial records. Only the
  export is timed (reading the lab and the HDF5 log, writing the NWB file).
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import trio
import trio.testing

from moalab.core.clock import clock_origin
from moalab.protocol import MockProtocol, ProtocolRunner

from .common import SideResults
from .lab import SUBJECT, temporary_lab

__all__ = ("ADC_HZ", "NWB_ROW", "TRIALS", "TRIAL_S", "measure_nwb_export")

NWB_ROW = "nwb_export"
TRIALS = 720
TRIAL_S = 5.0
ADC_HZ = 1000
HOUR_S = TRIALS * TRIAL_S


def measure_nwb_export(results: SideResults) -> None:
    """Record ``nwb_export_s`` (see the module); skipped without the ``data`` extra, a
    failure recorded as an error of the row."""
    try:
        import h5py  # noqa: F401
        import pynwb  # noqa: F401
    except ImportError as exc:
        results.skip(NWB_ROW, f"no data extra ({exc})")
        return
    try:
        with temporary_lab("sqlite") as lab, \
                tempfile.TemporaryDirectory(prefix="moalab-bench-nwb-") as folder:
            session = _synthetic_session(lab)
            from moalab.export import export_nwb

            start = time.perf_counter()
            export_nwb(lab, session, Path(folder) / "session.nwb")
            results.record(NWB_ROW, "nwb_export_s", time.perf_counter() - start)
    except Exception as exc:
        results.error(NWB_ROW, "nwb_export_s", exc)


def _synthetic_session(lab) -> str:
    """A 1-hour session of ``lab``'s subject with its HDF5 log (see the module)."""
    from moalab.core.records import DeviceUpdate, RunEnd, RunStart, TrialEnd, TrialStart
    from moalab.log.hdf5 import HDF5Logger

    runner = ProtocolRunner(lab, MockProtocol)
    info = runner.create_session(SUBJECT, [f"n_trials={TRIALS}", f"trial_duration={TRIAL_S}"])
    ended = trio.run(runner.run_session, info,
                     clock=trio.testing.MockClock(autojump_threshold=0))
    if ended.status != "submitted":
        raise RuntimeError(f"the synthetic session ended {ended.status!r}: {ended.error}")
    origin = clock_origin(0.0)
    seq = iter(range(1 << 40))
    adc = (np.sin(np.arange(ADC_HZ) / ADC_HZ * 2 * np.pi) * 1000).astype(np.int16)
    folder = lab.data_folder / lab.database.get_session(ended.id).data_dir
    with HDF5Logger(folder / "data.h5", overwrite=True) as log:
        log.consume(RunStart(run_id="bench", seq=next(seq), time=0.0, root="mock",
                             clock="real", started_at=origin.started_at))
        for second in range(int(HOUR_S)):
            if second % TRIAL_S == 0:
                log.consume(TrialStart(run_id="bench", seq=next(seq), time=second,
                                       path="mock/trial", name="trial",
                                       count=int(second // TRIAL_S), values={}))
            log.consume(DeviceUpdate(run_id="bench", seq=next(seq), time=float(second),
                                     device="adc", values={"data": adc}))
            log.consume(DeviceUpdate(run_id="bench", seq=next(seq), time=second + 0.5,
                                     device="lick", values={"state": second % 3 == 0}))
            if second % TRIAL_S == TRIAL_S - 1:
                log.consume(TrialEnd(run_id="bench", seq=next(seq), time=second + 1.0,
                                     path="mock/trial", name="trial",
                                     count=int(second // TRIAL_S), values={},
                                     outcome="done"))
        log.consume(RunEnd(run_id="bench", seq=next(seq), time=HOUR_S, status="done"))
    return ended.id
