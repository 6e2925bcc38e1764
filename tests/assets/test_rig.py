"""RigStorage against a real moalab-server (its data folder a temporary one), and the
sync of a session's stimuli to a rig. The storage contract itself runs on RigStorage
in test_storage.py."""

import os
import time
from pathlib import Path

import pytest
import trio

from moalab import MoaStage
from moalab.assets import (
    AssetMissing,
    RigFolder,
    RigStorage,
    Recording,
    StorageError,
    file_sha256,
    sync_to_rig,
)
from moalab.core.errors import InvalidArgument
from moalab.core.realtime import run_in_thread
from moalab.executor import RestExecutor, ThreadExecutor, WebSocketExecutor
from moalab.executor.errors import NotAllowed
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab
from tests.assets.conftest import empty_rig_storage, rig_store_folder

MiB = 1 << 20


def random_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


class Stop(Exception):
    """Raised by a progress callback to stop an upload half way."""


def stop_after(limit: int):
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen >= limit:
            raise Stop

    return progress


def partial_of(rig_server, digest: str) -> Path:
    return rig_store_folder(rig_server) / ".moalab-partial" / f"upload-{digest}"


def test_a_20_mb_file_round_trips_by_hash_and_is_not_sent_twice(rig_client, tmp_path):
    storage = empty_rig_storage(rig_client)
    source = random_file(tmp_path / "big.bin", 20 * MiB)
    assert storage.put("big/one.bin", source) is True
    assert storage.bytes_sent == 20 * MiB
    storage.get("big/one.bin", tmp_path / "back.bin")
    assert file_sha256(tmp_path / "back.bin") == file_sha256(source)
    assert storage.hashes(["big/one.bin", "big/none"]) == {
        "big/one.bin": file_sha256(source), "big/none": None}
    assert storage.put("big/one.bin", source) is False  # the rig has this content
    assert storage.bytes_sent == 20 * MiB


def test_the_path_on_the_rig_is_the_file_the_server_wrote(rig_client, rig_server, tmp_path):
    storage = empty_rig_storage(rig_client)
    storage.put("stimuli/tone.wav", random_file(tmp_path / "tone.wav", 1000))
    on_rig = Path(storage.path("stimuli/tone.wav"))
    assert on_rig == rig_store_folder(rig_server).resolve() / "stimuli" / "tone.wav"
    assert on_rig.read_bytes() == (tmp_path / "tone.wav").read_bytes()


def stopped_upload(rig_client, tmp_path, key: str, size: int, stop: int):
    """A file of ``size`` bytes whose upload under ``key`` stopped after ``stop`` bytes:
    (its path, its SHA-256, the storage that sent it)."""
    source = random_file(tmp_path / "clip.bin", size)
    storage = empty_rig_storage(rig_client)
    with pytest.raises(Stop):
        storage.upload(key, source, progress=stop_after(stop))
    return source, file_sha256(source), storage


def test_a_stopped_upload_is_resumed_where_it_ended(rig_client, rig_server, tmp_path):
    source, digest, first = stopped_upload(rig_client, tmp_path, "clips/a.bin", 8 * MiB, 3 * MiB)
    assert not first.exists("clips/a.bin")  # a half-sent file is never under its key
    held = partial_of(rig_server, digest).stat().st_size
    assert 3 * MiB <= held < 8 * MiB
    second = rig_client.storage()
    second.upload("clips/a.bin", source)
    # only the rest went (chunks the rig took after the stop count as held)
    assert second.bytes_sent <= 8 * MiB - held
    assert second.bytes_sent < 8 * MiB - 2 * MiB
    second.get("clips/a.bin", tmp_path / "back.bin")
    assert file_sha256(tmp_path / "back.bin") == digest
    assert not partial_of(rig_server, digest).exists()


