"""What CuPy does with a kernel launch before the GPU is touched, done without a GPU.

For a recorded :class:`~gpu_compile.standin.KernelCall` this runs CuPy's own pieces:
``CScalar`` for the non-array arguments (a NumPy array passed to a kernel is refused here,
as on a GPU), ``ElementwiseKernel._decide_params_type`` (the type resolution: a float64
gradient for a float32 parameter raises ``TypeError``), ``_ArgInfo`` and
``_get_elementwise_kernel_code`` (the CUDA source CuPy generates), the headers and options
``compile_with_cache`` assembles, and CuPy's ``_NVRTCProgram``. The only step left out is
CuPy's query of the device to choose ``-arch``: the architecture is given instead
(:data:`ARCHS`).

Uses private CuPy APIs (checked with CuPy 14.2): a CuPy upgrade may need this file updated,
and :func:`self_check` says so at once.
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import cupy
import numpy as np
from cupy._core import _carray, _kernel, _scalar, core
from cupy.cuda import compiler, nvrtc

from wnmf_np.kernels.cuda_specs import FLOAT_DTYPES, KERNELS, ElementwiseSpec

from .standin import ArgMeta, KernelCall, parse_params

#: (NVRTC -arch value, what NVRTC returns): SASS for the H100/H200 class and PTX for its family
ARCHS = (("sm_90", "cubin"), ("compute_90", "ptx"))
# CuPy's _ArgKind (cupy/_core/_kernel.pxd); self_check() verifies them on the generated source
_NDARRAY, _INDEXER, _SCALAR = 1, 2, 3


class Rejected(Exception):
    """CuPy would raise this launch's error before compiling (the message is CuPy's)."""


class CompileFailed(Exception):
    """NVRTC failed or printed a warning; the message is its log."""


def versions() -> str:
    major, minor = nvrtc.getVersion()
    return f"CuPy {cupy.__version__}, NVRTC {major}.{minor}"


def cuda_headers() -> str:
    """The CUDA header directory CuPy compiles against (the last ``-I`` of its options)."""
    return [o for o in _options() if o.startswith("-I")][-1][2:]


@functools.cache
def _kernel_object(spec: ElementwiseSpec):
    return spec.build(cupy)


def resolve(call: KernelCall, spec: ElementwiseSpec | None = None) -> tuple:
    """CuPy's argument processing and type resolution for ``call`` -> ``(arginfos, type_map)``.

    ``spec``: the kernel (default: the registered one of ``call.name``).

    Raises
    ------
    Rejected
        Where CuPy would raise (host array, mismatched types, bad output).
    """
    if call.error is not None:
        raise Rejected(call.error)
    kern = _kernel_object(spec or KERNELS[call.name])
    n_in = kern.nin
    scalars = {}
    for i, meta in enumerate(call.args):
        if meta.kind != "array":
            try:  # as CuPy's _preprocess_args: a non-array becomes a CScalar, a NumPy array is refused
                scalars[i] = _scalar.CScalar(meta.value)
            except TypeError as exc:
                raise Rejected(f"argument {kern.params[i].name}: {exc}") from None
    if any(i >= n_in for i in scalars):
        raise Rejected("Output arguments must be cupy.ndarray")
    in_types = tuple(np.dtype(a.dtype) if a.kind == "array" else None for a in call.args[:n_in])
    out_types = tuple(np.dtype(a.dtype) for a in call.args[n_in:])
    try:
        in_resolved, _, type_map = kern._decide_params_type(in_types, out_types)
    except TypeError as exc:
        raise Rejected(f"type resolution: {exc}") from None
    infos = []
    for i, meta in enumerate(call.args):
        if i in scalars:
            try:  # the cast to the parameter's type, as in ElementwiseKernel.__call__
                scalars[i].apply_dtype(in_resolved[i])
            except (TypeError, ValueError, OverflowError) as exc:
                raise Rejected(f"argument {kern.params[i].name}: {exc}") from None
            infos.append(_kernel._ArgInfo(_SCALAR, _scalar.CScalar, np.dtype(in_resolved[i]), 0, True, True))
        else:
            infos.append(
                _kernel._ArgInfo(
                    _NDARRAY, cupy.ndarray, np.dtype(meta.dtype), meta.ndim, meta.c_contiguous, meta.index_32_bits
                )
            )
    infos.append(_kernel._ArgInfo(_INDEXER, _carray.Indexer, None, call.indexer_ndim, True, call.indexer_32_bits))
    return tuple(infos), type_map


def source(call: KernelCall, spec: ElementwiseSpec | None = None) -> str:
    """The complete CUDA source CuPy compiles for ``call`` (its headers included)."""
    infos, type_map = resolve(call, spec)
    kern = _kernel_object(spec or KERNELS[call.name])
    code = _kernel._get_elementwise_kernel_code(
        infos, type_map, kern.params, kern.operation, kern.name, kern.preamble, **kern.kwargs
    )
    return "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code


@functools.lru_cache(maxsize=1)
def _options() -> tuple:
    # what compile_with_cache, _compile_with_cache_cuda and _compile_using_nvrtc add, minus -arch
    return core.assemble_cupy_compiler_options(()) + ("-ftz=true", "--device-as-default-execution-space")


def cache_key(src: str, arch: str) -> str:
    """Hash of everything NVRTC's output depends on: source, options, architecture, NVRTC version."""
    text = "\0".join((src, *_options(), arch, versions()))
    return hashlib.sha256(text.encode()).hexdigest()


