"""The metric registry: 1D two-sample metrics per observable and multivariate distances on feature arrays.

1D (``ONE_D``): ``w1`` Wasserstein-1 distance (in the observable's unit) with a bootstrap error,
``ks`` two-sample Kolmogorov-Smirnov statistic with its p-value.
Multivariate (``MULTI``): ``fpd`` and ``kpd`` as defined in :mod:`hepgen.evaluate.distances` (the
jetnet / CaloChallenge definitions, quartic kernel),
``prdc`` precision, recall, density, coverage (Naeem et al., arXiv:2002.09797) with k nearest neighbours.
FPD/KPD follow Kansal et al., arXiv:2211.10295, as used by the CaloChallenge.

>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(0, 1, 4000), rng.normal(0.5, 1, 4000)
>>> round(METRICS["w1"](a, b)["value"], 1)
0.5
>>> sorted(METRICS)
['fpd', 'kpd', 'ks', 'prdc', 'w1']
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["METRICS", "ONE_D", "MULTI", "register", "w1", "ks", "fpd", "kpd", "prdc"]

METRICS: dict[str, Callable[..., dict]] = {}
ONE_D: list[str] = []
MULTI: list[str] = []


def register(name: str, multivariate: bool = False) -> Callable:
    """Decorator adding a metric ``f(reference, generated, **options) -> dict`` to the registry."""
    def wrap(f: Callable) -> Callable:
        METRICS[name] = f
        (MULTI if multivariate else ONE_D).append(name)
        return f
    return wrap


@register("w1")
def w1(reference: np.ndarray, generated: np.ndarray, n_bootstrap: int = 5, seed: int = 0) -> dict:
    """Wasserstein-1 distance of two 1D samples; ``error`` is the std over bootstrap resamples."""
    from scipy.stats import wasserstein_distance

    value = float(wasserstein_distance(reference, generated))
    rng = np.random.default_rng(seed)
    boots = [wasserstein_distance(rng.choice(reference, len(reference)), rng.choice(generated, len(generated)))
             for _ in range(n_bootstrap)]
    return {"value": value, "error": float(np.std(boots)) if n_bootstrap > 1 else float("nan")}


@register("ks")
def ks(reference: np.ndarray, generated: np.ndarray) -> dict:
    """Two-sample Kolmogorov-Smirnov statistic (``value``) and its ``p_value``."""
    from scipy.stats import ks_2samp

    r = ks_2samp(reference, generated)
    n, m = len(reference), len(generated)
    return {"value": float(r.statistic), "p_value": float(r.pvalue), "error": float(np.sqrt((n + m) / (n * m)))}


@register("fpd", multivariate=True)
def fpd(reference: np.ndarray, generated: np.ndarray, min_samples: int = 10_000, max_samples: int = 50_000,
        num_batches: int = 5, num_points: int = 5, seed: int = 0) -> dict:
    """Fréchet physics distance (:func:`hepgen.evaluate.distances.fpd`) with the CaloChallenge's
    ``min_samples = 10000``; fewer batches and points than jetnet's 20 x 10 keep it fast on a CPU."""
    from hepgen.evaluate.distances import fpd as distance

    value, error = distance(reference, generated, min_samples=min_samples, max_samples=max_samples,
                            num_batches=num_batches, num_points=num_points, seed=seed)
    return {"value": value, "error": error}


@register("kpd", multivariate=True)
def kpd(reference: np.ndarray, generated: np.ndarray, batch_size: int = 10_000, num_batches: int = 10,
        seed: int = 0) -> dict:
    """Kernel physics distance (:func:`hepgen.evaluate.distances.kpd`, quartic kernel) with the
    CaloChallenge's ``batch_size = 10000``, capped at the smaller sample's size (drawing 10000 with
    replacement from a few thousand showers only costs memory: three 10000^2 kernel matrices)."""
    from hepgen.evaluate.distances import kpd as distance

    batch_size = max(2, min(batch_size, len(reference), len(generated)))
    value, error = distance(reference, generated, num_batches=num_batches, batch_size=batch_size, seed=seed)
    return {"value": value, "error": error}


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[0][:, -1]


@register("prdc", multivariate=True)
def prdc(reference: np.ndarray, generated: np.ndarray, k: int = 5, max_samples: int = 5_000, seed: int = 0) -> dict:
    """Precision, recall, density and coverage with k-nearest-neighbour balls (on at most ``max_samples`` each)."""
    rng = np.random.default_rng(seed)
    real = np.asarray(reference, np.float64)[rng.permutation(len(reference))[:max_samples]]
    fake = np.asarray(generated, np.float64)[rng.permutation(len(generated))[:max_samples]]
    r_real, r_fake = _knn_radius(real, k), _knn_radius(fake, k)
    n_in_real = np.zeros(len(fake))        # for each fake: number of real balls containing it
    covered = np.zeros(len(real), bool)    # real ball contains >= 1 fake
    recalled = np.zeros(len(real), bool)   # real inside >= 1 fake ball
    f2 = (fake ** 2).sum(axis=1)
    for start in range(0, len(real), 1000):
        r = real[start:start + 1000]
        d = np.sqrt(np.clip((r ** 2).sum(axis=1)[:, None] + f2[None, :] - 2 * r @ fake.T, 0, None))
        inside = d < r_real[start:start + 1000, None]
        n_in_real += inside.sum(axis=0)
        covered[start:start + 1000] = inside.any(axis=1)
        recalled[start:start + 1000] = (d < r_fake[None, :]).any(axis=1)
    return {"precision": float((n_in_real > 0).mean()), "recall": float(recalled.mean()),
            "density": float(n_in_real.sum() / (k * len(fake))), "coverage": float(covered.mean()),
            "error": float(1 / np.sqrt(len(fake)))}
