"""ProtocolRunner: a lab's sessions of one protocol (Mephisto's TaskRunner).

It plans a subject's next session (training step, screening or the main
protocol: :mod:`moalab.protocol.gates`), creates it in the lab's database, runs
its tree through the one run path (:class:`~moalab.runner.run.Run`) with its
records to the session's CSV log and its trials to the database, and cleans up.
Database calls made while a run goes on run in a worker thread
(:class:`~moalab.store.worker.DatabaseWorker`); trials and state are queued
(:class:`~moalab.store.worker.TrialWriter`), so a stage never waits on them.
"""

import os
import socket
import time
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from ..assets import (
    AssetStorage,
    RigStorage,
    open_storage,
    prepare_assets,
    reaches_rig,
    sync_to_rig,
)
from ..assets.deposit import Depositor
from ..assets.sync import SyncProgress
from ..assets.types import Asset, CachedAsset, CachedFunctionAsset
from ..core.errors import InvalidArgument, MoaError, error_text
from ..core.realtime import run_in_thread
from ..log.loggers import SimpleCSVLogger
from ..network import (
    LabNetworkStore,
    Network,
    NetworkFull,
    Node,
    ParticipantInNetwork,
    copy_network,
    networks,
)
from ..runner.run import Run
from ..store.database import STALE_AFTER, SessionInfo, SubjectInfo
from ..store.lab import Lab
from ..store.worker import DatabaseWorker, TrialWriter
from .args import args_from_dict, args_to_dict, parse_args
from .conditions import next_units
from .gates import ScreeningRequired, TrainingRequired, qualification_names
from .protocol import Protocol, check_protocol_class
from .rigs import executor_for
from .session import Session, SessionState
from .static import StaticProtocol

__all__ = ("ProtocolRunner", "SubjectRefused", "SessionPlan", "LOG_NAME", "HDF5_NAME")

HEARTBEAT_EVERY = STALE_AFTER / 3
"""Seconds between a running session's heartbeats (its lock is stale after
:data:`~moalab.store.database.STALE_AFTER`)."""

LOG_NAME = "log.csv"
"""The session's CSV log, in its data folder."""

HDF5_NAME = "data.h5"
"""The session's HDF5 log, in its data folder (a resumed session's: ``data-1.h5``, ...)."""

NETWORKS_WAIT = 30.0
"""Seconds a session waits for the protocol's networks another process is making."""

RECEIVED_PREFIX = "received-info-"
"""Names the files of infos sent to a session's node among its assets to prepare."""


class SubjectRefused(MoaError):
    """The subject may not run this protocol now; the message says why and what to do."""


@dataclass(frozen=True)
class SessionPlan:
    """What a subject's next session of a protocol is: 'main', 'training' (at
    ``step``) or 'screening'; ``units_done``: a static protocol's units done before."""

    kind: str
    step: int | None = None
    units_done: int = 0


