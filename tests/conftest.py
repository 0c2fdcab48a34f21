"""Shared fixtures: the array namespaces under test (NumPy, and CuPy where a GPU works) and
seeded data."""

from __future__ import annotations

import numpy as np
import pytest

from wnmf_np.core.backend import cupy_available


def _cupy_or_skip():
    """The cupy module, or a skip of the calling test where CuPy or a usable GPU is missing."""
    if not cupy_available():
        pytest.skip("CuPy with a usable GPU is not available")
    import cupy

    return cupy


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def xp(request):
    """The array namespace under test: every test taking it runs on NumPy and on CuPy."""
    return np if request.param == "numpy" else _cupy_or_skip()


@pytest.fixture(params=[pytest.param("cupy", marks=pytest.mark.gpu)])
def cp(request):
    """CuPy, for tests that compare a GPU result with the NumPy one (marked ``gpu``)."""
    return _cupy_or_skip()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
