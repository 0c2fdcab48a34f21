"""The paper's two redistributable data sets, shipped in ``datasets/bundled``: ORL faces
(:func:`load_orl`) and UCI mfeat digits (:func:`load_mfeat`), with readers for their
original folders and for ``.npz`` copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from .images import _read_netpbm
from .paths import PathLike, _existing

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


def _npz_arrays(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read the named arrays of an ``.npz``; ValueError listing what is there otherwise."""
    with np.load(path, allow_pickle=False) as npz:
        missing = [k for k in required if k not in npz.files]
        if missing:
            raise ValueError(f"'{path}' lacks the arrays {missing}; it holds {sorted(npz.files)}.")
        return {k: npz[k] for k in npz.files}


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