class ProtocolRunner:
    """Runs the sessions of ``protocol`` (a Protocol subclass) in ``lab``.

    ``reach_rigs``: False for sessions whose devices do not run on their rig (a dry
    run of :func:`~moalab.loop.rig_runner`: virtual devices): a session
    keeps its rig in the lab's database, but no connection to the rig is opened and
    its assets are the lab's local copies.

    The Mephisto methods: :meth:`get_init_data`, :meth:`run_session`,
    :meth:`cleanup_session`, :meth:`get_data_for_session`. Plain methods run in the
    calling thread (the command line's, before or after its trio run);
    :meth:`run_session` runs in a trio run.
    """

    def __init__(self, lab: Lab, protocol: type[Protocol], *, reach_rigs: bool = True) -> None:
        self.lab = lab
        self.reach_rigs = reach_rigs
        self.protocol_class = check_protocol_class(protocol)
        if issubclass(protocol, TrainingRequired):
            protocol.check_training()
        if issubclass(protocol, ScreeningRequired):
            protocol.check_screening()
        self.names = qualification_names(protocol.name)
        self._storage: AssetStorage | None = None

    @property
    def storage(self) -> AssetStorage:
        """Where the protocol's assets are stored: its own ``storage``, else the lab's
        (``[assets] storage`` in the lab's config). Raises InvalidArgument for a bad line."""
        if self._storage is None:
            self._storage = open_storage(
                self.protocol_class.storage or self.lab.config.asset_storage, self.lab.folder)
        return self._storage

    @property
    def database(self) -> Any:
        """The lab's database (``lab.database``: opened on first use, its schema
        checked). Its methods block: in a trio run, call them through a worker thread,
        as :meth:`run_session` does."""
        return self.lab.database

    # ------------------------------------------------------------- planning

    def plan(self, subject: SubjectInfo) -> SessionPlan:
        """The subject's next session; raises :class:`SubjectRefused` saying why not."""
        cls, db, names = self.protocol_class, self.database, self.names
        where = f"subject {subject.name!r} cannot run protocol {cls.name!r}"
        if not cls().subject_can_run(subject):
            raise SubjectRefused(f"{where}: its subject_can_run hook says no")
        if issubclass(cls, TrainingRequired) and not self._passed(
                subject, names.trained, "training", where):
            return SessionPlan("training", db.qualification(subject.name, names.step) or 0)
        if issubclass(cls, ScreeningRequired) and not self._passed(
                subject, names.screened, "screening", where):
            return SessionPlan("screening")
        if issubclass(cls, StaticProtocol):
            done = self._units_done(subject.name)
            if not next_units(cls.load_table(), done, cls.units_per_session):
                raise SubjectRefused(
                    f"{where}: it has done all {done} units of the protocol's table")
            return SessionPlan("main", units_done=done)
        return SessionPlan("main")

    def _passed(self, subject: SubjectInfo, qualification: str, gate: str, where: str) -> bool:
        """Whether ``subject`` passed the protocol's ``gate``; raises
        :class:`SubjectRefused` if it failed it."""
        value = self.database.qualification(subject.name, qualification)
        if value == 0:
            raise SubjectRefused(
                f"{where}: it failed {gate} (validate_{gate}); "
                f"`moalab subject requalify {subject.name} {qualification}` clears that")
        return value is not None

    def _units_done(self, subject: str, but: str | None = None) -> int:
        return sum(info.n_trials for info in self.database.subject_sessions(
            subject, self.protocol_class.name) if info.kind == "main" and info.id != but)

    # -------------------------------------------------------------- sessions

    def create_session(self, subject: str, args: Sequence[str] = (),
                       rig: str | None = None) -> SessionInfo:
        """Make the subject's next session in the database (status 'created') and its
        data folder; return its row. Everything is checked first (subject, rig, args, the
        gates); nothing is written when a check fails. Raises
        :class:`~moalab.store.errors.UnknownName` for an unknown subject or rig,
        :class:`~moalab.InvalidArgument` for bad ``args``, :class:`SubjectRefused` when
        the gates turn the subject away (or its screening places are taken). Blocks on
        the database."""
        cls, db = self.protocol_class, self.database
        info = db.get_subject(subject)
        if rig is not None:
            db.get_rig(rig)
        parsed = parse_args(cls.Args, list(args))
        plan = self.plan(info)
        if plan.kind == "screening" and not db.take_slot(
                self._slots(), cls.max_screening_sessions):  # type: ignore[attr-defined]
            raise SubjectRefused(
                f"subject {subject!r} cannot run protocol {cls.name!r}: its "
                f"{cls.max_screening_sessions} screening sessions are "  # type: ignore[attr-defined]
                "all taken (an abandoned one frees its place)")
        try:
            session = db.create_session(subject, cls.name, cls.version, args_to_dict(parsed),
                                        rig=rig, kind=plan.kind, step=plan.step)
        except BaseException:
            if plan.kind == "screening":
                db.free_slot(self._slots())
            raise
        self.lab.make_session_folder(session.id)
        return session

    def _slots(self) -> str:
        return f"{self.protocol_class.name}-screening-slots"

    def open_session(self, info: SessionInfo, writer: TrialWriter | None = None,
                     depositor: Depositor | None = None) -> Session:
        """The :class:`Session` of database row ``info``: its args, trials and state;
        ``depositor`` is its run's. Raises :class:`SubjectRefused` for a session of
        another protocol or version."""
        cls, db = self.protocol_class, self.database
        if (info.protocol, info.version) != (cls.name, cls.version):
            raise SubjectRefused(
                f"session {info.id} is of protocol {info.protocol!r} version {info.version}, "
                f"not {cls.name!r} version {cls.version}: give that protocol's file")
        trials = [trial.values for trial in db.list_trials(info.id)]
        init, data = db.load_state(info.id)
        state = SessionState(init, data, save=writer.put_state if writer else None,
                             trials=trials)
        session = Session(
            info, cls(), db.get_subject(info.subject),
            db.get_rig(info.rig) if info.rig else None,
            args_from_dict(cls.Args, info.args), self.lab.make_session_folder(info.id),
            trials, state,
            write_trial=writer.put if writer else None, depositor=depositor,
            end_trial=writer.put_end if writer else None,
        )
        if issubclass(cls, StaticProtocol) and info.kind == "main":
            session.units_done = self._units_done(session.subject.name, but=info.id)
            session.units = next_units(cls.load_table(), session.units_done,
                                       cls.units_per_session)
        return session

    def get_init_data(self, session: Session) -> Any:
        """The state a session starts from: a resumed session's own, else the
        protocol's ``init_data``."""
        existing = session.state.get_init_state()
        return existing if existing is not None else session.protocol.init_data(session)

    def get_data_for_session(self, session: Session) -> dict[str, Any]:
        """The session's data for review or export (``SessionState.get_parsed_data``)."""
        return session.state.get_parsed_data()

    async def run_session(self, info: SessionInfo, sinks: Iterable[Any] = (),
                          on_run: Callable[[Run], None] | None = None,
                          sync_progress: SyncProgress | None = None) -> SessionInfo:
        """Run session ``info`` (new or interrupted) to its end; return its row.

        Before the tree is built the protocol's assets are made local and, for a rig
        reached over the network, synced to it: ``session.assets`` are then the rig's
        paths (``sync_progress`` is given the bytes sent and to send, see
        :func:`~moalab.assets.sync_to_rig`); not with ``reach_rigs=False``.

        Claims it (raises :class:`~moalab.store.errors.SubjectBusy` if its subject
        has another session running), runs its tree with its records to the
        session's CSV log (continued on a resume), its HDF5 log (:data:`HDF5_NAME`;
        a file each run, with h5py installed) and to ``sinks`` (``on_run`` is
        given the :class:`Run` as it is made, e.g. to stop it), and ends it once its
        deposits are deposited or failed: 'submitted' (the tree ended, or a training
        step graduated), 'interrupted' (stopped: ``moalab session resume`` continues
        it) or 'failed'. The pending deposits a killed run of this protocol left are
        retried beside it (failed if their input is gone).
        """
        db, worker = self.database, DatabaseWorker(self.database)
        # before the claim: a resumed session's own deposits are stale until then
        stale = await worker.call(db.stale_deposits, self.protocol_class.name)
        info = await worker.call(db.claim_session, info.id, socket.gethostname(), os.getpid())
        writer = TrialWriter(db, info.id, heartbeat_every=HEARTBEAT_EVERY)
        session: Session | None = None
        depositor: Depositor | None = None
        rig: RigStorage | None = None
        graduation: _Graduation | None = None
        status, error = "failed", None
        try:
            deposited = await worker.call(db.list_assets, info.id)
            depositor = Depositor(worker, lambda: self.storage, info.id, stale=stale,
                                  taken=[asset.local_key for asset in deposited])
            # reading the session's rows: in a worker thread, as every call to the database
            session = await worker.call(self.open_session, info, writer, depositor)
            if session.state.set_init_state(self.get_init_data(session)):
                session.state.save_data()
            if info.kind == "training":
                graduation = await worker.call(_Graduation, self, session)
            if self.reach_rigs:
                rig = depositor.rig = await _open_rig(session)
            assets = dict(session.protocol.assets)
            if info.kind == "main" and self.uses_networks:
                session.node = await worker.call(self._take_node, session)
                assets.update(await worker.call(self._received, session.node))
            if assets:
                copies = await run_in_thread(prepare_assets, assets, self.storage,
                                             self.lab.cache_folder)
                if rig is not None:  # its devices read the rig's copies
                    copies = await run_in_thread(
                        sync_to_rig, copies, self.lab.cache_folder, rig, sync_progress)
                session.assets = {name: path for name, path in copies.items()
                                  if not name.startswith(RECEIVED_PREFIX)}
                session.received_assets = {
                    int(name.removeprefix(RECEIVED_PREFIX)): path
                    for name, path in copies.items() if name.startswith(RECEIVED_PREFIX)}
            tree = self._build_tree(session)
            log = SimpleCSVLogger(session.data_dir / LOG_NAME, append=True)
            files = [log, *_hdf5_log(session.data_dir)]
            session_sinks = [*files, *sinks]
            run = Run(tree, session.protocol.devices(session), session.protocol.executors(session),
                      session_sinks, metadata=self._metadata(session))
            if graduation is not None:
                graduation.run = run
            self._attach_assets_used(session)
            if on_run is not None:
                on_run(run)
            try:
                await _execute(run, depositor)
            finally:
                for file in files:
                    file.close()
            status, error = _session_status(run, graduation)
            session.state.save_data()
        except BaseException as exc:
            error = error or error_text(exc)
            status = "interrupted" if not isinstance(exc, Exception) else "failed"
            raise
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await self._end(worker, writer, session, depositor, graduation, status,
                                    error)
                finally:
                    if rig is not None:
                        await rig.executor.stop_executor()
        return await worker.call(db.get_session, info.id)

    # ------------------------------------------------------------- networks

    @property
    def uses_networks(self) -> bool:
        """Whether the protocol defines :meth:`Protocol.create_network`."""
        return self.protocol_class.create_network is not Protocol.create_network

    def networks(self, role: str | None = None, full: bool | None = None) -> list[Network]:
        """This protocol's networks in the lab (Dallinger's ``exp.networks(...)``), in
        the order made: of ``role`` and full or not when given. Blocks on the database."""
        return networks(self.lab, role, full, protocol=self.protocol_class.name)  # type: ignore[arg-type]

    def make_networks(self) -> list[Network]:
        """Make the protocol's networks unless they are made: ``practice_repeats``
        practice ones, then ``experiment_repeats`` experiment ones, each a copy of a
        new ``create_network()``; return them. Once per lab and protocol: the process
        that takes the lab's counter makes them, the others wait for them (up to
        :data:`NETWORKS_WAIT` s, then :class:`SubjectRefused`). Blocks on the database."""
        cls, db = self.protocol_class, self.database
        roles = ["practice"] * cls.practice_repeats + ["experiment"] * cls.experiment_repeats
        if db.take_slot(f"{cls.name}-networks", 1):
            store, protocol = LabNetworkStore(db, cls.name), cls()
            for role in roles:
                network = protocol.create_network()
                if not isinstance(network, Network):
                    raise InvalidArgument(
                        f"protocol {cls.name!r}: create_network() returned {network!r}; "
                        "return a Network, e.g. Chain(max_size=5)")
                copy_network(network, store, role)  # type: ignore[arg-type]
        deadline = time.monotonic() + NETWORKS_WAIT
        while len(made := self.networks()) < len(roles):
            if time.monotonic() > deadline:
                raise SubjectRefused(
                    f"protocol {cls.name!r} has {len(made)} of its {len(roles)} networks: "
                    f"the process making them stopped; see `moalab network list`")
            time.sleep(0.1)
        return made

    def _take_node(self, session: Session) -> Node:
        """``session``'s node: the one an earlier run of it took, else a new one
        (``create_node``, ``add_node_to_network``) in the first network that is not
        full and has no node of the subject, practice networks first. In a worker
        thread. Raises :class:`SubjectRefused` when no network has room for it."""
        cls = self.protocol_class
        store = LabNetworkStore(self.database, cls.name, session.id)
        for row in store.session_nodes(session.id):
            if not row.failed:  # a resumed session keeps its node
                return Network.load(store, row.network_id).node(row.id)
        self.make_networks()
        subject = session.subject.name
        for role in ("practice", "experiment"):
            for row in store.networks(role, full=False):  # type: ignore[arg-type]
                network = Network.load(store, row.id)
                if any(node.participant == subject for node in network.nodes(failed="all")):
                    continue
                node = session.protocol.create_node(session, network)
                try:
                    session.protocol.add_node_to_network(node, network)
                except (NetworkFull, ParticipantInNetwork):
                    continue  # another controller took the last place first
                return node
        raise SubjectRefused(
            f"subject {subject!r} cannot run protocol {cls.name!r}: each of its networks "
            "is full or has a node of this subject; raise experiment_repeats, or fail a "
            "node (a failed or abandoned session's node fails)")

    def _received(self, node: Node) -> dict[str, Asset]:
        """The stored files the infos sent to ``node`` carry, as assets to prepare
        (named :data:`RECEIVED_PREFIX` + the info's id). In a worker thread. Raises
        InvalidArgument for an info whose asset is not stored (a deposit that failed)."""
        assets: dict[str, Asset] = {}
        for sent in node.transmissions("incoming"):
            info = sent.info
            if info.asset_id is None:
                continue
            asset = self.database.get_asset(info.asset_id)
            if asset.key is None or asset.status not in ("stored", "deposited"):
                raise InvalidArgument(
                    f"info {info.id} sent to node {node.id} carries asset {asset.id}, which "
                    f"is {asset.status} ({asset.error or 'no file stored'}): its sender's "
                    "file never reached the lab's storage")
            assets[f"{RECEIVED_PREFIX}{info.id}"] = _StoredAsset(asset.key, asset.extension)
        return assets

    def _build_tree(self, session: Session) -> Any:
        protocol = session.protocol
        if session.kind == "training":
            step = type(protocol).training_steps[session.step or 0]  # type: ignore[attr-defined]
            return protocol.build_training_tree(session, step)  # type: ignore[attr-defined]
        if session.kind == "screening":
            return protocol.build_screening_tree(session)  # type: ignore[attr-defined]
        return protocol.build_tree(session)

    @staticmethod
    def _attach_assets_used(session: Session) -> None:
        """Record the protocol's cached assets as the protocol's and the session's,
        under their names (queued: the depositor records them beside the run)."""
        for name, asset in session.protocol.assets.items():
            if isinstance(asset, (CachedAsset, CachedFunctionAsset)):
                session.attach(asset, name, protocol=True)
                session.attach(asset, name)

    def _metadata(self, session: Session) -> dict[str, Any]:
        return {"session": session.id, "subject": session.subject.name,
                "protocol": session.protocol.name, "version": session.protocol.version,
                "kind": session.kind, "step": session.step,
                "rig": session.rig.name if session.rig else None}

    async def _end(self, worker: DatabaseWorker, writer: TrialWriter, session: Session | None,
                   depositor: Depositor | None, graduation: "_Graduation | None", status: str,
                   error: str | None) -> None:
        """Write the rest, run the post-session gates and hook, end the row (its error
        names what the depositor could not record)."""
        try:
            await writer.aclose()
        except Exception as exc:  # noqa: BLE001 - recorded on the session, not lost
            status, error = "failed", f"trials not written: {error_text(exc)}"
        try:
            if session is not None and status == "submitted":
                error = await worker.call(self._after_submitted, session, graduation)
        except Exception as exc:  # a gate's verdict that is not a bool: the session failed
            status, error = "failed", str(exc)
            raise
        finally:
            await worker.call(self.database.end_session, writer.session_id, status,
                              _with_lost(error, depositor))

    def _after_submitted(self, session: Session, graduation: "_Graduation | None") -> str | None:
        """The gates' verdicts and ``on_session_submitted``; in a worker thread.
        Returns the hook's exception as text, if it raised."""
        db, names, cls = self.database, self.names, self.protocol_class
        subject = session.subject.name
        if graduation is not None and graduation.done:
            steps = cls.training_steps  # type: ignore[attr-defined]
            step = (session.step or 0) + 1
            if step < len(steps):
                db.grant(subject, names.step, step)
            else:
                passed = _verdict(cls, "validate_training", session.protocol.validate_training,
                                  session.state.get_data())
                db.grant(subject, names.trained, 1 if passed else 0)
        elif session.kind == "screening":
            passed = _verdict(cls, "validate_screening",
                              session.protocol.validate_screening,  # type: ignore[attr-defined]
                              session.state.get_data())
            db.grant(subject, names.screened, 1 if passed else 0)
        session.deposit_ids = {asset.local_key: asset.id for asset in db.list_assets(
            session.id, "deposited") if asset.local_key is not None}
        try:
            session.protocol.on_session_submitted(session)
        except Exception as exc:  # noqa: BLE001 - recorded on the session (Mephisto's hook)
            return f"on_session_submitted raised {error_text(exc)}"
        return None

    def cleanup_session(self, info: SessionInfo) -> None:
        """After an interruption or stop: a session left 'created' (never started) is
        deleted; one that ran keeps its outputs (the CSV is flushed per row, trials
        and state are in the database)."""
        current = self.database.get_session(info.id)
        if current.status == "created":
            self.lab.discard_session(info.id)
            if current.kind == "screening":
                self.database.free_slot(self._slots())


