"""Small CPU fits covering every estimator path that launches a CUDA kernel on the GPU.

Each entry of :data:`FITS` runs one scenario on data made by ``dev`` (``numpy.asarray`` for
the NumPy backend, the stand-in's ``asarray`` for the CuPy code path) in ``dtype`` and
returns its results (arrays left where the estimator put them). The compile check runs
them under the CuPy stand-in to record the kernels' argument signatures; the tests also
run them on NumPy and compare.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import wnmf_np

#: name -> scenario(dev, dtype) -> dict of results
FITS: dict[str, Callable] = {}

#: name -> the ``module:function`` that is one training step of its estimator, inside which
#: nothing may be read back to the host; UnfoldedNMF's step is inline in ``_train`` (not listed)
STEPS = {
    **dict.fromkeys(
        ("wnmf-lazy", "wnmf-dense", "wnmf-missing", "wnmf-checkpoint", "deep", "deconv-image", "deconv-phase"),
        ("wnmf_np.training.driver:_step",),
    ),
    "mu": ("wnmf_np.mu.shallow:update_H", "wnmf_np.mu.shallow:update_Wt"),
    "deep-mu": ("wnmf_np.mu.deep:factor_update",),
}


def _fit(label):
    def register(fn):
        FITS[label] = fn
        return fn

    return register


def _data(n=40, m=12, seed=0, missing=False):
    X = np.random.default_rng(seed).uniform(0.05, 1.0, size=(n, m))
    if missing:
        X[::7, ::5] = np.nan
    return X


def _adam(**kw):
    return {"max_epochs": 3, "batch_size": 8, "random_state": 0, **kw}


@_fit("wnmf-lazy")
def _wnmf_lazy(dev, dtype):
    """WNMF (lazy H): fit_transform, transform, partial_fit, inverse_transform."""
    X = _data()
    est = wnmf_np.WNMF(3, dtype=dtype, **_adam())
    Z = est.fit_transform(dev(X))
    Z_new = est.transform(dev(X[:10]))
    est.partial_fit(dev(X[10:26]))
    return {
        "Z": Z,
        "Z_new": Z_new,
        "X_hat": est.inverse_transform(Z_new),
        "W": est.components_,
        "loss": est.loss_curve_,
    }


@_fit("wnmf-dense")
def _wnmf_dense(dev, dtype):
    """WNMF with the dense H update (AdamW over all of H every step)."""
    est = wnmf_np.WNMF(3, dtype=dtype, h_update="dense", **_adam())
    return {"Z": est.fit_transform(dev(_data())), "loss": est.loss_curve_}


@_fit("wnmf-missing")
def _wnmf_missing(dev, dtype):
    """WNMF with missing entries (NaN, omitted), the summed loss and λ as a penalty."""
    est = wnmf_np.WNMF(3, dtype=dtype, nan_policy="omit", loss_reduction="sum", l2_mode="penalty", **_adam())
    return {"Z": est.fit_transform(dev(_data(missing=True))), "loss": est.loss_curve_}


@_fit("wnmf-checkpoint")
def _wnmf_checkpoint(dev, dtype):
    """WNMF: fit, save, load onto the same backend, resume to more epochs."""
    X = dev(_data())
    est = wnmf_np.WNMF(3, dtype=dtype, **_adam(max_epochs=2))
    est.fit(X)
    backend = "cupy" if est.backend_ == "cupy" else "numpy"
    with tempfile.TemporaryDirectory() as tmp:
        loaded = wnmf_np.WNMF.load(est.save(Path(tmp) / "model"), backend=backend)
    loaded.set_params(max_epochs=4)
    loaded.fit(X, resume=True)
    return {"W": loaded.components_, "Z": loaded.transform(X), "loss": loaded.loss_curve_}


@_fit("deep")
def _deep(dev, dtype):
    est = wnmf_np.DeepWNMF((2, 3), dtype=dtype, **_adam())
    return {"Z": est.fit_transform(dev(_data())), "loss": est.loss_curve_}


@_fit("deconv-image")
def _deconv(dev, dtype):
    est = wnmf_np.DeconvWNMF(2, stride=2, image_shape=(4, 3), dtype=dtype, train_layout="image", **_adam())
    return {"Z": est.fit_transform(dev(_data())), "loss": est.loss_curve_}


@_fit("deconv-phase")
def _deconv_phase(dev, dtype):
    est = wnmf_np.DeconvWNMF(2, stride=2, image_shape=(4, 3), dtype=dtype, train_layout="phase", **_adam())
    return {"Z": est.fit_transform(dev(_data())), "loss": est.loss_curve_}


@_fit("mu")
def _mu(dev, dtype):
    """MultiplicativeNMF for each kind of β (γ = 1 and γ ≠ 1), with and without missing entries; transform."""
    out = {}
    for beta in ("frobenius", "kullback-leibler", "itakura-saito", 1.5, 3.0):
        for missing in (False, True):
            est = wnmf_np.MultiplicativeNMF(
                3, beta_loss=beta, max_iter=15, tol=0.0, random_state=0, dtype=dtype, nan_policy="omit"
            )
            X = dev(_data(missing=missing))
            out[f"W {beta} {missing}"] = est.fit_transform(X)
            out[f"H {beta} {missing}"] = est.components_
        out[f"T {beta}"] = est.transform(X)
    return out


@_fit("deep-mu")
def _deep_mu(dev, dtype):
    est = wnmf_np.DeepMultiplicativeNMF((2, 3), max_iter=10, pretrain_iter=10, tol=0.0, random_state=0, dtype=dtype)
    return {"Z": est.fit_transform(dev(_data())), "T": est.transform(dev(_data(seed=1)))}


@_fit("unfolded")
def _unfolded(dev, dtype):
    est = wnmf_np.UnfoldedNMF(3, n_layers=3, max_iter=5, lr=5e-3, batch_size=10, random_state=0, dtype=dtype)
    return {"Z": est.fit_transform(dev(_data())), "T": est.transform(dev(_data(seed=1)))}