def test_a_corrupted_partial_is_not_committed(rig_client, rig_server, tmp_path):
    source, digest, storage = stopped_upload(rig_client, tmp_path, "clips/b.bin", 4 * MiB,
                                             2 * MiB)
    with open(partial_of(rig_server, digest), "r+b") as partial:
        partial.write(b"corrupted")
    with pytest.raises(StorageError, match=r"'clips/b.bin' has SHA-256 .* not .* as announced"):
        storage.upload("clips/b.bin", source)
    assert not storage.exists("clips/b.bin")
    assert not partial_of(rig_server, digest).exists()
    assert storage.put("clips/b.bin", source) is True  # from the start, whole
    storage.get("clips/b.bin", tmp_path / "back.bin")
    assert file_sha256(tmp_path / "back.bin") == digest


def test_the_rig_refuses_bad_keys_and_hashes_itself(rig_client, rig_server, tmp_path):
    # a client that skips RigStorage's own checks still cannot write outside the store
    storage = empty_rig_storage(rig_client)
    before = sorted(os.listdir(rig_server.data_dir))
    for key in ("../escape", "/etc/passwd", "a/\0b", "a/../../b"):
        with pytest.raises(InvalidArgument, match="a key is a relative POSIX path"):
            storage.call("begin", key, "0" * 64, 1)
        with pytest.raises(InvalidArgument, match="a key is a relative POSIX path"):
            storage.call("commit", key, "0" * 64)
    with pytest.raises(InvalidArgument, match="64 lowercase hex digits"):
        storage.call("write", "../../x", 0, b"x")
    with pytest.raises(InvalidArgument, match=r"size=-1 is not accepted"):
        storage.call("read", "k", 0, -1)  # would read a whole file into memory
    assert sorted(os.listdir(rig_server.data_dir)) == before
    assert storage.list() == []


def test_a_link_out_of_the_rig_folder_is_not_followed(rig_client, rig_server, tmp_path):
    storage = empty_rig_storage(rig_client)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.wav").write_bytes(b"keep me")
    store = rig_store_folder(rig_server)
    (store / "out").symlink_to(outside, target_is_directory=True)
    (store / "victim.wav").symlink_to(outside / "victim.wav")
    try:
        source = random_file(tmp_path / "f.bin", 1000)
        for key in ("out/new.wav", "victim.wav"):
            with pytest.raises(InvalidArgument, match="outside the storage folder"):
                storage.put(key, source)
            with pytest.raises(InvalidArgument, match="outside the storage folder"):
                storage.get(key, tmp_path / "got")
        assert sorted(os.listdir(outside)) == ["victim.wav"]
        assert (outside / "victim.wav").read_bytes() == b"keep me"
    finally:
        (store / "out").unlink()
        (store / "victim.wav").unlink()


async def test_a_client_cannot_choose_the_rig_folder(rig_server, tmp_path):
    folder = RigFolder(name="chosen-folder")
    folder.init_kwargs["server_data_dir"] = str(tmp_path)  # as a crafted client would
    async with WebSocketExecutor("127.0.0.1", rig_server.port) as executor:
        with pytest.raises(NotAllowed, match="'server_data_dir'.*the server gives its own "
                                             "data folder"):
            await executor.ensure_remote_instance(folder)
    assert os.listdir(tmp_path) == []
    with pytest.raises(InvalidArgument, match="chooses its own folder"):
        RigStorage(WebSocketExecutor("127.0.0.1", rig_server.port), data_dir=tmp_path)


async def test_a_folder_without_a_data_dir_names_the_flag():
    with pytest.raises(StorageError, match="--data-dir"):
        await RigFolder(name="nowhere").root()


async def test_rest_and_local_executors_reach_a_rig_folder(rig_server, tmp_path):
    source = random_file(tmp_path / "s.bin", 3 * MiB + 5)
    async with RestExecutor("127.0.0.1", rig_server.port) as executor:
        storage = RigStorage(executor)
        assert await run_in_thread(storage.put, "rest/s.bin", source) is True
        await run_in_thread(storage.get, "rest/s.bin", tmp_path / "back.bin")
        await run_in_thread(storage.delete, "rest")
        assert await run_in_thread(storage.list, "rest") == []
    assert file_sha256(tmp_path / "back.bin") == file_sha256(source)
    async with ThreadExecutor() as executor:
        storage = RigStorage(executor, data_dir=tmp_path / "data")
        assert await run_in_thread(storage.put, "local/s.bin", source) is True
        assert await run_in_thread(storage.exists, "local/s.bin")
    assert file_sha256(tmp_path / "data" / "assets" / "local" / "s.bin") == file_sha256(source)


