"""Shared fixtures: small samples made by the tests themselves."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest

from hepgen.data import ShowerData


def random_showers(geometry: str, n: int, seed: int = 0, occupancy: float = 0.2) -> ShowerData:
    """Sparse exponential deposits (MeV) with incident energies log-uniform in 1-100 GeV."""
    from hepgen.geometry import get_geometry

    rng = np.random.default_rng(seed)
    geo = get_geometry(geometry)
    e_inc = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    energy = rng.exponential(1.0, (n, geo.n_voxels)) * (rng.random((n, geo.n_voxels)) < occupancy)
    energy *= (0.02 * e_inc / np.maximum(energy.sum(1), 1e-9))[:, None]
    return ShowerData(e_inc, energy.astype(np.float32), geo)


@pytest.fixture
def ds2_showers() -> ShowerData:
    return random_showers("calochallenge-2", 20, seed=1)


@pytest.fixture
def make_showers():
    return random_showers
