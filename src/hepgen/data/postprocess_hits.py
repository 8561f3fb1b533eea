"""Post-processing of generated hits before re-voxelisation (B. Käch, "Generative Modelling in High-Energy
Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 6.3 and App. C.1).

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

import functools
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


@functools.lru_cache(maxsize=8)
def _candidate_table(shape: tuple[int, int, int], periodic: tuple[int, ...], max_distance: int) -> np.ndarray:
    """(n_voxels, 1 + K) int64 flat cells a hit of each voxel may take, in the order they are tried: the
    voxel itself, then :func:`neighbour_offsets` (alpha wrapped); -1 where a neighbour leaves the grid."""
    grid = np.stack(np.unravel_index(np.arange(int(np.prod(shape))), shape), 1)
    offs = np.concatenate([np.zeros((1, 3), np.int64), neighbour_offsets(max_distance)])
    cand = grid[:, None, :] + offs[None, :, :]
    for a in periodic:
        cand[..., a] %= shape[a]
    inside = np.all((cand >= 0) & (cand < np.asarray(shape)), axis=2)
    table = np.ravel_multi_index(tuple(np.moveaxis(np.where(inside[..., None], cand, 0), 2, 0)), shape)
    table[~inside] = -1
    table.setflags(write=False)
    return table


def shift_duplicates(points: ShowerPoints, max_distance: int = 2, window: int = 16,
                     chunk_cells: int = 4_000_000) -> ShowerPoints:
    """Move all but the hardest hit of each multiply-hit voxel to free neighbouring voxels.

    Hits of a shower are placed hardest first; a hit whose voxel is taken goes to the nearest free
    cell (alpha wraps around, other axes stop at the grid edge) within ``max_distance`` steps, else
    its energy joins the taken voxel. The energy of every shower is unchanged (up to float
    rounding) and no two hits of a shower share a voxel afterwards.

    Vectorised over showers and hits, with the result of the one-hit-at-a-time greedy placement:
    in each round every shower places its next ``window`` hits at once against the cells taken so
    far and keeps the longest prefix in which no two hits chose the same cell (such a prefix is
    exactly what the sequential placement gives); ``chunk_cells`` bounds the (showers x voxels)
    occupancy table held at once.

    >>> import numpy as np
    >>> from hepgen.data import ShowerPoints
    >>> pts = ShowerPoints([1e4], [3], [1.0, 4.0, 2.0], [[0, 0, 8], [0, 0, 8], [0, 0, 8]], "calochallenge-2")
    >>> shift_duplicates(pts).indices.tolist()   # 4 MeV stays, 2 MeV to alpha - 1 (wraps to 15), 1 MeV to R - 1
    [[0, 0, 7], [0, 0, 8], [0, 15, 8]]
    """
    shape = _shape(points)
    periodic = _periodic_axes(points)
    flat = np.ravel_multi_index(tuple(points.indices.T), shape)
    n_vox = points.geometry.n_voxels
    shower = points.shower_of_hit.astype(np.int64)
    key = shower * n_vox + flat
    _, first, counts = np.unique(key, return_index=True, return_counts=True)
    if np.all(counts == 1):
        return points
    table = _candidate_table(shape, tuple(periodic), int(max_distance))
    energy = points.energy.astype(np.float64)
    idx = points.indices.copy()
    keep = np.ones(len(energy), bool)
    offsets = points.offsets
    dup_showers = np.unique(shower[first[counts > 1]])
    # hits of the affected showers, by shower then hardest first (ties in hit order, stable)
    sel = np.flatnonzero(np.isin(shower, dup_showers))
    order = sel[np.lexsort((-energy[sel], shower[sel]))]
    grid = np.stack(np.unravel_index(np.arange(n_vox), shape), 1)
    flat_o, last = flat[order], len(order) - 1
    per_chunk = max(1, chunk_cells // n_vox)
    steps = np.arange(window)
    unique_neg = -2 - steps                      # choice keys of hits that place nothing: never equal
    earlier = steps[:, None] < steps[None, :]    # (i, j): hit i comes before hit j in the window
    n_cells = table.shape[1]
    # the 26 distance-1 cells first (most shifted hits find one), the outer shell only for the rest
    shells = [(lo, hi) for lo, hi in ((1, min(27, n_cells)), (min(27, n_cells), n_cells)) if hi > lo]
    for c0 in range(0, len(dup_showers), per_chunk):
        chunk = dup_showers[c0:c0 + per_chunk]
        start = np.searchsorted(shower[order], chunk)   # first sorted position of each shower
        stop = start + offsets[chunk + 1] - offsets[chunk]
        local = np.zeros(len(points.n_hits), np.int64)
        local[chunk] = np.arange(len(chunk)) * n_vox
        base_o = local[shower[order]]                   # offset of each sorted hit's shower in `owner`
        owner = np.full(len(chunk) * n_vox, -1, np.int64)   # hit holding each (shower, voxel) cell
        ptr = start.copy()
        active = np.arange(len(chunk))
        while len(active):
            pos = ptr[active, None] + steps
            valid = pos < stop[active, None]
            pos = np.minimum(pos, last)
            f, base = flat_o[pos], base_o[pos]
            target = base + f                                        # own voxel first, if free
            placed = valid & (owner[target] < 0)
            r, w = np.nonzero(valid & ~placed)                       # taken: try the neighbours, nearest first
            for lo, hi in shells:
                if not len(r):
                    break
                cells = table[f[r, w], lo:hi]
                free = (cells >= 0) & (owner[base[r, w, None] + np.maximum(cells, 0)] < 0)
                got = free.any(axis=1)
                rg, wg = r[got], w[got]
                target[rg, wg] = base[rg, wg] + cells[got][np.arange(len(rg)), free[got].argmax(axis=1)]
                placed[rg, wg] = True
                r, w = r[~got], w[~got]
            # Each hit chose the first cell of its list that is free in `owner`. Up to the first hit whose
            # choice an earlier hit of the window also made, that is the sequential result: any cell an
            # earlier hit took and that comes before the choice in a later hit's list would have been free,
            # i.e. chosen. Hits with no free cell (`placed` False) never clash (unique negative keys).
            choice = np.where(placed, target, unique_neg)
            clash = ((choice[:, :, None] == choice[:, None, :]) & earlier).any(axis=1)
            ok = valid & ~np.logical_or.accumulate(clash, axis=1)
            put = ok & placed
            hp, tp = order[pos[put]], target[put]
            owner[tp] = hp
            idx[hp] = grid[tp - base[put]]
            join = ok & ~placed                                      # no free cell: join the voxel
            if join.any():
                hm = order[pos[join]]
                np.add.at(energy, owner[target[join]], energy[hm])
                keep[hm] = False
            ptr[active] += ok.sum(1)
            active = active[ptr[active] < stop[active]]
    return ShowerPoints(points.incident_energy, np.bincount(shower[keep], minlength=len(points.n_hits)),
                        energy[keep].astype(np.float32), idx[keep], points.geometry, dict(points.labels))
