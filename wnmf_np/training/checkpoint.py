"""The file format of saved estimators: one ``.npz`` archive, no pickle.

Layout (a NumPy ``.npz`` archive, loaded with ``allow_pickle=False`` so that loading
never executes code):

- ``param/<name>``: the fitted arrays (raw parameters ``W``, ``H``, ... of the WNMF
  family; ``components``, ``W1`` ... of the multiplicative estimators).
- WNMF family only: ``opt/<name>/m``, ``opt/<name>/v``: AdamW moments;
  ``opt/<name>/step``: the step count (a 0-d int64 array, or one count per row for lazily
  updated latents); ``train/order``: the batch order of an unfinished epoch, if any.
- ``meta``: a 0-d unicode array holding a JSON document with the format version, the
  estimator class and its constructor parameters (``params``; callables such as a
  ``callback`` are not saved and listed in ``callables``), the fitted scalars
  (``fitted``), for the WNMF family the training counters and loss curve (``train``) and
  the random generator's state (``rng_state``), and the SHA-256 of every array above
  (``sha256``, over dtype, shape and bytes).

Writing is atomic: the archive goes to a temporary file ``.<name>.<random>.tmp`` in the
same folder, is flushed to disk, then renamed over the target, so a crash mid-write leaves
the previous file intact. A save first deletes temporaries of the same target that an
earlier, killed save left behind (:func:`remove_stale_temporaries`).

Reading verifies the format, the version and every checksum (:func:`read_archive`);
:class:`Doc` and :func:`check_entry` then validate the metadata and the arrays against the
estimator's schema (in :mod:`wnmf_np.estimators.persistence`), so a missing, mistyped, null,
out-of-range or inconsistent field raises :class:`CheckpointError` naming the field.
What these checks do and do not guarantee is in docs/large_data.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

try:  # advisory locks tell a killed save's temporary from one being written
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

FORMAT = "wnmf_np-checkpoint"
VERSION = 1
SUFFIX = ".npz"
#: where file locks are unavailable, a temporary untouched for this long counts as stale
STALE_AFTER_S = 3600.0


class CheckpointError(ValueError):
    """A checkpoint file cannot be read back (missing, truncated, foreign, tampered or
    inconsistent); the message names the file and the field."""


# ------------------------------------------------------------------------ paths
def checkpoint_file(path) -> Path:
    """The file ``save(path)`` writes: ``path`` if it ends in ``.npz``, else ``path + ".npz"``."""
    path = Path(os.fspath(path))
    return path if path.suffix == SUFFIX else path.with_name(path.name + SUFFIX)


def find_checkpoint(path) -> Path:
    """The file ``load(path)`` reads: what ``save(path)`` wrote, else ``path`` as given."""
    target = checkpoint_file(path)
    if target.is_file():
        return target
    given = Path(os.fspath(path))
    if given.is_file():
        return given
    tried = repr(str(target)) if target == given else f"{str(target)!r} (nor at {str(given)!r})"
    raise CheckpointError(f"no checkpoint file at {tried}.")


# ---------------------------------------------------------------------- writing
def _digest(a: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(str(a.dtype).encode() + str(a.shape).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def write_archive(path, arrays: dict, meta: dict) -> Path:
    """Write ``arrays`` and ``meta`` (with the checksums added) to ``checkpoint_file(path)``
    atomically; returns the path written. ``meta`` must be JSON without NaN or infinity."""
    path = checkpoint_file(path)
    meta = {**meta, "sha256": {k: _digest(v) for k, v in arrays.items()}}
    try:
        text = json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the model's metadata cannot be stored as JSON: {exc}") from None
    arrays = {**arrays, "meta": np.array(text)}
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = _locked_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
            if fcntl is not None:  # rename while the lock is held: no cleaner can take the file first
                os.replace(tmp, path)
        if fcntl is None:  # pragma: no cover - Windows cannot rename an open file
            os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _sync_folder(path.parent)
    return path


def _temporary_pattern(target: Path) -> re.Pattern:
    """Names of ``tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")`` for this target only."""
    return re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")


