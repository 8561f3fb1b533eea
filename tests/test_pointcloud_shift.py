"""The vectorised duplicate shifting gives exactly the one-hit-at-a-time greedy placement."""

import numpy as np
import pytest

from hepgen.data import ShowerPoints
from hepgen.data.postprocess_hits import neighbour_offsets, shift_duplicates


def reference_shift(points: ShowerPoints, max_distance: int = 2) -> ShowerPoints:
    """Straightforward definition: per shower, hardest hit first, each hit takes its voxel or the first
    free cell of ``neighbour_offsets`` (alpha wraps, other axes stop at the edge), else joins its voxel."""
    shape = points.geometry.shape
    energy = points.energy.astype(np.float64)
    idx = points.indices.copy()
    keep = np.ones(len(energy), bool)
    off = points.offsets
    for s in range(len(points.n_hits)):
        owner: dict[tuple, int] = {}
        for h in off[s] + np.argsort(-energy[off[s]:off[s + 1]], kind="stable"):
            cells = [tuple(idx[h])]
            for o in neighbour_offsets(max_distance):
                c = list(idx[h] + o)
                c[1] %= shape[1]
                if 0 <= c[0] < shape[0] and 0 <= c[2] < shape[2]:
                    cells.append(tuple(c))
            free = [c for c in cells if c not in owner]
            if free:
                owner[free[0]] = h
                idx[h] = free[0]
            else:
                energy[owner[cells[0]]] += energy[h]
                keep[h] = False
    return ShowerPoints(points.incident_energy, np.bincount(points.shower_of_hit[keep], minlength=len(points.n_hits)),
                        energy[keep].astype(np.float32), idx[keep], points.geometry)


def _clustered(seed: int, n_showers: int, max_hits: int, spread: float) -> ShowerPoints:
    rng = np.random.default_rng(seed)
    n = rng.integers(1, max_hits, n_showers)
    m = int(n.sum())
    idx = np.rint(rng.normal([22, 15, 1], [spread, 2 * spread, spread], (m, 3))).astype(np.int64)
    idx = np.clip(idx, 0, [44, 10 ** 6, 8])
    idx[:, 1] %= 16                                   # clusters across the alpha wrap and the radial edge
    energy = rng.exponential(1.0, m).astype(np.float32)
    energy[rng.random(m) < 0.2] = 0.5                 # ties: stable order decides
    return ShowerPoints(rng.uniform(1e3, 1e6, n_showers), n, energy, idx, "calochallenge-2")


def _same(a: ShowerPoints, b: ShowerPoints) -> None:
    assert a.n_hits.tolist() == b.n_hits.tolist()
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.energy, b.energy)


def test_hand_made_case():
    # shower 0: three hits in (3, 0, 4): the 5 MeV hit keeps it, the 3 MeV hit takes the first free
    # neighbour (2, 0, 4) -- where the 1 MeV hit landed, so that one moves on to (1, 0, 4) -- and the
    # 2 MeV hit wraps around alpha to (3, 15, 4); shower 1: the tie keeps hit order, alpha - 1 first
    idx = [[3, 0, 4], [3, 0, 4], [3, 0, 4], [2, 0, 4], [0, 15, 8], [0, 15, 8]]
    pts = ShowerPoints([1e4, 2e4], [4, 2], [5.0, 2.0, 3.0, 1.0, 1.0, 1.0], idx, "calochallenge-2")
    out = shift_duplicates(pts)
    _same(out, reference_shift(pts))
    assert out.indices.tolist() == [[3, 0, 4], [3, 15, 4], [2, 0, 4], [1, 0, 4], [0, 15, 8], [0, 14, 8]]
    assert out.energy.tolist() == [5.0, 2.0, 3.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("seed,window,chunk_cells", [(0, 16, 4_000_000), (1, 2, 4_000_000), (2, 5, 6480 * 2)])
def test_matches_sequential_reference(seed, window, chunk_cells):
    pts = _clustered(seed, n_showers=6, max_hits=400, spread=1.5)
    out = shift_duplicates(pts, window=window, chunk_cells=chunk_cells)
    _same(out, reference_shift(pts))
    assert out.n_hits.sum() < pts.n_hits.sum()                       # some hits had nowhere to go ...
    e_in = np.bincount(pts.shower_of_hit, pts.energy.astype(np.float64))
    e_out = np.bincount(out.shower_of_hit, out.energy.astype(np.float64))
    np.testing.assert_allclose(e_out, e_in, rtol=1e-6)               # ... and their energy was kept
    key = out.shower_of_hit * 6480 + out.geometry.flatten_indices(out.indices)
    assert len(np.unique(key)) == len(key)                           # no shared voxel afterwards


def test_merges_match_reference_with_small_neighbourhood():
    pts = _clustered(3, n_showers=3, max_hits=300, spread=0.6)
    _same(shift_duplicates(pts, max_distance=1), reference_shift(pts, max_distance=1))
