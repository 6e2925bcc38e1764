"""Content hashes: what a folder's hash covers, content keys, and their speed."""

import hashlib
import os
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moalab.assets import content_key, file_sha256, folder_entries, folder_sha256
from moalab.core.errors import InvalidArgument

# names of files in a folder: short, distinct, valid on any file system
NAMES = st.lists(st.text("abcdefgh0123", min_size=1, max_size=6), min_size=1, max_size=8,
                 unique=True)
CONTENTS = st.binary(max_size=64)
SETTINGS = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def make_folder(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_file_sha256_is_the_sha256_of_the_bytes(tmp_path):
    data = os.urandom(3 << 20)
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_read_once_and_an_edited_one_again(tmp_path):
    path = tmp_path / "tone.wav"
    path.write_bytes(b"a" * 1000)
    opened = []
    # audit hooks cannot be removed: this one only counts reads of this test's file
    sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open"
                     and args[0] == str(path) and "r" in str(args[1]) else None)
    first = file_sha256(path)
    assert file_sha256(path) == first and len(opened) == 1
    time.sleep(0.02)  # past the file system's timestamp granularity
    mtime = path.stat().st_mtime_ns
    path.write_bytes(b"b" * 1000)  # same size, and the same modification time again
    os.utime(path, ns=(mtime, mtime))
    assert file_sha256(path) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert len(opened) == 2


@SETTINGS
@given(names=NAMES, contents=st.data())
def test_folder_hash_does_not_depend_on_creation_order(tmp_path_factory, names, contents):
    files = {f"d{i % 2}/{name}": contents.draw(CONTENTS) for i, name in enumerate(names)}
    forward = make_folder(tmp_path_factory.mktemp("f") / "x", files)
    backward = make_folder(tmp_path_factory.mktemp("b") / "y", dict(reversed(files.items())))
    assert folder_sha256(forward) == folder_sha256(backward)


@SETTINGS
@given(names=NAMES, contents=st.data())
def test_folder_hash_changes_with_a_rename_a_move_and_content(tmp_path_factory, names,
                                                             contents):
    files = {name: contents.draw(CONTENTS) for name in names}
    root = make_folder(tmp_path_factory.mktemp("h") / "x", files)
    seen = {folder_sha256(root)}
    first = root / names[0]
    first.rename(root / (names[0] + "_renamed"))
    seen.add(folder_sha256(root))
    (root / "sub").mkdir()
    (root / (names[0] + "_renamed")).rename(root / "sub" / names[0])
    seen.add(folder_sha256(root))
    (root / "sub" / names[0]).write_bytes(files[names[0]] + b"!")
    seen.add(folder_sha256(root))
    assert len(seen) == 4


def test_an_empty_folder_inside_counts(tmp_path):
    root = make_folder(tmp_path / "x", {"a.wav": b"a"})
    before = folder_sha256(root)
    (root / "empty").mkdir()
    assert folder_sha256(root) != before
    assert folder_entries(root)[1] == ["empty"]


def test_folder_hash_ignores_times_and_modes(tmp_path):
    root = make_folder(tmp_path / "x", {"a.wav": b"a", "s/b.png": b"b"})
    before = folder_sha256(root)
    os.utime(root / "a.wav", (1, 1))
    os.chmod(root / "s" / "b.png", 0o600)
    assert folder_sha256(root) == before


def test_a_file_moved_between_folders_changes_the_hash(tmp_path):
    one = make_folder(tmp_path / "1", {"a/x": b"x", "b/y": b"y"})
    two = make_folder(tmp_path / "2", {"a/y": b"y", "b/x": b"x"})
    assert folder_sha256(one) != folder_sha256(two)


def test_a_symlinked_folder_is_refused(tmp_path):
    outside = make_folder(tmp_path / "outside", {"secret": b"s"})
    root = make_folder(tmp_path / "x", {"a": b"a"})
    (root / "link").symlink_to(outside)
    with pytest.raises(InvalidArgument, match="symbolic link to a folder"):
        folder_sha256(root)


def test_content_key_is_the_same_for_the_same_content(tmp_path):
    (tmp_path / "tone.wav").write_bytes(b"RIFF")
    (tmp_path / "copy.wav").write_bytes(b"RIFF")
    key = content_key(tmp_path / "tone.wav")
    assert key == content_key(tmp_path / "copy.wav") == \
        f"cached/{hashlib.sha256(b'RIFF').hexdigest()}.wav"
    assert content_key(tmp_path / "tone.wav", extension="") == key.removesuffix(".wav")
    folder = make_folder(tmp_path / "set", {"a": b"a"})
    assert content_key(folder) == f"cached/{folder_sha256(folder)}"


@pytest.mark.parametrize("extension", ["wav", ".a/b", ". ", ".x" * 10, "./"])
def test_content_key_refuses_a_bad_extension(tmp_path, extension):
    (tmp_path / "f").write_bytes(b"f")
    with pytest.raises(InvalidArgument, match="extension"):
        content_key(tmp_path / "f", extension=extension)


def test_content_key_of_a_missing_path_is_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="neither a file nor a folder"):
        content_key(tmp_path / "missing")


def test_a_thousand_small_files_hash_well_under_a_second(tmp_path):
    root = make_folder(tmp_path / "stimuli", {f"s{i // 100}/{i}.wav": os.urandom(4096)
                                             for i in range(1000)})
    started = time.perf_counter()
    folder_sha256(root)
    folder_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for _, path in folder_entries(root)[0]:
        content_key(path)
    files_seconds = time.perf_counter() - started
    print(f"1,000 x 4 KiB files: folder_sha256 {folder_seconds * 1e3:.1f} ms, "
          f"content_key of each {files_seconds * 1e3:.1f} ms")
    # measured 25-40 ms each; the bound is loose for a shared CPU
    assert folder_seconds < 1 and files_seconds < 1
