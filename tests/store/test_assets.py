"""The lab's asset records (assets, asset_links) against a real SQLite file and a real
PostgreSQL: cached assets recorded once, a session's deposits pending -> deposited or
failed, links replaced under their name, stale deposits found after a kill."""

import os
import socket

import pytest

from moalab import InvalidArgument
from moalab.store import AssetLinkInfo, NameTaken

HOST = socket.gethostname()


@pytest.fixture
def session_id(database):
    database.add_subject("m1")
    return database.create_session("m1", "tones", 1, {}).id


def test_a_cached_asset_is_recorded_once(database):
    first = database.record_asset("cached/ab12.wav", "cached", ".wav", sha256="ab12", size=4)
    again = database.record_asset("cached/ab12.wav", "cached", ".wav")
    assert again == first and first.status == "stored" and first.size == 4
    url = database.record_asset(None, "external", ".wav", url="https://example.org/t.wav")
    assert database.record_asset(None, "external", url="https://example.org/t.wav") == url
    assert [a.id for a in database.list_assets(kind="cached")] == [first.id]
    assert len(database.list_assets(status="stored")) == 2
    with pytest.raises(InvalidArgument, match="kind 'experiment' is not accepted by "
                                              "record_asset.*add_deposit"):
        database.record_asset("experiment/x/y", "experiment")
    with pytest.raises(InvalidArgument, match="asset kind 'video' is not one of"):
        database.list_assets(kind="video")


def test_a_deposit_goes_pending_then_deposited_or_failed(database, session_id):
    key = f"experiment/{session_id}/take.wav"
    take = database.add_deposit(session_id, "take", key, ".wav", True, "/data/take.wav", True)
    assert (take.status, take.kind, take.session, take.local_key, take.key) == (
        "pending", "experiment", session_id, "take", key)
    assert (take.input_path, take.delete_input, take.personal) == ("/data/take.wav", True, True)
    assert database.asset_links(asset=take.id) == [
        AssetLinkInfo(take.id, "session", session_id, "take")]  # linked as it is made
    assert database.get_session(session_id).pending_deposits == 1
    with pytest.raises(NameTaken, match=f"session {session_id} already has a deposit "
                                        "'take': give each.*own local_key"):
        database.add_deposit(session_id, "take", key, ".wav", False, "/data/b.wav", False)

    assert database.end_deposit(take.id, "deposited", sha256="f" * 64, size=10) is True
    # a second end (another process's retry) changes nothing
    assert database.end_deposit(take.id, "failed", error="late") is False
    [done] = database.list_assets(session=session_id)
    assert (done.status, done.size, done.error) == ("deposited", 10, None)
    assert done.deposited is not None

    clip = database.add_deposit(session_id, "clip", f"experiment/{session_id}/clip.mp4",
                                ".mp4", False, "/data/clip.mp4", False)
    database.end_deposit(clip.id, "failed", error="StorageError: disk full")
    info = database.get_session(session_id)
    assert (info.pending_deposits, info.failed_deposits) == (0, 1)
    [failed] = database.list_assets(session=session_id, status="failed")
    assert failed.error == "StorageError: disk full"
    with pytest.raises(InvalidArgument, match="end status 'stored' is not one of "
                                              "deposited, failed"):
        database.end_deposit(clip.id, "stored")


def test_links_attach_an_asset_under_names(database, session_id):
    take = database.add_deposit(session_id, "take", f"experiment/{session_id}/take.wav",
                                ".wav", False, "/data/take.wav", False)
    other = database.record_asset("cached/cd34.wav", "cached", ".wav")
    database.link_asset(take.id, "trial", f"{session_id}/3", "response")
    database.link_asset(take.id, "trial", f"{session_id}/4", "stimulus")
    database.link_asset(other.id, "trial", f"{session_id}/4", "response")
    assert database.asset_links(asset=take.id) == [
        AssetLinkInfo(take.id, "session", session_id, "take"),
        AssetLinkInfo(take.id, "trial", f"{session_id}/3", "response"),
        AssetLinkInfo(take.id, "trial", f"{session_id}/4", "stimulus")]
    database.link_asset(take.id, "trial", f"{session_id}/4", "response")  # replaces other's
    assert [(link.asset, link.name) for link in database.asset_links(
        "trial", f"{session_id}/4")] == [(take.id, "response"), (take.id, "stimulus")]
    assert database.asset_links(asset=other.id) == []
    with pytest.raises(InvalidArgument, match="attached to a 'room': that is not one of "
                                              "protocol, stage, session, subject, trial, node"):
        database.link_asset(take.id, "room", "a", "b")
    with pytest.raises(InvalidArgument, match="no asset 9999 in this lab"):
        database.link_asset(9999, "session", session_id, "b")


def test_a_deposit_of_a_killed_session_is_stale(database, session_id):
    database.claim_session(session_id, HOST, os.getpid())
    take = database.add_deposit(session_id, "take", f"experiment/{session_id}/take.wav",
                                ".wav", False, "/data/take.wav", False)
    assert database.stale_deposits("tones") == []  # its session runs: it is not stale
    # now owned by a process of this host that is gone (as after a kill -9)
    database.end_session(session_id, "interrupted")
    database.claim_session(session_id, HOST, _dead_pid())
    assert [a.id for a in database.stale_deposits("tones")] == [take.id]
    assert database.get_session(session_id).status == "interrupted"
    assert database.stale_deposits("another-protocol") == []


def _dead_pid() -> int:
    """The pid of a process that ran and is gone."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid
