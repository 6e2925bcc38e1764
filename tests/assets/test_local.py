"""prepare_assets: a protocol's assets as local copies, fetched once; and a session run
through ProtocolRunner (a real lab, a dry run) seeing them."""

import time
from typing import ClassVar

import pytest
import trio
import trio.testing

from moalab import MoaStage
from moalab.assets import (
    CachedAsset,
    CachedFunctionAsset,
    ExternalAsset,
    FastFunctionAsset,
    Recording,
    local,
    prepare_assets,
)
from moalab.core.errors import InvalidArgument
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab
from tests.assets.conftest import s3_storage
from tests.assets.counting import CountingStorage


def make_tone(path, freq):
    path.write_bytes(b"RIFF tone %d" % freq)


def assets_in(folder):
    folder.mkdir()
    (folder / "beep.wav").write_bytes(b"beep")
    (folder / "set").mkdir()
    (folder / "set" / "a.png").write_bytes(b"a")
    (folder / "set" / "b.png").write_bytes(b"b")
    return {"beep": CachedAsset(folder / "beep.wav"), "set": CachedAsset(folder / "set"),
            "tone": CachedFunctionAsset(make_tone, ".wav", freq=440),
            "web": ExternalAsset("https://example.org/x.wav")}


def test_a_second_prepare_transfers_nothing(tmp_path):
    assets = assets_in(tmp_path / "src")
    storage, cache = CountingStorage(tmp_path / "store"), tmp_path / "cache"
    paths = prepare_assets(assets, storage, cache)
    assert sorted(paths) == ["beep", "set", "tone"]  # the external one has no local copy
    assert paths["beep"].read_bytes() == b"beep"
    assert sorted(p.name for p in paths["set"].iterdir()) == ["a.png", "b.png"]
    assert paths["tone"].read_bytes() == b"RIFF tone 440"
    assert (storage.writes, storage.reads) == (4, 4)
    assert prepare_assets(assets, storage, cache) == paths
    assert (storage.writes, storage.reads) == (4, 4)


def test_a_corrupted_or_deleted_local_copy_is_fetched_again(tmp_path):
    assets = assets_in(tmp_path / "src")
    storage, cache = CountingStorage(tmp_path / "store"), tmp_path / "cache"
    paths = prepare_assets(assets, storage, cache)
    paths["beep"].write_bytes(b"boop")  # same size: only a hash tells
    (paths["set"] / "a.png").unlink()
    reads = storage.reads
    again = prepare_assets(assets, storage, cache)
    assert again["beep"].read_bytes() == b"beep"
    assert (again["set"] / "a.png").read_bytes() == b"a"
    assert storage.reads == reads + 3  # the file, and the folder's two files


def test_fast_function_assets_are_made_at_each_prepare(tmp_path):
    made = []

    def make(path):
        made.append(path)
        path.write_text(str(len(made)))

    storage = CountingStorage(tmp_path / "store")
    for expected in ("1", "2"):
        paths = prepare_assets({"n": FastFunctionAsset(make, ".txt")}, storage, tmp_path / "c")
        assert paths["n"].read_text() == expected
    assert storage.writes == 0


def test_bad_assets_are_refused_by_name(tmp_path):
    storage = CountingStorage(tmp_path / "store")
    with pytest.raises(InvalidArgument, match=r"assets\['tone'\] = 'tone.wav'"):
        prepare_assets({"tone": "tone.wav"}, storage, tmp_path / "cache")
    with pytest.raises(InvalidArgument, match="asset name 'a/b'"):
        prepare_assets({"a/b": FastFunctionAsset(make_tone, ".wav", freq=1)}, storage,
                       tmp_path / "cache")
    take = tmp_path / "take.wav"
    take.write_bytes(b"")
    with pytest.raises(InvalidArgument, match="made during one"):
        prepare_assets({"r": Recording(local_key="r", input_path=take)}, storage,
                       tmp_path / "cache")


def test_on_s3_a_second_prepare_transfers_nothing(s3_endpoint, tmp_path):
    assets = assets_in(tmp_path / "src")
    storage, cache = s3_storage(s3_endpoint, "local-prepare"), tmp_path / "cache"
    paths = prepare_assets(assets, storage, cache)
    assert paths["tone"].read_bytes() == b"RIFF tone 440"
    assert storage.list(assets["set"].key) == ["a.png", "b.png"]
    # nothing may be written or read again: both fail if called
    storage.put = storage.get = None
    assert prepare_assets(assets, storage, cache) == paths


def test_many_assets_are_checked_by_one_listing_not_one_request_each(s3_endpoint, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(local, "LIST_FROM", 2)
    assets = assets_in(tmp_path / "src")
    storage, cache = s3_storage(s3_endpoint, "local-listed"), tmp_path / "cache"
    paths = prepare_assets(assets, storage, cache)
    storage.exists = storage.put = storage.get = None
    assert prepare_assets(assets, storage, cache) == paths


def test_checking_1000_current_files_takes_well_under_a_second(tmp_path):
    (tmp_path / "src").mkdir()
    assets = {}
    for i in range(1000):
        path = tmp_path / "src" / f"s{i}.wav"
        path.write_bytes(i.to_bytes(4, "big") * 1024)  # 4 KiB each
        assets[f"s{i}"] = CachedAsset(path)
    storage, cache = CountingStorage(tmp_path / "store"), tmp_path / "cache"
    prepare_assets(assets, storage, cache)
    reads, writes = storage.reads, storage.writes
    start = time.perf_counter()
    prepare_assets(assets, storage, cache)
    elapsed = time.perf_counter() - start
    print(f"checking 1,000 current 4 KiB files: {elapsed * 1000:.0f} ms")
    assert (storage.reads, storage.writes) == (reads, writes) == (1000, 1000)
    assert elapsed < 1.0


class Tone(Protocol):
    name = "tone"
    assets: ClassVar = {"tone": CachedFunctionAsset(make_tone, extension=".wav", freq=440)}
    seen: ClassVar[list] = []

    def build_tree(self, session):
        path = session.assets["tone"]
        type(self).seen.append((path, path.read_bytes()))
        return MoaStage(name="main")


def test_a_session_sees_its_protocols_assets_as_local_files(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("rat-1", species="rat", sex="F")
        runner = ProtocolRunner(lab, Tone)
        for _ in range(2):
            info = runner.create_session("rat-1")
            ended = trio.run(runner.run_session, info,
                             clock=trio.testing.MockClock(autojump_threshold=0))
            assert ended.status == "submitted", ended.error
        (first, data), second = Tone.seen
        assert data == b"RIFF tone 440" and second == (first, data)
        assert first.is_relative_to(lab.cache_folder)
        assert lab.asset_folder.joinpath(Tone.assets["tone"].key).is_file()
    finally:
        lab.close()