def compile_source(src: str, arch: str, method: str, cache: Path | None = None) -> bool:
    """Compile with NVRTC for ``arch``; True when it did, False when ``cache`` holds a clean
    compilation of the same input (only clean ones are kept there).

    Raises
    ------
    CompileFailed
        On an error, or on any output in NVRTC's log (warnings included).
    """
    done = None if cache is None else cache / cache_key(src, arch)
    if done is not None and done.exists():
        return False
    log = io.StringIO()
    try:
        binary, _ = compiler._NVRTCProgram(src, "wnmf_kernel.cu", method=method).compile(
            _options() + (f"-arch={arch}",), log
        )
    except compiler.CompileException as exc:
        raise CompileFailed(f"-arch={arch}: NVRTC error:\n{exc}") from None
    if log.getvalue().strip():
        raise CompileFailed(f"-arch={arch}: NVRTC printed:\n{log.getvalue().strip()}")
    if not binary:
        raise CompileFailed(f"-arch={arch}: NVRTC returned an empty binary")
    if done is not None:
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(f"{len(binary)} bytes\n")
    return True


def variants(call: KernelCall) -> list[KernelCall]:
    """Every form of ``call``'s kernel the package can launch: each float dtype for the type
    placeholder, non-raw arrays contiguous (1-D after CuPy's reduction) or strided /
    broadcast (2-D), 32- and 64-bit indexing. Raw arrays keep their recorded ndim."""
    spec = KERNELS[call.name]
    params = parse_params(spec.in_params) + parse_params(spec.out_params)
    has_loop_arrays = any(not p.raw and a.kind == "array" for p, a in zip(params, call.args))
    out = []
    for dtype in FLOAT_DTYPES:
        for ndim in (1, 2) if has_loop_arrays else (call.indexer_ndim,):
            for idx32 in (True, False):
                args = []
                for p, a in zip(params, call.args):
                    if a.kind == "array":
                        args.append(
                            ArgMeta(
                                "array",
                                dtype if p.placeholder else a.dtype,
                                a.ndim if p.raw else ndim,
                                a.c_contiguous if p.raw else ndim == 1,
                                idx32,
                            )
                        )
                    elif p.placeholder:  # the package passes these in the array dtype
                        args.append(ArgMeta("scalar", value=np.dtype(dtype).type(a.value)))
                    else:
                        args.append(a)
                out.append(KernelCall(call.name, "all forms", tuple(args), ndim, idx32))
    return out


#: a kernel of the registry's kind that is not in it, for the self-checks
PROBE_SPEC = ElementwiseSpec("wnmf_check_probe", "T p, float64 eta", "T g", "if (p < 0) g *= (T)eta;", lambda *a: None)


def probe_call(g_dtype: str = "float32") -> KernelCall:
    """A launch of :data:`PROBE_SPEC` with float32 ``p`` and a ``g`` of ``g_dtype``."""
    args = (ArgMeta("array", "float32", 1), ArgMeta("scalar", value=0.1), ArgMeta("array", g_dtype, 1))
    return KernelCall(PROBE_SPEC.name, "self check", args, 1, True)


def self_check() -> None:
    """Fail early if CuPy's private pieces changed shape (argument kinds, generated types)."""
    src = source(probe_call(), PROBE_SPEC)
    for expected in ("CArray<float, 1, 1, 1>", "CIndexer<1, 1>", "const double eta", "typedef float T;"):
        if expected not in src:
            raise RuntimeError(f"CuPy's code generator changed ({expected!r} not in the source): update {__file__}.")
    try:
        resolve(probe_call("float64"), PROBE_SPEC)
    except Rejected:
        return
    raise RuntimeError(f"CuPy's type resolution accepted a float64 g for a float32 p: update {__file__}.")
