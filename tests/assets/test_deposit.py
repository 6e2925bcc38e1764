"""Deposits of a session's recordings: ``asset.deposit(async_=True)`` returns at once
while a slow store uploads beside the tree, the session is submitted once they are
deposited or failed, a failure flags it and keeps the input, a kill -9 mid-upload
leaves a pending row that the protocol's next run retries; attachments. A real lab
(SQLite file), real folders, virtual time, a real subprocess killed."""

import signal
import subprocess
import textwrap
import time

import pytest
import trio
import trio.testing

from moalab import MoaStage
from moalab.assets import CachedAsset, LocalStorage, Recording
from moalab.cli.main import main as moalab_main
from moalab.core.errors import InvalidArgument
from moalab.core.realtime import run_in_thread
from moalab.protocol import NoArgs, Protocol, ProtocolRunner, load_protocol
from moalab.store import Lab
from tests.cli.helpers import command, env, wait_until


class SlowStorage(LocalStorage):
    """A folder that takes ``delay`` seconds per upload (a slow network store)."""

    def __init__(self, folder, delay: float) -> None:
        super().__init__(folder)
        self.delay = delay

    def _write(self, key, source, if_absent):
        time.sleep(self.delay)
        return super()._write(key, source, if_absent)


class FullStorage(LocalStorage):
    """A folder on a full disk: every upload fails."""

    def _write(self, key, source, if_absent):
        raise OSError(28, "No space left on device")


