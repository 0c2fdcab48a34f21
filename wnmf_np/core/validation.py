"""Input and parameter checks with messages that name the offending argument.

Data convention at the public boundary (sklearn's): ``X`` has shape
``(n_samples, n_features)``; the paper's matrix is ``X.T``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp

# _check_feature_names: scikit-learn's own feature-name bookkeeping, what ``validate_data``
# runs first (sklearn >= 1.6). The public ``validate_data(..., skip_check_array=True)``
# would also compare the feature count, with a misleading message for 1-D input.
from sklearn.utils.validation import _check_feature_names, check_array

from .backend import Backend, is_cupy_array

NAN_POLICIES = ("raise", "omit")
DTYPES = {"float32": np.float32, "float64": np.float64}


# --------------------------------------------------------------------------- params
def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """Check an integer parameter (bools rejected) in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} of type {type(value).__name__}.")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}.")
    return int(value)


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check a finite real parameter in the interval given by ``low``/``high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{name} must be {bound} {low}, got {value}.")
    if high is not None and (value > high or (high_open and value == high)):
        bound = "<" if high_open else "<="
        raise ValueError(f"{name} must be {bound} {high}, got {value}.")
    return value


def check_option(name: str, value: Any, options: tuple) -> Any:
    """Check that ``value`` is one of ``options``."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")
    return value


def check_dtype(dtype: Any) -> type:
    """Map ``"float32"``/``"float64"`` (or the NumPy types) to a NumPy scalar type."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}.")
    return DTYPES[key]


def declared_dtype(dtype: Any):
    """The NumPy type an explicit ``dtype`` names, or None for ``dtype=None`` (follow the data)."""
    return None if dtype is None else check_dtype(dtype)


def resolve_dtype(dtype: Any, X: Any) -> type:
    """The working precision of a fit: ``dtype`` when given, else the one of ``X``.

    ``dtype=None`` follows the data, as scikit-learn's NMF does: float32 stays float32 and
    float64 stays float64 (a list of Python floats counts as float64); everything else
    (integers, booleans, float16, complex that the data checks then reject) works in
    float32, the precision the fused kernels are tuned for.
    """
    if dtype is not None:
        return check_dtype(dtype)
    return np.float64 if input_dtype(X) == np.float64 else np.float32


def preserved_dtypes(dtype: Any) -> list[str]:
    """scikit-learn's ``preserves_dtype`` tag for the ``dtype`` parameter: both floats
    when it follows X (None), else the one it names."""
    if dtype is None:
        return ["float64", "float32"]
    try:
        return [np.dtype(dtype).name]
    except TypeError:  # an invalid dtype is reported by fit, not by the tags
        return ["float32"]


def input_dtype(X: Any) -> np.dtype | None:
    """The NumPy dtype ``X`` holds, or None when it cannot be told without a copy."""
    found = getattr(X, "dtype", None)
    if found is None and hasattr(X, "dtypes"):  # a DataFrame: one dtype per column
        try:
            found = np.result_type(*list(X.dtypes))
        except TypeError:  # extension dtypes (pandas nullable, polars)
            return None
    elif found is None:
        try:  # lists and tuples: what NumPy makes of them
            found = np.asarray(X).dtype
        except (TypeError, ValueError):
            return None
    try:
        return np.dtype(found)
    except TypeError:
        return None


def record_feature_names(estimator: Any, X: Any) -> None:
    """Set ``feature_names_in_`` from the string column names of a DataFrame ``X`` (in
    ``fit``, after the data checks); other input deletes a stale ``feature_names_in_``."""
    _check_feature_names(estimator, X, reset=True)


def check_feature_names(estimator: Any, X: Any) -> None:
    """Compare the column names of ``X`` with those seen in ``fit``, before any other check
    of ``X`` (as scikit-learn orders them): renamed, reordered or missing columns raise
    ``ValueError``; names on one side only give a ``UserWarning``."""
    _check_feature_names(estimator, X, reset=False)


def check_random_state_seed(random_state: Any) -> np.random.Generator:
    """A NumPy ``Generator`` from ``None``, a non-negative int, or a ``Generator`` / ``RandomState``.

    Booleans are rejected (as for every integer parameter), and so are negative seeds.
    """
    if isinstance(random_state, bool):
        raise TypeError(f"random_state must be None, a non-negative integer or a numpy Generator, got {random_state!r}.")
    if random_state is None or isinstance(random_state, numbers.Integral):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer (or None), got {random_state}.")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise TypeError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}.")


