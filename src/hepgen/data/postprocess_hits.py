"""Post-processing of generated hits before re-voxelisation (seed 001, Sec. 6.3 and App. C.1).

* :func:`rotate_alpha` turns every shower by a random whole number of alpha bins (the model need
  not learn the periodicity; the azimuth of a shower along the z axis carries no physics).
* :func:`shift_duplicates` moves hits that landed in an already occupied voxel of their shower to
  the nearest free neighbouring voxel, the hardest hit keeping the voxel, so the number of hit
  voxels matches the number of generated hits. A hit with no free cell within ``max_distance``
  steps is added to the voxel it landed in: energy is never lost.

>>> import numpy as np
>>> from hepgen.data import ShowerPoints
>>> pts = ShowerPoints([1e4], [3], [5.0, 2.0, 1.0], [[3, 0, 4], [3, 0, 4], [3, 0, 4]], "calochallenge-2")
>>> out = shift_duplicates(pts)
>>> len(np.unique(out.indices, axis=0)), float(out.energy.sum()), out.indices[0].tolist()
(3, 8.0, [3, 0, 4])
"""

from __future__ import annotations

import itertools

import numpy as np

from hepgen.data.pointcloud import ShowerPoints
from hepgen.errors import InputError

__all__ = ["rotate_alpha", "shift_duplicates", "neighbour_offsets"]


def _periodic_axes(points: ShowerPoints) -> list[int]:
    return [i for i, a in enumerate(points.geometry.axes) if a == "alpha"]


def _shape(points: ShowerPoints) -> tuple[int, int, int]:
    if points.geometry.shape is None:
        raise InputError(f"geometry '{points.geometry.name}' has no regular voxel grid for hit post-processing")
    return tuple(int(n) for n in points.geometry.shape)


def rotate_alpha(points: ShowerPoints, rng: np.random.Generator | None = None) -> ShowerPoints:
    """Each shower turned by a random number of alpha bins (same hits, energies and voxel count).

    >>> import numpy as np
    >>> from hepgen.data import ShowerPoints
    >>> pts = ShowerPoints([1e4, 1e4], [1, 1], [1.0, 2.0], [[0, 3, 0], [1, 3, 2]], "calochallenge-2")
    >>> out = rotate_alpha(pts, np.random.default_rng(0))
    >>> out.indices[:, [0, 2]].tolist(), bool(np.all(out.indices[:, 1] < 16))
    ([[0, 0], [1, 2]], True)
    """
    axes = _periodic_axes(points)
    if not axes:
        raise InputError(f"geometry '{points.geometry.name}' has no alpha axis to rotate")
    rng = rng or np.random.default_rng()
    a = axes[0]
    n_alpha = _shape(points)[a]
    turn = rng.integers(0, n_alpha, len(points.n_hits))[points.shower_of_hit]
    idx = points.indices.copy()
    idx[:, a] = (idx[:, a] + turn) % n_alpha
    return ShowerPoints(points.incident_energy, points.n_hits, points.energy, idx, points.geometry,
                        dict(points.labels))


def neighbour_offsets(max_distance: int = 2) -> np.ndarray:
    """(K, 3) index offsets of the cells around a voxel, nearest first (Chebyshev shells, then
    Euclidean distance; ties in a fixed order).

    >>> neighbour_offsets(1).shape, neighbour_offsets(1)[:1].tolist()
    ((26, 3), [[-1, 0, 0]])
    """
    rng_ = range(-max_distance, max_distance + 1)
    offs = [o for o in itertools.product(rng_, rng_, rng_) if any(o)]
    offs.sort(key=lambda o: (max(map(abs, o)), sum(v * v for v in o)))
    return np.asarray(offs, dtype=np.int64)


def shift_duplicates(points: ShowerPoints, max_distance: int = 2) -> ShowerPoints:
    """Move all but the hardest hit of each multiply-hit voxel to free neighbouring voxels.

    Hits of a shower are placed hardest first; a hit whose voxel is taken goes to the nearest free
    cell (alpha wraps around, other axes stop at the grid edge) within ``max_distance`` steps, else
    its energy joins the taken voxel. The energy of every shower is unchanged (up to float
    rounding) and no two hits of a shower share a voxel afterwards.
    """
    shape = _shape(points)
    periodic = _periodic_axes(points)
    flat = np.ravel_multi_index(tuple(points.indices.T), shape)
    n_vox = points.geometry.n_voxels
    key = points.shower_of_hit.astype(np.int64) * n_vox + flat
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if np.all(counts == 1):
        return points
    offs = neighbour_offsets(max_distance)
    energy = points.energy.astype(np.float64).copy()
    idx = points.indices.copy()
    keep = np.ones(len(energy), bool)
    offsets = points.offsets
    dup_showers = np.unique(points.shower_of_hit[first[counts > 1]])
    shape_arr = np.asarray(shape)
    for s in dup_showers:
        lo, hi = offsets[s], offsets[s + 1]
        order = lo + np.argsort(-energy[lo:hi], kind="stable")
        owner = np.full(n_vox, -1, np.int64)          # hit occupying each voxel of this shower
        for h in order:
            f = int(flat[h])
            if owner[f] < 0:
                owner[f] = h
                continue
            cand = idx[h] + offs
            for a in periodic:
                cand[:, a] %= shape[a]
            cand = cand[np.all((cand >= 0) & (cand < shape_arr), axis=1)]
            cand_flat = np.ravel_multi_index(tuple(cand.T), shape)
            free = owner[cand_flat] < 0
            if free.any():
                j = int(np.argmax(free))
                idx[h] = cand[j]
                owner[cand_flat[j]] = h
            else:
                energy[owner[f]] += energy[h]
                keep[h] = False
    shower = points.shower_of_hit
    return ShowerPoints(points.incident_energy, np.bincount(shower[keep], minlength=len(points.n_hits)),
                        energy[keep].astype(np.float32), idx[keep], points.geometry, dict(points.labels))