class _StoredAsset(Asset):
    """A file already in the lab's storage under ``key`` (an info's asset)."""

    def __init__(self, key: str, extension: str) -> None:
        super().__init__(extension)
        self._key = key

    @property
    def key(self) -> str:
        return self._key

    def ensure(self, storage: AssetStorage, listed: Container[str] = ()) -> str:
        return self._key


async def _open_rig(session: Session) -> RigStorage | None:
    """For a session on a rig reached over the network, the rig's store over a
    connection of the session's own (started here; the runner stops it once the
    deposits are done), with ``session.rig_folder`` made there
    (``recordings/<session id>``); None for a local rig."""
    if not reaches_rig(session.executor):
        return None
    executor = executor_for(session.rig)
    await executor.start_executor()
    try:
        rig = RigStorage(executor)
        session.rig_folder = await run_in_thread(rig.make_folder, f"recordings/{session.id}")
    except BaseException:
        with trio.CancelScope(shield=True):
            await executor.stop_executor()
        raise
    return rig


async def _execute(run: Run, depositor: Depositor) -> None:
    """Run the tree with ``depositor`` serving beside it; return once the tree has
    ended and each deposit is deposited or failed (an error of the tree cancels the
    uploads not begun: their rows stay pending, retried by the next run)."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(depositor.serve)
        try:
            await run.execute()
        finally:
            depositor.close()


def _with_lost(error: str | None, depositor: Depositor | None) -> str | None:
    """The session's error, with what its depositor could not record."""
    if depositor is None or not depositor.lost:
        return error
    lost = f"not recorded: {'; '.join(depositor.lost)}"
    return f"{error}; {lost}" if error else lost


