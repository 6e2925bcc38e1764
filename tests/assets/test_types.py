"""Asset types: their keys, and ensure storing each once, on real LocalStorage folders
and S3Storage against moto's server."""

import functools

import pytest

from moalab.assets import (
    CachedAsset,
    CachedFunctionAsset,
    ExperimentAsset,
    ExternalAsset,
    ExternalS3Asset,
    FastFunctionAsset,
    LocalStorage,
    Recording,
)
from moalab.core.errors import InvalidArgument
from tests.assets.counting import CountingStorage


def write_tone(path, freq, seconds=1.0):
    path.write_bytes(f"tone {freq} Hz {seconds} s".encode())


def stimuli(folder, names=("a.wav", "b.wav")):
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(name.encode())
    return folder


def test_a_cached_file_is_keyed_by_its_content_not_its_name(tmp_path):
    (tmp_path / "one.wav").write_bytes(b"beep")
    (tmp_path / "two.wav").write_bytes(b"beep")
    (tmp_path / "three.wav").write_bytes(b"boop")
    one, two, three = (CachedAsset(tmp_path / f"{n}.wav") for n in ("one", "two", "three"))
    assert one.key == two.key != three.key
    assert one.key.startswith("cached/") and one.key.endswith(".wav")
    assert "CachedAsset" in repr(one) and one.key in repr(one)


def test_renaming_a_file_in_a_cached_folder_changes_its_key(tmp_path):
    folder = CachedAsset(stimuli(tmp_path / "set"))
    before = folder.key
    (tmp_path / "set" / "b.wav").rename(tmp_path / "set" / "c.wav")
    assert folder.key != before and folder.extension == ""


def test_a_missing_cached_file_is_refused_when_keyed_and_its_repr_says_so(tmp_path):
    asset = CachedAsset(tmp_path / "gone.wav")
    with pytest.raises(InvalidArgument, match="gone.wav"):
        asset.content_key()
    assert "unknown" in repr(asset)


def test_a_function_asset_key_covers_arguments_version_and_code():
    same = CachedFunctionAsset(write_tone, ".wav", freq=440)
    assert same.key == CachedFunctionAsset(write_tone, ".wav", freq=440).key
    assert same.key != CachedFunctionAsset(write_tone, ".wav", freq=880).key
    assert same.key != CachedFunctionAsset(write_tone, ".wav", version=2, freq=440).key
    assert same.key != CachedFunctionAsset(write_tone, ".flac", freq=440).key
    # keyword order does not matter: canonical JSON
    assert (CachedFunctionAsset(write_tone, ".wav", freq=1, seconds=2).key ==
            CachedFunctionAsset(write_tone, ".wav", seconds=2, freq=1).key)


def test_editing_a_function_body_gives_a_new_key():
    def make(path, freq):
        path.write_bytes(b"%d" % freq)

    first = CachedFunctionAsset(make, ".wav", freq=1).key

    def make(path, freq):
        path.write_bytes(b"%d Hz" % freq)

    edited = CachedFunctionAsset(make, ".wav", freq=1).key

    def make(path, freq):
        def inner():
            return 2
        path.write_bytes(b"%d" % (freq * inner()))

    nested = CachedFunctionAsset(make, ".wav", freq=1).key

    def make(path, freq):
        def inner():
            return 3
        path.write_bytes(b"%d" % (freq * inner()))

    assert len({first, edited, nested, CachedFunctionAsset(make, ".wav", freq=1).key}) == 4


def test_editing_a_default_argument_gives_a_new_key():
    def make(path, freq=440):
        path.write_bytes(b"%d" % freq)

    first = CachedFunctionAsset(make, ".wav").key

    def make(path, freq=880):  # the same function, another default
        path.write_bytes(b"%d" % freq)

    assert CachedFunctionAsset(make, ".wav").key != first


def test_arguments_that_are_not_json_are_refused_by_name(tmp_path):
    with pytest.raises(InvalidArgument, match=r"argument folder=PosixPath.*not JSON"):
        CachedFunctionAsset(write_tone, ".wav", freq=1, folder=tmp_path)
    with pytest.raises(InvalidArgument, match="argument freq=nan"):
        CachedFunctionAsset(write_tone, ".wav", freq=float("nan"))
    with pytest.raises(InvalidArgument, match="extension 'wav'"):
        CachedFunctionAsset(write_tone, "wav", freq=1)
    with pytest.raises(InvalidArgument, match="no Python code"):
        CachedFunctionAsset(print, ".txt")
    with pytest.raises(InvalidArgument, match="no Python code"):
        CachedFunctionAsset(functools.partial(write_tone, freq=1), ".txt")


