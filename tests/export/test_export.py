"""export_lab on a real lab (SQLite, LocalStorage): the tree's layout, the tables, an
anonymous export, exporting again (nothing copied; an edited, deleted or changed file
copied again), a session's recordings deposited by its run, and bad input."""

import csv
import io
import json

import pytest
import trio
import trio.testing

from moalab import MoaStage
from moalab.assets import CachedAsset, Recording
from moalab.core.errors import InvalidArgument
from moalab.export import MANIFEST_NAME, export_lab
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab
from tests.assets.conftest import BUCKET, CREDENTIALS, s3_endpoint  # noqa: F401 - the fixture

from .conftest import LabFixture

DATA = {f"{table}.{form}" for table in ("subjects", "sessions", "trials", "qualifications")
        for form in ("csv", "json")} | {"README.md", MANIFEST_NAME}


def tree(folder):
    """Every file under ``folder`` by its relative path, with its bytes."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def rows(folder, name):
    return list(csv.DictReader(io.StringIO((folder / name).read_text())))


def test_the_tree_holds_the_data_and_the_assets_by_subject_session_and_key(made, tmp_path):
    out = tmp_path / "export"
    summary = export_lab(made.lab, out, assets="all")
    rat, person = made.rat, made.person
    assets = {f"rat-1/{rat}/response.wav": b"RIFF response of rat-1",
              f"rat-1/{rat}/face.mp4": b"a face video",
              f"Jane Doe/{person}/response.wav": b"RIFF response of Jane",
              "protocols/mock/tone.wav": b"RIFF a 440 Hz tone"}
    files = tree(out)
    assert set(files) == DATA | set(assets)
    assert {path: files[path] for path in assets} == assets
    assert set(summary.written) == set(files) - {MANIFEST_NAME}
    assert summary.unchanged == summary.removed == ()
    # a pending and a failed deposit are listed, not an error
    assert summary.missing == (f"rat-1/{rat}/late", f"rat-1/{rat}/lost")
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["missing"] == {f"rat-1/{rat}/late": {"status": "pending", "error": None},
                                   f"rat-1/{rat}/lost": {"status": "failed",
                                                         "error": "OSError: disk full"}}
    assert manifest["assets"][f"rat-1/{rat}/face"]["personal"] is True

    trials = rows(out, "trials.csv")
    assert [(t["subject"], t["session"], t["index"], t["correct"]) for t in trials] == [
        ("Jane Doe", person, "0", "true"), ("Jane Doe", person, "1", "false"),
        ("rat-1", rat, "0", "true"), ("rat-1", rat, "1", "false"), ("rat-1", rat, "2", "true")]
    typed = json.loads(files["trials.json"])
    assert typed[0] == {"session": person, "subject": "Jane Doe", "protocol": "mock",
                        "index": 0, "start": 0.0, "end": 0.5, "correct": True, "trial": 0}
    assert manifest["tables"]["trials"]["columns"] == {
        "session": "string", "subject": "string", "protocol": "string", "index": "integer",
        "start": "number", "end": "number", "correct": "boolean", "trial": "integer",
        "asset.response": "string", "asset.stimulus": "string"}
    # a trial's attached assets are named by their paths in the export
    assert [(t["asset.response"], t["asset.stimulus"]) for t in trials] == [("", "")] * 4 + [
        (f"rat-1/{rat}/response.wav", "protocols/mock/tone.wav")]
    assert "asset.response" not in typed[0]
    sessions = json.loads(files["sessions.json"])
    assert [(s["id"], s["subject"], s["n_trials"], s["status"]) for s in sessions] == [
        (person, "Jane Doe", 2, "submitted"), (rat, "rat-1", 3, "submitted")]
    assert sessions[1]["args"] == {"fail_at": -1, "n_trials": 3, "trial_duration": 0.5}
    assert set(sessions[1]["state_init"]) == {"token"}
    subjects = json.loads(files["subjects.json"])
    assert subjects[1] == {"name": "rat-1", "species": "rat", "sex": "F", "dob": "2026-09-01",
                           "notes": "tail mark", "personal": ["dob", "notes"]}
    assert [(q["subject"], q["name"], q["value"]) for q in rows(out, "qualifications.csv")] == [
        ("rat-1", "mock-trained", "1")]
    assert "not anonymous" in files["README.md"].decode()


def test_experiment_assets_are_the_default_and_none_exports_the_data_only(made, tmp_path):
    export_lab(made.lab, tmp_path / "experiment")
    assert set(tree(tmp_path / "experiment")) == DATA | {
        f"rat-1/{made.rat}/response.wav", f"rat-1/{made.rat}/face.mp4",
        f"Jane Doe/{made.person}/response.wav"}
    export_lab(made.lab, tmp_path / "none", assets="none")
    assert set(tree(tmp_path / "none")) == DATA


def test_an_anonymous_export_leaves_out_personal_fields_and_assets_and_says_so(made, tmp_path):
    out = tmp_path / "export"
    export_lab(made.lab, out, assets="all")
    # Jane's recording is moved to its anonymous name, not fetched again: the lab's
    # copy may go
    made.storage.delete(f"experiment/{made.person}/response.wav")
    summary = export_lab(made.lab, out, assets="all", anonymous=True)  # over the full one
    files = tree(out)
    assert set(files) == DATA | {f"rat-1/{made.rat}/response.wav",
                                 f"subject-1/{made.person}/response.wav",
                                 "protocols/mock/tone.wav"}
    assert not (out / "Jane Doe").exists()
    assert summary.left_out == 1
    assert set(summary.removed) == {f"rat-1/{made.rat}/face.mp4",
                                    f"Jane Doe/{made.person}/response.wav"}
    assert files[f"subject-1/{made.person}/response.wav"] == b"RIFF response of Jane"
    everything = b"".join(files.values())
    for personal in (b"Jane", b"2026-09-01", b"tail mark"):
        assert personal not in everything.replace(b"RIFF response of Jane", b"")
    subjects = json.loads(files["subjects.json"])
    assert [(s["name"], s["dob"], s["notes"]) for s in subjects] == [
        ("rat-1", None, None), ("subject-1", None, "")]
    assert {s["subject"] for s in rows(out, "sessions.csv")} == {"rat-1", "subject-1"}
    readme = files["README.md"].decode()
    assert "This export is anonymous" in readme and "dob (1 subject)" in readme
    manifest = json.loads(files[MANIFEST_NAME])
    assert manifest["options"]["anonymous"] is True
    assert manifest["left_out"] == {"subject_fields": {"dob": 1, "name": 1, "notes": 1},
                                    "personal_assets": 1}


def test_exporting_again_copies_only_what_changed(made, tmp_path):
    out = tmp_path / "export"
    export_lab(made.lab, out, assets="all")
    before = tree(out)
    again = export_lab(made.lab, out, assets="all")
    assert again.written == again.removed == ()
    assert len(again.unchanged) == len(before) - 1  # all but the manifest
    assert tree(out) == before  # byte for byte, no duplicates

    edited, deleted = out / f"rat-1/{made.rat}/response.wav", out / "trials.csv"
    edited.write_bytes(b"edited by hand")
    (edited.parent / ".response.wav.x1y2.part").write_bytes(b"RIFF resp")  # a killed copy
    deleted.unlink()
    made.lab.database.add_subject("rat-2", species="rat")
    made.stimulus("mock", "tone", b"RIFF a 880 Hz tone", ".wav")  # the protocol's new tone
    third = export_lab(made.lab, out, assets="all")
    # trials.json too: trial 2's stimulus, the old tone, is no longer exported
    assert set(third.written) == {f"rat-1/{made.rat}/response.wav", "trials.csv",
                                  "trials.json", "subjects.csv", "subjects.json",
                                  "protocols/mock/tone.wav"}
    files = tree(out)
    assert files[f"rat-1/{made.rat}/response.wav"] == before[f"rat-1/{made.rat}/response.wav"]
    assert "asset.stimulus" not in rows(out, "trials.csv")[-1]
    assert files["protocols/mock/tone.wav"] == b"RIFF a 880 Hz tone"
    assert not list(out.rglob("*.part"))


def test_a_deposit_done_since_is_exported_and_a_none_export_removes_the_assets(made, tmp_path):
    out = tmp_path / "export"
    export_lab(made.lab, out)
    (late,) = [a for a in made.lab.database.list_assets(status="pending")]
    made.storage.put(late.key, made.lab.folder / "late.wav")
    made.lab.database.end_deposit(late.id, "deposited")
    second = export_lab(made.lab, out)
    assert set(second.written) == {f"rat-1/{made.rat}/late.wav", "README.md"}
    assert second.missing == (f"rat-1/{made.rat}/lost",)
    third = export_lab(made.lab, out, assets="none")
    assert set(tree(out)) == DATA and len(third.removed) == 4
    assert not (out / "rat-1").exists()


def test_bad_folders_and_choices_are_refused_naming_the_fix(made, tmp_path):
    file = tmp_path / "a-file"
    file.write_text("x")
    with pytest.raises(InvalidArgument, match="is a file: give a folder"):
        export_lab(made.lab, file)
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("x")
    with pytest.raises(InvalidArgument, match="holds files but no export"):
        export_lab(made.lab, other)
    assert [p.name for p in other.iterdir()] == ["thesis.tex"]
    with pytest.raises(InvalidArgument, match="'experiment', 'all', 'none'"):
        export_lab(made.lab, tmp_path / "new", assets="recordings")
    assert not (tmp_path / "new").exists()


class _Take(MoaStage):
    """A trial that plays the tone, records a take, deposits it and attaches it as the
    trial's response, as a protocol does."""

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self):
        index = len(self.session.trials)
        path = self.session.data_dir / f"take-{index}.wav"
        path.write_bytes(self.session.assets["tone"].read_bytes() + bytes([index]))
        take = Recording(local_key=f"take-{index}", input_path=path, extension=".wav",
                         parent=self.session)
        take.deposit(async_=True, delete_input=True)
        self.session.attach(take, "response", trial=index)
        self.session.record_trial(played="tone")