def _locked_temporary(target: Path) -> tuple[int, str]:
    """A new temporary beside ``target``, locked (exclusive ``flock``) while it is written."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        if fcntl is None:  # pragma: no cover
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without locks: write unlocked
            return fd, tmp
        try:  # a cleaner may have taken it between mkstemp and flock: then make another
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)


def remove_stale_temporaries(target) -> list[Path]:
    """Delete the temporaries that killed saves of ``target`` left in its folder.

    A temporary is stale when no process holds its lock (the writer locks it until the
    rename, and a killed process's locks are released), or, where locks are unavailable,
    when it is older than ``STALE_AFTER_S``. Temporaries of other targets, and of saves in
    progress, are never touched. Returns the paths removed.
    """
    target = Path(target)
    pattern = _temporary_pattern(target)
    removed = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False) and _remove_if_stale(entry.path):
            removed.append(Path(entry.path))
    return removed


def _remove_if_stale(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        locked = None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
            except BlockingIOError:
                return False  # a save in progress
            except OSError:
                locked = None  # no locks here: judge by age
        if locked is None and time.time() - os.fstat(fd).st_mtime < STALE_AFTER_S:
            return False
        if not os.path.samestat(os.fstat(fd), os.stat(path)):
            return False
        os.unlink(path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- reading
def read_archive(path) -> tuple[dict, dict, str]:
    """Read and verify a file written by :func:`write_archive`.

    Returns ``(meta, arrays, name)``: the parsed metadata (format and version checked),
    the host arrays without ``meta`` (every checksum verified) and the file's name for
    messages. Raises :class:`CheckpointError` for a missing, unreadable, foreign or
    tampered file; the metadata's content is left to :class:`Doc`.
    """
    file = find_checkpoint(path)
    name = str(file)
    try:
        archive = np.load(file, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{name!r} is a single .npy array, not a checkpoint archive.")
        with archive:
            arrays = {k: archive[k] for k in archive.files}
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to parse untrusted bytes means the same
        raise CheckpointError(
            f"{name!r} is not a readable checkpoint (truncated or not an .npz): {type(exc).__name__}: {exc}"
        ) from None
    text = arrays.pop("meta", None)
    if text is None:
        raise CheckpointError(f"{name!r} has no 'meta' entry: not a wnmf_np checkpoint.")
    if text.dtype.kind != "U" or text.ndim != 0:
        raise CheckpointError(f"{name!r}: its 'meta' entry is not a JSON string (dtype {text.dtype}, shape {text.shape}).")
    try:
        meta = json.loads(str(text))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name!r}: its metadata is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name!r} is not a wnmf_np checkpoint.")
    if meta.get("version") != VERSION or isinstance(meta.get("version"), bool):
        raise CheckpointError(f"{name!r} has checkpoint version {meta.get('version')!r}, this library reads {VERSION}.")
    expected = meta.get("sha256")
    if not isinstance(expected, dict) or not all(isinstance(v, str) for v in expected.values()):
        raise CheckpointError(f"{name!r}: checkpoint field 'sha256' must map every array to its checksum.")
    if set(expected) != set(arrays):
        raise CheckpointError(f"{name!r}: the stored arrays do not match its manifest (tampered?).")
    for key, arr in arrays.items():
        if _digest(arr) != expected[key]:
            raise CheckpointError(f"{name!r}: checksum mismatch for {key!r} (corrupted or tampered).")
    return meta, arrays, name


def _finite_number(v) -> bool:
    """A JSON number (not a boolean) that is a finite float64."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond float64
        return False


class Doc:
    """One section of a checkpoint's metadata, read through typed accessors.

    Every accessor raises :class:`CheckpointError` naming the file and the field
    (``'train.epoch'``) for a missing key, a wrong type, a null where none is allowed, a
    non-finite number or a value out of range; :meth:`finish` rejects fields the schema
    does not know. JSON integers are accepted where floats are expected, never booleans
    for numbers.
    """

    def __init__(self, data, file: str, where: str = ""):
        self.file, self.where = file, where
        if not isinstance(data, dict):
            raise self.error("", f"must be an object, got {type(data).__name__}")
        self.data = data
        self._seen = set()

    def error(self, key: str, problem: str) -> CheckpointError:
        field = (self.where + key).rstrip(".") or "meta"
        return CheckpointError(f"{self.file!r}: checkpoint field {field!r} {problem}.")

    def has(self, key: str) -> bool:
        return key in self.data

    def value(self, key: str, *, nullable: bool = False):
        self._seen.add(key)
        if key not in self.data:
            raise self.error(key, "is missing")
        value = self.data[key]
        if value is None and not nullable:
            raise self.error(key, "is null")
        return value

    def int(self, key: str, *, low: int | None = None, high: int | None = None) -> int:
        value = self.value(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, f"must be in [{low}, {high}], got {value}")
        return value

    def float(self, key: str, *, low: float | None = None, high: float | None = None, nullable: bool = False):
        value = self.value(key, nullable=nullable)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, got {value!r}")
        if not _finite_number(value):
            raise self.error(key, f"must be finite, got {value!r}")
        value = float(value)
        if (low is not None and value < low) or (high is not None and value > high):
            raise self.error(key, f"must be in [{low}, {high}], got {value}")
        return value

    def bool(self, key: str) -> bool:
        value = self.value(key)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def str(self, key: str, *, choices: tuple | None = None) -> str:
        value = self.value(key)
        if not isinstance(value, str) or (choices is not None and value not in choices):
            raise self.error(key, f"must be {'one of ' + repr(choices) if choices else 'a string'}, got {value!r}")
        return value

    def floats(self, key: str, *, low: float | None = None) -> list:
        """A list of finite numbers (``>= low`` if given)."""
        values = self.value(key)
        if not isinstance(values, list):
            raise self.error(key, f"must be a list of numbers, got {type(values).__name__}")
        out = []
        for i, v in enumerate(values):
            if not _finite_number(v) or (low is not None and v < low):
                raise self.error(f"{key}[{i}]", f"must be a finite number{'' if low is None else f' >= {low}'}, got {v!r}")
            out.append(float(v))
        return out

    def strings(self, key: str) -> list:
        values = self.value(key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.error(key, f"must be a list of strings, got {values!r}")
        return values

    def section(self, key: str, *, nullable: bool = False):
        value = self.value(key, nullable=nullable)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.error(key, f"must be an object, got {type(value).__name__}")
        return Doc(value, self.file, f"{self.where}{key}.")

    def finish(self) -> None:
        """Reject fields that the schema did not read."""
        unknown = sorted(set(self.data) - self._seen)
        if unknown:
            raise self.error(unknown[0], "is not a field of this checkpoint")


class Entries:
    """The arrays of a verified archive, checked against the schema as they are read."""

    def __init__(self, arrays: dict, file: str):
        self.arrays, self.file = arrays, file
        self._seen = set()

    def error(self, key: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.file!r}: checkpoint array {key!r} {problem}.")

    def has(self, key: str) -> bool:
        return key in self.arrays

    def get(self, key: str, *, shape=None, dtype=None, kinds: str = "f", finite: bool = True,
            non_negative: bool = False) -> np.ndarray:  # fmt: skip
        """The array ``key``; ``shape`` (a tuple, None entries free), ``dtype`` or a
        dtype kind from ``kinds``, finite and non-negative values as asked."""
        self._seen.add(key)
        if key not in self.arrays:
            raise self.error(key, "is missing")
        a = self.arrays[key]
        if dtype is not None and a.dtype != np.dtype(dtype):
            raise self.error(key, f"must have dtype {np.dtype(dtype)}, got {a.dtype}")
        if a.dtype.kind not in kinds or a.dtype.kind == "f" and a.dtype not in (np.float32, np.float64):
            raise self.error(key, f"has dtype {a.dtype}, expected {'float32/float64' if kinds == 'f' else 'integers'}")
        if shape is not None and (a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape))):
            want = "(" + ", ".join("n" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
            raise self.error(key, f"has shape {a.shape}, expected {want} from the other fields")
        if finite and a.dtype.kind == "f" and not np.isfinite(a).all():
            raise self.error(key, "contains NaN or infinite values")
        if non_negative and a.size and a.min() < 0:
            raise self.error(key, f"has negative entries (min {a.min()!r}); it must be non-negative")
        return a

    def finish(self) -> None:
        unknown = sorted(set(self.arrays) - self._seen)
        if unknown:
            raise self.error(unknown[0], "is not part of this checkpoint")


# ------------------------------------------------------------ estimator header
def header(estimator) -> dict:
    """The metadata common to every saved estimator: format, class and the constructor
    parameters JSON can hold (tuples listed in ``tuple_params``, callables in ``callables``)."""
    params, tuples, callables = {}, [], []
    for key, value in estimator.get_params(deep=False).items():
        if callable(value):
            callables.append(key)
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if isinstance(value, tuple):
            tuples.append(key)
            value = list(value)
        if isinstance(value, list):
            value = [v.item() if isinstance(v, np.generic) else v for v in value]
        elif isinstance(value, np.generic):
            value = value.item()
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise CheckpointError(f"parameter {key}={value!r} cannot be stored in a checkpoint.") from None
        params[key] = value
    return {
        "format": FORMAT, "version": VERSION, "class": type(estimator).__name__,
        "params": params, "tuple_params": tuples, "callables": callables,
    }  # fmt: skip


def open_estimator(cls, path) -> tuple:
    """Read ``path`` and rebuild a ``cls`` from its header.

    Returns ``(estimator, doc, entries)``: a fresh estimator with the saved constructor
    parameters (exactly the constructor's names; callables not saved take their defaults),
    the metadata with the header read (:class:`Doc`) and the arrays (:class:`Entries`).
    The caller validates the parameters with the estimator's own checks and reads the rest.
    """
    meta, arrays, file = read_archive(path)
    doc = Doc(meta, file)
    doc.str("format")
    doc.int("version")
    doc.value("sha256")
    saved_class = doc.str("class")
    if saved_class != cls.__name__:
        raise CheckpointError(f"{file!r} holds a {saved_class}, not a {cls.__name__}.")
    params = dict(doc.section("params").data)
    tuples = doc.strings("tuple_params")
    # files written before 'callables' existed left out only a set callback
    callables = doc.strings("callables") if doc.has("callables") else [k for k in ("callback",) if k not in params]
    names = set(cls._get_param_names())
    unknown, missing = sorted(set(params) - names), sorted(names - set(params) - set(callables))
    if unknown:
        raise doc.error(f"params.{unknown[0]}", f"is not a parameter of {cls.__name__}")
    if missing:
        raise doc.error(f"params.{missing[0]}", "is missing")
    for key in tuples:
        if key not in params or not isinstance(params[key], list):
            raise doc.error("tuple_params", f"names {key!r}, which is not a list parameter")
        params[key] = tuple(params[key])
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise doc.error("params", f"does not fit {cls.__name__}: {exc}") from None
    return estimator, doc, Entries(arrays, file)


def validated(doc: Doc, check):
    """Run the estimator's own parameter checks ``check()``; their errors become a
    :class:`CheckpointError` on field ``params`` (the message names the parameter)."""
    try:
        return check()
    except (ValueError, TypeError) as exc:
        raise doc.error("params", f"holds an invalid parameter: {exc}") from None
