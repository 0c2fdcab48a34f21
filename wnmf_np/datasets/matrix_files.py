""":func:`load_matrix`: a data matrix (and optional labels) from a .npy, .npz, .csv or .mat file."""

from __future__ import annotations

import csv
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .paths import PathLike, _existing


def _pick(names: list[str], key: str | None, exclude: str | None, path: Path) -> str:
    """The array name to use: ``key`` if given, else the only one besides ``exclude``."""
    if key is not None:
        if key not in names:
            raise ValueError(f"key {key!r} not found in '{path}'; available keys: {sorted(names)}.")
        return key
    candidates = [n for n in names if n != exclude]
    if len(candidates) != 1:
        raise ValueError(
            f"'{path}' holds {len(candidates)} candidate arrays {sorted(candidates)}; pass key= to choose one."
        )
    return candidates[0]


def _from_named(arrays: dict, key: str | None, labels_key: str | None, path: Path):
    """Select data and labels from a name -> array mapping (.npz, .mat)."""
    names = list(arrays)
    if labels_key is not None and labels_key not in names:
        raise ValueError(f"labels_key {labels_key!r} not found in '{path}'; available keys: {sorted(names)}.")
    X = arrays[_pick(names, key, labels_key, path)]
    return X, (None if labels_key is None else arrays[labels_key])


#: the first bytes of every .npy file (NumPy's format)
_NPY_MAGIC = b"\x93NUMPY"
#: what NumPy raises on a malformed .npy header: its parser tokenizes the header text
_HEADER_ERRORS = (ValueError, SyntaxError, tokenize.TokenError)


def _read_npy_array(read, path: Path, member: str | None = None) -> np.ndarray:
    """``read()`` (an ``np.load`` without pickle), with NumPy's messages made precise.

    NumPy reports an object array, and any file that is not a .npy at all, with advice
    to pass ``allow_pickle=True``, which would run code from the file, and a corrupt
    header with a ``tokenize.TokenError``; both are replaced by a line naming the file.
    """
    where = f"'{path}'" if member is None else f"'{path}', array {member!r},"
    try:
        return read()
    except _HEADER_ERRORS as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            raise ValueError(
                f"{where} holds Python objects (an object array), which are not loaded because that could "
                "run code from the file; save the data as numbers (e.g. np.save(path, X.astype(float)))."
            ) from None
        raise ValueError(f"{where} has a corrupt .npy header: {exc}") from None


def _load_npz(path: Path, key, labels_key):
    if not zipfile.is_zipfile(path):
        raise ValueError(f"'{path}' is not a .npz file: it is not a zip archive (another format, or corrupt).")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: _read_npy_array(lambda k=k: npz[k], path, k) for k in npz.files}
    return _from_named(arrays, key, labels_key, path)


def _load_npy(path: Path, key, labels_key):
    if key is not None or labels_key is not None:
        raise ValueError(f"'{path}' is a .npy file holding one array; key and labels_key must be None.")
    with open(path, "rb") as fh:
        magic = fh.read(len(_NPY_MAGIC))
    if magic != _NPY_MAGIC:
        raise ValueError(f"'{path}' is not a .npy file: it does not start with NumPy's magic bytes (another format, or corrupt).")
    return _read_npy_array(lambda: np.load(path, allow_pickle=False), path), None


def _load_mat(path: Path, key, labels_key):
    import scipy.io  # noqa: PLC0415  (only needed for .mat files)
    import scipy.sparse  # noqa: PLC0415

    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
        raise ValueError(
            f"'{path}' is a MATLAB v7.3 (HDF5) file, which scipy cannot read; re-save it with "
            "save(..., '-v7') or read it with h5py and pass the array to load_matrix via .npy."
        ) from exc
    arrays = {k: v for k, v in content.items() if not k.startswith("__")}
    X, y = _from_named(arrays, key, labels_key, path)
    if scipy.sparse.issparse(X):
        X = X.toarray()
    return X, y


def _parse_float(field: str) -> float:
    """A CSV field as float; an empty field is a missing value (NaN)."""
    field = field.strip()
    return float("nan") if field == "" else float(field)


def _is_header(row: list[str]) -> bool:
    """True when some field of the first CSV row is not a number."""
    try:
        [_parse_float(f) for f in row]
    except ValueError:
        return True
    return False


