"""`moalab export`: the command as a real process on a lab made in process, its summary,
and bad input (in process: each process costs 1.5 s of imports)."""

import json

import pytest

from moalab.cli.main import main
from tests.export.conftest import made  # noqa: F401 - the fixture

from .helpers import run


def test_the_command_exports_the_lab_and_prints_a_summary(made, tmp_path):  # noqa: F811
    out = tmp_path / "export"
    result = run("moalab", "export", out, "--assets", "all", "--lab", made.lab.folder, "--json",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["folder"] == str(out)
    assert f"rat-1/{made.rat}/response.wav" in summary["written"]
    assert "protocols/mock/tone.wav" in summary["written"]
    assert summary["missing"] == [f"rat-1/{made.rat}/late", f"rat-1/{made.rat}/lost"]
    assert (out / "trials.csv").is_file() and (out / "manifest.json").is_file()


def test_exporting_again_says_nothing_was_written(made, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "export"
    args = ["export", str(out), "--anonymous", "--lab", str(made.lab.folder)]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0
    shown = capsys.readouterr().out
    assert "0 files written, 11 unchanged, 0 removed" in shown
    assert "1 personal asset(s) left out" in shown
    assert "2 asset(s) not exported" in shown and f"rat-1/{made.rat}/late" in shown


def test_bad_input_is_named_with_the_fix(made, tmp_path, capsys):  # noqa: F811
    file = tmp_path / "a-file"
    file.write_text("x")
    assert main(["export", str(file), "--lab", str(made.lab.folder)]) == 2
    assert "is a file: give a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["export", str(tmp_path / "new"), "--assets", "recordings"])
    assert exited.value.code == 2
    assert "invalid choice: 'recordings' (choose from" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "new"), "--lab", str(tmp_path)]) == 2
    assert "is not a lab" in capsys.readouterr().err


def test_an_nwb_export_takes_a_unique_start_of_the_session_id(made, tmp_path, capsys):  # noqa: F811
    pytest.importorskip("pynwb", reason="pynwb is not installed (pip install -e '.[data]')")
    out = tmp_path / "rat.nwb"
    assert main(["export", "--nwb", made.rat[:6], str(out),
                 "--lab", str(made.lab.folder)]) == 0
    assert f"session {made.rat!r} exported to {out}" in capsys.readouterr().out
