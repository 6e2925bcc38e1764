"""The storage contract, run on every back-end: a LocalStorage folder and an S3Storage
against a real S3 server (moto's) on 127.0.0.1."""

import os
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from moalab.assets import (
    AssetMissing,
    LocalStorage,
    RigStorage,
    S3Storage,
    StorageError,
    folder_sha256,
    open_storage,
)
from moalab.core.errors import InvalidArgument
from moalab.protocol import ProtocolRunner
from moalab.protocol.mock import MockProtocol
from moalab.store import Lab
from tests.assets.conftest import BUCKET, CREDENTIALS, StallingProxy, s3_storage
from tests.assets.test_keys import BAD_KEYS
from tests.conftest import repo_env


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_file_round_trips(storage, tmp_path):
    data = os.urandom(256 * 1024)
    assert storage.put("stimuli/tone.wav", write(tmp_path / "tone.wav", data)) is True
    storage.get("stimuli/tone.wav", tmp_path / "back" / "tone.wav")
    assert (tmp_path / "back" / "tone.wav").read_bytes() == data
    # get replaces what was there, and leaves no temporary file beside it
    storage.get("stimuli/tone.wav", tmp_path / "tone.wav")
    assert os.listdir(tmp_path / "back") == ["tone.wav"]


def test_a_folder_round_trips(storage, tmp_path):
    files = {"a.wav": b"a" * 1000, "deep/er/b.png": os.urandom(5000), "c": b""}
    for name, data in files.items():
        write(tmp_path / "set" / name, data)
    assert storage.put("sets/one", tmp_path / "set") is True
    assert storage.list("sets/one") == sorted(files)
    write(tmp_path / "back" / "stale", b"replaced whole")
    storage.get("sets/one", tmp_path / "back")
    assert folder_sha256(tmp_path / "back") == folder_sha256(tmp_path / "set")
    assert sorted(os.listdir(tmp_path)) == ["back", "set"]


def test_if_absent_writes_only_a_missing_key(storage, tmp_path):
    first, second = write(tmp_path / "1", b"first"), write(tmp_path / "2", b"second")
    assert storage.put("k", first, if_absent=True) is True
    assert storage.put("k", second, if_absent=True) is False
    storage.get("k", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"first"
    assert storage.put("k", second) is True
    storage.get("k", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"second"


def test_if_absent_on_a_folder_writes_its_missing_files(storage, tmp_path):
    write(tmp_path / "set" / "a", b"a")
    assert storage.put("f", tmp_path / "set", if_absent=True) is True
    assert storage.put("f", tmp_path / "set", if_absent=True) is False
    write(tmp_path / "set" / "b", b"b")
    assert storage.put("f", tmp_path / "set", if_absent=True) is True
    assert storage.list("f") == ["a", "b"]


def test_exists_never_says_present_for_a_missing_key(storage, tmp_path):
    assert not storage.exists("nothing")
    storage.put("dir/file", write(tmp_path / "f", b"x"))
    assert storage.exists("dir/file") and storage.exists("dir")
    assert not storage.exists("dir/fil") and not storage.exists("di")
    storage.delete("dir/file")
    assert not storage.exists("dir/file") and not storage.exists("dir")


def test_list_by_prefix(storage, tmp_path):
    source = write(tmp_path / "f", b"x")
    for key in ["a/1", "a/b/2", "ab/3", "c"]:
        storage.put(key, source)
    assert storage.list() == ["a/1", "a/b/2", "ab/3", "c"]
    assert storage.list("a") == ["1", "b/2"]
    assert storage.list("a/b") == ["2"]
    assert storage.list("missing") == []


def test_delete_removes_a_key_or_a_folder_and_is_idempotent(storage, tmp_path):
    write(tmp_path / "set" / "x" / "y", b"y")
    storage.put("set", tmp_path / "set")
    storage.put("keep", write(tmp_path / "k", b"k"))
    storage.delete("set")
    storage.delete("set")
    assert storage.list() == ["keep"]


def test_a_missing_key_names_the_key_and_the_back_end(storage, tmp_path):
    with pytest.raises(AssetMissing, match=r"has no object under key 'nope'") as raised:
        storage.get("nope", tmp_path / "out")
    assert repr(storage) in str(raised.value)
    assert not (tmp_path / "out").exists() and os.listdir(tmp_path) == []


def test_url(storage, tmp_path):
    storage.put("a b/c.wav", write(tmp_path / "c.wav", b"c"))
    url = storage.url("a b/c.wav")
    if isinstance(storage, RigStorage):  # a name for records, not a URL to fetch
        assert url == f"moalab-rig://{storage.host}/a b/c.wav"
    elif isinstance(storage, LocalStorage):
        assert url == (storage.folder / "a b" / "c.wav").as_uri()
        assert Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).read_bytes() == b"c"
    else:
        assert url.endswith(f"/{BUCKET}/{storage.prefix}/a%20b/c.wav")
        # an unsigned GET of a private object is refused, of a missing one not found:
        # the URL names the object
        assert httpx.get(url).status_code == 403
        assert httpx.get(storage.url("a b/missing.wav")).status_code == 404


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_keys_are_refused_before_any_io(storage, tmp_path, key):
    source = write(tmp_path / "f", b"x")
    calls = [lambda: storage.put(key, source), lambda: storage.put(key, source, if_absent=True),
             lambda: storage.get(key, tmp_path / "out"), lambda: storage.exists(key),
             lambda: storage.delete(key), lambda: storage.url(key)]
    if key:  # "" lists everything
        calls.append(lambda: storage.list(key))
    for call in calls:
        with pytest.raises(InvalidArgument, match="a key is a relative POSIX path"):
            call()
    assert storage.list() == []
    assert os.listdir(tmp_path) == ["f"]


def test_put_of_a_missing_path_names_it(storage, tmp_path):
    with pytest.raises(InvalidArgument, match=r"cannot put '.*missing' under 'k'"):
        storage.put("k", tmp_path / "missing")


def test_a_stored_name_that_is_not_a_key_is_not_listed(tmp_path):
    storage = LocalStorage(tmp_path)
    write(tmp_path / "a\\b", b"from another tool")
    storage.put("good", write(tmp_path / "source" / "f", b"f"))
    assert storage.list() == ["good", "source/f"]


def test_s3_storage_of_a_server_that_is_not_there_raises_storage_error():
    with socket.socket() as bound:  # bound, not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        storage = S3Storage(BUCKET, endpoint_url=f"http://127.0.0.1:{port}",
                            retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=1)}, **CREDENTIALS)
        with pytest.raises(StorageError, match=r"S3Storage\('moalab-assets-test'.*failed on "
                                               r"key 'k'"):
            storage.exists("k")