def _load_csv(path: Path, key, labels_key):
    if key is not None:
        raise ValueError(f"key is not used for .csv files ('{path}'); select the label column with labels_key.")
    with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a byte-order mark is not data
        reader = csv.reader(fh)
        # keep the line numbers for error messages; blank lines are skipped
        rows = [(reader.line_num, row) for row in reader if any(f.strip() for f in row)]
    if not rows:
        raise ValueError(f"'{path}' is empty.")
    header = [f.strip() for f in rows[0][1]] if _is_header(rows[0][1]) else None
    body = rows[1:] if header is not None else rows
    if not body:
        raise ValueError(f"'{path}' has a header but no data rows.")
    n_cols = len(rows[0][1])
    label_col = _csv_label_column(labels_key, header, n_cols, path)
    data_cols = [j for j in range(n_cols) if j != label_col]
    X = np.empty((len(body), len(data_cols)))
    labels = []
    for i, (line, row) in enumerate(body):
        if len(row) != n_cols:
            raise ValueError(f"'{path}', line {line}: {len(row)} fields, expected {n_cols}.")
        for out, j in enumerate(data_cols):
            try:
                X[i, out] = _parse_float(row[j])
            except ValueError:
                raise ValueError(f"'{path}', line {line}, column {j + 1}: non-numeric value {row[j]!r}.") from None
        if label_col is not None:
            labels.append(row[label_col].strip())
    return X, (None if label_col is None else np.asarray(labels))


def _csv_label_column(labels_key, header, n_cols: int, path: Path) -> int | None:
    """Index of the label column given by name (needs a header) or by integer index."""
    if labels_key is None:
        return None
    if isinstance(labels_key, (int, np.integer)) and not isinstance(labels_key, bool):
        if not -n_cols <= labels_key < n_cols:
            raise ValueError(f"labels_key={labels_key} is out of range for '{path}' with {n_cols} columns.")
        return int(labels_key) % n_cols
    if header is None:
        raise ValueError(f"labels_key={labels_key!r} is a column name, but '{path}' has no header row.")
    if labels_key not in header:
        raise ValueError(f"labels_key {labels_key!r} is not a column of '{path}'; columns: {header}.")
    return header.index(labels_key)


def _as_matrix(X: Any, path: Path) -> np.ndarray:
    """Check the loaded data: real numbers, 2-D, not empty; float32 stays float32."""
    X = np.asarray(X)
    if X.dtype == bool or X.dtype.kind in "iu":
        X = X.astype(np.float64)
    elif X.dtype.kind != "f":
        raise ValueError(f"'{path}': the data must be real numbers, got dtype {X.dtype}.")
    if X.ndim != 2:
        raise ValueError(f"'{path}': the data must be 2-D (n_samples, n_features), got shape {X.shape}.")
    if X.size == 0:
        raise ValueError(f"'{path}': the data matrix is empty, shape {X.shape}.")
    return X


def _as_labels(y: Any, n_samples: int, path: Path) -> np.ndarray:
    """Labels as a 1-D array of length n_samples; integral numbers become int64."""
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:  # MATLAB stores vectors as (n, 1) or (1, n)
        y = y.reshape(-1)
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(f"'{path}': labels must be a vector of length {n_samples}, got shape {y.shape}.")
    if y.dtype.kind in "US":  # CSV labels arrive as text: use numbers when they are numbers
        try:
            y = y.astype(np.float64)
        except ValueError:
            return y
    if y.dtype.kind in "iub" or (y.dtype.kind == "f" and np.all(np.isfinite(y) & (y == np.round(y)))):
        return y.astype(np.int64)
    return y


_MATRIX_READERS = {".npy": _load_npy, ".npz": _load_npz, ".csv": _load_csv, ".mat": _load_mat}


def load_matrix(path: PathLike, *, key: str | None = None, labels_key: str | int | None = None):
    """Load a data matrix (and optionally labels) from a file.

    Parameters
    ----------
    path : str or path-like
        A ``.npy``, ``.npz``, ``.csv`` (comma-separated numbers, optional header row,
        empty fields read as NaN) or ``.mat`` (MATLAB up to v7, via ``scipy.io.loadmat``)
        file, samples as rows.
    key : str, optional
        ``.npz``/``.mat``: name of the data array; may be omitted when the file holds a
        single array besides ``labels_key``.
    labels_key : str or int, optional
        ``.npz``/``.mat``: name of the label array. ``.csv``: name (needs a header) or
        integer index (negative counts from the end) of the label column, which is then
        removed from the data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        float32 data stays float32; everything else becomes float64.
    y : ndarray of shape (n_samples,) or None
        int64 when the labels are integral numbers, else as stored (e.g. strings).
        None without ``labels_key``.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown extension, missing key (the message lists the available ones),
        non-numeric content, data not 2-D, or labels of the wrong length.
    """
    path = _existing(path, "data file")
    reader = _MATRIX_READERS.get(path.suffix.lower())
    if reader is None:
        raise ValueError(
            f"unsupported file type '{path.suffix}' for '{path}'; expected one of {sorted(_MATRIX_READERS)}."
        )
    try:
        X, y = reader(path, key, labels_key)
    except (ValueError, FileNotFoundError):
        raise
    except (OSError, EOFError, IndexError, KeyError, TypeError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        # truncated, corrupt or mislabelled files: one clear line instead of a reader traceback
        raise ValueError(f"'{path}' is not a readable {path.suffix} file: {exc}") from exc
    X = _as_matrix(X, path)
    return X, (None if y is None else _as_labels(y, X.shape[0], path))
