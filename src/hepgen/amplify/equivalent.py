"""Equivalent sample size and amplification factor (S. Bieringer et al., "Calomplification — the power of
generative calorimeter models", JINST 17 (2022) P09028, arXiv:2202.07352, Sec. 4; S. Diefenbacher, "Topics in
Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Sec. 5.1).

A generated sample is worth ``N_equiv`` reference (e.g. GEANT4) events when its quantile distance to
the truth equals the expected distance of a reference sample of that size. Two ways:

* :func:`equivalent_size_from_reference` compares with measured curves of reference subsets of
  several sizes (1k, 5k, 10k, 50k, ...) and interpolates log D against log N;
* :func:`equivalent_size_multinomial` inverts the exact multinomial expectation
  (:func:`expected_jsd`, :func:`expected_mse`) of a statistics-limited sample of size N.

The amplification factor is ``N_equiv / N_train``. Uncertainties come from the spread (std over
replicates) of the measured distances, propagated through the inversion.

>>> import numpy as np
>>> p = np.full(64, 1 / 64)
>>> round(expected_jsd(p, 5000) / (63 / (8 * 5000)), 2)     # asymptotically (k - 1) / (8 N)
1.0
>>> e = equivalent_size_multinomial(expected_jsd(p, 5000), p)
>>> round(e.n_equiv)
5000
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

__all__ = ["EquivalentSize", "expected_jsd", "expected_mse", "equivalent_size_multinomial",
           "equivalent_size_from_reference"]


@dataclass
class EquivalentSize:
    """An equivalent sample size with a 1-sigma interval.

    ``bound`` is ``""`` for a value inside the calibrated range, ``">"`` when the sample beats every
    reference (``n_equiv`` is then a lower bound) and ``"<"`` when it is worse than every reference.
    """

    n_equiv: float
    low: float
    high: float
    bound: str = ""
    method: str = ""

    def factor(self, n_train: int) -> "EquivalentSize":
        """The amplification factor N_equiv / N_train (same interval and bound).

        >>> EquivalentSize(50_000, 40_000, 60_000).factor(1000).n_equiv
        50.0
        """
        return EquivalentSize(self.n_equiv / n_train, self.low / n_train, self.high / n_train, self.bound,
                              self.method)

    def to_dict(self) -> dict:
        return {"value": _finite(self.n_equiv), "low": _finite(self.low), "high": _finite(self.high),
                "bound": self.bound, "method": self.method}

    def __str__(self) -> str:
        if not math.isfinite(self.n_equiv):
            return "unresolved (at the truth-sample floor)"
        return f"{self.bound}{self.n_equiv:.3g} (+{self.high - self.n_equiv:.2g} / -{self.n_equiv - self.low:.2g})"


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _jsd_cell_expectation(p: float, n: int) -> float:
    """E over k ~ Binomial(n, p) of the cell term ½[g log(g/m) + p log(p/m)], g = k/n."""
    if p <= 0:
        return 0.0
    if n * min(p, 1 - p) > 2000:          # well populated: second-order expansion, rel. error < 1e-3
        return (1 - p) / (8 * n)
    mu, sd = n * p, math.sqrt(n * p * (1 - p))
    lo, hi = max(0, int(mu - 10 * sd - 10)), min(n, int(mu + 10 * sd + 10))
    k = np.arange(lo, hi + 1)
    w = stats.binom.pmf(k, n, p)
    g = k / n
    m = 0.5 * (g + p)
    term = p * np.log(p / m)
    nz = g > 0
    term[nz] += g[nz] * np.log(g[nz] / m[nz])
    return float(0.5 * np.dot(w, term))


def expected_jsd(probabilities: np.ndarray, n: float, n_reference: float | None = None) -> float:
    """Exact expectation of D̄_JS for a sample of ``n`` events drawn from the cell probabilities.

    D̄_JS is a sum over cells, so its expectation under the multinomial is the sum of binomial
    expectations per cell. With ``n_reference`` (size of the sample the p_i were measured on) the
    reference noise is included through the effective size 1/n_eff = 1/n + 1/n_reference.

    >>> p = np.full(256, 1 / 256)
    >>> round(expected_jsd(p, 5000), 4)
    0.0065
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n_eff = 1.0 / (1.0 / n + (1.0 / n_reference if n_reference else 0.0))
    n_eff = max(1, int(round(n_eff)))
    values, multiplicity = np.unique(np.round(p, 15), return_counts=True)
    return float(sum(c * _jsd_cell_expectation(v, n_eff) for v, c in zip(values, multiplicity)))


def expected_mse(probabilities: np.ndarray, n: float) -> float:
    """Expected quantile MSE (Diefenbacher 2022, eq. 5.1.3) of a sample of ``n``: Σ p_j(1 − p_j) / (k n).

    >>> expected_mse(np.full(10, 0.1), 100)   # (k - 1) / (k² N)
    0.0009
    """
    p = np.asarray(probabilities, dtype=np.float64)
    return float(np.sum(p * (1 - p)) / (len(p) * n))