def test_s3_storage_of_an_unknown_bucket_raises_storage_error(s3_endpoint, tmp_path):
    # the server's 404 is about the bucket: not a missing key
    storage = S3Storage("no-such-bucket", endpoint_url=s3_endpoint, **CREDENTIALS)
    source = write(tmp_path / "f", b"x")
    for call in (lambda: storage.put("k", source), storage.list, lambda: storage.exists("k")):
        with pytest.raises(StorageError, match=r"(?s)S3Storage\('no-such-bucket'.*NoSuchBucket"):
            call()


def test_local_storage_never_writes_outside_its_folder(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    storage = LocalStorage(tmp_path / "store")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "link").symlink_to(outside)
    source = write(tmp_path / "f", b"x")
    for call in (lambda: storage.put("link/x", source), lambda: storage.put("link", source),
                 lambda: storage.get("link/x", tmp_path / "o"), lambda: storage.delete("link/x"),
                 lambda: storage.exists("link/x")):
        with pytest.raises(InvalidArgument, match="outside the storage folder"):
            call()
    assert os.listdir(outside) == []
    with pytest.raises(InvalidArgument, match="writes in progress"):
        storage.put(".moalab-partial/x", source)


# -- interrupted puts ----------------------------------------------------------------------

PUT = """
import resource
import signal
import sys
from pathlib import Path
from moalab.assets import LocalStorage, S3Storage
kind, where, key, source = sys.argv[1:5]
if sys.argv[6:]:
    # 2 MiB into its copy the writer dies (SIGXFSZ: Python ignores it, by default it
    # kills at once with no cleanup, like kill -9), or its write fails (EFBIG)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, 2 << 20))
if sys.argv[6:] == ["killed"]:
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
if kind == "local":
    storage = LocalStorage(where)
else:
    storage = S3Storage({bucket!r}, prefix="interrupted", endpoint_url=where, **{credentials!r})
storage.put(key, Path(source), if_absent=sys.argv[5] == "1")
print("finished", flush=True)
"""