class _Recorder(MoaStage):
    """A trial that writes a take and deposits it, timing the call; records ``trial``,
    ``deposit_s`` and the real time it ended. ``how``: 'async' (``async_=True`` from
    the trio thread), 'sync' (``async_=False`` from a worker thread) or 'thread'
    (``async_=True`` from a worker thread, as a device's thread would)."""

    def __init__(self, session, how: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session, self.how = session, how

    async def do_trial(self) -> None:
        index = len(self.session.trials)
        path = self.session.data_dir / f"take-{index}.bin"
        path.write_bytes(bytes([index]) * 1000)
        take = Recording(local_key=f"take-{index}", input_path=path, extension=".bin",
                         parent=self.session, personal=False)
        start = time.perf_counter()
        if self.how == "async":
            take.deposit(async_=True, delete_input=True)
        else:
            await run_in_thread(take.deposit, self.how == "thread")
        elapsed = time.perf_counter() - start
        await self.sleep(1.0)
        self.session.record_trial(trial=index, deposit_s=elapsed, ended=time.monotonic())


def recording_protocol(store, n_trials: int = 2, how: str = "async", **attrs):
    class Recordings(Protocol):
        name = "recordings"
        version = 1
        Args = NoArgs
        storage = store

        def build_tree(self, session):
            root = MoaStage(name="root")
            root.add_stage(_Recorder(session, how, name="trial", repeat=n_trials))
            return root

    for name, value in attrs.items():
        setattr(Recordings, name, value)
    return Recordings


@pytest.fixture
def lab(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    lab.database.add_subject("m1")
    yield lab
    lab.close()


def run_session(lab, protocol):
    runner = ProtocolRunner(lab, protocol)
    info = runner.create_session("m1")
    return trio.run(runner.run_session, info,
                    clock=trio.testing.MockClock(autojump_threshold=0))


def test_deposit_returns_at_once_with_a_slow_store_and_the_session_waits(lab, tmp_path):
    store = SlowStorage(tmp_path / "store", delay=2.0)
    start = time.monotonic()
    ended = run_session(lab, recording_protocol(store))
    took = time.monotonic() - start
    trials = [trial.values for trial in lab.database.list_trials(ended.id)]
    assert all(trial["deposit_s"] < 0.05 for trial in trials), trials  # bench: < 5 ms
    # the tree went on: both trials ended before the first upload could
    assert trials[-1]["ended"] - start < 1.9
    assert took >= 4.0  # ... and the session waited for both uploads before its end
    assert (ended.status, ended.pending_deposits, ended.failed_deposits) == ("submitted", 0, 0)
    assets = lab.database.list_assets(session=ended.id)
    assert [(a.key, a.status, a.size) for a in assets] == [
        (f"experiment/{ended.id}/take-{i}.bin", "deposited", 1000) for i in range(2)]
    assert store._path(assets[1].key).read_bytes() == b"\x01" * 1000
    assert not list(lab.session_folder(ended.id).glob("take-*"))  # delete_input, after
    assert [(link.owner_kind, link.owner, link.name) for link in lab.database.asset_links(
        asset=assets[0].id)] == [("session", ended.id, "take-0")]


def test_a_failed_upload_flags_the_session_and_keeps_the_input(lab, tmp_path, capsys):
    ended = run_session(lab, recording_protocol(FullStorage(tmp_path / "store")))
    assert (ended.status, ended.failed_deposits, ended.n_trials) == ("submitted", 2, 2)
    failed = lab.database.list_assets(session=ended.id, status="failed")
    assert len(failed) == 2 and "No space left on device" in failed[0].error
    assert failed[0].error.startswith("StorageError: LocalStorage(")
    assert (lab.session_folder(ended.id) / "take-0.bin").exists()  # kept for a retry
    assert moalab_main(["session", "show", ended.id, "--lab", str(lab.folder)]) == 0
    shown = capsys.readouterr().out
    assert "status: submitted, 2 deposits failed" in shown
    assert "take-1" in shown and "No space left" in shown
    assert moalab_main(["session", "list", "--lab", str(lab.folder), "--json"]) == 0
    assert '"failed_deposits": 2' in capsys.readouterr().out


@pytest.mark.parametrize("how", ["sync", "thread"])
def test_a_deposit_from_a_worker_thread(lab, tmp_path, how):
    store = LocalStorage(tmp_path / "store")
    ended = run_session(lab, recording_protocol(store, n_trials=2, how=how))
    assets = lab.database.list_assets(session=ended.id)
    assert [a.status for a in assets] == ["deposited"] * 2
    assert all(store.exists(asset.key) for asset in assets)
    assert (lab.session_folder(ended.id) / "take-0.bin").exists()  # no delete_input


class _Misuse(MoaStage):
    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self) -> None:
        path = self.session.data_dir / "take.bin"
        path.write_bytes(b"x")
        errors = []
        for deposit in (
            lambda: Recording("take", path, parent=None).deposit(async_=True),
            lambda: Recording("take", path, parent=self.session).deposit(),  # trio thread
            lambda: [Recording("take", path, parent=self.session).deposit(async_=True)
                     for _ in range(2)],
            lambda: self.session.attach(Recording("never", path, parent=self.session), "r"),
            lambda: self.session.attach(Recording("take", path, parent=self.session), "r",
                                        trial=1, subject=True),
        ):
            with pytest.raises(InvalidArgument) as error:
                deposit()
            errors.append(str(error.value))
        self.session.record_trial(errors=errors)


def test_deposits_refused_with_what_to_do(lab, tmp_path):
    class Misuse(Protocol):
        name, version, Args = "misuse", 1, NoArgs
        storage = LocalStorage(tmp_path / "store")

        def build_tree(self, session):
            return _Misuse(session, name="misuse")

    ended = run_session(lab, Misuse)
    [trial] = lab.database.list_trials(ended.id)
    none, blocking, twice, unknown, two_owners = trial.values["errors"]
    assert "its parent None is not a session; make it with parent=session" in none
    assert "blocks until the upload ends: call it from a worker thread" in blocking
    assert "already has a deposit 'take': give each of its recordings its own local_key" \
        in twice
    assert "only an asset deposited in this session" in unknown
    assert "was given trial, subject: give one owner" in two_owners
    after = ProtocolRunner(lab, Misuse).open_session(ended)  # a session that does not run
    with pytest.raises(InvalidArgument, match=f"session {ended.id} is not running"):
        Recording("late", lab.folder / "moalab-lab.toml", parent=after).deposit()


class _Attacher(MoaStage):
    """Deposits one take and attaches it as trial 3's response and trial 4's stimulus."""

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self) -> None:
        path = self.session.data_dir / "take.wav"
        path.write_bytes(b"RIFF")
        take = Recording("take", path, extension=".wav", parent=self.session)
        take.deposit(async_=True)
        self.session.attach(take, "response", trial=3)
        self.session.attach(take, "stimulus", trial=4)
        self.session.attach(take, "best", subject=True)
        self.session.attach(take, "onset", stage=self)
        self.session.record_trial(done=True)


