"""Tests of the deconvolution kernels (paper section 3.3, eq. 12).

Every fast implementation is compared with the loop reference; the reference itself is
checked against an independent SciPy formulation (zero-insertion upsampling + 'full'
convolution), the adjoint identities and central finite differences. Layouts: F (r, hi,
wi), K (b, r, 2s, 2s), Y and G (b, h, w); crop: ``s // 2`` rows/cols at the start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import fd_grad, to_np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from wnmf_np.core.backend import cupy_available
from wnmf_np.kernels.deconv import reference as ref
from wnmf_np.models.deconv_ops import (
    CPU_DEFAULT_IMPL,
    factor_shape,
    get_deconv_kernels,
    output_crop,
    phase_map,
    validate_deconv_geometry,
)

REPO = Path(__file__).resolve().parents[1]
CPU_IMPLS = ("xp", "numba")
ALL_CPU_IMPLS = ("reference",) + CPU_IMPLS
STRIDES = (1, 2, 3, 4)
# (h, w): both even; both odd; odd x even. Divisible by s in some cases and not others.
IMAGE_SHAPES = ((8, 8), (7, 5), (9, 6))


def _operands(b, r, h, w, s, dtype=np.float64, seed=0):
    """Random F (r, hi, wi), K (b, r, 2s, 2s), G (b, h, w)."""
    rng = np.random.default_rng(seed)
    hi, wi = factor_shape(h, w, s)
    F = rng.standard_normal((r, hi, wi)).astype(dtype)
    K = rng.standard_normal((b, r, 2 * s, 2 * s)).astype(dtype)
    G = rng.standard_normal((b, h, w)).astype(dtype)
    return F, K, G


def _tol(dtype):
    """Tolerance scaled by the dtype's machine epsilon (sums here have < 200 terms)."""
    eps = np.finfo(dtype).eps
    return {"rtol": 200 * eps, "atol": 200 * eps}


def _scipy_forward(F, K, h, w, s):
    """Independent forward: zero-insertion upsampling, then per-channel 'full' convolution."""
    r, hi, wi = F.shape
    up = np.zeros((r, (hi - 1) * s + 1, (wi - 1) * s + 1))
    up[:, ::s, ::s] = F  # up[c, s*p, s*q] = F[c, p, q]
    top = s // 2  # the documented crop, written out rather than imported
    Y = np.zeros((K.shape[0], h, w))
    for i in range(K.shape[0]):
        full = sum(signal.convolve2d(up[c], K[i, c], mode="full") for c in range(r))
        assert full.shape == ((hi + 1) * s, (wi + 1) * s)
        Y[i] = full[top : top + h, top : top + w]
    return Y


# ------------------------------------------------------------------------ geometry
@pytest.mark.parametrize(
    ("h", "w", "s", "expected"),
    [(112, 92, 2, (56, 46)), (112, 92, 4, (28, 23)), (7, 5, 2, (4, 3)), (7, 5, 3, (3, 2)), (1, 1, 4, (1, 1))],
)
def test_factor_shape_rounds_up(h, w, s, expected):
    assert factor_shape(h, w, s) == expected


@pytest.mark.parametrize(("s", "top"), [(1, 0), (2, 1), (3, 1), (4, 2)])
def test_output_crop_is_centred_with_extra_at_the_end(s, top):
    h, w = 7, 5
    hi, wi = factor_shape(h, w, s)
    assert output_crop(h, w, s) == (top, top)
    bottom = (hi + 1) * s - top - h
    assert bottom >= top  # odd surplus (and the rounding-up rows) go to the end


@pytest.mark.parametrize("s", STRIDES)
@pytest.mark.parametrize("n", [1, 5, 8, 9])
def test_phase_map_covers_each_image_index_once(n, s):
    top = output_crop(n, n, s)[0]
    seen = []
    for u, y0, p0, count in phase_map(n, s, top):
        ys = list(range(y0, n, s))
        assert len(ys) == count
        for k, y in enumerate(ys):
            assert y + top == s * (p0 + k) + u  # same full-output index
        seen += ys
    assert sorted(seen) == list(range(n))


