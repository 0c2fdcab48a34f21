"""The one kernel registry: every (family, backend, implementation) resolves to its family's
interface, the aliases pick the measured defaults, bad names give one-line errors naming the
valid choices, and the kernels import nothing above them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np
import pytest

from wnmf_np.kernels import KernelSet, get_kernels
from wnmf_np.kernels.deconv import CPU_DEFAULT_IMPL, DeconvKernels
from wnmf_np.kernels.mu import MUKernels
from wnmf_np.kernels.registry import BACKEND_NAMES, FAMILIES, REGISTRY, lookup, resolve
from wnmf_np.mu.updates import Penalty, Problem

ROOT = Path(__file__).resolve().parents[1]
KERNELS_DIR = ROOT / "wnmf_np" / "kernels"
INTERFACE = {"dense": KernelSet, "deconv": DeconvKernels, "mu": MUKernels}
#: operations a deconvolution implementation may leave out (None)
OPTIONAL = {"to_phase", "forward_phase_keep", "grads_phase"}


def _check_set(family, impl, kernels):
    assert isinstance(kernels, INTERFACE[family])
    assert kernels.name == impl
    for field in kernels._fields[1:]:
        op = getattr(kernels, field)
        assert callable(op) or (field in OPTIONAL and op is None), (family, impl, field)


@pytest.mark.parametrize("key", [k for k in REGISTRY if k[1] == "numpy"], ids="-".join)
def test_every_numpy_entry_resolves_to_its_interface(key):
    family, backend, impl = key
    assert resolve(family, backend, impl if impl in FAMILIES[family].public else FAMILIES[family].alias) == key
    _check_set(family, impl, REGISTRY[key]())


@pytest.mark.parametrize("key", [k for k in REGISTRY if k[1] == "cupy"], ids="-".join)
def test_every_cupy_entry_resolves_on_the_standin(key):
    """The CuPy entries build their kernels from the backend's ``cupy``: the NumPy stand-in of
    bench/gpu_compile suffices, so they are checked without a GPU."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from gpu_compile.standin import standin_cupy
    finally:
        sys.path.remove(str(ROOT / "bench"))
    family, _, impl = key
    with standin_cupy():
        _check_set(family, impl, REGISTRY[key]())


def test_every_family_declares_its_interface_backends_and_defaults():
    assert set(FAMILIES) == set(INTERFACE) == {k[0] for k in REGISTRY}
    for family, spec in FAMILIES.items():
        assert set(spec.default) == set(BACKEND_NAMES)
        for backend, impl in spec.default.items():
            assert (family, backend, impl) in REGISTRY, (family, backend, impl)
        for impl in spec.public:
            assert any(k[0] == family and k[2] == impl for k in REGISTRY), (family, impl)
        # every registered implementation is reachable by a public name or the alias
        reachable = set(spec.public) | set(spec.default.values())
        assert {k[2] for k in REGISTRY if k[0] == family} <= reachable, family


@pytest.mark.parametrize(
    ("family", "backend", "want"),
    [
        ("dense", "numpy", "numba"),
        ("dense", "cupy", "cupy"),
        ("deconv", "numpy", CPU_DEFAULT_IMPL),
        ("deconv", "cupy", "cupy"),
        ("mu", "numpy", "numba"),
        ("mu", "cupy", "cupy"),
    ],
)
def test_the_alias_picks_the_fastest_implementation_of_the_backend(family, backend, want):
    assert resolve(family, backend, FAMILIES[family].alias) == (family, backend, want)


def test_get_kernels_is_the_dense_family():
    assert get_kernels("numpy") is lookup("dense", "numpy", "fast")
    assert get_kernels("numpy", "reference") is lookup("dense", "cupy", "reference")  # one set for any namespace


def test_the_mu_problem_takes_its_kernels_from_the_registry():
    X = np.ones((3, 4))
    prob = Problem(np, X, None, 2.0, 1.0, 1e-16, Penalty())
    assert prob.kernels.name == "numba"
    assert prob._replace(fused=False).kernels.name == "reference"


@pytest.mark.parametrize(
    ("args", "message", "names"),
    [
        (("conv", "numpy", "fast"), "kernel family must be one of", ("dense", "deconv", "mu")),
        (("dense", "auto", "fast"), "backend_name must be 'numpy' or 'cupy', got 'auto'", ()),
        (("dense", "numpy", "numba"), "impl must be 'fast' or 'reference', got 'numba'", ()),
        (("mu", "numpy", "turbo"), "impl must be 'fast' or 'reference', got 'turbo'", ()),
        (("deconv", "numpy", "fast"), "impl must be 'auto' or one of", ("reference", "xp", "numba", "cupy")),
        (("deconv", "numpy", "cupy"), "impl='cupy' works on backends ('cupy',), not 'numpy'", ()),
        (("deconv", "cupy", "reference"), "impl='reference' works on backends ('numpy',), not 'cupy'", ()),
    ],
)
def test_bad_keys_give_one_line_errors_naming_the_choices(args, message, names):
    with pytest.raises(ValueError) as info:
        lookup(*args)
    text = str(info.value)
    assert "\n" not in text and message in text
    assert all(repr(n) in text for n in names)


# ---------------------------------------------------------------- the import graph points down
def _imported_modules(path: Path) -> set[str]:
    """Absolute names of the ``wnmf_np`` modules that ``path`` imports."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names.add(".".join([*base, node.module] if node.module else base))
            else:
                names.add(node.module)
    return {n for n in names if n == "wnmf_np" or n.startswith("wnmf_np.")}


def test_the_import_resolver_reads_relative_imports():
    path = KERNELS_DIR / "deconv" / "xp.py"
    assert {"wnmf_np.core.backend", "wnmf_np.kernels.deconv.geometry"} <= _imported_modules(path)


#: the one deliberate exception: ``registered_kernels`` imports the whole package to collect
#: every CUDA spec for the compile check (a tool entry point, not a dependency of a kernel)
WALKS_THE_PACKAGE = {"wnmf_np/kernels/cuda_specs.py": ["wnmf_np"]}


def test_kernels_import_only_kernels_and_core():
    upward = {
        str(path.relative_to(ROOT)): sorted(bad)
        for path in sorted(KERNELS_DIR.rglob("*.py"))
        if (bad := {m for m in _imported_modules(path) if not m.startswith(("wnmf_np.kernels", "wnmf_np.core"))})
    }
    assert upward == WALKS_THE_PACKAGE
