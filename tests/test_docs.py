"""The documentation builds: Sphinx with numpydoc (the API reference from the docstrings)
and MyST (the pages of docs/), warnings as errors, so a broken docstring, a broken link
between pages or a page left out of the table of contents fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_documentation_builds_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "myst_parser"):
        pytest.importorskip(module, reason="the docs extra is not installed: pip install -e '.[docs]'")
    out = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(REPO / "docs"), str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert res.returncode == 0, res.stderr[-4000:]
    api = (out / "api.html").read_text(encoding="utf-8")
    for name in ("WNMF", "DeepWNMF", "DeconvWNMF", "MultiplicativeNMF", "DeepMultiplicativeNMF", "UnfoldedNMF"):
        assert f'id="wnmf_np.{name}"' in api and f'id="wnmf_np.{name}.transform"' in api, name
    pages = {p.stem for p in (REPO / "docs").glob("*.md")}
    assert pages <= {p.stem for p in out.glob("*.html")}, "every page of docs/ is in the build"


def _python_blocks(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.startswith("python\n")]


def _free_names(code: str) -> set[str]:
    """Names a code block reads at module level without defining or importing them."""
    import ast
    import builtins

    tree = ast.parse(code)
    defined, used = set(dir(builtins)), set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
        elif isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else used).add(node.id)
    return used - defined


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.md"])
def test_python_examples_run_on_their_own(page):
    """Each Python block must run by itself when pasted (quickstart's missing-values block
    used X and np from the block before)."""
    blocks = _python_blocks(REPO / page)
    assert blocks
    for block in blocks:
        compile(block, page, "exec")
        assert not _free_names(block), (page, _free_names(block), block[:200])
