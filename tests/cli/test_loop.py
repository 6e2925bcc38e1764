"""`moalab loop run | show | plot`: a workflow killed with SIGKILL half way through a step
resumes after its last completed step, with its experiment data neither lost nor
repeated (real processes); show and plot in process (each process costs ~1.5 s)."""

import json
import os
import signal
import subprocess
import sys

from moalab.cli.main import main
from moalab.loop.workflow import Checkpoints, latest_state, load_workflow, run_workflow
from moalab.store.lab import Lab
from tests.conftest import REPO, require
from tests.loop.test_workflow import rows, write_workflow

from .helpers import command, env, run, wait_until


def test_a_loop_killed_mid_step_resumes_after_its_last_completed_step(lab, tmp_path):
    path = write_workflow(tmp_path)
    other = Lab.init(tmp_path / "other")
    try:
        expected = run_workflow(load_workflow(path), other, 3)
    finally:
        other.close()
    cut = tmp_path / "cut"
    process = subprocess.Popen(
        [*command("moalab"), "loop", "run", str(path), "--lab", str(lab.folder)],
        env={**env(), "WORKFLOW_CUT": str(cut), "WORKFLOW_CUT_HOW": "hang"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: cut.exists() or process.poll() is not None, 60,
                   "the runner step of cycle 2 to begin")
        process.send_signal(signal.SIGKILL)  # half way through the step: one subject done
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, err
    assert "cycle 2 step 2/4 pick_last" in out and "run_subjects" not in out.split("cycle 2")[-1]

    shown = run("moalab", "loop", "show", "--lab", lab.folder, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["cycles_done"] == 1 and summary["file"] == str(path)
    assert [(s["cycle"], s["name"]) for s in summary["steps"]][-2:] == [
        (2, "pool(num_samples=3)"), (2, "pick_last")]

    resumed = run("moalab", "loop", "run", path, "--lab", lab.folder, cwd=tmp_path,
                  timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("cycle 2 step 3/4 run_subjects(subjects=3)")
    assert "3 cycle(s) done" in resumed.stdout
    state = latest_state(lab, "bandit")
    # every subject of every cycle once, with the very rows an uninterrupted run made
    assert [(c, s) for c, s, *_ in rows(state)] == [(c, s) for c in (1, 2, 3) for s in range(3)]
    assert rows(state) == rows(expected)


def test_a_loop_killed_while_the_lab_runs_sessions_keeps_those_done(lab, tmp_path):
    # the example on the lab's rigs (a dry run): 8 subjects' sessions, 4 rigs at once
    example = REPO / "examples" / "closed_loop_bandit.py"
    sized = {**env(), "RUNNER_TYPE": "moalab", "BANDIT_TRIALS": "50",
             "BANDIT_PARTICIPANTS": "8", "BANDIT_CYCLES": "1"}
    loop_run = [*command("moalab"), "loop", "run", str(example), "--lab", str(lab.folder)]

    def submitted():
        return {s.id for s in lab.database.list_sessions() if s.status == "submitted"}

    process = subprocess.Popen(loop_run, env=sized, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(submitted()) >= 2 or process.poll() is not None, 120,
                   "two sessions of the runner step to end")
        process.send_signal(signal.SIGKILL)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL, err
    done = submitted()
    assert 2 <= len(done) < 8
    assert [r.name for r in Checkpoints(lab, "closed_loop_bandit").records()] == [
        "pool_on_state(num_samples=1)"]  # the runner step was cut

    resumed = subprocess.run(loop_run, env=sized, capture_output=True, text=True,
                             timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    data = latest_state(lab, "closed_loop_bandit").experiment_data
    # every subject once; the sessions done before the kill kept, not run again
    assert sorted(data["subject"]) == [f"agent-{i:02d}" for i in range(1, 9)]
    assert done <= set(data["session"])
    sessions = lab.database.list_sessions()
    assert {s.id for s in sessions if s.status == "submitted"} == set(data["session"])
    assert {s.status for s in sessions} <= {"submitted", "abandoned"}  # none left running


def test_show_lists_the_cycles_and_steps(lab, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # a table no narrower than its rows
    monkeypatch.delenv("MOALAB_LAB", raising=False)
    path = write_workflow(tmp_path)
    assert main(["loop", "run", str(path), "--cycles", "2", "--lab", str(lab.folder)]) == 0
    assert "workflow 'bandit': 2 cycle(s) done" in capsys.readouterr().out
    # the lab was the workflow's while it ran, not the calling process's after it
    assert "MOALAB_LAB" not in os.environ
    assert main(["loop", "show", "--lab", str(lab.folder)]) == 0
    shown = capsys.readouterr().out
    assert "2 cycle(s) done, 7 step(s)" in shown
    assert "pool(num_samples=3)" in shown and "experiment_data 6" in shown


def test_plot_draws_the_fitted_parameters_and_predictions(lab, tmp_path, capsys):
    require(_imports("matplotlib"), 'matplotlib is not installed (pip install "moalab[loop]")')
    path = write_workflow(tmp_path)
    assert main(["loop", "run", str(path), "--cycles", "2", "--lab", str(lab.folder)]) == 0
    out = tmp_path / "loop.png"
    assert main(["loop", "plot", str(out), "--workflow", "bandit",
                 "--lab", str(lab.folder)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_plot_without_matplotlib_names_the_install(lab, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as where it is not installed
    assert main(["loop", "plot", str(tmp_path / "out.png"), "--lab", str(lab.folder)]) == 2
    assert ("loop plot needs matplotlib, which does not import here" in
            capsys.readouterr().err)


def test_bad_input_is_named_with_the_fix(lab, tmp_path, capsys):
    folder = str(lab.folder)
    assert main(["loop", "show", "--lab", folder]) == 2
    assert "has no workflow: run one with `moalab loop run WORKFLOW.py`" in \
        capsys.readouterr().err
    assert main(["loop", "run", str(tmp_path / "none.py"), "--lab", folder]) == 2
    assert "no workflow file at" in capsys.readouterr().err
    path = write_workflow(tmp_path, "state = 0\ndef cycle(state):\n    return [abs]\n", "bare")
    assert main(["loop", "run", str(path), "--lab", folder]) == 2
    assert "workflow 'bare' sets no CYCLES: give --cycles N" in capsys.readouterr().err
    assert main(["loop", "run", str(path), "--cycles", "0", "--lab", folder]) == 2
    assert "--cycles=0 is not accepted; give a whole number >= 1" in capsys.readouterr().err
    assert main(["loop", "show", "other", "--lab", folder]) == 2
    assert "has no workflow 'other'; it has: none" in capsys.readouterr().err


def test_a_failing_step_shows_its_traceback_and_that_the_steps_done_are_saved(
        lab, tmp_path, capsys, monkeypatch):
    path = write_workflow(tmp_path)
    monkeypatch.setenv("WORKFLOW_CUT", str(tmp_path / "cut"))
    assert main(["loop", "run", str(path), "--lab", str(lab.folder)]) == 2
    err = capsys.readouterr().err
    assert f'File "{path}"' in err and "in run_subjects" in err  # the user's frames
    assert ("moalab loop: workflow 'bandit' failed after cycle 2 step 2 (pick_last): "
            "RuntimeError: the runner failed half way; the steps done are saved") in err
    assert main(["loop", "run", str(path), "--lab", str(lab.folder)]) == 0  # goes on
    assert capsys.readouterr().out.startswith("cycle 2 step 3/4 run_subjects")
    bad = write_workflow(tmp_path, "state = 1 / 0\n", "broken")
    assert main(["loop", "run", str(bad), "--lab", str(lab.folder)]) == 2
    assert "raised ZeroDivisionError while loading (division by zero)" in \
        capsys.readouterr().err


def _imports(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