async def test_a_blocking_call_in_the_trio_thread_is_refused(rig_server):
    async with WebSocketExecutor("127.0.0.1", rig_server.port) as executor:
        with pytest.raises(StorageError, match="run_in_thread"):
            RigStorage(executor).exists("k")


async def test_a_missing_key_is_asset_missing(rig_server, tmp_path):
    async with WebSocketExecutor("127.0.0.1", rig_server.port) as executor:
        with pytest.raises(AssetMissing, match="'no/such.wav'"):
            await run_in_thread(RigStorage(executor).get, "no/such.wav", tmp_path / "x")


# -- the sync of a session's stimuli --------------------------------------------------

def stimulus_set(cache: Path, n: int, size: int = 4096) -> dict[str, Path]:
    copies = {f"s{i}": random_file(cache / "cached" / f"s{i}.wav", size) for i in range(n)}
    folder = cache / "cached" / "set"
    for name in ("a.wav", "sub/b.wav"):
        random_file(folder / name, size)
    return {**copies, "set": folder}


def test_a_sync_sends_only_what_the_rig_lacks(rig_client, tmp_path):
    cache = tmp_path / "cache"
    copies = stimulus_set(cache, 5)
    storage = empty_rig_storage(rig_client)
    reports = []
    paths = sync_to_rig(copies, cache, storage, lambda done, total: reports.append((done, total)))
    assert storage.bytes_sent == 7 * 4096 and reports[0] == (0, 7 * 4096)
    assert reports[-1] == (7 * 4096, 7 * 4096)
    assert paths["s0"] == storage.root / "cached" / "s0.wav"
    assert paths["set"] == storage.root / "cached" / "set"
    assert storage.list("cached/set") == ["a.wav", "sub/b.wav"]

    again, reports = rig_client.storage(), []
    assert sync_to_rig(copies, cache, again, lambda *r: reports.append(r)) == paths
    assert again.bytes_sent == 0 and reports == [(0, 0)]

    random_file(cache / "cached" / "set" / "sub" / "b.wav", 1000)  # one file changed
    changed = rig_client.storage()
    sync_to_rig(copies, cache, changed)
    assert changed.bytes_sent == 1000


def test_a_thousand_current_files_are_checked_in_one_call(rig_client, tmp_path):
    cache = tmp_path / "cache"
    copies = stimulus_set(cache, 1000)
    storage = empty_rig_storage(rig_client)
    sync_to_rig(copies, cache, storage)
    check = rig_client.storage()
    started = time.perf_counter()
    sync_to_rig(copies, cache, check)
    elapsed = time.perf_counter() - started
    assert check.bytes_sent == 0
    assert check.calls <= 3  # the folder's object, its root, the hashes
    assert elapsed < 5.0, f"1,000 current files checked in {elapsed:.2f} s"  # ~0.1 s alone


def test_a_copy_outside_the_cache_is_refused(rig_client, tmp_path):
    with pytest.raises(InvalidArgument, match="is not in the cache folder"):
        sync_to_rig({"x": random_file(tmp_path / "x.wav", 10)}, tmp_path / "cache",
                    rig_client.storage())


async def test_a_cancelled_sync_leaves_the_connection_whole_and_resumes(rig_server, tmp_path):
    source = random_file(tmp_path / "clip.bin", 8 * MiB)
    async with WebSocketExecutor("127.0.0.1", rig_server.port) as executor:
        first, sent = RigStorage(executor), 0
        with trio.CancelScope() as scope:
            def progress(n: int) -> None:  # called in the trio thread
                nonlocal sent
                sent += n
                if sent >= 2 * MiB:
                    scope.cancel()

            await run_in_thread(first.upload, "clips/c.bin", source, None, progress)
        assert scope.cancelled_caught
        second = RigStorage(executor)
        await run_in_thread(second.upload, "clips/c.bin", source)
        assert second.bytes_sent <= 6 * MiB
        assert await run_in_thread(second.hashes, ["clips/c.bin"]) == {
            "clips/c.bin": file_sha256(source)}


