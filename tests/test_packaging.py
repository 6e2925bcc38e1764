"""The packaging lists every package, installs the command-line tools, and its notebook
extra has what examples/notebook.ipynb needs."""

import re
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
