"""Importing moalab leaves the program alone: kivy is imported headless, in one module."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import moalab

PACKAGE = Path(moalab.__file__).parent

PROBE = """
import json, logging, sys
root = logging.getLogger()
handlers, level, stderr = list(root.handlers), root.level, sys.stderr
import moalab
from moalab import (MoaStage, Delay, UniformRandomDelay, DigitalGateStage, DigitalChannel,
                    SimpleTerminalLogger, SimpleCSVLogger)
print(json.dumps({
    "argv": sys.argv[1:],
    "handlers_unchanged": root.handlers == handlers,
    "level_unchanged": root.level == level,
    "stderr_unchanged": sys.stderr is stderr,
}))
"""


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIVY_")}
    env.update(HOME=str(home), PYTHONPATH=str(PACKAGE.parent), **extra)
    return env


def run_python(code: str, env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True,
        timeout=60,
    )


def test_import_with_junk_argv_is_headless(tmp_path):
    result = run_python(PROBE, clean_env(tmp_path), "-h", "--foo")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "argv": ["-h", "--foo"],
        "handlers_unchanged": True,
        "level_unchanged": True,
        "stderr_unchanged": True,
    }
    assert not (tmp_path / ".kivy").exists()
    assert list(tmp_path.iterdir()) == []
    assert "Kivy" not in result.stderr and "kivy" not in result.stdout


def test_bare_kivy_import_is_what_the_switches_prevent(tmp_path):
    """The check above can fail: kivy imported without moalab's switches writes ~/.kivy."""
    result = run_python("import kivy.event", clean_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".kivy").exists()


def test_a_users_kivy_switch_wins(tmp_path):
    # moalab.Device: the first use of a name that needs Kivy imports it, switches first
    code = ("import os, moalab; moalab.Device; "
            "print(os.environ['KIVY_LOG_MODE'], os.environ['KIVY_NO_ARGS'])")
    result = run_python(code, clean_env(tmp_path))
    assert result.stdout.split() == ["PYTHON", "1"]
    result = run_python(code, clean_env(tmp_path, KIVY_LOG_MODE="MIXED", KIVY_NO_ARGS="yes"))
    assert result.stdout.split() == ["MIXED", "yes"]


def test_kivy_is_imported_in_one_module_only():
    pattern = re.compile(r"^\s*(import kivy|from kivy)", re.MULTILINE)
    importers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    )
    assert importers == ["core/events.py"]


def test_public_names():
    for name in moalab.__all__:
        assert hasattr(moalab, name), name
    assert issubclass(moalab.InvalidArgument, moalab.MoaError)
    assert issubclass(moalab.InvalidArgument, ValueError)
    assert issubclass(moalab.StageStateError, moalab.MoaError)
    assert issubclass(moalab.StageStateError, RuntimeError)
