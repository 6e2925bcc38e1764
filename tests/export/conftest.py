"""A lab made in process for the export tests: subjects (one with a personal name),
sessions of MockProtocol run in virtual time, and assets in the lab's LocalStorage
recorded as the deposits and the runner record them (Database methods)."""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing

from moalab.assets import cached_key, open_storage
from moalab.protocol import MockProtocol, ProtocolRunner
from moalab.store import Lab


@dataclass
class LabFixture:
    lab: Lab
    rat: str = ""
    """The session of rat-1 (with recordings)."""
    person: str = ""
    """The session of the participant whose name is personal."""
    files: dict[str, bytes] = field(default_factory=dict)
    """Each deposited asset's bytes by its export key."""

    @property
    def storage(self):
        return open_storage(self.lab.config.asset_storage, self.lab.folder)

    def deposit(self, session: str, local_key: str, content: bytes, extension: str,
                personal: bool = False, status: str = "deposited") -> None:
        """Deposit ``content`` as a session's recording, as a deposit does: its row
        pending, the file stored, the row ended (left pending, or failed)."""
        key = f"experiment/{session}/{local_key}{extension}"
        source = self.lab.folder / f"{local_key}{extension}"
        source.write_bytes(content)
        info = self.lab.database.add_deposit(session, local_key, key, extension, personal,
                                             str(source), False)
        self.lab.database.link_asset(info.id, "session", session, local_key)
        if status == "pending":
            return
        if status == "failed":
            self.lab.database.end_deposit(info.id, "failed", error="OSError: disk full")
            return
        self.storage.put(key, source)
        self.lab.database.end_deposit(info.id, "deposited",
                                      sha256=hashlib.sha256(content).hexdigest(),
                                      size=len(content))

    def stimulus(self, protocol: str, name: str, content: bytes, extension: str) -> str:
        """Store ``content`` as protocol ``protocol``'s cached asset ``name``, as the
        runner records a protocol's assets; return its key."""
        key = cached_key(hashlib.sha256(content).hexdigest(), extension)
        source = self.lab.folder / f"stimulus{extension}"
        source.write_bytes(content)
        self.storage.put(key, source, if_absent=True)
        info = self.lab.database.record_asset(key, "cached", extension)
        self.lab.database.link_asset(info.id, "protocol", protocol, name)
        return key


def run_mock_session(lab: Lab, subject: str, n_trials: int) -> str:
    runner = ProtocolRunner(lab, MockProtocol)
    info = runner.create_session(subject, [f"n_trials={n_trials}", "trial_duration=0.5"])
    ended = trio.run(runner.run_session, info,
                     clock=trio.testing.MockClock(autojump_threshold=0))
    assert ended.status == "submitted", ended.error
    return ended.id


@pytest.fixture
def made(tmp_path: Path) -> LabFixture:
    """rat-1 (its dob and notes personal) with a session of 3 trials and recordings
    (a response, a personal face video, one pending, one failed); Jane Doe (her name
    personal) with a session of 2 trials and a response; a protocol stimulus."""
    lab = Lab.init(tmp_path / "lab")
    db = lab.database
    db.add_subject("rat-1", species="rat", sex="F", dob="2026-09-01", notes="tail mark",
                   personal=["dob", "notes"])
    db.add_subject("Jane Doe", species="human", sex="F", personal=["name"])
    db.grant("rat-1", "mock-trained", 1)
    fixture = LabFixture(lab)
    fixture.rat = run_mock_session(lab, "rat-1", 3)
    fixture.person = run_mock_session(lab, "Jane Doe", 2)
    for session, local_key, content, extension, personal, status in (
            (fixture.rat, "response", b"RIFF response of rat-1", ".wav", False, "deposited"),
            (fixture.rat, "face", b"a face video", ".mp4", True, "deposited"),
            (fixture.rat, "late", b"still uploading", ".wav", False, "pending"),
            (fixture.rat, "lost", b"never uploaded", ".wav", False, "failed"),
            (fixture.person, "response", b"RIFF response of Jane", ".wav", False,
             "deposited")):
        fixture.deposit(session, local_key, content, extension, personal, status)
    tone = fixture.stimulus("mock", "tone", b"RIFF a 440 Hz tone", ".wav")
    # rat-1's trial 2 played the tone and recorded the response
    response = db.list_assets(session=fixture.rat)[0]
    db.link_asset(response.id, "trial", f"{fixture.rat}/2", "response")
    db.link_asset(db.record_asset(tone, "cached", ".wav").id, "trial", f"{fixture.rat}/2",
                  "stimulus")
    yield fixture
    lab.close()
