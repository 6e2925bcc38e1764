"""Sphinx configuration of moalab's documentation site.

Built by ``python -m sphinx -W -n docs build/docs`` (README: Documentation). Pages are
MyST markdown; the API reference is autodoc over the installed package. Nothing is
fetched at build time: no intersphinx, and the theme's assets ship in its wheel.
"""

import functools

import moalab

# Kivy now, before the theme: furo's a11y_pygments calls logging.basicConfig when
# imported, and Kivy imported after it (by autodoc: ``import moalab`` imports nothing)
# would print its start-up INFO lines into the build's output
import moalab.core.events  # noqa: F401

project = "moalab"
author = "the moalab team"
copyright = "2026, the moalab team"
release = version = moalab.__version__

# No napoleon: the docstrings are reST prose, with no Google or NumPy sections, and
# napoleon would read an attribute docstring's first "words: more" as "type: text"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The reference documents each public name where moalab/__init__.py (or a lab
# package's __init__) exports it, members in source order, signatures without the
# type hints (they are in the description, where a long one reads better)
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_inherit_docstrings = True
autodoc_preserve_defaults = True
autodoc_mock_imports: list[str] = []

# A reference to a moalab name that does not resolve is an error (-n -W); names of
# other libraries (trio, numpy, the standard library) have no inventory here, since
# the build is offline, and are left as plain text
# and so are moalab's private names (a public class's private base)
nitpick_ignore_regex = [(r"py:.*", r"(?!moalab\b).*"), (r"py:.*", r".*\._\w+")]

html_theme = "furo"
html_title = "moalab"
html_static_path: list[str] = []


def _shared_source_navigation(navigation: dict, app, pagename, templatename, context,
                              doctree) -> None:
    """A module's source page (viewcode's ``_modules/``) is in no toctree, so the
    navigation furo draws on it is the same for every page of one folder (its links are
    relative): computed once per folder into ``navigation``, not once per page (77
    pages, 15 s of a 35 s build)."""
    toctree = context.get("toctree")
    if not pagename.startswith("_modules/") or toctree is None:
        return
    folder = pagename.rpartition("/")[0]

    def shared(**kwargs):
        key = (folder, tuple(sorted(kwargs.items())))
        if key not in navigation:
            navigation[key] = toctree(**kwargs)
        return navigation[key]

    context["toctree"] = shared


def setup(app):
    # before furo's handler (priority 500), which calls the toctree; one build's
    # navigation is not another's
    app.connect("html-page-context", functools.partial(_shared_source_navigation, {}),
                priority=400)
