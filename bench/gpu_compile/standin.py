"""A NumPy-backed stand-in for CuPy that records every CUDA kernel launch (no CuPy needed).

Inside :func:`standin_cupy`, ``import cupy`` gives a module whose arrays are NumPy arrays of
the subclass :class:`DeviceArray` and whose ``ElementwiseKernel`` is a :class:`Probe`: so a
CPU fit runs the package's CuPy code path (the wrappers of ``kernels/dense/cupy.py`` and
``kernels/mu/cupy.py``), and every launch is recorded as a :class:`KernelCall`
with the facts CuPy's code generator keys on (dtype, ndim after CuPy's broadcasting and
dimension reduction, contiguity, 32/64-bit indexing of each argument; the scalar objects),
then executed by the kernel's NumPy ``host`` version from the registry so the fit goes on.
What CuPy would then do with a call (type resolution, the CUDA source) is
:mod:`gpu_compile.nvrtc`'s job.
"""

from __future__ import annotations

import contextlib
import sys
import types
from dataclasses import dataclass, field

import numpy as np

from wnmf_np.kernels.cuda_specs import KERNELS

#: CuPy's type names in parameter lists (anything else, e.g. ``T``, is a type placeholder)
CUPY_TYPE_NAMES = frozenset(
    "bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 complex64 complex128".split()
)
_INT32_LIMIT = 1 << 31  # CuPy's bound for 32-bit indexing (bytes of an array, elements of the loop)


class DeviceArray(np.ndarray):
    """A NumPy array standing for a ``cupy.ndarray`` (``get()`` copies to the host)."""

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # like CuPy, a reduction gives a 0-d device array, not a host scalar
        return super().__array_wrap__(arr, context, False)

    def get(self):
        return np.asarray(self).view(np.ndarray).copy()


@dataclass(frozen=True)
class Param:
    """One parameter of a CuPy parameter list: ``[raw] type name``."""

    name: str
    ctype: str
    raw: bool

    @property
    def placeholder(self) -> bool:
        """True for a type placeholder such as ``T`` (its dtype comes from the arguments)."""
        return self.ctype not in CUPY_TYPE_NAMES


def parse_params(text: str) -> tuple[Param, ...]:
    """``"T g, raw int64 rows"`` -> its :class:`Param` list (CuPy's syntax)."""
    params = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        words = item.split()
        if len(words) < 2 or set(words[:-2]) - {"raw"}:
            raise ValueError(f"cannot read the kernel parameter {item!r}.")
        params.append(Param(words[-1], words[-2], "raw" in words[:-2]))
    return tuple(params)


@dataclass(frozen=True)
class ArgMeta:
    """What CuPy's code generator sees of one argument.

    ``kind``: "array" (a device array), "host" (a NumPy array: CuPy rejects it) or "scalar".
    For arrays: dtype name, ndim and C-contiguity after broadcasting and dimension reduction,
    and whether 32-bit indexing applies. For scalars and host arrays: ``value``, the object
    as passed (CuPy's ``CScalar`` decides its dtype), kept out of comparisons.
    """

    kind: str
    dtype: str | None = None
    ndim: int = 0
    c_contiguous: bool = True
    index_32_bits: bool = True
    value: object = field(default=None, compare=False, hash=False)

    @property
    def value_type(self) -> str:
        return type(self.value).__name__

    def key(self) -> tuple:
        """Hashable identity for de-duplication (scalars by their Python/NumPy type)."""
        if self.kind == "array":
            return (self.kind, self.dtype, self.ndim, self.c_contiguous, self.index_32_bits)
        return (self.kind, self.value_type)


@dataclass(frozen=True)
class KernelCall:
    """One recorded launch: the kernel, where it came from, its arguments and loop indexer."""

    name: str
    origin: str
    args: tuple[ArgMeta, ...]
    indexer_ndim: int
    indexer_32_bits: bool
    error: str | None = None  # a shape error CuPy raises before type resolution

    def key(self) -> tuple:
        return (self.name, tuple(a.key() for a in self.args), self.indexer_ndim, self.indexer_32_bits, self.error)