def test_ensure_puts_once_and_a_second_ensure_transfers_nothing(tmp_path):
    storage = CountingStorage(tmp_path / "store")
    (tmp_path / "tone.wav").write_bytes(b"beep")
    assets = [CachedAsset(tmp_path / "tone.wav"), CachedAsset(stimuli(tmp_path / "set")),
              CachedFunctionAsset(write_tone, ".wav", freq=440)]
    keys = [asset.ensure(storage) for asset in assets]
    assert storage.writes == 4  # a file, a folder's two, a made file
    assert [asset.ensure(storage) for asset in assets] == keys
    assert storage.writes == 4
    assert storage.list(keys[1]) == ["a.wav", "b.wav"]
    got = tmp_path / "got.wav"
    storage.get(keys[2], got)
    assert got.read_bytes() == b"tone 440 Hz 1.0 s"


def test_a_function_runs_only_when_its_key_is_missing(tmp_path):
    calls = []

    def make(path):
        calls.append(path)
        path.write_text("made")

    storage = LocalStorage(tmp_path / "store")
    asset = CachedFunctionAsset(make, ".txt")
    asset.ensure(storage)
    asset.ensure(storage)
    assert len(calls) == 1 and not calls[0].exists()  # made in a temporary folder, removed


def test_a_function_that_writes_nothing_is_named(tmp_path):
    with pytest.raises(InvalidArgument, match="wrote nothing"):
        CachedFunctionAsset(lambda path: None, ".txt").ensure(LocalStorage(tmp_path))


def test_a_half_stored_folder_is_completed(tmp_path):
    storage = CountingStorage(tmp_path / "store")
    asset = CachedAsset(stimuli(tmp_path / "set"))
    key = asset.ensure(storage)
    storage.delete(f"{key}/b.wav")
    storage.writes = 0
    asset.ensure(storage)
    assert storage.writes == 1 and storage.list(key) == ["a.wav", "b.wav"]


def test_ensure_on_s3_puts_once(s3_endpoint, tmp_path):
    from tests.assets.conftest import s3_storage

    storage = s3_storage(s3_endpoint, "types-ensure")
    (tmp_path / "tone.wav").write_bytes(b"beep")
    asset = CachedAsset(tmp_path / "tone.wav")
    key = asset.ensure(storage)
    assert storage.exists(key)
    storage.put = None  # a second ensure must not put: calling it would fail
    assert asset.ensure(storage) == key


def test_fast_function_assets_are_made_each_time_never_stored(tmp_path):
    counter = iter(range(10))

    def make(path):
        path.write_text(str(next(counter)))

    asset = FastFunctionAsset(make, ".txt")
    assert asset.key is None and asset.ensure(LocalStorage(tmp_path / "store")) is None
    assert asset.make(tmp_path, "n").read_text() == "0"
    assert asset.make(tmp_path, "n").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.txt"]


def test_external_assets_are_referenced_not_managed(tmp_path):
    web = ExternalAsset("https://example.org/tone.wav", ".wav")
    s3 = ExternalS3Asset("my-stimuli", "sets/tone 1.wav")
    assert web.url() == "https://example.org/tone.wav"
    assert s3.url() == "https://my-stimuli.s3.amazonaws.com/sets/tone%201.wav"
    assert web.ensure(LocalStorage(tmp_path)) is None and s3.key is None
    with pytest.raises(InvalidArgument, match="absolute URL"):
        ExternalAsset("tone.wav")
    with pytest.raises(InvalidArgument, match=r"'\.\.' part"):
        ExternalS3Asset("my-stimuli", "../x")


def test_a_recording_keeps_and_checks_its_fields(tmp_path):
    take = tmp_path / "take.wav"
    take.write_bytes(b"...")
    recording = Recording(local_key="response", input_path=take, extension=".wav",
                          parent="trial-1", personal=True)
    assert isinstance(recording, ExperimentAsset)
    assert (recording.local_key, recording.input_path, recording.extension, recording.parent,
            recording.personal) == ("response", take, ".wav", "trial-1", True)
    with pytest.raises(InvalidArgument, match="input_path .*gone.wav"):
        Recording(local_key="response", input_path=tmp_path / "gone.wav", extension=".wav")
    with pytest.raises(InvalidArgument, match="local_key 'a/b'"):
        Recording(local_key="a/b", input_path=take, extension=".wav")
    with pytest.raises(InvalidArgument, match="personal='yes'"):
        Recording(local_key="r", input_path=take, extension=".wav", personal="yes")