class _RigTake(MoaStage):
    """A trial whose device, on the rig, writes a take into the session's rig folder
    (the server is on this computer: the test writes it there), deposited from it."""

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self) -> None:
        path = Path(self.session.rig_folder) / "take.bin"
        path.write_bytes(TAKE)
        Recording(local_key="take", input_path=path, extension=".bin",
                  parent=self.session).deposit(async_=True, delete_input=True)
        _RigRecordings.rigs.append((self.session.depositor.rig, path))


TAKE = os.urandom(3 * MiB)


class _RigRecordings(Protocol):
    name = "rig-recordings"
    rigs: list = []

    def build_tree(self, session):
        return _RigTake(session, name="trial")


@pytest.fixture
def rig_lab(rig_server, tmp_path):
    """A lab with the subject rat-1 and the websocket rig box-1, ``rig_server``."""
    lab = Lab.init(tmp_path / "lab")
    lab.database.add_subject("rat-1")
    lab.database.add_rig("box-1", "websocket", host="127.0.0.1", port=rig_server.port)
    yield lab
    lab.close()


def run_on_the_rig(lab, protocol):
    """Run a session of ``protocol`` for rat-1 on box-1: its runner, info and end."""
    runner = ProtocolRunner(lab, protocol)
    info = runner.create_session("rat-1", rig="box-1")
    return runner, info, trio.run(runner.run_session, info)


def test_a_recording_made_on_the_rig_is_fetched_from_it_and_deleted_there(rig_server,
                                                                         rig_lab):
    _RigRecordings.rigs = []
    runner, info, ended = run_on_the_rig(rig_lab, _RigRecordings)
    assert ended.status == "submitted" and ended.failed_deposits == 0, ended.error
    ((rig, path),) = _RigRecordings.rigs
    folder = rig_store_folder(rig_server).resolve() / "recordings" / info.id
    assert path == folder / "take.bin" and not path.exists()  # deleted on the rig
    assert rig.bytes_received == len(TAKE)  # it came over the rig's connection
    (asset,) = rig_lab.database.list_assets(info.id, kind="experiment")
    assert asset.status == "deposited"
    assert runner.storage.folder.joinpath(asset.key).read_bytes() == TAKE


class _RigTakes(MoaStage):
    """Two takes written into the session's rig folder, each deposited with
    delete_input; the second is written once the first has been deleted on the rig."""

    def __init__(self, session, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self) -> None:
        folder = Path(self.session.rig_folder)
        n = len(self.session.trials)
        if n:
            with trio.fail_after(30):
                while (folder / f"take-{n - 1}.bin").exists():  # its upload and delete
                    await trio.sleep(0.01)
        path = folder / f"take-{n}.bin"
        path.write_bytes(b"x" * 1000)
        Recording(local_key=f"take-{n}", input_path=path, extension=".bin",
                  parent=self.session).deposit(async_=True, delete_input=True)
        self.session.record_trial(n=n)


class _TwoRigTakes(Protocol):
    name = "two-rig-takes"

    def build_tree(self, session):
        return _RigTakes(session, name="take", repeat=2)


def test_deleting_a_deposited_input_keeps_the_session_rig_folder(rig_server, rig_lab):
    _, info, ended = run_on_the_rig(rig_lab, _TwoRigTakes)
    assert ended.status == "submitted" and ended.n_trials == 2, ended.error
    folder = rig_store_folder(rig_server).resolve() / "recordings" / info.id
    assert folder.is_dir() and not any(folder.iterdir())  # each take deleted, not it
    assets = rig_lab.database.list_assets(info.id, kind="experiment")
    assert sorted(a.local_key for a in assets) == ["take-0", "take-1"]
    assert {a.status for a in assets} == {"deposited"}
