"""Per-shower linear sums of voxel energies, ``energy @ W.T`` for a sparse ``W``, computed segment by segment.

The observables and high-level features are sums of voxel energies with fixed weights (1, r, r^2, eta, ...)
over groups of voxels (a layer, a radial bin). Written as one sparse (n_sums, n_voxels) matrix ``W``, the
product with a (N, n_voxels) C-ordered block of showers would need a transposed copy of the block (scipy
multiplies a sparse matrix from the left only). :class:`SegmentProjection` instead cuts the voxels into
contiguous segments (runs of one layer, at most ``max_len`` voxels) and multiplies each segment's columns of
the block by the small dense matrix of the sums it touches (BLAS, no copy of the block), adding the results.
Sums that take only a few voxels of a segment (< 1/16, e.g. the pixels of a Cartesian image) stay in a sparse
remainder applied the direct way. The sums are float64 and equal ``W @ energy.T`` up to float64 round-off.

>>> import numpy as np
>>> from scipy import sparse
>>> w = sparse.csr_matrix(np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]]))
>>> p = SegmentProjection(w, groups=np.array([0, 0, 1, 1]))
>>> e = np.array([[1.0, 2.0, 0.0, 5.0]])
>>> p(e).tolist(), p.count_positive(e).tolist()
([[3.0, 5.0, 25.0]], [[2, 1]])
"""

from __future__ import annotations

import numpy as np

__all__ = ["SegmentProjection"]


class SegmentProjection:
    """Apply a sparse (n_sums, n_voxels) weight matrix to (N, n_voxels) showers from the right.

    Parameters
    ----------
    matrix: scipy sparse (n_sums, n_voxels) weights.
    groups: (n_voxels,) integer group (layer) of each voxel; segments never cross a group boundary, and
        :meth:`count_positive` counts voxels > 0 per group.
    max_len: longest segment (voxels), so that one segment's columns of a block stay in cache.
    """

    def __init__(self, matrix, groups: np.ndarray, max_len: int = 512) -> None:
        from scipy import sparse

        csc = sparse.csc_matrix(matrix, dtype=np.float64)
        self.matrix = csc.tocsr()   # the weights, kept for reference (``(matrix @ energy.T).T`` is the result)
        groups = np.asarray(groups, dtype=np.int64)
        self.n_sums, self.n_voxels = csc.shape
        self.n_groups = int(groups.max()) + 1 if len(groups) else 0
        cuts = np.flatnonzero(np.diff(groups)) + 1
        bounds = np.concatenate([[0], cuts, [len(groups)]])
        self.segments: list[tuple[int, int, int, slice | np.ndarray, np.ndarray]] = []
        rest = []
        for a0, b0 in zip(bounds[:-1], bounds[1:]):
            for a in range(int(a0), int(b0), max_len):
                b = min(a + max_len, int(b0))
                sub = csc[:, a:b].toarray()
                nnz = np.count_nonzero(sub, axis=1)
                rows = np.flatnonzero(nnz >= max(1, (b - a) // 16))
                sparse_part = sub.copy()
                sparse_part[rows] = 0.0
                if sparse_part.any():
                    rest.append(sparse.hstack([sparse.csc_matrix((self.n_sums, a)), sparse.csc_matrix(sparse_part),
                                               sparse.csc_matrix((self.n_sums, self.n_voxels - b))]))
                target = slice(int(rows[0]), int(rows[-1]) + 1) if len(rows) and np.all(np.diff(rows) == 1) else rows
                self.segments.append((a, b, int(groups[a]), target, np.ascontiguousarray(sub[rows].T)))
        self.rest = sum(rest[1:], rest[0]).tocsr() if rest else None

    def __call__(self, energy: np.ndarray) -> np.ndarray:
        """(N, n_sums) float64 sums of (N, n_voxels) energies (converted to float64 once if needed)."""
        x = np.asarray(energy, dtype=np.float64)
        out = np.zeros((x.shape[0], self.n_sums))
        for a, b, _, target, w in self.segments:
            if w.shape[1]:
                out[:, target] += x[:, a:b] @ w
        if self.rest is not None:
            out += np.asarray(self.rest @ x.T).T
        return out

    def count_positive(self, energy: np.ndarray) -> np.ndarray:
        """(N, n_groups) int64 number of voxels with energy > 0 in each group."""
        x = np.asarray(energy)
        out = np.zeros((x.shape[0], self.n_groups), dtype=np.int64)
        for a, b, g, _, _ in self.segments:
            out[:, g] += np.count_nonzero(x[:, a:b] > 0, axis=1)
        return out
