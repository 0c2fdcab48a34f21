"""Data sets of the paper and loaders for the user's own data.

Convention (scikit-learn's): a data matrix ``X`` has shape ``(n_samples, n_features)``,
one sample per row; the paper's matrix is ``X.T``.

Two of the paper's four data sets ship with the package (see ``wnmf_np/datasets/bundled/README.md``
for provenance, citations and checksums), so they load offline:

* :func:`load_orl` -- ORL / AT&T faces, 400 images of 112 x 92 pixels, 40 subjects;
* :func:`load_mfeat` -- UCI Multiple Features digits, 2000 x 585 non-negative features, 10 classes.

The other two (AR faces, ImageNet-CNN features) cannot be redistributed; they plug in
through :func:`load_image_folder` and :func:`load_matrix`. ``docs/datasets.md`` shows how.
"""

from __future__ import annotations

import csv
import os
import re
import tokenize
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_orl", "load_mfeat", "load_matrix", "load_image_folder"]

PathLike = str | os.PathLike

# ORL as distributed: folders s1..s40, each holding 1.pgm..10.pgm (8-bit binary PGM).
ORL_N_SUBJECTS = 40
ORL_IMAGES_PER_SUBJECT = 10
ORL_IMAGE_SHAPE = (112, 92)  # (height, width) of the original images

# UCI mfeat views in the column order of the 585-feature matrix (mfeat-kar is left out
# because it has negative values; footnote 1 of the paper), with their widths.
MFEAT_VIEWS = (("fou", 76), ("fac", 216), ("pix", 240), ("zer", 47), ("mor", 6))
MFEAT_KAR_WIDTH = 64
MFEAT_N_CLASSES = 10  # rows come in class order: n/10 rows of '0', then of '1', ...
MFEAT_SCALINGS = ("max", "block", "none")

_DATA_DIR = Path(__file__).resolve().parent / "bundled"

_NETPBM_SUFFIXES = (".pgm", ".ppm", ".pnm")
_PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

_ORL_DESCR = (
    "ORL (AT&T) face database: 400 grayscale images of 40 subjects (10 each), "
    "taken 1992-1994 at the Olivetti Research Laboratory, Cambridge. Each row is one "
    "image flattened in C order (reshape to image_shape = (height, width)). "
    "Credit: Olivetti Research Laboratory; F. Samaria and A. Harter, WACV 1994."
)
_MFEAT_DESCR = (
    "UCI Multiple Features (mfeat): 2000 handwritten digits '0'..'9' (200 per class, in "
    "class order) from Dutch utility maps, described by the 585 non-negative features "
    "[fou(76) | fac(216) | pix(240) | zer(47) | mor(6)]; mfeat-kar (64, signed) is kept "
    "apart in `kar`. Credit: R. P. W. Duin, UCI Machine Learning Repository, "
    "doi:10.24432/C5HC70."
)


# ------------------------------------------------------------------------- helpers
def _bundled(name: str) -> Path:
    """Path of a data file shipped in ``wnmf_np/datasets/bundled`` (installed as package data)."""
    return _DATA_DIR / name


