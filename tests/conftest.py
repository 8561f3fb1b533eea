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


# The tiny model sizes for tests: each model declares its own ``tiny_config`` (hyperparameters of the config's
# ``params`` section), so a model added later is tested too without touching this file.
def _tiny_params() -> dict[str, dict]:
    from hepgen.models.registry import get_model_class, list_models

    return {name: dict(get_model_class(name).tiny_config) for name in list_models()}


TINY_PARAMS: dict[str, dict] = _tiny_params()


# (data_shape, n_cond, condition rows) of a small example of each data kind, and the models that need another
KIND_EXAMPLE = {"showers": ((1, 10, 10), 1, [[0.0], [0.5]]), "points": ((30, 5), 3, [[0.0, 0.0, 7.0], [1, 1, 3]]),
                "jets": ((30, 4), 1, [[0.1], [0.5]]), "arrays": ((10, 10), 0, [[]] * 3)}
MODEL_EXAMPLE = {"ganplify-gan": ((2,), 0, [[]] * 3), "jet-flow": ((4, 4), 1, [[0.5], [1.0]]),
                 "mdma-calo-gan": ((40, 5), 3, [[0.1, -0.2, 12.0], [1.0, 1.0, 40.0]])}


def tiny_model(name: str, **overrides):
    """(model at its ``tiny_config`` sizes on an example shape of its data kind, eval mode; conditions (rows, n_cond))."""
    import torch

    from hepgen.models.registry import get_model_class

    cls = get_model_class(name)
    shape, n_cond, rows = MODEL_EXAMPLE.get(name, KIND_EXAMPLE[cls.data_kind])
    model = cls(shape, n_cond, {**cls.default_config, **cls.tiny_config, **overrides}).eval()
    return model, torch.tensor(rows, dtype=torch.float32).reshape(len(rows), n_cond)


def tiny_config(model: str, **training) -> dict:
    """Config of a tiny ``model`` (sizes from :data:`TINY_PARAMS`); ``training`` overrides the loop settings."""
    return {"params": dict(TINY_PARAMS[model]), "training": {"batch_size": 16, **training}}


def toy_jets(n: int, n_max: int = 30, seed: int = 0):
    """Jets with 5..n_max particles, pt_rel exponential and summing to 1, Gaussian (eta, phi)."""
    from hepgen.data import JetData

    rng = np.random.default_rng(seed)
    p = np.zeros((n, n_max, 4), np.float32)
    for i, k in enumerate(rng.integers(5, n_max + 1, n)):
        pt = np.sort(rng.exponential(1.0, k))[::-1]
        p[i, :k, 0], p[i, :k, 1] = rng.normal(0, 0.1, k), rng.normal(0, 0.1, k)
        p[i, :k, 2], p[i, :k, 3] = pt / pt.sum(), 1
    return JetData(p, jet_type="t")


def tiny_data(kind: str, seed: int = 0):
    """A small training sample of a data kind: showers (voxel models), points (hit-cloud models), jets, arrays."""
    if kind == "showers":
        return random_showers("belle2-ecl-5x5", 48, seed=seed)
    if kind == "points":
        from hepgen.simulate import simulate_showers

        rng = np.random.default_rng(seed)
        return simulate_showers("calochallenge-2", np.exp(rng.uniform(np.log(1e3), np.log(4e3), 24)), "electron",
                                seed=3)
    if kind == "jets":
        return toy_jets(48, 12, seed)
    if kind == "arrays":
        return np.random.default_rng(seed).gamma(2.0, 10.0, (48, 10, 10))
    raise ValueError(f"no tiny data for kind '{kind}'")
