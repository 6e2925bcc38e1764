"""The dashboard's static front end: the vendored packages are the ones VERSIONS names
(their hashes), each with its licence, and the installed package carries every file."""

import hashlib
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "moalab" / "dashboard"
STATIC = PACKAGE / "static"
VENDOR = STATIC / "vendor"

# the words each licence's text starts with, as npm ships it
LICENCE_TEXTS = {"0BSD": ("Zero-Clause BSD", "BSD Zero Clause License"),
                 "MIT": ("The MIT License",)}


def versions() -> list[dict[str, str]]:
    """VERSIONS' rows: package, version, licence, file, sha256."""
    rows = []
    for line in (VENDOR / "VERSIONS").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(dict(zip(("package", "version", "licence", "file", "sha256"),
                                 line.split(), strict=True)))
    return rows


def test_every_vendored_file_is_listed_once():
    listed = [row["file"] for row in versions()]
    assert len(listed) == len(set(listed))
    on_disk = {path.name for path in VENDOR.iterdir()} - {"VERSIONS"}
    assert set(listed) == on_disk


@pytest.mark.parametrize("row", versions(), ids=lambda row: row["file"])
def test_vendored_file_matches_its_hash(row):
    assert hashlib.sha256((VENDOR / row["file"]).read_bytes()).hexdigest() == row["sha256"], (
        f"{row['file']} is not {row['package']} {row['version']} as vendored: "
        f"npm pack {row['package']}@{row['version']} and copy it again, or update VERSIONS")


def test_the_page_files_are_vendored():
    # the template's <head> loads these (the spec's contract with the back end)
    packages = {row["file"]: row["package"] for row in versions()}
    assert packages["htmx.min.js"] == "htmx.org"
    assert packages["htmx-ext-sse.js"] == "htmx-ext-sse"
    assert packages["uPlot.iife.min.js"] == packages["uPlot.min.css"] == "uplot"
    majors = {row["version"].split(".")[0] for row in versions() if row["package"] != "uplot"}
    assert majors == {"2"}
    assert {row["version"][:4] for row in versions() if row["package"] == "uplot"} == {"1.6."}


def test_each_package_carries_its_licence():
    for package, licence in {(row["package"], row["licence"]) for row in versions()}:
        text = (VENDOR / f"LICENSE.{package}").read_text()
        assert text.startswith(LICENCE_TEXTS[licence]), (package, licence)
        files = {row["file"] for row in versions() if row["package"] == package}
        assert f"LICENSE.{package}" in files


def test_the_installed_package_holds_every_static_file():
    # setuptools installs a package's non-Python files only when package-data names them
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"].get(
        "package-data", {})
    patterns = package_data.get("moalab.dashboard", [])
    installed = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    static = {path for path in STATIC.rglob("*") if path.is_file()}
    assert static, "no static files"
    missing = sorted(str(path.relative_to(PACKAGE)) for path in static - installed)
    assert not missing, (
        f"pyproject.toml's [tool.setuptools.package-data] \"moalab.dashboard\" = {patterns} "
        f"leaves out {missing}: add patterns such as \"static/*\" and \"static/vendor/*\"")
