"""Checkpoints of WNMF-family estimators: one ``.npz`` file, no pickle.

Layout of the file (a NumPy ``.npz`` archive, loaded with ``allow_pickle=False`` so that
loading never executes code):

- ``param/<name>``: the raw parameters (``W``, ``H``, ...), float32/float64.
- ``opt/<name>/m``, ``opt/<name>/v``: AdamW moments; ``opt/<name>/step``: the step count
  (a 0-d int64 array, or one count per row for lazily updated latents).
- ``meta``: a 0-d unicode array holding JSON with the format version, the estimator class
  and its constructor parameters (JSON-representable ones; a ``callback`` is not saved),
  the training counters and loss curve, the random generator's state, fitted scalars, and
  the SHA-256 of every array above.

Writing is atomic: the archive goes to a temporary file in the same folder, is flushed to
disk, then renamed over the target, so a crash mid-write leaves the previous checkpoint
intact. Loading verifies the format and every checksum and raises
:class:`CheckpointError` with a clear message for a truncated, foreign or tampered file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._backend import to_numpy
from ._fit import TrainState
from ._optim import AdamWState

FORMAT = "wnmf_np-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be read back (missing, truncated, foreign or tampered)."""


def _digest(a: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(a.dtype).encode() + str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _json_params(estimator) -> dict:
    out = {}
    for key, value in estimator.get_params(deep=False).items():
        if key == "callback" or callable(value):
            continue
        if isinstance(value, tuple):
            value = list(value)
        try:
            json.dumps(value)
        except TypeError:
            raise CheckpointError(f"parameter {key}={value!r} cannot be stored in a checkpoint.") from None
        out[key] = value
    return out


def save_checkpoint(estimator, path, rng: np.random.Generator | None = None) -> Path:
    """Write ``estimator``'s parameters, optimizer state and counters to ``path`` atomically.

    Parameters
    ----------
    estimator : a fitted or partially fitted WNMF-family estimator
    path : str or Path
        Target file (``.npz`` is appended if missing).
    rng : numpy Generator, optional
        The generator of the batch order, whose state a resumed fit continues from
        (defaults to the one the estimator kept from its last fit).

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    state: TrainState = estimator.train_state_
    arrays = {f"param/{k}": to_numpy(v) for k, v in estimator.params_.items()}
    for name, st in state.opt.items():
        arrays[f"opt/{name}/m"] = to_numpy(st.m)
        arrays[f"opt/{name}/v"] = to_numpy(st.v)
        arrays[f"opt/{name}/step"] = np.asarray(to_numpy(st.step), dtype=np.int64)
    rng = rng if rng is not None else getattr(estimator, "_rng", None)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "class": type(estimator).__name__,
        "params": _json_params(estimator),
        "tuple_params": [k for k, v in estimator.get_params(deep=False).items() if isinstance(v, tuple)],
        "train": {
            "epoch": state.epoch,
            "step": state.step,
            "loss_curve": [float(x) for x in state.loss_curve],
            "best_loss": float(state.best_loss) if np.isfinite(state.best_loss) else None,
            "epochs_no_improve": state.epochs_no_improve,
            "stopped_early": state.stopped_early,
        },
        "rng_state": None if rng is None else rng.bit_generator.state,
        "fitted": {
            "final_eta_": estimator.final_eta_,
            "n_features_in_": estimator.n_features_in_,
            "reconstruction_err_": estimator.reconstruction_err_,
            "backend_": estimator.backend_,
        },
        "sha256": {k: _digest(v) for k, v in arrays.items()},
    }
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def read_checkpoint(path) -> tuple[dict, dict]:
    """Read and verify a checkpoint; returns (meta, arrays) with host NumPy arrays."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {str(path)!r}.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint (truncated or not an .npz): {exc}") from None
    if "meta" not in arrays:
        raise CheckpointError(f"{str(path)!r} has no 'meta' entry: not a wnmf_np checkpoint.")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{str(path)!r}: its metadata is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a wnmf_np checkpoint.")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{str(path)!r} has checkpoint version {meta.get('version')}, this library reads {VERSION}.")
    expected = meta.get("sha256", {})
    if set(expected) != set(arrays):
        raise CheckpointError(f"{str(path)!r}: the stored arrays do not match its manifest (tampered?).")
    for key, arr in arrays.items():
        if _digest(arr) != expected[key]:
            raise CheckpointError(f"{str(path)!r}: checksum mismatch for {key!r} (corrupted or tampered).")
    return meta, arrays


def constructor_params(meta: dict) -> dict:
    """The saved constructor parameters, with tuples restored (JSON stores lists)."""
    params = dict(meta["params"])
    for key in meta.get("tuple_params", []):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return params


def restore_into(estimator, meta: dict, arrays: dict, backend) -> np.random.Generator | None:
    """Fill a fresh estimator's fitted state from a verified checkpoint (on ``backend``)."""
    params = {k.split("/", 1)[1]: backend.asarray(v) for k, v in arrays.items() if k.startswith("param/")}
    opt = {}
    for name in {k.split("/")[1] for k in arrays if k.startswith("opt/")}:
        step = arrays[f"opt/{name}/step"]
        step = int(step) if step.ndim == 0 else backend.asarray(step)
        opt[name] = AdamWState(step, backend.asarray(arrays[f"opt/{name}/m"]), backend.asarray(arrays[f"opt/{name}/v"]))
    train = meta["train"]
    state = TrainState(
        opt=opt,
        epoch=int(train["epoch"]),
        step=int(train["step"]),
        loss_curve=list(train["loss_curve"]),
        best_loss=np.inf if train["best_loss"] is None else float(train["best_loss"]),
        epochs_no_improve=int(train["epochs_no_improve"]),
        stopped_early=bool(train["stopped_early"]),
    )
    rng = None
    if meta.get("rng_state") is not None:
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = meta["rng_state"]
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"the checkpoint's random state cannot be restored: {exc}") from None
    fitted = meta["fitted"]
    estimator.params_ = params
    estimator.train_state_ = state
    estimator.final_eta_ = float(fitted["final_eta_"])
    estimator.n_features_in_ = int(fitted["n_features_in_"])
    estimator.reconstruction_err_ = float(fitted["reconstruction_err_"])
    estimator.backend_ = backend.name
    estimator.n_iter_ = state.epoch
    estimator.loss_curve_ = list(state.loss_curve)
    estimator._rng = rng
    return rng
