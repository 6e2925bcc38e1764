"""The layer map of shared/STYLE.md, kept by import-linter (the contracts in pyproject)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

LINT = "from importlinter.cli import lint_imports; raise SystemExit(lint_imports(no_cache=True))"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Check the contracts of ``root/pyproject.toml`` on the package ``root/moalab``
    (in a process of its own: this one has moalab imported from the repository)."""
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})


def test_layers_import_downward_only():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "moalab", tmp_path / "moalab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "moalab" / "core" / "clock.py", "a", encoding="utf-8") as clock:
        clock.write("\nfrom ..runner import run  # core importing a layer above it\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "moalab.core.clock -> moalab.runner" in result.stdout