def _verdict(cls: type, hook: str, fn: Any, data: Any) -> bool:
    result = fn(data)
    if not isinstance(result, bool):
        raise SubjectRefused(
            f"protocol {cls.name!r}: {hook} returned {result!r}; it must return True or "
            "False")
    return result


def _session_status(run: Run, graduation: "_Graduation | None") -> tuple[str, str | None]:
    if run.status == "failed":
        error = run.error
        return "failed", error_text(error) if error else None
    if run.status == "stopped" and not (graduation and graduation.done):
        return "interrupted", None
    return "submitted", None


class _Graduation:
    """Checks a training session's step rule at each trial's end; a pass stops the run."""

    def __init__(self, runner: ProtocolRunner, session: Session) -> None:
        cls, db = runner.protocol_class, runner.database
        self.step = cls.training_steps[session.step or 0]  # type: ignore[attr-defined]
        # the trials of the subject's earlier sessions at this step count too
        self.before = [trial.values for info in db.subject_sessions(session.subject.name, cls.name)
                       if info.kind == "training" and info.step == session.step
                       and info.id != session.id for trial in db.list_trials(info.id)]
        self.run: Run | None = None
        self.done = False
        session.on_trial_recorded(self.check)

    def check(self, session: Session) -> None:
        if not self.done and self.step.graduation.passed([*self.before, *session.trials]):
            self.done = True
            if self.run is not None:
                self.run.stop()


def _hdf5_log(folder: Path) -> list[Any]:
    """The session's HDF5 log in ``folder`` (each run of a resumed session writes a file
    of its own: an HDF5 file is not appended to); none without h5py (the ``data`` extra)."""
    try:
        from ..log.hdf5 import HDF5Logger
    except ImportError:  # a lab without the data extra keeps its CSV log only
        return []
    path, n = folder / HDF5_NAME, 0
    while path.exists():
        n += 1
        path = folder / f"data-{n}.h5"
    return [HDF5Logger(path)]
