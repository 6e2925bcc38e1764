"""examples/transmission_chain.py end to end with `moalab session run ... --dry-run`: a
source tone, five subjects in a Chain, each hearing its parent's output (the first the
source's 440 Hz, the others their parent's deposited recording) and producing its own,
transmitted as an Info carrying that recording; a sixth subject finds the chain full.
The first session in a real subprocess, the others in process (~1.5 s each saved)."""

import hashlib
import itertools

import pytest

from moalab.cli.main import main
from moalab.network import Chain, Source, networks
from moalab.network.imitator import tone_frequency
from moalab.store.lab import Lab
from tests.cli.helpers import EXAMPLES, run

EXAMPLE = EXAMPLES / "transmission_chain.py"
SUBJECTS = ["s1", "s2", "s3", "s4", "s5"]


@pytest.fixture
def lab(tmp_path):
    lab = Lab.init(tmp_path / "lab")
    for name in [*SUBJECTS, "s6"]:
        lab.database.add_subject(name)
    yield lab
    lab.close()


def session_run(lab: Lab, subject: str) -> list[str]:
    return ["session", "run", str(EXAMPLE), "--subject", subject, "--dry-run", "--lab",
            str(lab.folder)]


def test_transmission_chain_of_five_dry_run_sessions(lab, tmp_path, capsys):
    first = run("moalab", *session_run(lab, SUBJECTS[0]), cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "submitted after 1 trials" in first.stdout
    for subject in SUBJECTS[1:]:
        assert main(session_run(lab, subject)) == 0, capsys.readouterr().err

    (chain,) = networks(lab)
    assert isinstance(chain, Chain) and chain.full and chain.size() == 6
    source, *nodes = chain.nodes()
    assert isinstance(source, Source) and [n.participant for n in nodes] == SUBJECTS
    # each subject heard its parent's output and sang its own, off by the noise
    db = lab.database
    sessions = {s.subject: s for s in db.list_sessions()}
    trials = [db.list_trials(sessions[subject].id)[0].values for subject in SUBJECTS]
    assert trials[0]["heard"] == pytest.approx(440.0, abs=0.5)
    for parent, child in itertools.pairwise(trials):
        assert child["heard"] == pytest.approx(parent["produced"], abs=0.5)
    assert all(abs(t["produced"] - t["heard"]) > 0.5 for t in trials)
    # each node's info carries its session's deposited recording, received by the next
    for node, subject, trial in zip(nodes, SUBJECTS, trials, strict=True):
        (info,) = node.infos()
        asset = db.get_asset(info.asset_id)
        recording = lab.session_folder(sessions[subject].id) / "response.wav"
        assert (asset.session, asset.local_key, asset.status) == (
            sessions[subject].id, "response", "deposited")
        assert asset.sha256 == hashlib.sha256(recording.read_bytes()).hexdigest()
        assert info.contents == {"freq": trial["produced"]}
        assert tone_frequency(recording) == pytest.approx(trial["produced"], abs=0.5)
    assert [t.status for t in chain.transmissions()] == ["received"] * 5
    assert [(t.origin.id, t.destination.id) for t in chain.transmissions()] == list(
        zip([source.id, *(n.id for n in nodes[:-1])], [n.id for n in nodes], strict=True))

    # the chain is full: a sixth subject is refused, by name
    capsys.readouterr()
    assert main(session_run(lab, "s6")) == 2
    assert "full" in capsys.readouterr().err

    png = tmp_path / "chain.png"
    assert main(["network", "show", str(chain.id), "--lab", str(lab.folder), "--png",
                 str(png)]) == 0
    assert "6/6 nodes, full" in capsys.readouterr().out and png.stat().st_size > 10_000