def _index_32_bits(a: np.ndarray) -> bool:
    """CuPy's rule: a view inherits the flag of the allocation it looks into (bytes <= 2**31)."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    return max(root.nbytes, a.size * a.itemsize) <= _INT32_LIMIT


def reduce_dims(shape: tuple, arrays: list[tuple[bool, tuple, bool]]) -> tuple:
    """The loop shape after CuPy's ``_reduce_dims`` (ported from ``cupy/_core/_kernel.pyx``).

    ``arrays``: ``(raw, strides, c_contiguous)`` of every array argument, broadcast to
    ``shape``. Non-raw arrays take the returned shape's length as their ndim; raw arrays
    keep theirs.
    """
    if len(shape) <= 1:
        return shape
    ndim = len(shape)
    strided = []
    for raw, strides, c_contiguous in arrays:
        if raw:
            continue
        if not c_contiguous:
            if ndim == 2:  # CuPy's short cut
                return shape
            strided.append(strides)
    if not any(not raw for raw, _, _ in arrays):
        return shape
    if not strided:
        return (int(np.prod(shape)),)
    vecshape = list(shape)
    axes = []
    last_ax = -1
    for ax in range(ndim):
        if vecshape[ax] == 1:
            continue
        if last_ax < 0:
            last_ax = ax
            continue
        if any(s[ax] * vecshape[ax] != s[last_ax] for s in strided):
            axes.append(last_ax)
        else:
            vecshape[ax] *= vecshape[last_ax]
        last_ax = ax
    if last_ax >= 0:
        axes.append(last_ax)
    if len(axes) == ndim:
        return shape
    return tuple(vecshape[ax] for ax in axes)


class Probe:
    """Stand-in ``cupy.ElementwiseKernel``: records each call, then runs the registry's host version."""

    def __init__(self, recorder, in_params, out_params, operation, name="kernel", **kwargs):
        spec = KERNELS.get(name)
        pieces = (in_params, out_params, operation)
        if spec is None or (spec.in_params, spec.out_params, spec.operation) != pieces or kwargs:
            raise RuntimeError(f"CUDA kernel {name!r} was built outside wnmf_np.kernels.cuda_specs.")
        self.spec = spec
        self.recorder = recorder
        self.params = parse_params(in_params) + parse_params(out_params)
        self.n_in = len(parse_params(in_params))

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != len(self.params):
            raise RuntimeError(
                f"{self.spec.name}: the package passes every output and no keyword; got {len(args)} arguments, {kwargs}."
            )
        call = self.describe(args)
        self.recorder.append(call)
        if call.error is not None:  # CuPy raises before launching; the host version could not run either
            raise ValueError(f"{self.spec.name}: {call.error}")
        self.spec.host(*args)

    def describe(self, args) -> KernelCall:
        """The :class:`KernelCall` CuPy's ``ElementwiseKernel.__call__`` would compile for ``args``."""
        origin = _caller()
        loop = [a for p, a in zip(self.params, args) if not p.raw and isinstance(a, DeviceArray)]
        if not loop:
            return KernelCall(self.spec.name, origin, (), 0, True, "Loop size is undecided (no non-raw array).")
        shape = np.broadcast_shapes(*(a.shape for a in loop))
        for p, a in zip(self.params[self.n_in :], args[self.n_in :]):
            if isinstance(a, DeviceArray) and not p.raw and a.shape != shape:
                return KernelCall(self.spec.name, origin, (), 0, True, f"Out shape is mismatched ({p.name}).")
        views = [
            (np.broadcast_to(a, shape) if isinstance(a, DeviceArray) and not p.raw else a)
            for p, a in zip(self.params, args)
        ]
        arrays = [
            (p.raw, v.strides, v.flags.c_contiguous)
            for p, a, v in zip(self.params, args, views)
            if isinstance(a, DeviceArray)
        ]
        if len(args) == 1:
            raise NotImplementedError("single-argument kernels take CuPy's reduced_view path, not ported here.")
        loop_shape = reduce_dims(tuple(shape), arrays)
        metas = []
        for p, a, v in zip(self.params, args, views):
            if isinstance(a, DeviceArray):
                ndim = a.ndim if p.raw else len(loop_shape)
                metas.append(ArgMeta("array", a.dtype.name, ndim, bool(v.flags.c_contiguous), _index_32_bits(a)))
            elif isinstance(a, np.ndarray):
                metas.append(ArgMeta("host", value=a))
            else:
                metas.append(ArgMeta("scalar", value=a))
        size = int(np.prod(loop_shape))
        return KernelCall(self.spec.name, origin, tuple(metas), len(loop_shape), size <= _INT32_LIMIT)


def _caller() -> str:
    """``module:function`` of the package frame that launched the kernel (for the report)."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("wnmf_np") and not module.endswith("cuda_specs"):
            return f"{module}:{frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


def _on_device(obj):
    """NumPy function -> the same returning :class:`DeviceArray` (as CuPy's return device arrays)."""
    if not callable(obj) or isinstance(obj, (type, np.ufunc)):
        return obj  # dtypes, constants, submodules; ufuncs keep the subclass by themselves

    def wrapped(*args, **kwargs):
        out = obj(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(o.view(DeviceArray) if type(o) is np.ndarray else o for o in out)
        return out.view(DeviceArray) if type(out) is np.ndarray else out

    return wrapped


def _unsupported(kind):
    def make(*args, **kwargs):
        raise RuntimeError(f"cupy.{kind} is not handled by the compile check: extend bench/gpu_compile for it.")

    return make


def make_module(recorder: list) -> types.ModuleType:
    """The stand-in ``cupy`` module; launches are appended to ``recorder``."""
    fake = types.ModuleType("cupy")
    fake.ndarray = DeviceArray
    fake.__getattr__ = lambda name: _on_device(getattr(np, name))
    fake.asarray = _on_device(np.asarray)
    fake.asnumpy = lambda a: a.get() if isinstance(a, DeviceArray) else np.asarray(a)
    fake.ElementwiseKernel = lambda *args, **kwargs: Probe(recorder, *args, **kwargs)
    for kind in ("RawKernel", "RawModule", "ReductionKernel", "fuse"):
        setattr(fake, kind, _unsupported(kind))
    stream = types.SimpleNamespace(synchronize=lambda: None)
    fake.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1), get_current_stream=lambda: stream
    )
    return fake


def _kernel_caches():
    """The package's caches of built CuPy kernels (cleared on entering and leaving the stand-in)."""
    from wnmf_np.kernels.dense import cupy as _cupy
    from wnmf_np.kernels.mu import cupy as _mu_cupy

    return (_cupy.get_kernel_set, _mu_cupy._cupy_mu_step_kernel)


@contextlib.contextmanager
def standin_cupy():
    """Make ``import cupy`` give the stand-in; yields the list the launches are recorded into."""
    recorder: list[KernelCall] = []
    saved = sys.modules.get("cupy")
    for cache in _kernel_caches():
        cache.cache_clear()
    sys.modules["cupy"] = make_module(recorder)
    try:
        yield recorder
    finally:
        if saved is None:
            sys.modules.pop("cupy", None)
        else:
            sys.modules["cupy"] = saved
        for cache in _kernel_caches():
            cache.cache_clear()
