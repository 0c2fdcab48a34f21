"""PNG figures of a fit for the command line's ``--plots DIR`` (needs the ``plot`` extra).

Figures are drawn on :class:`matplotlib.figure.Figure` objects directly, without pyplot,
so that no GUI backend is chosen and the caller's matplotlib state is left alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

#: at most this many basis vectors are drawn
MAX_BASIS = 40


def check_matplotlib() -> None:
    """Raise ``ImportError`` with the install hint when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401, PLC0415
    except ImportError:
        raise ImportError(
            "--plots needs matplotlib: pip install 'wnmf-np[plot]' (or pip install matplotlib)"
        ) from None


def save_basis(components: np.ndarray, path: Path, image_shape: tuple | None = None) -> Path:
    """Draw the basis vectors ``components`` (r, n_features) as images; returns ``path``.

    Each of the first :data:`MAX_BASIS` rows is shown as an image of ``image_shape``
    (or of a square shape when n_features is a perfect square); otherwise all rows are
    one heat map of shape (r, n_features). The colour scale is symmetric about 0, so
    negative entries (weak non-negativity) show in blue.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415

    components = np.asarray(components, dtype=np.float64)
    r, m = components.shape
    side = math.isqrt(m)
    shape = image_shape if image_shape is not None else ((side, side) if side * side == m and m > 1 else None)
    limit = float(np.abs(components).max()) or 1.0
    if shape is None:
        fig = Figure(figsize=(8, max(2.0, 0.25 * r)))
        ax = fig.add_subplot()
        im = ax.imshow(components, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xlabel("feature")
        ax.set_ylabel("component")
        fig.colorbar(im, ax=ax)
    else:
        k = min(r, MAX_BASIS)
        cols = math.ceil(math.sqrt(k))
        rows = math.ceil(k / cols)
        fig = Figure(figsize=(1.6 * cols, 1.6 * rows * shape[0] / shape[1]))
        for i in range(k):
            ax = fig.add_subplot(rows, cols, i + 1)
            ax.imshow(components[i].reshape(shape), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_axis_off()
        fig.suptitle(f"basis: {k} of {r} components (blue < 0)")
    fig.savefig(path, dpi=100)
    return path


def save_histograms(factors: dict, path: Path) -> Path:
    """Histograms of the entries of each factor (name -> array); returns ``path``.

    The title of each panel gives the negative mass Σ|a₋| / Σ|a| and the fraction of
    negative entries; the bars left of the red line at 0 are the negative part.
    """
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(5 * len(factors), 3.5))
    for i, (name, A) in enumerate(factors.items()):
        values = np.asarray(A, dtype=np.float64).ravel()
        ax = fig.add_subplot(1, len(factors), i + 1)
        ax.hist(values, bins=60, color="0.4")
        ax.axvline(0.0, color="red", linewidth=1)
        total = float(np.abs(values).sum()) or 1.0
        mass = float(-values[values < 0].sum()) / total
        ax.set_title(f"{name}: negative mass {100 * mass:.2f} %, {100 * float((values < 0).mean()):.1f} % < 0")
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
