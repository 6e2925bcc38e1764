"""Running moalab's console scripts as real subprocesses (or in process, where the
process is not what a test checks), and reading their CSV logs."""

import contextlib
import csv
import importlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..conftest import REPO, repo_env

EXAMPLES = REPO / "examples"


MODULES = {"moalab": "moalab.cli.main", "moalab-server": "moalab.cli.server"}
"""Each console script's module (its ``main(argv)`` returns the exit code)."""


def command(script: str) -> list[str]:
    """The installed console script ``script`` (``moalab`` or ``moalab-server``) of this
    interpreter; its module under ``python -m`` when it is not installed beside it."""
    installed = Path(sys.executable).with_name(script)
    if installed.is_file():
        return [str(installed)]
    return [sys.executable, "-m", MODULES[script]]


def env() -> dict[str, str]:
    """The child's environment: the repository importable, a wide fixed terminal so rich's
    line breaks never depend on the machine, and no GPIO factory or lab chosen by the
    caller (a lab is found from the child's folder or its ``--lab``)."""
    environ = {k: v for k, v in repo_env().items()
               if not k.startswith("GPIOZERO_") and k != "MOALAB_LAB"}
    return {**environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}


def run(script: str, *args: str, cwd: Path, timeout: float = 60
        ) -> subprocess.CompletedProcess[str]:
    """Run ``script *args`` in ``cwd`` to its end; return its exit code and output."""
    return subprocess.run([*command(script), *map(str, args)], cwd=cwd, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def run_in_process(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """:func:`run` without the process (which costs 1.5 s of imports): ``script``'s
    ``main(args)`` in ``cwd`` with :func:`env`'s variables, its output captured. For
    tests of what a command says and returns, not of the process itself (signals, exit
    at interpreter level); the folder and the environment are restored after."""
    argv = list(map(str, args))
    main = importlib.import_module(MODULES[script]).main
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    child = env()
    os.environ.clear()
    os.environ.update(child)
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exited:  # argparse's errors and --help
                code = 0 if exited.code is None else exited.code
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess([script, *argv], code, out.getvalue(), err.getvalue())


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a moalab CSV log (header checked; its ``#`` origin lines left out)."""
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(line for line in file if not line.startswith("#"))
        assert reader.fieldnames == ["index", "timestamp", "name", "trigger", "item", "value"]
        return list(reader)


def stage_events(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """``(stage name, event)`` of each ``on_stage_*``/``on_trial_*`` row, in order."""
    return [(r["name"], r["trigger"]) for r in rows
            if r["trigger"].startswith(("on_stage_", "on_trial_"))]


def wait_until(predicate, timeout: float, what: str) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def signal_when(command: list[str], cwd: Path, ready, what: str,
                sig: int = signal.SIGINT) -> tuple[subprocess.Popen, str, str, float]:
    """Run ``command``, send it ``sig`` once ``ready()`` (see :func:`wait_until`), and
    collect its output; the process is killed if it outlives the test. Returns the
    ended process, its stdout and stderr, and the seconds it took to end after ``sig``."""
    process = subprocess.Popen(command, cwd=cwd, env=env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_until(ready, 30, what)
        sent = time.monotonic()
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=30)
        return process, stdout, stderr, time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def lines(text: str) -> list[str]:
    """The non-blank lines of ``text``."""
    return [line for line in text.splitlines() if line.strip()]


def no_traceback(result: subprocess.CompletedProcess[str]) -> bool:
    return "Traceback" not in result.stdout + result.stderr and (
        "moalab/cli" not in result.stdout + result.stderr
    )


__all__ = ("EXAMPLES", "REPO", "command", "env", "run", "run_in_process", "read_rows",
           "stage_events", "wait_until", "lines", "no_traceback")
