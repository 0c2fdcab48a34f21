"""Image readers: binary PGM/PPM without dependencies, other formats through Pillow, and
:func:`load_image_folder` for a labelled collection stored as one subfolder per class."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .paths import PathLike, _existing

_NETPBM_SUFFIXES = (".pgm", ".ppm", ".pnm")
_PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _natural_key(name: str) -> list:
    """Sort key putting 's2' before 's10' (numbers compared as numbers)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


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