def test_crop_convention_by_hand():
    # one factor pixel, one channel: the full output is the kernel itself (4 x 4 for
    # s = 2); the 2 x 2 image keeps rows/cols 1..2, i.e. one cut at each side
    K = np.arange(16.0).reshape(1, 1, 4, 4)
    Y = ref.forward(np.ones((1, 1, 1)), K, (2, 2), 2)
    np.testing.assert_array_equal(Y[0], K[0, 0, 1:3, 1:3])
    # s = 1: 2 x 2 kernel, full output 2 x 2, image 1 x 1 keeps the first (top) row
    Y1 = ref.forward(np.ones((1, 1, 1)), np.arange(4.0).reshape(1, 1, 2, 2), (1, 1), 1)
    assert Y1[0, 0, 0] == 0.0


def test_validate_deconv_geometry_accepts_orl():
    assert validate_deconv_geometry((112, 92), 4, 112 * 92) == (112, 92, 4)
    assert validate_deconv_geometry([5, 3], np.int64(1)) == (5, 3, 1)


@pytest.mark.parametrize("stride", [0, -2, 1.5, 2.0, True, "2", None])
def test_validate_deconv_geometry_rejects_bad_stride(stride):
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        validate_deconv_geometry((8, 8), stride, 64)


@pytest.mark.parametrize("image_shape", [(0, 5), (5,), (5, 5, 5), (2.0, 3), (4, -1), None, "ab", (True, 3)])
def test_validate_deconv_geometry_rejects_bad_image_shape(image_shape):
    with pytest.raises(ValueError, match="image_shape must be two positive integers"):
        validate_deconv_geometry(image_shape, 2, 64)


def test_validate_deconv_geometry_rejects_inconsistent_image_shape():
    with pytest.raises(ValueError, match=r"image_shape \(10, 10\) holds 100 pixels .* 64 features"):
        validate_deconv_geometry((10, 10), 2, 64)


@pytest.mark.parametrize("impl", ALL_CPU_IMPLS)
def test_kernels_reject_inconsistent_operands(impl):
    k = get_deconv_kernels("numpy", impl)
    F, K, G = _operands(2, 3, 7, 5, 2)
    with pytest.raises(ValueError, match="2s x 2s"):
        k.forward(F, K[:, :, :3, :3], (7, 5), 2)  # stride 2 needs 4 x 4 kernels
    with pytest.raises(ValueError, match="F must have spatial shape"):
        k.forward(F, K, (9, 5), 2)
    with pytest.raises(ValueError, match="stride"):
        k.forward(F, K, (7, 5), 0)
    with pytest.raises(ValueError, match="in_shape"):
        k.grad_factors(G, K, (3, 3), 2)
    with pytest.raises(ValueError, match="K has 2 kernels but G has 1"):
        k.grad_factors(G[:1], K, (4, 3), 2)
    with pytest.raises(ValueError, match="K has 3 channels but F has 2"):
        k.forward(F[:2], K, (7, 5), 2)
    with pytest.raises(ValueError, match="G must be 3-D"):
        k.grad_kernels(G[0], F, 2)


# ------------------------------------------------------------------------ dispatch
def test_get_deconv_kernels_defaults_and_choices():
    assert get_deconv_kernels("numpy").name == CPU_DEFAULT_IMPL
    for impl in ALL_CPU_IMPLS:
        k = get_deconv_kernels("numpy", impl)
        assert k.name == impl
        assert all(callable(f) for f in (k.forward, k.grad_factors, k.grad_kernels))


@pytest.mark.parametrize(
    ("backend", "impl", "match"),
    [
        ("auto", "auto", "backend_name must be"),
        ("numpy", "fast", "impl must be"),
        ("numpy", "cupy", "works on backends"),
        ("cupy", "numba", "works on backends"),
        ("cupy", "reference", "works on backends"),
    ],
)
def test_get_deconv_kernels_rejects(backend, impl, match):
    with pytest.raises(ValueError, match=match):
        get_deconv_kernels(backend, impl)


