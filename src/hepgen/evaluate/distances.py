"""Distances between two samples of feature vectors: Fréchet (FPD) and kernel (KPD) physics distances.

Definitions of Kansal et al., arXiv:2211.10295, as implemented by the ``jetnet`` library and used by
the JetNet benchmarks and the CaloChallenge (which calls ``jetnet.evaluation.fpd(..., min_samples=10000)``
and ``kpd(..., batch_size=10000)`` on its high-level features): features are normalised by the
reference's maximum absolute value; FPD is the Fréchet distance of Gaussian fits at sample sizes
evenly spaced in 1/N, extrapolated linearly to 1/N = 0; KPD is the unbiased MMD^2 with the polynomial
kernel (x.y/d + 1)^degree (quartic by default), median and half the 16-84 % spread over batches.
Both return ``(value, uncertainty)``.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(0, 1, (3000, 3)), rng.normal(0, 1, (3000, 3))
>>> value, error = kpd(x, y, num_batches=5, batch_size=1000)
>>> abs(value) < 3 * error + 1e-3
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["frechet_distance", "fpd", "mmd_poly_unbiased", "kpd"]


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) between two Gaussians.

    >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
    2.0
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        eps = np.eye(len(mu1)) * 1e-6
        covmean = linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    covmean = np.real(covmean)
    d = mu1 - mu2
    return float(d @ d + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _normalise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scale = np.abs(x).max(axis=0)
    scale[scale == 0] = 1
    return x / scale, y / scale


def fpd(ref_features: np.ndarray, gen_features: np.ndarray, min_samples: int = 20_000,
        max_samples: int = 50_000, num_batches: int = 20, num_points: int = 10, normalise: bool = True,
        seed: int = 42) -> tuple[float, float]:
    """Frechet physics distance extrapolated to N -> infinity: (intercept, its fit uncertainty)."""
    from scipy.optimize import curve_fit

    x, y = (_normalise(ref_features, gen_features) if normalise else (ref_features, gen_features))
    sizes = (1 / np.linspace(1 / min_samples, 1 / max_samples, num_points)).astype(int)
    rng = np.random.default_rng(seed)
    vals = []
    for n in sizes:
        fds = []
        for _ in range(num_batches):
            a, b = x[rng.choice(len(x), n)], y[rng.choice(len(y), n)]
            fds.append(frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))
        vals.append(np.mean(fds))
    params, cov = curve_fit(lambda t, a, b: a + b * t, 1 / sizes, vals, bounds=([0, 0], [np.inf, np.inf]))
    return float(params[0]), float(np.sqrt(cov[0, 0]))


def mmd_poly_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """Unbiased MMD^2 with the kernel k(a, b) = (a.b / d + 1)^degree, d = number of features.

    >>> x = np.array([[0.0], [1.0]])
    >>> mmd_poly_unbiased(x, x, degree=1)  # (1 + 1) - 2 * mean([[1, 1], [1, 2]])
    -0.5
    """
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1.0) ** degree for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kpd(ref_features: np.ndarray, gen_features: np.ndarray, num_batches: int = 10, batch_size: int = 5_000,
        normalise: bool = True, seed: int = 42, degree: int = 4) -> tuple[float, float]:
    """Kernel physics distance: (median, half the 16.275-83.725 percentile range) of MMD^2 over batches."""
    x, y = (_normalise(ref_features, gen_features) if normalise else (ref_features, gen_features))
    vals = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + 1000 * i)
        vals.append(mmd_poly_unbiased(x[rng.choice(len(x), batch_size)], y[rng.choice(len(y), batch_size)], degree))
    lo, hi = np.percentile(vals, [16.275, 83.725])
    return float(np.median(vals)), float((hi - lo) / 2)


