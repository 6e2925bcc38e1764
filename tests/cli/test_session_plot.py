"""`moalab session plot ID OUT.png` as a real process on a real SQLite lab; bad input in
process (each process costs 1.5 s of imports, matplotlib's more)."""

import importlib.util

import numpy as np
import pytest
from PIL import Image

from moalab.store import Lab
from tests.conftest import require
from tests.export.conftest import run_mock_session

from .helpers import no_traceback, run, run_in_process


@pytest.fixture(autouse=True)
def _matplotlib():
    require(importlib.util.find_spec("matplotlib") is not None,
            "matplotlib is not installed (pip install -e '.[data]')")


@pytest.fixture
def lab(tmp_path):
    """A lab with a MockProtocol session of 4 trials run in process: (its folder, the session id)."""
    made = Lab.init(tmp_path / "lab")
    made.database.add_subject("rat-1", species="rat")
    session = run_mock_session(made, "rat-1", 4)
    made.close()
    return tmp_path / "lab", session


def test_a_session_is_drawn_into_a_png(lab):
    folder, session = lab
    result = run("moalab", "session", "plot", session, "picture.png", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "picture.png" in result.stdout
    pixels = np.asarray(Image.open(folder / "picture.png").convert("L"))
    assert pixels.shape[1] == 1000 and (pixels < 128).mean() > 0.005


@pytest.mark.parametrize("args, problem", [
    (["nosuchsession", "picture.png"], "nosuchsession"),
    (["{session}", "picture.pdf"], "picture.pdf"),
])
def test_bad_input_names_the_problem_without_a_traceback(lab, args, problem):
    folder, session = lab
    result = run_in_process("moalab", "session", "plot",
                            *(a.format(session=session) for a in args), cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert problem in result.stderr and no_traceback(result), result.stderr
    assert not list(folder.glob("picture.*"))
