"""InheritedAssets: a follow-up protocol in another lab uses an earlier export's
recordings and stimuli by their keys; missing keys and folders that are no export are
named."""

import json

import pytest
import trio
import trio.testing

import moalab
from moalab import MoaStage
from moalab.assets import CachedAsset
from moalab.core.errors import InvalidArgument
from moalab.export import InheritedAssets, NotAnExport, UnknownExportKey, export_lab
from moalab.protocol import Protocol, ProtocolRunner
from moalab.store import Lab


class _Rate(MoaStage):
    """Records the bytes of each inherited asset, as a rating trial would play them."""

    def __init__(self, session, **kwargs):
        super().__init__(**kwargs)
        self.session = session

    async def do_trial(self):
        self.session.record_trial(**{name: path.read_bytes().decode()
                                     for name, path in sorted(self.session.assets.items())})


@pytest.fixture
def exported(made, tmp_path):
    out = tmp_path / "export"
    export_lab(made.lab, out, assets="all")
    return out


def test_a_follow_up_protocol_uses_an_earlier_exports_assets_by_key(made, exported, tmp_path):
    inherited = InheritedAssets(exported)
    assert moalab.InheritedAssets is InheritedAssets
    assert list(inherited.keys()) == sorted([
        f"Jane Doe/{made.person}/response", f"rat-1/{made.rat}/face",
        f"rat-1/{made.rat}/response", "protocols/mock/tone"])
    take = inherited[f"rat-1/{made.rat}/response"]
    assert isinstance(take, CachedAsset) and take.extension == ".wav"
    assert take.path == exported / f"rat-1/{made.rat}/response.wav"

    class Ratings(Protocol):
        name = "ratings"
        assets = {"take": take, "tone": inherited["protocols/mock/tone"]}

        def build_tree(self, session):
            return MoaStage(name="ratings", stages=[_Rate(session, name="rate")])

    follow_up = Lab.init(tmp_path / "follow-up")
    try:
        follow_up.database.add_subject("rater-1", species="human")
        runner = ProtocolRunner(follow_up, Ratings)
        ended = trio.run(runner.run_session, runner.create_session("rater-1"),
                         clock=trio.testing.MockClock(autojump_threshold=0))
        assert ended.status == "submitted", ended.error
        (trial,) = follow_up.database.list_trials(ended.id)
        assert trial.values == {"take": "RIFF response of rat-1", "tone": "RIFF a 440 Hz tone"}
        # stored in the follow-up lab like any stimulus, under its content's key
        assert runner.storage.exists(take.key)
    finally:
        follow_up.close()


def test_a_missing_key_names_the_export_and_close_keys(made, exported):
    inherited = InheritedAssets(exported)
    with pytest.raises(UnknownExportKey, match="did you mean") as raised:
        inherited[f"rat-1/{made.rat}/respons"]
    assert isinstance(raised.value, KeyError)
    assert str(exported) in str(raised.value) and f"rat-1/{made.rat}/response" in str(
        raised.value)
    assert inherited.get("nothing/like/it") is None
    assert "nothing/like/it" not in inherited
    with pytest.raises(UnknownExportKey, match="was pending when exported"):
        inherited[f"rat-1/{made.rat}/late"]
    (exported / f"rat-1/{made.rat}/face.mp4").unlink()
    with pytest.raises(InvalidArgument, match="is gone; export again"):
        inherited[f"rat-1/{made.rat}/face"]


def test_a_folder_that_is_not_an_export_is_refused_naming_the_fix(exported, tmp_path):
    with pytest.raises(NotAnExport, match="has no manifest.json; give the folder"):
        InheritedAssets(tmp_path)
    with pytest.raises(NotAnExport, match="it is a file"):
        InheritedAssets(exported / "trials.csv")
    with pytest.raises(NotAnExport, match="it is missing"):
        InheritedAssets(tmp_path / "nowhere")
    (exported / "manifest.json").write_text(json.dumps({"format": "psynet"}))
    with pytest.raises(NotAnExport, match="has format 'psynet'"):
        InheritedAssets(exported)
    (exported / "manifest.json").write_text("{not json")
    with pytest.raises(NotAnExport, match="cannot be read"):
        InheritedAssets(exported)
