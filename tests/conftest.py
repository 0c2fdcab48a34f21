"""Shared fixtures: the array-namespace fixture and seeded data."""

from __future__ import annotations

import numpy as np
import pytest

from wnmf_np.core.backend import cupy_available

BACKENDS = ["numpy"] + (["cupy"] if cupy_available() else [])


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array namespace under test; CuPy joins only where it imports and a GPU works."""
    if request.param == "cupy":
        if not cupy_available():
            pytest.skip("CuPy with a usable GPU is not available")
        import cupy

        return cupy
    return np


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
