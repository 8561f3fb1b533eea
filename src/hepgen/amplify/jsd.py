"""Quantile-binned Jensen–Shannon divergence (eq. 3.3 of S. Bieringer et al., "Calomplification — the power of
generative calorimeter models", JINST 17 (2022) P09028, arXiv:2202.07352) and the quantile MSE of the
GANplification toys (A. Butter et al., "GANplifying event samples", arXiv:2008.06545; eq. 5.1.3 of S. Diefenbacher,
"Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022)).

D̄_JS(g, p) = ½ Σ_i [g_i log(g_i / m_i) + p_i log(p_i / m_i)],  m_i = ½(g_i + p_i),

with natural logarithms and 0·log 0 = 0, so 0 <= D̄_JS <= log 2. p_i are the measured reference
fractions of the quantile cells, g_i the fractions of the sample under test. A point of a curve is
*sparse* (drawn dashed) when ``n_quant > n / 10`` for a sample of ``n`` entries (fewer than about
ten entries per cell).

>>> import numpy as np
>>> float(jsd_from_fractions(np.array([0.5, 0.5]), np.array([0.5, 0.5])))
0.0
>>> bool(np.isclose(jsd_from_fractions(np.array([1.0, 0.0]), np.array([0.0, 1.0])), np.log(2)))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from hepgen.amplify.quantiles import GridCells, QuantileCells, as_points, build_quantile_cells

__all__ = ["jsd_from_fractions", "quantile_jsd", "quantile_mse", "JSDCurve", "jsd_curve", "is_sparse", "two_sample_jsd",
           "default_n_quants"]


def _xlogx_over(a: np.ndarray, m: np.ndarray) -> np.ndarray:
    out = np.zeros_like(a, dtype=np.float64)
    nz = a > 0
    out[nz] = a[nz] * np.log(a[nz] / m[nz])
    return out


def jsd_from_fractions(g: np.ndarray, p: np.ndarray) -> float:
    """D̄_JS of Bieringer et al. 2022, eq. 3.3, between cell fractions ``g`` and ``p`` (each summing to 1), in nats.

    >>> round(jsd_from_fractions(np.array([0.25, 0.75]), np.array([0.5, 0.5])), 5)
    0.03382
    """
    g = np.asarray(g, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    m = 0.5 * (g + p)
    return float(0.5 * (_xlogx_over(g, m).sum() + _xlogx_over(p, m).sum()))


def quantile_jsd(sample: np.ndarray, cells: QuantileCells | GridCells) -> float:
    """D̄_JS between the fractions of ``sample`` in ``cells`` and the cells' reference probabilities.

    >>> ref = np.random.default_rng(0).normal(size=20_000)
    >>> cells = build_quantile_cells(ref, 8)
    >>> quantile_jsd(ref, cells)
    0.0
    """
    return jsd_from_fractions(cells.fractions(sample), cells.probabilities)


def two_sample_jsd(a: np.ndarray, b: np.ndarray, n_quant: int) -> float:
    """D̄_JS between two samples in ``n_quant`` cells built on both samples pooled.

    Identical samples give 0, samples with disjoint support log 2.

    >>> a = np.random.default_rng(0).normal(size=(500, 2))
    >>> bool(np.isclose(two_sample_jsd(a, a + 50.0, 8), np.log(2)))
    True
    """
    a, b = as_points(a, "first sample"), as_points(b, "second sample")
    cells = build_quantile_cells(np.concatenate([a, b]), n_quant)
    return jsd_from_fractions(cells.fractions(a), cells.fractions(b))


def quantile_mse(sample: np.ndarray, cells: QuantileCells | GridCells, root: bool = False) -> float:
    """Quantile MSE of Diefenbacher 2022, eq. 5.1.3: mean over cells of (x_j − p_j)²; ``root`` gives √MSE.

    For analytic quantiles p_j = 1/n_quant, as in Diefenbacher 2022.

    >>> cells = build_quantile_cells(np.arange(4.0), 2)
    >>> quantile_mse(np.array([0.0, 0.0, 0.0, 3.0]), cells)
    0.0625
    """
    x = cells.fractions(sample)
    mse = float(np.mean((x - cells.probabilities) ** 2))
    return float(np.sqrt(mse)) if root else mse


def is_sparse(n_quant: int, n_entries: int) -> bool:
    """Sparsity rule of Bieringer et al. 2022: a quantile set is sparse when ``n_quant > n_entries / 10``.

    >>> is_sparse(64, 1000), is_sparse(128, 1000)
    (False, True)
    """
    return n_quant > n_entries / 10


def default_n_quants(n_reference: int, max_n_quant: int | None = None) -> list[int]:
    """Powers of two 2, 4, ... up to ``n_reference / 2`` (or ``max_n_quant``).

    >>> default_n_quants(100)
    [2, 4, 8, 16, 32]
    """
    top = n_reference // 2 if max_n_quant is None else min(max_n_quant, n_reference)
    out, k = [], 2
    while k <= top:
        out.append(k)
        k *= 2
    return out


@dataclass
class JSDCurve:
    """D̄_JS versus number of quantiles for one sample kind: mean and std over replicates.

    ``n_entries`` is the size of one replicate (for the sparsity rule); ``values`` holds every
    replicate (shape (n_replicates, len(n_quant))).
    """

    label: str
    n_quant: list[int]
    mean: np.ndarray
    std: np.ndarray
    n_entries: int
    values: np.ndarray = field(repr=False)

    @property
    def sparse(self) -> np.ndarray:
        """True where ``n_quant > n_entries / 10`` (drawn dashed)."""
        return np.array([is_sparse(k, self.n_entries) for k in self.n_quant])

    def to_dict(self) -> dict:
        return {"label": self.label, "n_quant": list(map(int, self.n_quant)), "mean": self.mean.tolist(),
                "std": self.std.tolist(), "n_entries": int(self.n_entries), "sparse": self.sparse.tolist(),
                "n_replicates": int(len(self.values))}


def jsd_curve(replicates: Sequence[np.ndarray], cells: dict[int, QuantileCells | GridCells] | np.ndarray,
              n_quant: Sequence[int] | None = None, label: str = "sample",
              metric: str = "jsd") -> JSDCurve:
    """D̄_JS (or √MSE with ``metric='rmse'``) of each replicate sample against quantile cells.

    ``cells`` is either a mapping n_quant -> cells or a reference sample on which the cells for each
    ``n_quant`` are built. Returns the mean and (ddof=1) standard deviation over replicates.

    >>> rng = np.random.default_rng(2)
    >>> ref = rng.normal(size=50_000)
    >>> curve = jsd_curve([rng.normal(size=1000) for _ in range(3)], ref, [4, 64, 256])
    >>> curve.sparse.tolist()
    [False, False, True]
    >>> bool(curve.mean[0] < curve.mean[2])
    True
    """
    if not isinstance(cells, dict):
        ref = as_points(cells, "reference")
        n_quant = list(n_quant) if n_quant is not None else default_n_quants(len(ref))
        cells = {k: build_quantile_cells(ref, k) for k in n_quant}
    n_quant = list(n_quant) if n_quant is not None else sorted(cells)
    measure = quantile_jsd if metric == "jsd" else (lambda s, c: quantile_mse(s, c, root=True))
    reps = [as_points(r) for r in replicates]
    values = np.array([[measure(r, cells[k]) for k in n_quant] for r in reps])
    std = values.std(axis=0, ddof=1) if len(reps) > 1 else np.zeros(len(n_quant))
    return JSDCurve(label, n_quant, values.mean(axis=0), std, min(len(r) for r in reps), values)