def test_a_session_recorded_through_the_deposit_api_is_exported(tmp_path):
    tone = tmp_path / "tone.wav"
    tone.write_bytes(b"RIFF tone")

    class Takes(Protocol):
        name = "takes"
        assets = {"tone": CachedAsset(tone)}

        def build_tree(self, session):
            return MoaStage(name="takes", stages=[_Take(session, name="take", repeat=3)])

    lab = Lab.init(tmp_path / "lab")
    try:
        lab.database.add_subject("m1")
        runner = ProtocolRunner(lab, Takes)
        ended = trio.run(runner.run_session, runner.create_session("m1"),
                         clock=trio.testing.MockClock(autojump_threshold=0))
        assert ended.status == "submitted", ended.error
        out = tmp_path / "export"
        summary = export_lab(lab, out, assets="all")
    finally:
        lab.close()
    takes = {f"m1/{ended.id}/take-{i}.wav": b"RIFF tone" + bytes([i]) for i in range(3)}
    files = tree(out)
    assert set(files) == DATA | set(takes) | {"protocols/takes/tone.wav"}
    assert {path: files[path] for path in takes} == takes
    assert files["protocols/takes/tone.wav"] == b"RIFF tone"
    assert summary.missing == ()
    assert [t["asset.response"] for t in rows(out, "trials.csv")] == list(takes)


def test_assets_in_an_s3_storage_are_exported_from_it(
        tmp_path, s3_endpoint, monkeypatch):  # noqa: F811
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, CREDENTIALS[name.removeprefix("AWS_").lower()])
    config = Lab.init(tmp_path / "lab").folder / "moalab-lab.toml"
    config.write_text(config.read_text().replace(
        'storage = "assets"', f'storage = "s3://{BUCKET}/export-test?endpoint_url={s3_endpoint}"'))
    lab = Lab(config.parent)
    try:
        lab.database.add_subject("m1")
        session = lab.database.create_session("m1", "p", 1, {})
        LabFixture(lab).deposit(session.id, "take", b"a take in S3", ".wav")
        out = tmp_path / "export"
        first, second = export_lab(lab, out), export_lab(lab, out)
    finally:
        lab.close()
    assert not (lab.asset_folder / "experiment").exists()  # it was S3's, not a folder's
    assert (out / "m1" / session.id / "take.wav").read_bytes() == b"a take in S3"
    assert f"m1/{session.id}/take.wav" in first.written and second.written == ()
