"""Sphinx configuration of the wnmf_np documentation: the pages of docs/ (Markdown, read by
MyST) and an API reference built from the numpydoc docstrings of the installed package.

Build (tests/test_docs.py does this, with warnings as errors)::

    python -m pip install -e ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import wnmf_np

project = "wnmf_np"
author = "wnmf_np developers"
copyright = "wnmf_np developers, BSD-3-Clause"  # noqa: A001 (Sphinx's name)
release = version = wnmf_np.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "numpydoc", "myst_parser"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# MyST: GitHub-style anchors (docs link to headings as GitHub renders them)
myst_heading_anchors = 4

# autodoc + numpydoc: members are listed explicitly in api.rst
autodoc_default_options = {"member-order": "bysource"}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False

html_theme = "alabaster"
html_title = f"wnmf_np {release}"