def _invert(f, target: float, n_min: float = 1.0, n_max: float = 1e10) -> float:
    """Solve f(N) = target for decreasing f by bisection in log N; inf if target < f(n_max)."""
    if target <= f(n_max):
        return math.inf
    if target >= f(n_min):
        return n_min
    lo, hi = math.log(n_min), math.log(n_max)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if f(math.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-4:
            break
    return math.exp(0.5 * (lo + hi))


def equivalent_size_multinomial(distance: float, probabilities: np.ndarray, std: float = 0.0,
                                n_reference: float | None = None, metric: str = "jsd") -> EquivalentSize:
    """Size N of a statistics-limited sample whose expected distance equals ``distance``.

    ``metric`` is ``'jsd'`` (D̄_JS, Bieringer et al. 2022), ``'mse'`` or ``'rmse'`` (quantile (√)MSE,
    Diefenbacher 2022). ``std`` (spread of ``distance``) gives the interval; ``n_reference`` removes the truth-set
    noise (the estimate is unresolved, inf, when the distance is at or below that floor).

    >>> p = np.full(10, 0.1)
    >>> round(equivalent_size_multinomial(0.03, p, metric="rmse").n_equiv)
    100
    """
    if metric == "jsd":
        def f(n: float) -> float:
            return expected_jsd(probabilities, n)
        target = float(distance)
        solve = lambda d: _invert(f, d) if d > 0 else math.inf  # noqa: E731
    elif metric in ("mse", "rmse"):
        sq = 2 if metric == "rmse" else 1
        solve = lambda d: (expected_mse(probabilities, 1.0) / d ** sq) if d > 0 else math.inf  # noqa: E731
        target = float(distance)
    else:
        raise ValueError(f"unknown metric '{metric}': use jsd, mse or rmse")

    def remove_floor(n_eff: float) -> float:
        if not n_reference or not math.isfinite(n_eff):
            return n_eff
        inv = 1.0 / n_eff - 1.0 / n_reference
        return 1.0 / inv if inv > 0 else math.inf

    n = remove_floor(solve(target))
    high = remove_floor(solve(target - std)) if std > 0 and target - std > 0 else (n if std <= 0 else math.inf)
    low = remove_floor(solve(target + std)) if std > 0 else n
    return EquivalentSize(n, low, high, "", f"multinomial-{metric}")


def equivalent_size_from_reference(sizes: Sequence[float], reference_mean: Sequence[float],
                                   distance: float, std: float = 0.0,
                                   reference_std: Sequence[float] | None = None) -> EquivalentSize:
    """Equivalent size by interpolating log D against log N over reference subsets of ``sizes``.

    ``reference_mean[i]`` is the mean distance of reference subsets of ``sizes[i]`` at one n_quant.
    Beyond the largest (smallest) size the value is extrapolated with the slope of the last two
    points and flagged ``bound='>'`` (``'<'``). The interval combines ``std`` of the sample's
    distance and, when given, the reference spread (shifting the reference curve by ±1 sigma).

    >>> sizes = [1000, 5000, 10000]
    >>> ref = [0.032, 0.0064, 0.0032]
    >>> round(equivalent_size_from_reference(sizes, ref, 0.0045).n_equiv)
    7111
    """
    order = np.argsort(sizes)
    logn = np.log(np.asarray(sizes, dtype=np.float64)[order])
    ref = np.asarray(reference_mean, dtype=np.float64)[order]
    rstd = np.zeros_like(ref) if reference_std is None else np.asarray(reference_std, dtype=np.float64)[order]

    def solve(d: float, curve: np.ndarray) -> tuple[float, str]:
        if d <= 0:
            return math.inf, ">"
        logd = np.log(np.maximum(curve, 1e-300))
        y = math.log(d)
        if len(logn) == 1:                                   # assume D ∝ 1/N
            return math.exp(logn[0] + logd[0] - y), (">" if y < logd[0] else "<")
        if y <= logd[-1]:
            slope = (logd[-1] - logd[-2]) / (logn[-1] - logn[-2])
            return math.exp(logn[-1] + (y - logd[-1]) / slope) if slope < 0 else math.inf, ">"
        if y >= logd[0]:
            slope = (logd[1] - logd[0]) / (logn[1] - logn[0])
            return math.exp(logn[0] + (y - logd[0]) / slope) if slope < 0 else 0.0, "<"
        # D decreases with N; find the bracketing pair
        for i in range(len(logn) - 1):
            a, b = logd[i], logd[i + 1]
            if (a - y) * (b - y) <= 0 and a != b:
                return math.exp(logn[i] + (y - a) * (logn[i + 1] - logn[i]) / (b - a)), ""
        return math.exp(logn[int(np.argmin(np.abs(logd - y)))]), ""

    n, bound = solve(distance, ref)
    lo_d, hi_d = solve(distance + std, ref + rstd)[0], solve(max(distance - std, 0.0), ref - rstd)[0]
    return EquivalentSize(n, min(lo_d, n), max(hi_d, n), bound, "reference-subsets")
