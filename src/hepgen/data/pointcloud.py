"""Showers as point clouds: one point per non-zero voxel, exactly invertible.

A :class:`ShowerPoints` holds, for all showers together, each hit's energy (MeV) and integer index
triple along the geometry's axes ((layer, alpha, radius) or (z, y, x)), plus the number of hits of
each shower. :func:`voxels_to_points` and :func:`points_to_voxels` are exact inverses.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> s = ShowerData([1e4, 2e4], np.zeros((2, 25)), "belle2-ecl-5x5")
>>> s.energy[0, 7] = 3.5; s.energy[1, [0, 24]] = [1.0, 2.0]
>>> pts = voxels_to_points(s)
>>> pts.n_hits.tolist(), pts.indices[0].tolist()
([1, 2], [0, 1, 2])
>>> bool(np.array_equal(points_to_voxels(pts).energy, s.energy))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hepgen.data.showers import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry

__all__ = ["ShowerPoints", "voxels_to_points", "points_to_voxels"]


@dataclass
class ShowerPoints:
    """Hits of N showers, concatenated.

    Attributes
    ----------
    incident_energy: (N,) MeV.
    n_hits: (N,) number of hits of each shower; hits of shower i are ``offsets[i]:offsets[i+1]``.
    energy: (M,) hit energies in MeV (float32).
    indices: (M, 3) int64 voxel indices along ``geometry.axes``.
    """

    incident_energy: np.ndarray
    n_hits: np.ndarray
    energy: np.ndarray
    indices: np.ndarray
    geometry: Geometry | str
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.geometry = get_geometry(self.geometry)
        self.n_hits = np.asarray(self.n_hits, dtype=np.int64)
        self.energy = np.asarray(self.energy, dtype=np.float32)
        self.indices = np.asarray(self.indices, dtype=np.int64)
        if self.n_hits.sum() != len(self.energy) or self.indices.shape != (len(self.energy), 3):
            raise InputError(f"point cloud: {self.n_hits.sum()} hits counted, {len(self.energy)} energies, "
                             f"indices of shape {self.indices.shape}; expected (M,) and (M, 3) with M = sum(n_hits)")

    @property
    def offsets(self) -> np.ndarray:
        """(N + 1,) start of each shower's hits."""
        return np.concatenate([[0], np.cumsum(self.n_hits)])

    @property
    def shower_of_hit(self) -> np.ndarray:
        """(M,) index of the shower each hit belongs to."""
        return np.repeat(np.arange(len(self.n_hits)), self.n_hits)

    def padded(self, n_max: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(N, n_max, 4) array of (energy, i0, i1, i2) per hit and the (N, n_max) bool mask.

        Hits keep their order (flat voxel order); showers with more hits than ``n_max`` raise.
        """
        n_max = int(self.n_hits.max(initial=0)) if n_max is None else n_max
        if self.n_hits.max(initial=0) > n_max:
            raise InputError(f"a shower has {self.n_hits.max()} hits, more than n_max = {n_max}")
        out = np.zeros((len(self.n_hits), n_max, 4), np.float32)
        mask = np.arange(n_max)[None, :] < self.n_hits[:, None]
        out[mask] = np.column_stack([self.energy, self.indices]).astype(np.float32)
        return out, mask


def voxels_to_points(showers: ShowerData) -> ShowerPoints:
    """One point per voxel with non-zero energy (negative energies are kept too, as they are data)."""
    rows, cols = np.nonzero(showers.energy)
    return ShowerPoints(
        incident_energy=showers.incident_energy.copy(),
        n_hits=np.bincount(rows, minlength=len(showers)),
        energy=showers.energy[rows, cols],
        indices=showers.geometry.voxel_indices()[cols],
        geometry=showers.geometry,
        labels=dict(showers.labels),
    )


def points_to_voxels(points: ShowerPoints) -> ShowerData:
    """Back to voxels; hits that share a voxel are summed."""
    geo = points.geometry
    flat = geo.flatten_indices(points.indices)
    n = len(points.n_hits)
    energy = np.zeros((n, geo.n_voxels), np.float32)
    np.add.at(energy, (points.shower_of_hit, flat), points.energy)
    return ShowerData(points.incident_energy, energy, geo, dict(points.labels))