# --------------------------------------------------------------- against the oracle
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("b", "r"), [(1, 1), (1, 3), (2, 1), (2, 3)])
@pytest.mark.parametrize(("h", "w"), IMAGE_SHAPES)
@pytest.mark.parametrize("s", STRIDES)
@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_fast_kernels_match_reference(impl, s, h, w, b, r, dtype):
    k = get_deconv_kernels("numpy", impl)
    F, K, G = _operands(b, r, h, w, s, dtype, seed=s * 100 + h)
    copies = [a.copy() for a in (F, K, G)]
    hi, wi = F.shape[1:]
    results = {
        "forward": (k.forward(F, K, (h, w), s), ref.forward(F, K, (h, w), s), (b, h, w)),
        "grad_factors": (k.grad_factors(G, K, (hi, wi), s), ref.grad_factors(G, K, (hi, wi), s), (r, hi, wi)),
        "grad_kernels": (k.grad_kernels(G, F, s), ref.grad_kernels(G, F, s), (b, r, 2 * s, 2 * s)),
    }
    for name, (got, want, shape) in results.items():
        assert got.shape == shape, name
        assert got.dtype == dtype and want.dtype == dtype, name
        assert got.flags.c_contiguous, name
        np.testing.assert_allclose(got, want, **_tol(dtype), err_msg=name)
    for a, c in zip((F, K, G), copies):
        np.testing.assert_array_equal(a, c)  # inputs untouched


@pytest.mark.parametrize("need", [("F", "K"), ("F",), ("K",), ()])
@pytest.mark.parametrize("s", STRIDES)
@pytest.mark.parametrize("impl", ALL_CPU_IMPLS)
def test_forward_keep_and_grads_equal_the_separate_operations(impl, s, need):
    """``forward_keep`` = forward; ``grads`` (with or without the kept operands) = the two adjoints."""
    k = get_deconv_kernels("numpy", impl)
    F, K, G = _operands(3, 2, 9, 6, s, np.float32, seed=s)
    Y, operands = k.forward_keep(F, K, (9, 6), s)
    np.testing.assert_allclose(Y, ref.forward(F, K, (9, 6), s), **_tol(np.float32))
    dF, dK = k.grads(G, F, K, s, need=need, operands=operands)
    dF_fresh, dK_fresh = k.grads(G, F, K, s, need=need)  # without the kept operands
    for kept, fresh in ((dF, dF_fresh), (dK, dK_fresh)):
        assert (kept is None) == (fresh is None)
        if kept is not None:
            np.testing.assert_array_equal(kept, fresh)
    if "F" in need:
        np.testing.assert_allclose(dF, ref.grad_factors(G, K, F.shape[1:], s), **_tol(np.float32))
    else:
        assert dF is None
    if "K" in need:
        assert dK.flags.c_contiguous and dK.shape == K.shape
        np.testing.assert_allclose(dK, ref.grad_kernels(G, F, s), **_tol(np.float32))
    else:
        assert dK is None


@pytest.mark.parametrize(("h", "w"), ((1, 1), (2, 3), (3, 2), (5, 7), (9, 6)))
@pytest.mark.parametrize("s", STRIDES)
def test_xp_zeroes_every_entry_its_copies_leave_uncovered(monkeypatch, s, h, w):
    """deconv_xp fills fresh (``empty``) buffers by slice copies and zeroes only the rest;
    with NaN-filled memory any entry left unwritten would show in every result."""
    from wnmf_np.kernels.deconv import xp as deconv_xp

    F, K, G = _operands(2, 3, h, w, s, np.float64, seed=7 * s + h)
    numpy_empty = np.empty
    monkeypatch.setattr(np, "empty", lambda shape, dtype=float, **kw: np.full(shape, np.nan, dtype=dtype))
    Y, operands = deconv_xp.forward_keep(F, K, (h, w), s)
    dF, dK = deconv_xp.grads(G, F, K, s, operands=operands)
    np.testing.assert_allclose(Y, ref.forward(F, K, (h, w), s), **_tol(np.float64))
    np.testing.assert_allclose(dF, ref.grad_factors(G, K, F.shape[1:], s), **_tol(np.float64))
    np.testing.assert_allclose(dK, ref.grad_kernels(G, F, s), **_tol(np.float64))
    np.testing.assert_allclose(deconv_xp.grad_factors(G, K, F.shape[1:], s), dF, **_tol(np.float64))
    np.testing.assert_allclose(deconv_xp.grad_kernels(G, F, s), dK, **_tol(np.float64))
    assert np.isnan(np.empty(3)).all() and numpy_empty is not np.empty  # the patch was in force


