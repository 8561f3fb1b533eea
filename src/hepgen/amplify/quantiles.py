"""Equal-probability cells ("quantiles") for binning samples, Sec. 3 of S. Bieringer et al., "Calomplification —
the power of generative calorimeter models", JINST 17 (2022) P09028, arXiv:2202.07352.

:func:`build_quantile_cells` splits a large reference sample recursively at its median into
``n_cells`` cells of (nearly) equal reference count. In more than one dimension the split dimension
alternates with the depth (kd-tree style): depth 0 splits dimension 0, depth 1 dimension 1, ...
A node that must hold ``k`` cells sends ``floor(k/2)`` of them left, at the reference quantile
``floor(k/2)/k``, so any ``n_cells`` works (powers of two give the paper's 2, 4, 8, ... and in 1D any
``n_cells`` gives the empirical ``n_cells``-quantiles). The split value is the midpoint between the
two neighbouring sorted reference values; a point equal to it goes left (``x <= edge``), so ties
are assigned consistently. Because of ties the cells need not hold equal counts, so the cell
probabilities are *measured* as reference fractions, never assumed to be ``1/n_cells``.

:class:`GridCells` is the product of independent per-dimension edges (the "spider web" of analytic
quantiles of A. Butter et al., "GANplifying event samples", arXiv:2008.06545); its probabilities are given.

>>> import numpy as np
>>> ref = np.random.default_rng(0).normal(size=(100_000, 2))
>>> cells = build_quantile_cells(ref, 16)
>>> cells.n_cells, bool(np.allclose(cells.probabilities, 1 / 16))
(16, True)
>>> len(set(cells.assign(np.zeros((3, 2))).tolist()))   # identical points share one cell
1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hepgen.errors import InputError

__all__ = ["QuantileCells", "GridCells", "build_quantile_cells", "as_points"]


def as_points(x: np.ndarray, name: str = "sample") -> np.ndarray:
    """Return ``x`` as a finite float64 (n, d) array (a 1D array is one column).

    >>> as_points(np.array([1.0, 2.0])).shape
    (2, 1)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise InputError(f"{name}: expected an (n,) or (n, d) array of points, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = int(np.argwhere(~np.isfinite(x))[0, 0])
        raise InputError(f"{name}: expected finite values, found NaN/inf", index=bad)
    return x


@dataclass
class QuantileCells:
    """A binary kd-tree of median splits; leaves are the cells.

    Node arrays (one entry per node, root first): ``dim`` split dimension, ``edge`` split value,
    ``left``/``right`` child node ids (-1 for a leaf), ``leaf`` cell index (-1 for inner nodes).
    ``probabilities`` are the measured reference fractions per cell; ``n_reference`` the reference size.
    """

    dim: np.ndarray
    edge: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    probabilities: np.ndarray
    n_dims: int
    n_reference: int
    depth: int = field(default=0)

    @property
    def n_cells(self) -> int:
        """Number of cells (quantiles)."""
        return len(self.probabilities)

    def assign(self, x: np.ndarray, chunk_size: int = 1_000_000) -> np.ndarray:
        """Cell index (int64) of each point of ``x`` (n, d); vectorised, one pass per tree level.

        >>> cells = build_quantile_cells(np.arange(8.0), 4)
        >>> cells.assign(np.array([0.0, 1.5, 2.0, 7.0])).tolist()
        [0, 0, 1, 3]
        """
        x = as_points(x)
        if x.shape[1] != self.n_dims:
            raise InputError(f"cells are {self.n_dims}-dimensional, got points with {x.shape[1]} columns")
        out = np.empty(len(x), dtype=np.int64)
        for start in range(0, len(x), chunk_size):
            xs = x[start:start + chunk_size]
            node = np.zeros(len(xs), dtype=np.int64)
            rows = np.arange(len(xs))
            for _ in range(self.depth):
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                go_left = xs[rows, self.dim[node]] <= self.edge[node]
                child = np.where(go_left, self.left[node], self.right[node])
                node = np.where(inner, child, node)
            out[start:start + chunk_size] = self.leaf[node]
        return out

    def counts(self, x: np.ndarray) -> np.ndarray:
        """Number of points of ``x`` in each cell."""
        return np.bincount(self.assign(x), minlength=self.n_cells)

    def fractions(self, x: np.ndarray) -> np.ndarray:
        """Fraction of the points of ``x`` in each cell (g_i of Bieringer et al. 2022, eq. 3.3)."""
        c = self.counts(x)
        return c / max(c.sum(), 1)


def build_quantile_cells(reference: np.ndarray, n_cells: int) -> QuantileCells:
    """Split ``reference`` (n, d) into ``n_cells`` equal-count cells by recursive median splitting.

    The split dimension at depth ``l`` is ``l % d``. Cell probabilities are the measured reference
    fractions. Raises :class:`~hepgen.errors.InputError` if there are fewer reference points than cells.

    >>> cells = build_quantile_cells(np.random.default_rng(1).uniform(size=1000), 10)
    >>> cells.counts(np.random.default_rng(1).uniform(size=1000)).tolist()
    [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
    """
    ref = as_points(reference, "reference")
    n, d = ref.shape
    n_cells = int(n_cells)
    if n_cells < 1:
        raise InputError(f"number of quantiles must be >= 1, got {n_cells}")
    if n < n_cells:
        raise InputError(f"reference has {n} points, fewer than the {n_cells} quantiles asked for")
    dims, edges, lefts, rights, leaves = [], [], [], [], []
    # frontier: node id, number of cells it must hold, and the reference rows inside it (as a label)
    node_of = np.zeros(n, dtype=np.int64)          # current node of every reference point
    frontier = [(0, n_cells)]
    dims.append(0), edges.append(np.inf), lefts.append(-1), rights.append(-1), leaves.append(-1)
    n_leaf, depth = 0, 0
    while frontier:
        axis = depth % d
        split_nodes = [(nid, k) for nid, k in frontier if k > 1]
        for nid, k in frontier:
            if k == 1:
                leaves[nid] = n_leaf
                n_leaf += 1
        if not split_nodes:
            break
        # sort reference points by (node, value along axis) once per level
        order = np.lexsort((ref[:, axis], node_of))
        sorted_nodes = node_of[order]
        sorted_vals = ref[order, axis]
        ids = np.array([nid for nid, _ in split_nodes])
        starts = np.searchsorted(sorted_nodes, ids, side="left")
        stops = np.searchsorted(sorted_nodes, ids, side="right")
        new_frontier = []
        for (nid, k), lo, hi in zip(split_nodes, starts, stops):
            m = hi - lo
            k_left = k // 2
            c = int(round(m * k_left / k))                  # reference points meant to go left
            if m == 0:
                edge = np.inf
            elif c <= 0:
                edge = np.nextafter(sorted_vals[lo], -np.inf)
            elif c >= m:
                edge = sorted_vals[hi - 1]
            else:
                edge = 0.5 * (sorted_vals[lo + c - 1] + sorted_vals[lo + c])
            li, ri = len(dims), len(dims) + 1
            for _ in range(2):
                dims.append(0), edges.append(np.inf), lefts.append(-1), rights.append(-1), leaves.append(-1)
            dims[nid], edges[nid], lefts[nid], rights[nid] = axis, edge, li, ri
            new_frontier += [(li, k_left), (ri, k - k_left)]
        # move reference points one level down
        inner = np.array(lefts)[node_of] >= 0
        go_left = ref[np.arange(n), np.array(dims)[node_of]] <= np.array(edges)[node_of]
        node_of = np.where(inner, np.where(go_left, np.array(lefts)[node_of], np.array(rights)[node_of]), node_of)
        frontier = new_frontier
        depth += 1
    leaf = np.array(leaves, dtype=np.int64)
    # number the cells left to right (in-order), so that in 1D cell i lies below cell i + 1
    ordered, stack, node = [], [], 0
    while stack or node >= 0:
        while node >= 0:
            stack.append(node)
            node = lefts[node]
        node = stack.pop()
        if leaf[node] >= 0:
            ordered.append(node)
        node = rights[node]
    leaf[np.array(ordered)] = np.arange(n_leaf)
    counts = np.bincount(leaf[node_of], minlength=n_leaf)
    return QuantileCells(np.array(dims, dtype=np.int64), np.array(edges, dtype=np.float64),
                         np.array(lefts, dtype=np.int64), np.array(rights, dtype=np.int64), leaf,
                         counts / n, d, n, depth)


@dataclass
class GridCells:
    """Product cells from per-dimension edges (interior edges only, increasing).

    Values below the first edge fall in bin 0; a value equal to an edge goes to the lower bin.
    ``probabilities`` default to the product of equal per-dimension probabilities (exact for
    independent coordinates binned at their own analytic quantiles).

    >>> g = GridCells([np.array([0.0]), np.array([-1.0, 1.0])])
    >>> g.n_cells, g.assign(np.array([[-1.0, 0.0], [0.5, 2.0]])).tolist()
    (6, [1, 5])
    """

    edges: list[np.ndarray]
    probabilities: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.edges = [np.asarray(e, dtype=np.float64).reshape(-1) for e in self.edges]
        self.shape = tuple(len(e) + 1 for e in self.edges)
        if self.probabilities is None:
            self.probabilities = np.full(int(np.prod(self.shape)), 1.0 / np.prod(self.shape))
        self.probabilities = np.asarray(self.probabilities, dtype=np.float64)

    @property
    def n_dims(self) -> int:
        return len(self.edges)

    @property
    def n_cells(self) -> int:
        return int(np.prod(self.shape))

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Flat cell index of each point."""
        x = as_points(x)
        if x.shape[1] != self.n_dims:
            raise InputError(f"cells are {self.n_dims}-dimensional, got points with {x.shape[1]} columns")
        idx = [np.searchsorted(e, x[:, j], side="left") for j, e in enumerate(self.edges)]
        return np.ravel_multi_index(tuple(idx), self.shape).astype(np.int64)

    def counts(self, x: np.ndarray) -> np.ndarray:
        return np.bincount(self.assign(x), minlength=self.n_cells)

    def fractions(self, x: np.ndarray) -> np.ndarray:
        c = self.counts(x)
        return c / max(c.sum(), 1)
