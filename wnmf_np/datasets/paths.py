"""Resolving the user's paths: one place for the "does not exist" error of every loader."""

from __future__ import annotations

import os
from pathlib import Path

PathLike = str | os.PathLike


def _existing(path: PathLike, what: str = "path") -> Path:
    """``path`` as a Path, or FileNotFoundError naming it."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{what} does not exist: '{path}'.")
    return path
