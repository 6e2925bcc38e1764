"""PyMoa's virtual environment for ``--compare pymoa``: .bench/pymoa-venv (gitignored).

Created on first use with ``python -m venv`` and filled from
``pymoa-requirements.txt``; a stamp file holding the requirements it was made
from makes later runs skip pip until the file changes.
"""

import subprocess
import sys
from pathlib import Path

__all__ = ("VENV", "ensure_pymoa_venv")

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".bench" / "pymoa-venv"
REQUIREMENTS = Path(__file__).with_name("pymoa-requirements.txt")
_STAMP = ".moalab-bench-requirements"


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure_pymoa_venv(venv: Path = VENV) -> Path:
    """Make sure the venv exists with the pinned requirements; return its python."""
    python = _python(venv)
    stamp = venv / _STAMP
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if not python.exists():
        print(f"creating PyMoa's virtual environment in {venv}", file=sys.stderr, flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    print(f"installing {REQUIREMENTS.name} into {venv} (pip)", file=sys.stderr, flush=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python