# ------------------------------------------------------------------------------ data
def check_data(
    X: Any,
    backend: Backend,
    dtype: type,
    *,
    nan_policy: str = "raise",
    mask: Any = None,
    non_negative: bool = False,
    name: str = "X",
    min_samples: int = 1,
    copy: bool = True,
):
    """Validate a data matrix and move it onto ``backend``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Dense data. NumPy/CuPy arrays, lists and read-only or Fortran-ordered arrays are
        accepted; the caller's array is never modified.
    backend : Backend
    dtype : numpy scalar type
        Working precision (float32 or float64).
    nan_policy : {"raise", "omit"}
        ``"raise"``: NaN is an error. ``"omit"``: NaN marks a missing entry, which is
        excluded from the loss and its gradient.
    mask : array-like of bool, shape (n_samples, n_features), optional
        True where an entry is observed. Combined with the NaN mask under ``"omit"``.
        A NumPy masked array ``X`` adds its own mask: masked entries are missing values
        (whatever they hold, NaN and inf included), exactly as with ``mask=~X.mask``.
    non_negative : bool
        Reject negative observed entries (KL loss, multiplicative updates).
    copy : bool
        True: the returned ``X`` is always a new array. False: the caller's array itself
        comes back when it needs no conversion and has no missing entry to zero (for
        callers that never write into ``X``; it saves a pass and the memory of a copy).

    Returns
    -------
    X : array of shape (n_samples, n_features), C-contiguous, on the backend
        Missing entries are set to 0.
    observed : bool array of the same shape, or None when every entry is observed.
    """
    check_option("nan_policy", nan_policy, NAN_POLICIES)
    X, hidden = _split_masked(X)
    if sp.issparse(X):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; this estimator needs dense input: pass {name}.toarray() "
            "(MultiplicativeNMF accepts sparse input directly)."
        )
    if is_cupy_array(X):
        X = _check_device_array(X, backend, dtype, name)
    else:
        try:
            X = check_array(
                X,
                dtype=[np.float64, np.float32],
                ensure_all_finite=False,
                ensure_min_samples=min_samples,
                ensure_min_features=1,
                input_name=name,
            )
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc
        X = backend.asarray(X)
    xp = backend.xp
    # one reduction and no boolean temporaries for the usual finite X: its sum is finite
    # (a NaN or inf entry makes it NaN or inf; an overflow only sends us the long way)
    all_finite = bool(xp.isfinite(X.sum()))
    if not all_finite and xp.isinf(X).any():
        raise ValueError(f"{name} contains infinite values; remove or clip them before fitting.")
    nan = None if all_finite else xp.isnan(X)
    has_nan = nan is not None and bool(nan.any())
    if has_nan and nan_policy == "raise":
        raise ValueError(
            f"{name} contains NaN. If NaN marks missing entries, pass nan_policy='omit' "
            "(missing entries are then left out of the loss); otherwise clean the data."
        )
    observed = None
    if mask is not None:
        observed = _check_mask(mask, X.shape, backend)
    if hidden is not None:
        shown = ~backend.asarray(hidden)
        observed = shown if observed is None else observed & shown
    if has_nan:
        observed = ~nan if observed is None else observed & ~nan
    narrowing = np.dtype(X.dtype).itemsize > np.dtype(dtype).itemsize
    must_copy = copy or observed is not None  # zeroing missing entries writes into X
    X = xp.array(X, dtype=dtype, order="C", copy=True) if must_copy else xp.asarray(X, dtype=dtype, order="C")
    if narrowing and bool(xp.isinf(X).any()):  # only a cast to a narrower float overflows
        raise ValueError(
            f"{name} has values beyond the range of {np.dtype(dtype).name} (max {np.finfo(dtype).max:.3g}); "
            "rescale the data or use dtype='float64'."
        )
    if observed is not None:
        X[~observed] = 0
        if not bool(observed.any()):
            raise ValueError(f"{name} has no observed entry (everything is NaN or masked out).")
    if non_negative and float(X.min()) < 0:  # NaN is 0 by now
        raise ValueError(f"Negative values in data passed to {name} (min {float(X.min()):g}); this needs non-negative data.")
    return X, observed


def check_latents(Z: Any, width: int, xp, dtype, name: str = "Z"):
    """Validate latents passed to ``inverse_transform``: 2-D, real, finite, at least one
    row, ``width`` columns; a masked array only without masked entries."""
    if sp.issparse(Z):
        Z = Z.toarray()
    if isinstance(Z, np.ma.MaskedArray):
        if np.ma.getmaskarray(Z).any():
            raise ValueError(f"{name} is a masked array with masked entries; a reconstruction needs every latent value.")
        Z = np.ma.getdata(Z)
    try:
        Z = xp.asarray(Z)
    except (ValueError, TypeError) as exc:  # ragged lists, objects
        raise ValueError(f"{name} must be a 2-D array of real numbers (n_samples, {width}): {exc}") from None
    if Z.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, {width}), got shape {tuple(Z.shape)}.")
    if Z.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers, got dtype {Z.dtype}.")
    if Z.shape[0] < 1:
        raise ValueError(f"{name} has 0 samples (shape {tuple(Z.shape)}); at least one is required.")
    if Z.shape[1] != width:
        raise ValueError(f"{name} must have {width} columns (the latent dimension), got {Z.shape[1]}.")
    Z = Z.astype(dtype, copy=False)
    if not bool(xp.isfinite(Z).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return Z


def _split_masked(X: Any):
    """``(data, hidden)`` of a NumPy masked array (masked entries set to 0, hidden the bool
    mask, or None when nothing is masked); any other input is returned as it is."""
    if not isinstance(X, np.ma.MaskedArray):
        return X, None
    hidden = np.ma.getmaskarray(X)
    data = np.ma.getdata(X)
    if not hidden.any():
        return data, None
    return np.where(hidden, np.zeros((), dtype=data.dtype), data), hidden


def _check_mask(mask: Any, shape: tuple, backend: Backend):
    """Validate a boolean observation mask of the data's shape."""
    if sp.issparse(mask):
        mask = mask.toarray()
    mask = backend.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask must have the shape of X {tuple(shape)}, got {tuple(mask.shape)}.")
    if mask.dtype != bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must be boolean (True where an entry is observed).")
        mask = mask.astype(bool)
    return mask


def _check_device_array(X: Any, backend: Backend, dtype: type, name: str):
    """The checks of ``check_array`` for a CuPy array, without leaving the device."""
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {X.shape}.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}.")
    return backend.asarray(X)