@pytest.mark.parametrize(("h", "w"), IMAGE_SHAPES + ((1, 1), (2, 3), (3, 2)))
@pytest.mark.parametrize("s", STRIDES)
def test_phase_layout_step_equals_the_image_step(monkeypatch, s, h, w):
    """Training in the phase layout: ``to_phase`` places each pixel once and zeroes the
    rest, ``forward_phase_keep`` is ``to_phase(forward)`` and ``grads_phase`` gives the
    image adjoints whatever its input holds at the cut entries (NaN here), which it
    zeroes in place. Fresh buffers are NaN-filled (True for masks), so an entry left
    unwritten shows."""
    k = get_deconv_kernels("numpy", "xp")
    from wnmf_np.kernels.deconv import xp as deconv_xp

    F, K, G = _operands(3, 2, h, w, s, np.float64, seed=11 * s + w)
    hi, wi = F.shape[1:]
    monkeypatch.setattr(np, "empty", lambda shape, dtype=float, **kw: np.full(shape, np.nan, dtype=dtype))
    kept = k.to_phase(np.ones((3, h * w), dtype=bool), (h, w), s)
    assert kept.dtype == bool and kept.shape == (3, s * s * (hi + 1) * (wi + 1))
    assert kept.sum() == 3 * h * w  # every pixel once, everything else False
    Gph = k.to_phase(G.reshape(3, h * w), (h, w), s)
    assert Gph.flags.c_contiguous and not Gph[~kept].any()
    np.testing.assert_array_equal(deconv_xp.from_phase(Gph, (h, w), s), G)  # a permutation plus padding
    Z, operands = k.forward_phase_keep(F, K, (h, w), s)
    assert Z.shape == Gph.shape and Z.flags.c_contiguous and not Z[~kept].any()
    np.testing.assert_allclose(Z[kept], k.to_phase(ref.forward(F, K, (h, w), s), (h, w), s)[kept], **_tol(np.float64))
    for need in (("F", "K"), ("F",), ("K",)):
        for ops in (operands, None):
            garbage = Gph.copy()
            garbage[~kept] = np.nan
            dF, dK = k.grads_phase(garbage, F, K, (h, w), s, need=need, operands=ops)
            assert not garbage[~kept].any()  # zeroed in place, as documented
            if "F" in need:
                np.testing.assert_allclose(dF, ref.grad_factors(G, K, (hi, wi), s), **_tol(np.float64))
            if "K" in need:
                assert dK.flags.c_contiguous
                np.testing.assert_allclose(dK, ref.grad_kernels(G, F, s), **_tol(np.float64))
            assert (dF is None) == ("F" not in need) and (dK is None) == ("K" not in need)


