"""The packaging lists every package, installs the command-line tools, and its notebook
extra has what examples/notebook.ipynb needs; the built wheel holds the examples' data."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "moalab").rglob("__init__.py")
    }
    # examples/ is installed as moalab.examples, its subfolders as its subpackages
    found |= {
        ".".join(("moalab", *path.parent.relative_to(ROOT).parts))
        for path in (ROOT / "examples").rglob("__init__.py")
    }
    assert listed == found


def test_console_scripts_point_at_main_functions():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"moalab": "moalab.cli.main:main", "moalab-server": "moalab.cli.server:main"}
    from moalab.cli import main, server

    assert callable(main.main) and callable(server.main)


def test_notebook_extra_opens_the_example_notebook():
    # examples/notebook.ipynb needs a Jupyter front end, and pandas for RunHandle.log
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["notebook"]
    names = {re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower() for requirement in extra}
    assert names & {"jupyterlab", "notebook"} and "pandas" in names


def test_the_wheel_holds_the_examples_and_their_data(tmp_path):
    # setuptools' build_py, in a copy of the tracked files: what a wheel (and pip install)
    # gets of each package, its data included (bdist_wheel packs this folder; it needs the
    # wheel package, not installed here); the repository's build/ folder is left alone
    tracked = subprocess.run(["git", "ls-files", "pyproject.toml", "README.md", "moalab",
                              "examples"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    source = tmp_path / "src"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    built = tmp_path / "lib"
    subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q",
                    "build_py", "--build-lib", str(built)],
                   cwd=source, check=True, capture_output=True, timeout=300)
    examples = [name for name in tracked if name.startswith("examples/")]
    assert "examples/notebook.ipynb" in examples
    for name in examples:
        installed = "moalab/" + name  # examples/ is installed as moalab.examples
        assert (built / installed).is_file(), f"{installed} is missing from the wheel"
