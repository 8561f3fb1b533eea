"""Shower hits as continuous features (E, z, alpha, R) for point-cloud models, exactly invertible.

A :class:`HitTransform` turns the hits of :class:`~hepgen.data.ShowerPoints` (integer voxel indices
along ``geometry.axes``, e.g. (layer, alpha, radius), and energies in MeV) into an (M, 4) float array
and back, as in B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024),
Sec. 6.2 (arXiv:2305.15254 for the models):

* indices are dequantised inside their voxel: z and R with the linear-interpolation scheme of the
  thesis (Alg. 4: inside bin i the offset has the linear density between the yields of bins i and
  i+1, drawn by inverse CDF), alpha (the periodic axis) with uniform noise;
* then min-max scaled by the number of bins, clamped to (1e-5, 1 - 1e-5), logit, standard scaling;
* hit energies (MeV): Box-Cox (lambda fitted) and standard scaling.

The inverse floors each coordinate back to its voxel (so a dequantised hit returns to its own voxel)
and inverts the energy transform. Everything fitted is kept in :meth:`HitTransform.state` (JSON).

>>> import numpy as np
>>> from hepgen.data import ShowerData, voxels_to_points
>>> rng = np.random.default_rng(0)
>>> s = ShowerData([1e4, 2e4], rng.exponential(1.0, (2, 6480)) * (rng.random((2, 6480)) < 0.1), "calochallenge-2")
>>> pts = voxels_to_points(s)
>>> t = HitTransform.fit(pts, seed=0)
>>> feats = t.forward(pts, rng=np.random.default_rng(1))
>>> feats.shape == (int(pts.n_hits.sum()), 4)
True
>>> energy, idx = t.inverse(feats)
>>> bool(np.array_equal(idx, pts.indices)), bool(np.allclose(energy, pts.energy, rtol=1e-4))
(True, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepgen.data.pointcloud import ShowerPoints
from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry

__all__ = ["HitTransform", "linear_dequantize", "bin_yields", "CLAMP"]

CLAMP = 1e-5


def bin_yields(index: np.ndarray, n_bins: int) -> np.ndarray:
    """Normalised histogram (sums to n_bins, mean 1) of integer bin indices 0..n_bins-1.

    >>> bin_yields(np.array([0, 0, 1, 3]), 4).tolist()
    [2.0, 1.0, 0.0, 1.0]
    """
    y = np.bincount(np.asarray(index, dtype=np.int64), minlength=n_bins)[:n_bins].astype(np.float64)
    return y * n_bins / max(y.sum(), 1.0)


def linear_dequantize(index: np.ndarray, yields: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Continuous positions ``index + x``, x in [0, 1), by linear interpolation between the yields
    of bin i and bin i + 1 (thesis Alg. 4); ``u`` are U(0, 1) draws (one per index).

    In bin i the density is p(x) = (y0 + s x) / k with y0 = y_i, y1 = y_{i+1} (the last bin uses
    y1 = y0), s = y1 - y0, k = (y0 + y1) / 2; its inverse CDF is x = (sqrt(y0^2 + 2 s k u) - y0) / s.

    >>> x = linear_dequantize(np.zeros(100000, int), np.array([1.0, 3.0]), np.random.default_rng(0).random(100000))
    >>> round(float(x.mean()), 2)   # density (1 + 2x)/2: mean 7/12
    0.58
    """
    index = np.asarray(index, dtype=np.int64)
    y = np.asarray(yields, dtype=np.float64)
    y0 = y[index]
    y1 = y[np.minimum(index + 1, len(y) - 1)]
    y1 = np.where(index + 1 < len(y), y1, y0)
    s, k = y1 - y0, 0.5 * (y0 + y1)
    flat = (np.abs(s) < 1e-9 * np.maximum(k, 1e-300)) | (k <= 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = (np.sqrt(np.maximum(y0 ** 2 + 2 * s * k * u, 0.0)) - y0) / s
    x = np.where(flat, u, x)
    return index + np.clip(x, 0.0, np.nextafter(1.0, 0.0))


def _boxcox(e: np.ndarray, lam: float) -> np.ndarray:
    return np.log(e) if abs(lam) < 1e-12 else (e ** lam - 1.0) / lam


def _inv_boxcox(y: np.ndarray, lam: float) -> np.ndarray:
    if abs(lam) < 1e-12:
        return np.exp(y)
    base = lam * y + 1.0
    return np.power(np.maximum(base, 1e-30), 1.0 / lam)


class HitTransform:
    """Saved, invertible map between hits (energy MeV, voxel indices) and standardised (E, z, alpha, R).

    Parameters are normally fitted with :meth:`fit`; ``uniform_axes`` are index axes dequantised
    with uniform noise (the periodic alpha axis of cylinders), the others linearly.
    """

    def __init__(self, geometry: Geometry | str, params: dict[str, Any]) -> None:
        self.geometry = get_geometry(geometry)
        self.params = params

    @staticmethod
    def _bins(geometry: Geometry) -> list[int]:
        if geometry.shape is None:
            raise InputError(f"geometry '{geometry.name}' has no regular (n0, n1, n2) voxel grid; point-cloud "
                             "features need one (e.g. calochallenge-2/-3)")
        return [int(n) for n in geometry.shape]

    @classmethod
    def fit(cls, points: ShowerPoints, box_cox: bool = True, dequantize: str = "linear",
            uniform_axes: tuple[int, ...] | None = None, seed: int = 0) -> "HitTransform":
        """Fit yields, Box-Cox lambda and scaling on training hits.

        ``dequantize``: ``"linear"`` (thesis Alg. 4), ``"uniform"`` or ``"none"`` (bin centres).
        """
        from scipy import stats

        geo = points.geometry
        bins = cls._bins(geo)
        if len(points.energy) < 2:
            raise InputError(f"need at least 2 hits to fit the hit transform, got {len(points.energy)}")
        if dequantize not in ("linear", "uniform", "none"):
            raise InputError(f"dequantize must be linear, uniform or none, got '{dequantize}'")
        if uniform_axes is None:
            uniform_axes = tuple(i for i, a in enumerate(geo.axes) if a == "alpha")
        params: dict[str, Any] = {"bins": bins, "dequantize": dequantize, "uniform_axes": list(uniform_axes),
                                  "yields": [bin_yields(points.indices[:, a], n).tolist() for a, n in enumerate(bins)]}
        e = points.energy.astype(np.float64)
        if np.any(e <= 0):
            raise InputError("hit energies must be > 0 MeV for Box-Cox; got a hit with "
                             f"{e.min():.3g} MeV (drop non-positive hits or use box_cox=False)")
        params["box_cox"] = bool(box_cox)
        params["e_max"] = float(e.max())          # inverse clips generated energies at 10x this
        params["e_scale"] = float(np.median(e))   # Box-Cox on E / median for numerical range
        params["lambda"] = float(stats.boxcox_normmax(e / params["e_scale"], method="mle")) if box_cox else 0.0
        t = cls(geo, params)
        raw = t._forward_raw(points.energy, points.indices, np.random.default_rng(seed))
        t.params["mean"] = raw.mean(axis=0).tolist()
        t.params["std"] = (raw.std(axis=0) + 1e-8).tolist()
        return t

    def _forward_raw(self, energy: np.ndarray, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        out = np.empty((len(energy), 4), np.float64)
        out[:, 0] = _boxcox(np.asarray(energy, np.float64) / p["e_scale"], p["lambda"])
        for a, n in enumerate(p["bins"]):
            idx = indices[:, a]
            u = rng.random(len(idx))
            if p["dequantize"] == "none":
                c = idx + 0.5
            elif p["dequantize"] == "uniform" or a in p["uniform_axes"]:
                c = idx + u
            else:
                c = linear_dequantize(idx, np.asarray(p["yields"][a]), u)
            v = np.clip(c / n, CLAMP, 1 - CLAMP)
            out[:, a + 1] = np.log(v / (1 - v))
        return out

    def forward(self, points: ShowerPoints, rng: np.random.Generator | None = None) -> np.ndarray:
        """(M, 4) float32 standardised (E, z, alpha, R) of all hits (dequantisation noise from ``rng``)."""
        if points.geometry != self.geometry:
            raise InputError(f"hits are on '{points.geometry.name}', the transform was fitted on "
                             f"'{self.geometry.name}'")
        raw = self._forward_raw(points.energy, points.indices, rng or np.random.default_rng())
        return ((raw - np.asarray(self.params["mean"])) / np.asarray(self.params["std"])).astype(np.float32)

    def inverse(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(energy (M,) MeV float32, indices (M, 3) int64) of standardised features; indices clipped
        to the grid, energies to [0, 10 x the largest training hit energy] (a generated Box-Cox value
        beyond the transform's range would otherwise overflow)."""
        f = np.asarray(features, np.float64).reshape(-1, 4)
        p = self.params
        f = np.nan_to_num(f, nan=0.0, posinf=50.0, neginf=-50.0)
        f[:, 0] = np.clip(f[:, 0], -10.0, 10.0)   # hit energies beyond 10 sigma of Box-Cox space
        raw = f * np.asarray(p["std"]) + np.asarray(p["mean"])
        energy = _inv_boxcox(raw[:, 0], p["lambda"]) * p["e_scale"]
        idx = np.empty((len(f), 3), np.int64)
        for a, n in enumerate(p["bins"]):
            v = 1.0 / (1.0 + np.exp(-np.clip(raw[:, a + 1], -50, 50)))
            idx[:, a] = np.clip(np.floor(v * n), 0, n - 1).astype(np.int64)
        cap = 10.0 * p.get("e_max", np.finfo(np.float32).max / 10)
        return np.clip(np.nan_to_num(energy, nan=0.0, posinf=cap), 0.0, cap).astype(np.float32), idx

    def state(self) -> dict[str, Any]:
        """JSON-able parameters (with the geometry's name)."""
        return {"geometry": self.geometry.name, **self.params}

    @classmethod
    def from_state(cls, state: dict[str, Any], geometry: Geometry | str | None = None) -> "HitTransform":
        """Rebuild from :meth:`state` (``geometry`` for geometries that are not presets)."""
        params = {k: v for k, v in state.items() if k != "geometry"}
        return cls(geometry if geometry is not None else state["geometry"], params)
