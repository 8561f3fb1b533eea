"""Discovery significance of a binned classifier output with the Asimov data set and a constrained background
normalisation, as in B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024),
Sec. 7.2.4 (Eqs. 7.10-7.19), after Cowan, Cranmer, Gross & Vitells, "Asymptotic formulae for likelihood-based tests
of new physics", arXiv:1007.1727.

Per bin i the Poisson likelihood of n_i given λ_i = μ s_i + τ b_i (Eq. 7.15); one background normalisation τ for all
bins, constrained by c(τ) = exp(−(τ B − B)² / (2 σ_B²)) with B = Σ b_i and σ_B = sqrt(Σ w²) the MC statistical
uncertainty of B (Eqs. 7.16, 7.18). Eq. 7.16 prints the Gaussian without the factor 2 and Eq. 7.19 subtracts c(τ)
instead of adding log c(τ); hepgen uses the ordinary Gaussian log-constraint. On the Asimov data set n_i = s_i + b_i
the unconditional fit is μ̂ = 1, τ̂ = 1 and

    q0 = −2 max_τ { Σ_i [n_i log(τ b_i / n_i) − τ b_i + n_i] − (τ − 1)² B² / (2 σ_B²) },   Z = sqrt(q0);

the conditional τ̂̂ solves the quadratic k τ² + (B − k) τ − N = 0 with k = B² / σ_B², N = Σ n_i (without the
constraint, k = 0: τ̂̂ = N / B, Eq. 7.17; with an exact background, σ_B = 0: τ̂̂ = 1 and one bin gives the familiar
Z = sqrt(2 ((s + b) log(1 + s / b) − s))).

The luminosity needed for a target Z scales s, b by α and σ_B by sqrt(α) (the relative MC uncertainty shrinks as
1 / sqrt(α), as if the MC sample grew with the luminosity — the thesis's Sec. 7.2.4 reading) and solves Z(α) = Z
for α.

>>> round(asimov_significance([10.0], [100.0], 0.0), 4)             # sqrt(2 (110 log 1.1 - 10))
0.984
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["asimov_significance", "conditional_background_scale", "luminosity_for_significance",
           "three_bin_edges", "binned_yields"]


def conditional_background_scale(n_total: float, b_total: float, sigma_b: float) -> float:
    """τ̂̂: the background normalisation that maximises the μ = 0 likelihood with the Gaussian constraint.

    >>> conditional_background_scale(110.0, 100.0, math.inf), conditional_background_scale(110.0, 100.0, 0.0)
    (1.1, 1.0)
    """
    if sigma_b == 0:
        return 1.0
    k = (b_total / sigma_b) ** 2
    if k == 0:
        return n_total / b_total
    return ((k - b_total) + math.sqrt((k - b_total) ** 2 + 4 * k * n_total)) / (2 * k)


def asimov_significance(signal: Sequence[float], background: Sequence[float], sigma_b: float,
                        background_floor: float = 1e-6) -> float:
    """Z = sqrt(q0) of the Asimov data set for bin yields ``signal``, ``background`` (expected events) and the
    absolute uncertainty ``sigma_b`` of their summed background (``math.inf``: unconstrained). Bins with no
    background get ``background_floor`` × the total background (a bin with signal and no background would give an
    infinite significance).

    >>> round(asimov_significance([10.0], [100.0], math.inf), 6)       # one bin, free τ absorbs the signal
    0.0
    """
    s = np.asarray(signal, np.float64)
    b = np.asarray(background, np.float64)
    if s.shape != b.shape or s.ndim != 1 or len(s) == 0:
        raise ValueError(f"signal and background must be equal-length 1-D yields, got {s.shape} and {b.shape}")
    if np.any(s < 0) or np.any(b < 0) or b.sum() <= 0:
        raise ValueError("yields must be >= 0 with a positive total background")
    b = np.maximum(b, background_floor * b.sum())
    n = s + b
    big_b = float(b.sum())
    tau = conditional_background_scale(float(n.sum()), big_b, sigma_b)
    log_ratio = float(np.sum(n * np.log(tau * b / n) - tau * b + n))
    if math.isfinite(sigma_b) and sigma_b > 0:
        log_ratio -= (tau - 1) ** 2 * big_b ** 2 / (2 * sigma_b ** 2)
    return math.sqrt(max(0.0, -2 * log_ratio))


def luminosity_for_significance(signal: Sequence[float], background: Sequence[float], sigma_b: float,
                                luminosity: float = 1.0, target: float = 3.0, max_factor: float = 1e8) -> float:
    """The integrated luminosity at which :func:`asimov_significance` reaches ``target``, given the yields at
    ``luminosity`` (same unit out); s, b → α s, α b and σ_B → sqrt(α) σ_B; ``inf`` if not reached below
    ``max_factor`` × ``luminosity``.

    >>> z1 = asimov_significance([10.0], [100.0], 0.0)
    >>> round(luminosity_for_significance([10.0], [100.0], 0.0, target=z1), 6)
    1.0
    """
    s, b = np.asarray(signal, np.float64), np.asarray(background, np.float64)

    def z(alpha: float) -> float:
        return asimov_significance(alpha * s, alpha * b, sigma_b * math.sqrt(alpha))

    lo, hi = 1.0 / max_factor, 1.0
    while z(hi) < target:
        hi *= 2
        if hi > max_factor:
            return math.inf
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if z(mid) < target else (lo, mid)
        if hi / lo < 1 + 1e-10:
            break
    return luminosity * hi


def three_bin_edges(background_scores: np.ndarray, background_weights: np.ndarray, threshold: float = 0.9,
                    max_relative_uncertainty: float = 0.3) -> np.ndarray:
    """Edges of the 3-bin classifier-output histogram of Sec. 7.2.4: only ŷ > ``threshold``; the top bin
    [e, 1] is widened from 1 downwards until its background's relative MC uncertainty sqrt(Σw²)/Σw falls below
    ``max_relative_uncertainty``; the other two bins split [threshold, e] equally. Returns the 4 edges (if no e
    qualifies, e = threshold: three equal bins of nothing plus the whole range on top, i.e. a 1-bin analysis).

    >>> three_bin_edges(np.array([0.95, 0.97, 0.99, 0.999] * 5), np.ones(20)).round(4).tolist()
    [0.9, 0.935, 0.97, 1.0]
    """
    scores = np.asarray(background_scores, np.float64)
    weights = np.asarray(background_weights, np.float64)
    keep = scores > threshold
    order = np.argsort(-scores[keep], kind="stable")
    s, w = scores[keep][order], weights[keep][order]
    sum_w, sum_w2 = np.cumsum(w), np.cumsum(w * w)
    ok = (sum_w > 0) & (np.sqrt(sum_w2) < max_relative_uncertainty * np.maximum(sum_w, 1e-300))
    edge = float(s[np.argmax(ok)]) if ok.any() else threshold
    return np.array([threshold, threshold + (edge - threshold) / 2, edge, 1.0])


def binned_yields(scores: np.ndarray, weights: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, float]:
    """Σw per bin of ``edges`` (the last bin closed at the top) and sqrt(Σw²) over all bins.

    >>> y, err = binned_yields(np.array([0.91, 0.95, 1.0]), np.array([1.0, 2.0, 2.0]), np.array([0.9, 0.93, 0.96, 1]))
    >>> y.tolist(), round(err, 4)
    ([1.0, 2.0, 2.0], 3.0)
    """
    scores, weights = np.asarray(scores, np.float64), np.asarray(weights, np.float64)
    idx = np.searchsorted(edges, scores, side="right") - 1
    idx[scores >= edges[-1]] = len(edges) - 2
    inside = (idx >= 0) & (idx < len(edges) - 1)
    yields = np.bincount(idx[inside], weights[inside], minlength=len(edges) - 1)
    return yields, float(np.sqrt(np.sum(weights[inside] ** 2)))