def test_attachments_and_the_cached_assets_a_session_used(lab, tmp_path):
    tone = tmp_path / "tone.wav"
    tone.write_bytes(b"tone")

    class Attach(Protocol):
        name, version, Args = "attach", 1, NoArgs
        assets = {"tone": CachedAsset(tone)}
        storage = LocalStorage(tmp_path / "store")

        def build_tree(self, session):
            return _Attacher(session, name="attacher")

    ended = run_session(lab, Attach)
    db, sid = lab.database, ended.id
    [take] = db.list_assets(session=sid)
    links = {(link.owner_kind, link.owner, link.name) for link in db.asset_links(asset=take.id)}
    assert links == {("session", sid, "take"), ("trial", f"{sid}/3", "response"),
                     ("trial", f"{sid}/4", "stimulus"), ("subject", "m1", "best"),
                     ("stage", f"{sid}/attacher", "onset")}
    [cached] = db.list_assets(kind="cached")
    assert cached.key == Attach.assets["tone"].key and cached.status == "stored"
    assert {(link.owner_kind, link.owner, link.name)
            for link in db.asset_links(asset=cached.id)} == {
        ("protocol", "attach", "tone"), ("session", sid, "tone")}
    run_session(lab, Attach)  # a second session: the same cached row, linked again
    assert [a.id for a in db.list_assets(kind="cached")] == [cached.id]
    assert len(db.asset_links("session", asset=cached.id)) == 2


KILLED_PROTOCOL = '''
import os, threading, time
from pathlib import Path

from moalab import MoaStage
from moalab.assets import LocalStorage, Recording
from moalab.protocol import NoArgs, Protocol

HERE = Path(__file__).parent


class StallingStorage(LocalStorage):
    """With MOALAB_TEST_STALL set, an upload's bytes come through a pipe that stops
    after half the file (the test kills the process there)."""

    def _write(self, key, source, if_absent):
        mark = os.environ.get("MOALAB_TEST_STALL")
        if not mark:
            return super()._write(key, source, if_absent)
        pipe = Path(mark).with_suffix(".fifo")
        os.mkfifo(pipe)
        data = source.read_bytes()

        def feed():
            with open(pipe, "wb") as writer:
                writer.write(data[: len(data) // 2])
                writer.flush()
                Path(mark).touch()
                time.sleep(600)

        threading.Thread(target=feed, daemon=True).start()
        return super()._write(key, pipe, if_absent)


class Take(MoaStage):
    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self):
        for name in ("take", "gone"):
            path = self.session.data_dir / f"{name}.bin"
            path.write_bytes(os.urandom(2 << 20))
            Recording(name, path, extension=".bin", parent=self.session).deposit(
                async_=True, delete_input=True)
        self.session.record_trial(done=True)


class Killed(Protocol):
    name, version, Args = "killed", 1, NoArgs
    storage = StallingStorage(HERE / "store")

    def build_tree(self, session):
        return Take(session, name="take")
'''


def test_kill_9_mid_deposit_then_the_next_run_retries_it(lab, tmp_path, capsys):
    protocol_file = tmp_path / "killed.py"
    protocol_file.write_text(textwrap.dedent(KILLED_PROTOCOL))
    mark = tmp_path / "stalled"
    child = subprocess.Popen(
        [*command("moalab"), "session", "run", str(protocol_file), "--subject", "m1",
         "--dry-run", "--lab", str(lab.folder)],
        env={**env(), "MOALAB_TEST_STALL": str(mark)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    partial = tmp_path / "store" / LocalStorage.PARTIAL
    try:
        def half_written():
            return mark.exists() and any(
                f.stat().st_size >= 1 << 20 for f in partial.glob("*"))
        wait_until(lambda: half_written() or child.poll() is not None, 60, "a stalled upload")
        assert child.poll() is None, child.stdout.read()
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()

    db = lab.database
    [killed] = db.list_sessions()
    pending = db.list_assets(session=killed.id)
    assert [(a.local_key, a.status) for a in pending] == [("take", "pending"),
                                                          ("gone", "pending")]
    store = LocalStorage(tmp_path / "store")
    assert store.list() == []  # the half-written upload was never taken as a key
    assert moalab_main(["session", "show", killed.id, "--lab", str(lab.folder)]) == 0
    assert ("status: interrupted, 2 deposits pending (its run was killed: retried when the "
            "protocol next runs)") in capsys.readouterr().out

    take = lab.session_folder(killed.id) / "take.bin"
    content = take.read_bytes()
    (lab.session_folder(killed.id) / "gone.bin").unlink()
    # the protocol's next session (its store no longer stalling) retries them
    ended = run_session(lab, load_protocol(str(protocol_file), base=Protocol))
    assert ended.status == "submitted" and ended.failed_deposits == 0
    retried = {a.local_key: a for a in db.list_assets(session=killed.id)}
    assert retried["take"].status == "deposited"
    assert store._path(retried["take"].key).read_bytes() == content
    assert not take.exists()  # deleted once deposited
    assert retried["gone"].status == "failed"
    assert retried["gone"].error.startswith("InvalidArgument: input file gone")
    shown = db.get_session(killed.id)
    assert (shown.status, shown.pending_deposits, shown.failed_deposits) == (
        "interrupted", 0, 1)
