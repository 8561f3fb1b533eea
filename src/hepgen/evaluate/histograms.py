"""Histogram comparisons as the CaloChallenge defines them, and the challenge's binning of each feature.

The separation power (triangular discrimination, eq. 15 of arXiv:2009.03796) of two histograms
normalised to unit sum is ``0.5 * sum((h1 - h2)^2 / (h1 + h2 + 1e-16))``: 0 for identical shapes,
1 for disjoint ones. Histograms are normalised over the entries inside the bin range, as
``numpy.histogram(..., density=True)`` times the bin widths does in the challenge's code.

>>> separation_power([1, 2, 3], [2, 4, 6])
0.0
>>> separation_power([1, 0], [0, 1])
1.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["separation_power", "separation_power_error", "chi2", "challenge_bins", "normalised", "outside_bins"]


def normalised(hist: np.ndarray) -> np.ndarray:
    """Histogram divided by its sum (all zeros stay zeros)."""
    h = np.asarray(hist, dtype=np.float64)
    total = h.sum()
    return h / total if total > 0 else h


def separation_power(hist_a: np.ndarray, hist_b: np.ndarray) -> float:
    """Separation power of two histograms (counts or densities on the same equal-width bins, or
    counts on any common bins); see the module docstring. Identical shapes give exactly 0; an empty
    histogram gives NaN (undefined, as in the challenge's code), never a perfect match.

    >>> separation_power([0, 0], [1, 2])
    nan
    """
    if not (np.sum(hist_a) > 0 and np.sum(hist_b) > 0):
        return float("nan")
    a, b = normalised(hist_a), normalised(hist_b)
    return float(0.5 * ((a - b) ** 2 / (a + b + 1e-16)).sum())


def separation_power_error(counts_a: np.ndarray, counts_b: np.ndarray) -> float:
    """Statistical (Poisson, first-order) uncertainty of :func:`separation_power` of two count histograms.

    >>> separation_power_error([100, 100], [100, 100])
    0.0
    """
    na, nb = float(np.sum(counts_a)), float(np.sum(counts_b))
    if na <= 0 or nb <= 0:
        return float("nan")
    p, q = normalised(counts_a), normalised(counts_b)
    s = (p + q) ** 2 + 1e-300
    dp = 0.5 * (p - q) * (p + 3 * q) / s
    dq = -0.5 * (p - q) * (3 * p + q) / s
    return float(np.sqrt(np.sum(dp ** 2 * p / na + dq ** 2 * q / nb)))


def outside_bins(values: np.ndarray, edges: np.ndarray) -> dict[str, float | int]:
    """Entries a histogram on ``edges`` does not show: below, above and not finite, with the extreme values seen;
    ``far`` counts values more than ten bin ranges away (in log10 for log-spaced edges): a broken value, not a tail.

    >>> outside_bins(np.array([0.5, 3.5, 1e30, np.nan]), np.array([0.0, 1.0, 3.0]))
    {'underflow': 0, 'overflow': 2, 'non_finite': 1, 'far': 1, 'max': 1e+30, 'min': 0.5}
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    f = v[finite]
    lo, hi = float(edges[0]), float(edges[-1])
    if lo > 0 and hi / lo > 100:   # log-spaced
        with np.errstate(divide="ignore", invalid="ignore"):
            lf, span = np.log10(np.where(f > 0, f, lo)), np.log10(hi / lo)
        far = (lf > np.log10(hi) + 10 * span) | (lf < np.log10(lo) - 10 * span)
    else:
        span = hi - lo
        far = (f > hi + 10 * span) | (f < lo - 10 * span)
    return {"underflow": int((f < lo).sum()), "overflow": int((f > hi).sum()), "non_finite": int((~finite).sum()),
            "far": int(far.sum()), "max": float(f.max()) if len(f) else float("nan"),
            "min": float(f.min()) if len(f) else float("nan")}


def chi2(counts_a: np.ndarray, counts_b: np.ndarray) -> tuple[float, int]:
    """Two-sample chi2 of count histograms with different totals, and its degrees of freedom
    (bins with entries minus 1): sum over bins of (b_a K - b_b / K)^2 / (b_a + b_b), K = sqrt(N_b / N_a).

    >>> [round(v, 9) for v in chi2([10, 20, 30], [20, 40, 60])]
    [0.0, 2]
    """
    a, b = np.asarray(counts_a, dtype=np.float64), np.asarray(counts_b, dtype=np.float64)
    na, nb = a.sum(), b.sum()
    used = (a + b) > 0
    if na <= 0 or nb <= 0 or not used.any():
        return float("nan"), 0
    k = np.sqrt(nb / na)
    value = float((((a * k - b / k) ** 2)[used] / (a + b)[used]).sum())
    return value, int(used.sum() - 1)


def challenge_bins(name: str, reference_values: np.ndarray, dataset: int, min_energy_mev: float) -> np.ndarray:
    """Bin edges the challenge's evaluation uses for a high-level feature (name as in
    :func:`hepgen.evaluate.highlevel.highlevel_names`, plus ``E_tot/E_inc`` and ``voxel_energy``) of CaloChallenge
    dataset ``dataset`` (1, 2 or 3: a geometry's ``calochallenge_dataset``).

    >>> challenge_bins("EC_eta_3", np.zeros(1), 2, 0.015)[[0, -1]].tolist()
    [-30.0, 30.0]
    """
    ds1 = dataset == 1
    layer = int(name.rsplit("_", 1)[1]) if name[-1].isdigit() else -1
    if name == "E_tot/E_inc":
        return np.linspace(0.5, 1.5, 101)
    if name.startswith("E_layer") or name == "voxel_energy":
        top = float(np.max(reference_values)) if len(reference_values) else 1.0
        top = max(top, min_energy_mev * 10)
        return np.logspace(np.log10(min_energy_mev), np.log10(top), 40 if name != "voxel_energy" else 50)
    if name.startswith("EC_eta") or name.startswith("EC_phi"):
        lim = 30.0 if not ds1 else (500.0 if layer in (12, 13) else 100.0)
        return np.linspace(-lim, lim, 101)
    if name.startswith("width_eta") or name.startswith("width_phi"):
        lim = 30.0 if not ds1 else (400.0 if layer in (12, 13) else 100.0)
        return np.linspace(0.0, lim, 101)
    if name.startswith("sparsity"):
        return np.linspace(0.0, 1.0, 21)
    if name.startswith("EC_r"):
        return np.linspace(0.0, 42.0 if not ds1 else (1500.0 if layer in (12, 13, 14) else 500.0), 101)
    if name.startswith("width_r"):
        return np.linspace(0.0, 20.0 if not ds1 else (1500.0 if layer in (12, 13, 14) else 500.0), 101)
    return auto_bins(reference_values)


def auto_bins(reference_values: np.ndarray, n_bins: int = 50) -> np.ndarray:
    """Edges spanning the 0.1 %-99.9 % range of the reference (log-spaced for wide positive spreads).

    >>> len(auto_bins(np.arange(100.0)))
    51
    """
    v = np.asarray(reference_values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return np.linspace(0.0, 1.0, n_bins + 1)
    lo, hi = np.quantile(v, [0.001, 0.999])
    if lo > 0 and hi / lo > 100:
        return np.geomspace(lo, hi, n_bins + 1)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    if np.allclose(v, np.round(v)) and hi - lo < 2 * n_bins:   # integers: one bin per value
        return np.arange(np.floor(lo) - 0.5, np.ceil(hi) + 1.5)
    return np.linspace(lo, hi, n_bins + 1)