def _existing(path: PathLike, what: str = "path") -> Path:
    """``path`` as a Path, or FileNotFoundError naming it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what} does not exist: '{path}'.")
    return path


def _natural_key(name: str) -> list:
    """Sort key putting 's2' before 's10' (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _npz_arrays(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays of an ``.npz``; ValueError listing what is there otherwise."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in required if k not in npz.files]
        if missing:
            raise ValueError(f"'{path}' lacks the arrays {missing}; it holds {sorted(npz.files)}.")
        return {k: npz[k] for k in npz.files}


# ------------------------------------------------------------------- netpbm images
def _skip_space_and_comments(buf: bytes, pos: int) -> int:
    """Index of the next header token: skips whitespace and ``#`` comments to end of line."""
    while pos < len(buf):
        char = buf[pos : pos + 1]
        if char.isspace():
            pos += 1
        elif char == b"#":
            ends = [i for i in (buf.find(b"\n", pos), buf.find(b"\r", pos)) if i >= 0]
            pos = min(ends) + 1 if ends else len(buf)
        else:
            break
    return pos


def _read_netpbm(path: Path) -> tuple[np.ndarray, int]:
    """Read a binary PGM (P5, grayscale) or PPM (P6, RGB) image.

    Returns
    -------
    image : ndarray of shape (height, width) or (height, width, 3), uint8 or uint16
        uint16 when maxval > 255 (stored big-endian, two bytes per sample).
    maxval : int
        The white level from the header.
    """
    buf = path.read_bytes()
    magic = buf[:2]
    if magic not in (b"P5", b"P6"):
        raise ValueError(
            f"'{path}' is not a binary PGM/PPM image: magic number {magic!r}, expected b'P5' or b'P6' "
            "(ASCII P2/P3 files are not supported)."
        )
    pos, fields = 2, []
    for name in ("width", "height", "maxval"):
        pos = _skip_space_and_comments(buf, pos)
        match = re.match(rb"\d+", buf[pos:])
        if match is None:
            raise ValueError(f"'{path}': malformed or truncated header, cannot read the {name}.")
        fields.append(int(match.group()))
        pos += match.end()
    width, height, maxval = fields
    # Exactly one whitespace byte separates maxval from the raster (which may start with
    # bytes that look like whitespace, so nothing more may be skipped).
    if pos >= len(buf) or not buf[pos : pos + 1].isspace():
        raise ValueError(f"'{path}': malformed or truncated header after maxval.")
    pos += 1
    if width < 1 or height < 1 or not 1 <= maxval <= 65535:
        raise ValueError(f"'{path}': invalid header (width={width}, height={height}, maxval={maxval}).")
    channels = 1 if magic == b"P5" else 3
    dtype = np.dtype(np.uint8) if maxval < 256 else np.dtype(">u2")
    n_bytes = width * height * channels * dtype.itemsize
    if len(buf) - pos < n_bytes:
        raise ValueError(
            f"'{path}' is truncated: {width}x{height} pixels need {n_bytes} bytes of data, "
            f"found {len(buf) - pos}."
        )
    pixels = np.frombuffer(buf, dtype=dtype, count=width * height * channels, offset=pos)
    shape = (height, width) if channels == 1 else (height, width, 3)
    return pixels.reshape(shape).astype(dtype.newbyteorder("="), copy=True), maxval


def _read_with_pillow(path: Path, color: bool) -> tuple[np.ndarray, int]:
    """Read a PNG/JPEG/... image with Pillow (optional dependency) as (pixels, maxval)."""
    try:
        from PIL import Image  # noqa: PLC0415  (optional: only needed for these formats)
    except ImportError as exc:
        raise ValueError(
            f"'{path}': reading {path.suffix} images needs Pillow (`pip install pillow`); "
            "binary PGM/PPM images are read without it."
        ) from exc
    with Image.open(path) as img:
        if color:
            return np.asarray(img.convert("RGB")), 255
        if img.mode == "L":
            return np.asarray(img), 255
        if img.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(img).astype(np.uint16), 65535
        raise ValueError(f"'{path}' is a {img.mode} image, not grayscale; pass color=True to read RGB.")


def _read_image(path: Path, color: bool = False) -> tuple[np.ndarray, int]:
    """Read one image as (pixels, maxval); grayscale unless ``color``."""
    if path.suffix.lower() not in _NETPBM_SUFFIXES:
        return _read_with_pillow(path, color)
    image, maxval = _read_netpbm(path)
    if (image.ndim == 3) != color:
        kind = "RGB (P6)" if image.ndim == 3 else "grayscale (P5)"
        raise ValueError(f"'{path}' is {kind}, but color={color}.")
    return image, maxval


def _stack_images(files: list[Path], color: bool, shape: tuple | None) -> tuple[np.ndarray, tuple]:
    """Read ``files`` into rows of a float64 matrix in [0, 1] (divided by each maxval)."""
    rows, image_shape = [], None if shape is None else tuple(int(s) for s in shape)
    for file in files:
        image, maxval = _read_image(file, color)
        if image_shape is None:
            image_shape = image.shape
        elif image.shape != image_shape:
            raise ValueError(
                f"inconsistent image sizes: '{file}' has shape {image.shape}, expected {image_shape} "
                "(all images must have the same size; resize them beforehand)."
            )
        rows.append(image.reshape(-1).astype(np.float64) / maxval)
    return np.vstack(rows), image_shape


# ------------------------------------------------------------------------------ ORL
def _orl_from_folder(folder: Path) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Raw pixels (uint8), labels and image shape from an ``s1..s40/1..10.pgm`` folder."""
    rows, labels, image_shape = [], [], None
    for subject in range(1, ORL_N_SUBJECTS + 1):
        sub = folder / f"s{subject}"
        if not sub.is_dir():
            raise FileNotFoundError(
                f"'{folder}' is not an ORL folder: missing subfolder 's{subject}' "
                f"(expected s1..s{ORL_N_SUBJECTS}, each with 1.pgm..{ORL_IMAGES_PER_SUBJECT}.pgm)."
            )
        found = sorted(p.name for p in sub.glob("*.pgm"))
        expected = [f"{k}.pgm" for k in range(1, ORL_IMAGES_PER_SUBJECT + 1)]
        if sorted(found) != sorted(expected):
            raise ValueError(
                f"'{sub}' must hold exactly {expected[0]}..{expected[-1]} "
                f"({ORL_IMAGES_PER_SUBJECT} images), found {len(found)}: {found[:12]}."
            )
        for name in expected:
            image, maxval = _read_netpbm(sub / name)
            if image.ndim != 2 or maxval > 255:
                raise ValueError(f"'{sub / name}': ORL images are 8-bit grayscale (P5, maxval <= 255).")
            if image_shape is None:
                image_shape = image.shape
            elif image.shape != image_shape:
                raise ValueError(
                    f"inconsistent image sizes: '{sub / name}' is {image.shape}, the first image is {image_shape}."
                )
            rows.append(image.reshape(-1))
            labels.append(subject - 1)
    return np.vstack(rows), np.asarray(labels, dtype=np.int64), image_shape


def _orl_from_npz(path: Path) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Raw pixels, labels and image shape from an ``.npz`` with arrays X, y, shape."""
    arrays = _npz_arrays(path, ("X", "y", "shape"))
    X, y, shape = arrays["X"], arrays["y"], tuple(int(s) for s in arrays["shape"])
    if X.ndim != 2 or y.shape != (X.shape[0],) or int(np.prod(shape)) != X.shape[1]:
        raise ValueError(
            f"'{path}': expected X (n_samples, height*width), y (n_samples,), shape (height, width); "
            f"got X {X.shape}, y {y.shape}, shape {shape}."
        )
    return X, y.astype(np.int64), shape


def load_orl(*, path: PathLike | None = None, scale: bool = True, return_X_y: bool = False):
    """Load the ORL (AT&T) face database: 400 images of 40 subjects.

    Parameters
    ----------
    path : str or path-like, optional
        ``None`` (default) loads the copy shipped with the package. Otherwise either a
        folder of the original distribution (subfolders ``s1`` .. ``s40``, each with
        binary PGM images ``1.pgm`` .. ``10.pgm``; other files are ignored) or an
        ``.npz`` with arrays ``X`` (n_samples, height*width) of raw 0..255 pixel values,
        ``y`` and ``shape``.
        Images from a folder may have any size as long as all agree.
    scale : bool, default True
        Divide the 8-bit pixels by 255 so they lie in [0, 1]. ``False`` keeps the
        raw values 0..255 (still as float64).
    return_X_y : bool, default False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` : ndarray of shape (400, 10304), float64 -- one image per row,
        flattened in C order (height first); ``data[i].reshape(image_shape)`` is the image.
        ``target`` : ndarray of shape (400,), int64 -- subject number minus 1 (0..39),
        ten images per subject, rows in order s1/1.pgm, s1/2.pgm, ..., s40/10.pgm.
        ``image_shape`` : tuple ``(112, 92)`` = (height, width).
        ``description`` : str.
    (X, y) : tuple, if ``return_X_y``.

    Raises
    ------
    FileNotFoundError
        ``path`` or one of the ``s<k>`` subfolders does not exist.
    ValueError
        Wrong image count, inconsistent image sizes, a malformed or truncated PGM, or an
        ``.npz`` without the expected arrays.
    """
    source = _bundled("orl.npz") if path is None else _existing(path)
    if source.is_dir():
        X, y, image_shape = _orl_from_folder(source)
    elif source.suffix.lower() == ".npz":
        X, y, image_shape = _orl_from_npz(source)
    else:
        raise ValueError(f"path must be an ORL folder (s1..s40) or an .npz file, got '{source}'.")
    X = X.astype(np.float64)
    if scale:
        X /= 255.0
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, image_shape=tuple(image_shape), description=_ORL_DESCR)


# ---------------------------------------------------------------------------- mfeat
def _find_view_file(folder: Path, view: str) -> Path | None:
    """The UCI file of one view (``mfeat-fou`` or ``mfeat-fou.txt``), or None."""
    for name in (f"mfeat-{view}", f"mfeat-{view}.txt"):
        if (folder / name).is_file():
            return folder / name
    return None


def _read_view_text(file: Path, width: int) -> np.ndarray:
    """One whitespace-separated UCI view file as a float64 (n_rows, width) matrix."""
    try:
        block = np.loadtxt(file, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"'{file}' is not a whitespace-separated numeric table: {exc}") from exc
    if block.shape[1] != width:
        raise ValueError(f"'{file}' has {block.shape[1]} columns, expected {width}.")
    return block


def _mfeat_from_folder(folder: Path) -> tuple[dict, np.ndarray | None]:
    """The five non-negative views (and mfeat-kar when present) from the UCI text files."""
    views = {}
    for view, width in MFEAT_VIEWS:
        file = _find_view_file(folder, view)
        if file is None:
            raise FileNotFoundError(f"'{folder}' lacks the UCI file 'mfeat-{view}' (or 'mfeat-{view}.txt').")
        views[view] = _read_view_text(file, width)
    kar_file = _find_view_file(folder, "kar")
    kar = None if kar_file is None else _read_view_text(kar_file, MFEAT_KAR_WIDTH)
    return views, kar


def _mfeat_from_npz(path: Path) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """Views, kar and labels from our ``.npz`` (one array per view) or a stacked one.

    The stacked layout has ``X`` (n, 585), ``y`` and optionally ``X_kar``.
    """
    with np.load(path, allow_pickle=False) as npz:
        names = set(npz.files)
        if {v for v, _ in MFEAT_VIEWS} <= names:
            views = {v: npz[v] for v, _ in MFEAT_VIEWS}
            kar = npz["kar"] if "kar" in names else None
        elif "X" in names:
            X = npz["X"]
            total = sum(w for _, w in MFEAT_VIEWS)
            if X.ndim != 2 or X.shape[1] != total:
                raise ValueError(f"'{path}': X must have shape (n_samples, {total}), got {X.shape}.")
            edges = np.cumsum([0] + [w for _, w in MFEAT_VIEWS])
            views = {v: X[:, edges[i] : edges[i + 1]] for i, (v, _) in enumerate(MFEAT_VIEWS)}
            kar = npz["X_kar"] if "X_kar" in names else None
        else:
            raise ValueError(
                f"'{path}' holds {sorted(names)}; expected one array per view "
                f"{[v for v, _ in MFEAT_VIEWS]} or a stacked 'X'."
            )
        y = npz["y"].astype(np.int64) if "y" in names else None
    for view, width in MFEAT_VIEWS:
        if views[view].ndim != 2 or views[view].shape[1] != width:
            raise ValueError(f"'{path}': view {view!r} must have {width} columns, got shape {views[view].shape}.")
    return views, kar, y


def _implicit_mfeat_labels(n_rows: int, where: Path) -> np.ndarray:
    """Labels of UCI mfeat rows: n/10 rows per digit, digits in order 0..9."""
    if n_rows == 0 or n_rows % MFEAT_N_CLASSES:
        raise ValueError(
            f"'{where}': {n_rows} rows cannot be split into {MFEAT_N_CLASSES} equal digit classes "
            "(the UCI files have 2000 rows, 200 per digit)."
        )
    return np.repeat(np.arange(MFEAT_N_CLASSES, dtype=np.int64), n_rows // MFEAT_N_CLASSES)


def _mfeat_divisors(X: np.ndarray, blocks: dict[str, slice], scaling: str) -> np.ndarray:
    """Per-column divisors for ``scaling``; an all-zero column or view keeps divisor 1."""
    if scaling == "none":
        return np.ones(X.shape[1])
    if scaling == "max":
        peak = X.max(axis=0)
    else:  # "block": one divisor per view keeps the ratios between a view's features
        peak = np.empty(X.shape[1])
        for sl in blocks.values():
            peak[sl] = X[:, sl].max()
    return np.where(peak > 0, peak, 1.0)


def load_mfeat(*, path: PathLike | None = None, scaling: str = "max", return_X_y: bool = False):
    """Load the UCI Multiple Features digits: 2000 samples, 585 non-negative features.

    The 585 features are five of the six UCI views, in this column order:
    ``fou`` (76 Fourier coefficients), ``fac`` (216 profile correlations), ``pix``
    (240 pixel averages of a 16 x 15 image), ``zer`` (47 Zernike moments) and ``mor``
    (6 morphological features). The sixth view, ``kar`` (64 Karhunen-Loeve
    coefficients), has negative values and is left out, as in the paper; it is still
    returned, unscaled, in ``kar``.

    Parameters
    ----------
    path : str or path-like, optional
        ``None`` (default) loads the copy shipped with the package. Otherwise a folder
        with the UCI text files ``mfeat-fou``, ``mfeat-fac``, ``mfeat-pix``,
        ``mfeat-zer``, ``mfeat-mor`` (and optionally ``mfeat-kar``; a ``.txt`` suffix
        is accepted), whose labels are implicit (rows in digit order, n/10 per digit),
        or an ``.npz`` with one array per view (as shipped) or a stacked ``X``
        (n_samples, 585) plus ``y``.
    scaling : {"max", "block", "none"}, default "max"
        ``"max"`` divides every column by its maximum over the samples, so each feature
        lies in [0, 1]. The raw columns span four orders of magnitude (``mor`` reaches
        17572, ``fou`` stays below 0.8), so without scaling a few columns dominate any
        L1/L2 reconstruction loss. ``"block"`` divides each view by its own maximum
        (keeps the ratios inside a view); ``"none"`` returns the raw values. All-zero
        columns (views) are left at 0.
    return_X_y : bool, default False
        Return ``(X, y)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``data`` : ndarray of shape (2000, 585), float64, >= 0.
        ``target`` : ndarray of shape (2000,), int64 -- the digit 0..9, 200 per class,
        rows 200*c .. 200*c + 199 are digit c.
        ``feature_blocks`` : dict, view name -> slice of the columns of ``data``.
        ``scale`` : ndarray of shape (585,) -- the divisors used, so
        ``data * scale`` gives back the raw features.
        ``kar`` : ndarray of shape (2000, 64) or None -- the raw ``mfeat-kar`` view
        (None when the source lacks it).
        ``description`` : str.
    (X, y) : tuple, if ``return_X_y``.

    Raises
    ------
    FileNotFoundError
        ``path`` or one of the five view files does not exist.
    ValueError
        Unknown ``scaling``, a non-numeric file, wrong column counts, views with different
        row counts, or negative values.
    """
    if scaling not in MFEAT_SCALINGS:
        raise ValueError(f"scaling must be one of {MFEAT_SCALINGS}, got {scaling!r}.")
    source = _bundled("mfeat.npz") if path is None else _existing(path)
    y = None
    if source.is_dir():
        views, kar = _mfeat_from_folder(source)
    elif source.suffix.lower() == ".npz":
        views, kar, y = _mfeat_from_npz(source)
    else:
        raise ValueError(f"path must be a folder of UCI mfeat files or an .npz file, got '{source}'.")

    n_rows = {v: b.shape[0] for v, b in views.items()}
    if kar is not None:
        n_rows["kar"] = kar.shape[0]
    if len(set(n_rows.values())) != 1:
        raise ValueError(f"'{source}': the views have different numbers of rows: {n_rows}.")
    X = np.hstack([views[v].astype(np.float64) for v, _ in MFEAT_VIEWS])
    if y is None:
        y = _implicit_mfeat_labels(X.shape[0], source)
    elif y.shape != (X.shape[0],):
        raise ValueError(f"'{source}': y has shape {y.shape}, expected ({X.shape[0]},).")
    if not np.isfinite(X).all() or (X < 0).any():
        raise ValueError(f"'{source}': the 585 mfeat features must be finite and non-negative.")

    edges = np.cumsum([0] + [w for _, w in MFEAT_VIEWS])
    blocks = {v: slice(int(edges[i]), int(edges[i + 1])) for i, (v, _) in enumerate(MFEAT_VIEWS)}
    divisors = _mfeat_divisors(X, blocks, scaling)
    X /= divisors
    if return_X_y:
        return X, y
    kar = None if kar is None else kar.astype(np.float64)
    return Bunch(data=X, target=y, feature_blocks=blocks, scale=divisors, kar=kar, description=_MFEAT_DESCR)


# ------------------------------------------------------------------- generic matrix
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


# -------------------------------------------------------------------- image folders
def _image_suffixes() -> tuple[str, ...]:
    """Suffixes read by :func:`load_image_folder`; Pillow's only when it is installed."""
    try:
        import PIL  # noqa: F401, PLC0415  (optional dependency, probed lazily)
    except ImportError:
        return _NETPBM_SUFFIXES
    return _NETPBM_SUFFIXES + _PILLOW_SUFFIXES


def load_image_folder(path: PathLike, *, shape: tuple[int, ...] | None = None, color: bool = False):
    """Load a labelled image collection stored as one subfolder per class.

    Parameters
    ----------
    path : str or path-like
        Folder whose subfolders (in natural order: ``s2`` before ``s10``) are the classes;
        each holds images of one class, read in natural order of their names. Binary PGM
        (P5) / PPM (P6) are always read; PNG, JPEG, BMP and TIFF only when Pillow is
        installed. Other files and hidden folders are ignored.
    shape : tuple of int, optional
        Expected image shape, ``(height, width)`` (or ``(height, width, 3)`` with
        ``color``). By default the shape of the first image; every image must match, as
        no resizing is done.
    color : bool, default False
        Read RGB images; each row then holds the pixels in (height, width, channel)
        C order. Without it, images must be grayscale.

    Returns
    -------
    X : ndarray of shape (n_images, prod(image_shape)), float64 in [0, 1]
        Pixels divided by the white level of their file (255 for 8-bit images).
    y : ndarray of shape (n_images,), int64
        Index of the class subfolder in natural order.
    image_shape : tuple of int

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        No class subfolders, an empty class, images of different sizes, color/grayscale
        mismatch, or a malformed image.
    """
    folder = _existing(path)
    if not folder.is_dir():
        raise ValueError(f"path must be a folder with one subfolder per class, got the file '{folder}'.")
    classes = sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: _natural_key(p.name),
    )
    if not classes:
        raise ValueError(f"'{folder}' has no class subfolders (expected one subfolder of images per class).")
    suffixes = _image_suffixes()
    files, labels = [], []
    for label, sub in enumerate(classes):
        images = sorted(
            (p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in suffixes),
            key=lambda p: _natural_key(p.name),
        )
        if not images:
            hint = "" if suffixes != _NETPBM_SUFFIXES else "; PNG/JPEG/BMP/TIFF need Pillow (`pip install pillow`)"
            raise ValueError(f"class folder '{sub}' holds no readable images (suffixes {suffixes}){hint}.")
        files += images
        labels += [label] * len(images)
    X, image_shape = _stack_images(files, color, shape)
    return X, np.asarray(labels, dtype=np.int64), image_shape