def test_phase_layout_ops_where_implemented_and_checked():
    """xp (and CuPy, which delegates to it) train in the phase layout; the others do not."""
    assert get_deconv_kernels("numpy", "xp").forward_phase_keep is not None
    for impl in ("reference", "numba"):
        k = get_deconv_kernels("numpy", impl)
        assert k.to_phase is k.forward_phase_keep is k.grads_phase is None
    k = get_deconv_kernels("numpy", "xp")
    F, K, _ = _operands(2, 3, 7, 5, 2)
    with pytest.raises(ValueError, match="Gph must have shape"):
        k.grads_phase(np.zeros((2, 7 * 5)), F, K, (7, 5), 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        k.grads_phase(np.zeros((4 * 5 * 4, 2)).T, F, K, (7, 5), 2)


@pytest.mark.parametrize(("h", "w"), IMAGE_SHAPES + ((1, 1), (2, 3)))
@pytest.mark.parametrize("s", STRIDES)
def test_reference_forward_matches_scipy_convolution(s, h, w):
    F, K, _ = _operands(2, 3, h, w, s, seed=7)
    want = _scipy_forward(F, K, h, w, s)
    np.testing.assert_allclose(ref.forward(F, K, (h, w), s), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("impl", CPU_IMPLS)
def test_fast_forward_matches_scipy_convolution(impl):
    # also directly, so that a shared misreading of the crop in reference and fast
    # code cannot hide: odd image, size not divisible by the stride
    k = get_deconv_kernels("numpy", impl)
    F, K, _ = _operands(2, 3, 13, 10, 4, seed=8)
    want = _scipy_forward(F, K, 13, 10, 4)
    np.testing.assert_allclose(k.forward(F, K, (13, 10), 4), want, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------- adjoints
@pytest.mark.parametrize(("h", "w"), IMAGE_SHAPES)
@pytest.mark.parametrize("s", STRIDES)
@pytest.mark.parametrize("impl", ALL_CPU_IMPLS)
def test_adjoint_identities(impl, s, h, w):
    """<forward(F, K), G> == <F, grad_factors(G, K)> == <K, grad_kernels(G, F)>."""
    k = get_deconv_kernels("numpy", impl)
    F, K, G = _operands(2, 3, h, w, s, seed=11)
    lhs = np.vdot(k.forward(F, K, (h, w), s), G)
    via_f = np.vdot(F, k.grad_factors(G, K, F.shape[1:], s))
    via_k = np.vdot(K, k.grad_kernels(G, F, s))
    scale = np.abs(F).sum() * np.abs(K).max() * np.abs(G).max() * 4  # bound on |terms|
    assert abs(lhs - via_f) <= 1e-14 * scale
    assert abs(lhs - via_k) <= 1e-14 * scale


@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("impl", ALL_CPU_IMPLS)
def test_gradients_match_central_differences(impl, s):
    """L = Σ G ⊙ forward(F, K): dL/dF = grad_factors(G, K), dL/dK = grad_kernels(G, F)."""
    k = get_deconv_kernels("numpy", impl)
    h, w = 5, 7
    F, K, G = _operands(2, 2, h, w, s, seed=13)

    def loss(F_, K_):
        return float(np.sum(G * k.forward(F_, K_, (h, w), s)))

    for name, analytic, numeric in (
        ("F", k.grad_factors(G, K, F.shape[1:], s), fd_grad(lambda x: loss(x, K), F)),
        ("K", k.grad_kernels(G, F, s), fd_grad(lambda x: loss(F, x), K)),
    ):
        err = np.abs(analytic - numeric)
        assert np.abs(analytic).max() > 0.1, name  # a zero gradient would pass trivially
        assert err.max() < 1e-6, (name, err.max())
        assert err.mean() < 1e-7, (name, err.mean())


# ---------------------------------------------------------------------- hypothesis
@settings(max_examples=40, deadline=None)
@given(
    s=st.integers(1, 4),
    h=st.integers(1, 11),
    w=st.integers(1, 11),
    b=st.integers(1, 3),
    r=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_fast_kernels_match_reference_on_random_shapes(s, h, w, b, r, seed):
    F, K, G = _operands(b, r, h, w, s, seed=seed)
    hi, wi = F.shape[1:]
    want = (ref.forward(F, K, (h, w), s), ref.grad_factors(G, K, (hi, wi), s), ref.grad_kernels(G, F, s))
    for impl in CPU_IMPLS:
        k = get_deconv_kernels("numpy", impl)
        got = (k.forward(F, K, (h, w), s), k.grad_factors(G, K, (hi, wi), s), k.grad_kernels(G, F, s))
        for g_, w_ in zip(got, want):
            np.testing.assert_allclose(g_, w_, rtol=1e-12, atol=1e-12, err_msg=impl)


def test_mixed_dtypes_promote_to_float64():
    F, K, G = _operands(1, 2, 6, 6, 2)
    for impl in ALL_CPU_IMPLS:
        k = get_deconv_kernels("numpy", impl)
        assert k.forward(F.astype(np.float32), K, (6, 6), 2).dtype == np.float64
        assert k.grad_kernels(G.astype(np.float32), F.astype(np.float32), 2).dtype == np.float32


# ---------------------------------------------------------------- fresh interpreters
def _run_python(code: str, **env) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_numba_kernels_run_as_python_without_jit():
    _run_python(
        """
        import numpy as np
        from wnmf_np.kernels.deconv import numba as nbk, reference as ref
        assert not hasattr(nbk._LOOPS.forward_phase, "py_func")  # plain Python, not a dispatcher
        rng = np.random.default_rng(0)
        F, K, G = rng.random((2, 2, 3)), rng.random((2, 2, 4, 4)), rng.random((2, 3, 5))
        np.testing.assert_allclose(nbk.forward(F, K, (3, 5), 2), ref.forward(F, K, (3, 5), 2))
        np.testing.assert_allclose(nbk.grad_factors(G, K, (2, 3), 2), ref.grad_factors(G, K, (2, 3), 2))
        np.testing.assert_allclose(nbk.grad_kernels(G, F, 2), ref.grad_kernels(G, F, 2))
        """,
        NUMBA_DISABLE_JIT="1",
    )


# ----------------------------------------------------------------------------- GPU
_needs_gpu = pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a usable NVIDIA GPU")


@pytest.mark.parametrize("s", STRIDES)
def test_xp_kernels_stay_in_the_input_namespace(xp, s):
    """deconv_xp on each available namespace (the conftest ``xp`` fixture): same values."""
    from wnmf_np.kernels.deconv import xp as deconv_xp

    F, K, G = _operands(2, 3, 7, 5, s, np.float32, seed=21)
    hi, wi = F.shape[1:]
    dF, dK, dG = xp.asarray(F), xp.asarray(K), xp.asarray(G)
    Y, operands = deconv_xp.forward_keep(dF, dK, (7, 5), s)
    got = (
        deconv_xp.forward(dF, dK, (7, 5), s),
        deconv_xp.grad_factors(dG, dK, (hi, wi), s),
        deconv_xp.grad_kernels(dG, dF, s),
        Y,
        *deconv_xp.grads(dG, dF, dK, s, operands=operands),
        deconv_xp.from_phase(deconv_xp.forward_phase_keep(dF, dK, (7, 5), s)[0], (7, 5), s),
        *deconv_xp.grads_phase(deconv_xp.to_phase(dG, (7, 5), s), dF, dK, (7, 5), s),
    )
    want = (ref.forward(F, K, (7, 5), s), ref.grad_factors(G, K, (hi, wi), s), ref.grad_kernels(G, F, s))
    want = want + want + want
    for g_, w_ in zip(got, want):
        assert isinstance(g_, xp.ndarray) and g_.dtype == np.float32
        np.testing.assert_allclose(to_np(g_), w_, **_tol(np.float32))


@pytest.mark.gpu
@_needs_gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("h", "w"), IMAGE_SHAPES)
@pytest.mark.parametrize("s", STRIDES)
def test_cupy_kernels_match_reference(s, h, w, dtype):
    import cupy as cp

    k = get_deconv_kernels("cupy")
    assert k.name == "cupy"
    F, K, G = _operands(2, 3, h, w, s, dtype, seed=s + h)
    hi, wi = F.shape[1:]
    dF, dK, dG = cp.asarray(F), cp.asarray(K), cp.asarray(G)
    Y, operands = k.forward_keep(dF, dK, (h, w), s)
    Z, phase_operands = k.forward_phase_keep(dF, dK, (h, w), s)
    Gph = k.to_phase(dG.reshape(dG.shape[0], -1), (h, w), s)
    got = (k.forward(dF, dK, (h, w), s), k.grad_factors(dG, dK, (hi, wi), s), k.grad_kernels(dG, dF, s),
           Y, *k.grads(dG, dF, dK, s, operands=operands),
           Z, *k.grads_phase(Gph, dF, dK, (h, w), s, operands=phase_operands))  # fmt: skip
    want = (ref.forward(F, K, (h, w), s), ref.grad_factors(G, K, (hi, wi), s), ref.grad_kernels(G, F, s))
    want = want + want + (k.to_phase(cp.asarray(want[0]), (h, w), s).get(),) + want[1:]
    for g_, w_ in zip(got, want):
        assert isinstance(g_, cp.ndarray) and g_.dtype == dtype and g_.flags.c_contiguous
        np.testing.assert_allclose(cp.asnumpy(g_), w_, **_tol(dtype))


@pytest.mark.gpu
@_needs_gpu
def test_cupy_adjoint_identities():
    import cupy as cp

    k = get_deconv_kernels("cupy")
    F, K, G = (cp.asarray(a) for a in _operands(3, 4, 13, 10, 4, seed=5))
    lhs = float(cp.vdot(k.forward(F, K, (13, 10), 4), G))
    via_f = float(cp.vdot(F, k.grad_factors(G, K, F.shape[1:], 4)))
    via_k = float(cp.vdot(K, k.grad_kernels(G, F, 4)))
    assert abs(lhs - via_f) <= 1e-10 * abs(lhs) + 1e-10
    assert abs(lhs - via_k) <= 1e-10 * abs(lhs) + 1e-10
