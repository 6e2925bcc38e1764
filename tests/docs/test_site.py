"""The documentation site builds with no warning, and its reference covers the public API.

The build is the README's command, with warnings as errors and every cross-reference
checked (``-W -n``): a broken link between pages or a reference to a moalab name that
is not documented fails it.
"""

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sphinx.util.inventory import InventoryFile

from tests.conftest import REPO

PUBLIC = ("moalab", "moalab.protocol", "moalab.assets", "moalab.loop", "moalab.network")


def public_names() -> list[tuple[str, str, object]]:
    return [(module, name, getattr(importlib.import_module(module), name))
            for module in PUBLIC for name in importlib.import_module(module).__all__]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-n", "--keep-going", "-q",
                            "-b", "html", str(REPO / "docs"), str(out)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"the site's build failed:\n{build.stderr}{build.stdout}"
    return out


def test_the_site_builds_without_a_warning(site):
    assert (site / "index.html").is_file()
    for page in ("tutorials/stage-tree", "howto/choose-executor", "reference/moalab"):
        assert (site / f"{page}.html").is_file(), page


def test_the_reference_documents_every_public_name(site):
    with open(site / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", lambda base, uri: uri)
    documented = {name for kind in inventory.values() for name in kind}
    missing = [f"{module}.{name}" for module, name, _ in public_names()
               if f"{module}.{name}" not in documented]
    assert not missing, f"not in docs/reference: {missing}"


def undocumented_members(cls: type) -> list[str]:
    """The public methods and properties of ``cls`` (moalab's own, inherited ones too)
    without a docstring, a parent's counting."""
    missing = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        owner = next((c for c in cls.__mro__ if name in vars(c)), None)
        if owner is None or not owner.__module__.startswith("moalab"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, property):
            doc = attr.__doc__
        elif inspect.isfunction(attr) or isinstance(attr, (staticmethod, classmethod)):
            doc = inspect.getdoc(getattr(cls, name))
        else:
            continue  # data: documented in the class's docstring or the source
        if not (doc or "").strip():
            missing.append(f"{cls.__name__}.{name}")
    return missing


def test_every_public_name_has_a_docstring():
    missing = []
    for module, name, obj in public_names():
        if not (inspect.isclass(obj) or callable(obj)):
            continue  # a constant: the reference shows its source comment
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(f"{module}.{name}")
        if inspect.isclass(obj):
            missing += [f"{module}.{member}" for member in undocumented_members(obj)]
    assert not missing, f"{len(missing)} public names without a docstring: {missing}"


def test_the_readme_links_into_the_site():
    links = re.findall(r"\]\((docs/[^)#]+)", (REPO / "README.md").read_text())
    assert len(links) >= 5, links
    assert not [link for link in links if not (REPO / link).is_file()]
