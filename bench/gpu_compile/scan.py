"""Find every place in the package's source that could build a GPU kernel outside the registry.

The compile check takes its kernels from ``wnmf_np.kernels.cuda_specs``; a kernel built
directly (``cupy.ElementwiseKernel(...)``, a ``RawKernel``, ``cupy.fuse``...) would be
missed, so any mention of those names in code (not in strings or comments) outside the
registry module is an error.
"""

from __future__ import annotations

import ast
from pathlib import Path

#: CuPy (and cupyx.jit) names that build a kernel
KERNEL_BUILDERS = frozenset(
    {
        "ElementwiseKernel",
        "ReductionKernel",
        "RawKernel",
        "RawModule",
        "fuse",
        "create_ufunc",
        "create_reduction_func",
        "rawkernel",
    }
)
REGISTRY = Path("kernels") / "cuda_specs.py"


def _names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node.attr, node.lineno
        elif isinstance(node, ast.Name):
            yield node.id, node.lineno
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield alias.name.rsplit(".", 1)[-1], node.lineno


def kernel_sites(package_dir: Path) -> list[str]:
    """``path:line: name`` for each kernel-building name used outside the registry module."""
    package_dir = Path(package_dir)
    sites = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir)
        if rel == REGISTRY:
            continue
        for name, line in _names(ast.parse(path.read_text(), str(path))):
            if name in KERNEL_BUILDERS:
                sites.append(f"{package_dir.name}/{rel}:{line}: {name}")
    return sites