def run_put(*args: str) -> subprocess.Popen:
    code = PUT.format(bucket=BUCKET, credentials=CREDENTIALS)
    return subprocess.Popen([sys.executable, "-c", code, *args], env=repo_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("if_absent", [False, True], ids=["put", "if_absent"])
@pytest.mark.parametrize("ending", ["killed", "error"])
def test_a_local_put_stopped_half_way_leaves_no_object(tmp_path, if_absent, ending):
    source = write(tmp_path / "big", os.urandom(8 << 20))
    store = tmp_path / "store"
    process = run_put("local", str(store), "rec/big", str(source), str(int(if_absent)),
                      ending)
    _, err = process.communicate(timeout=60)
    partial = [p.stat().st_size for p in (store / LocalStorage.PARTIAL).iterdir()]
    if ending == "killed":
        assert process.returncode == -signal.SIGXFSZ, err.decode()
        assert partial == [2 << 20]  # it did die half way, with no time to clean up
    else:
        assert process.returncode == 1 and b"StorageError" in err and b"rec/big" in err
        assert partial == []
    storage = LocalStorage(store)
    assert not storage.exists("rec/big") and storage.list() == []
    with pytest.raises(AssetMissing):
        storage.get("rec/big", tmp_path / "out")


@pytest.mark.parametrize("if_absent", [False, True], ids=["multipart", "if_absent"])
def test_an_s3_put_killed_half_way_leaves_no_object(s3_endpoint, tmp_path, if_absent):
    source = write(tmp_path / "big", os.urandom(24 << 20))
    host, port = urllib.parse.urlparse(s3_endpoint).netloc.split(":")
    proxy = StallingProxy((host, int(port)), limit=8 << 20)
    try:
        process = run_put("s3", f"http://127.0.0.1:{proxy.port}", "rec/big", str(source),
                          str(int(if_absent)))
        try:
            assert proxy.stalled.wait(60), "the put never sent 8 MiB"
        finally:
            process.send_signal(signal.SIGKILL)
            out, _ = process.communicate(timeout=30)
        assert b"finished" not in out
    finally:
        proxy.close()
    storage = s3_storage(s3_endpoint, "interrupted")
    assert not storage.exists("rec/big") and storage.list() == []


def test_s3_if_absent_without_conditional_put_checks_first(s3_endpoint, tmp_path):
    storage = s3_storage(s3_endpoint, "unconditional", conditional_put=False)
    assert storage.put("k", write(tmp_path / "1", b"1"), if_absent=True) is True
    assert storage.put("k", write(tmp_path / "2", b"2"), if_absent=True) is False
    storage.get("k", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"1"


# -- choosing the back-end: one line of the lab config -----------------------------------

def test_a_storage_line_names_a_folder_or_an_s3_bucket(tmp_path):
    local = open_storage("assets", tmp_path)
    assert isinstance(local, LocalStorage) and local.folder == tmp_path / "assets"
    s3 = open_storage("s3://lab-bucket/moalab/v1?endpoint_url=http://127.0.0.1:9&region=eu-west-1",
                      tmp_path)
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.endpoint_url, s3.region) == (
        "lab-bucket", "moalab/v1", "http://127.0.0.1:9", "eu-west-1")
    assert open_storage(local, tmp_path) is local


@pytest.mark.parametrize("line, named", [
    ("s3://?region=x", "names no bucket"),
    ("s3://bucket?secret_access_key=x", "unknown option(s) secret_access_key"),
    ("gs://bucket/x", "scheme 'gs'"),
    ("", "is not accepted"),
])
def test_a_bad_storage_line_is_refused_with_what_would_do(tmp_path, line, named):
    with pytest.raises(InvalidArgument, match=re.escape(named)):
        open_storage(line, tmp_path)


def test_the_lab_config_chooses_the_storage_of_its_protocols(tmp_path, s3_endpoint):
    lab = Lab.init(tmp_path / "lab")
    assert ProtocolRunner(lab, MockProtocol).storage.folder == lab.asset_folder
    config = lab.folder / "moalab-lab.toml"
    config.write_text(config.read_text().replace(
        'storage = "assets"', f'storage = "s3://{BUCKET}/labx?endpoint_url={s3_endpoint}"'))
    runner = ProtocolRunner(Lab(lab.folder), MockProtocol)
    assert isinstance(runner.storage, S3Storage) and runner.storage.prefix == "labx"


def test_a_local_delete_keeps_the_folders_above_its_key(tmp_path):
    storage = LocalStorage(tmp_path / "store")
    storage.put("recordings/s1/take.bin", write(tmp_path / "f", b"x"))
    storage.put("set", write(tmp_path / "set" / "x" / "y", b"y"))
    storage.delete("recordings/s1/take.bin")
    assert (tmp_path / "store" / "recordings" / "s1").is_dir()  # a session writes there
    storage.delete("set")  # a folder key: its folders go with it
    assert not (tmp_path / "store" / "set").exists()
    assert storage.list() == []
