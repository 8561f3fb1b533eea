"""Two-sample metrics as plain functions, one per metric (as ``jetnet.evaluation`` defines its metrics).

1D, per observable: :func:`w1` the Wasserstein-1 distance (in the observable's unit); :func:`one_d_metrics` W1
with a bootstrap error and the two-sample Kolmogorov-Smirnov statistic with its p-value from one merged sort
(:class:`SortedPair`), as ``hepgen evaluate`` reports them. Multivariate, on feature arrays: :func:`prdc`
precision, recall, density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for Generative
Models", arXiv:2002.09797); the Fréchet and kernel physics distances FPD and KPD (Kansal et al., "Evaluating
generative models in high energy physics", arXiv:2211.10295) are :func:`hepgen.evaluate.distances.fpd` and
:func:`hepgen.evaluate.distances.kpd`, with the CaloChallenge's settings in
:data:`hepgen.evaluate.distances.CALOCHALLENGE_FPD` / :data:`~hepgen.evaluate.distances.CALOCHALLENGE_KPD`.

>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(0, 1, 4000), rng.normal(0.5, 1, 4000)
>>> round(w1(a, b), 1), round(one_d_metrics(a, b)["w1"], 1)
(0.5, 0.5)
"""

from __future__ import annotations

import numpy as np

__all__ = ["SortedPair", "w1", "one_d_metrics", "prdc", "distance_messages", "PRDC_DEFINITION"]


def w1(reference: np.ndarray, generated: np.ndarray) -> float:
    """1-D Wasserstein-1 distance between two samples: the area between their empirical CDFs, in the samples'
    unit (``scipy.stats.wasserstein_distance``; the W1 of the JetNet metrics W1M / W1P / W1EFP, Kansal et al.,
    "Particle Cloud Generation with Message Passing Generative Adversarial Networks", arXiv:2106.11535).
    Inputs are flattened.

    >>> w1(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 2.5]))
    0.5
    """
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.ravel(reference), np.ravel(generated)))


class SortedPair:
    """Two 1D samples merged and sorted once; W1, KS and bootstrap replicas of W1 then cost O(N) each.

    The empirical CDFs of both samples are cumulative counts along the merged order, so
    ``w1()`` is the integral of |F_ref - F_gen| (scipy's ``wasserstein_distance``), ``ks()`` their largest
    gap at the end of each run of equal values (scipy's ``ks_2samp`` statistic), and a bootstrap replica is
    the same integral with the CDFs of resampling counts (each sample redrawn with replacement at its
    own size: the exact multinomial bootstrap, without re-sorting).

    >>> p = SortedPair(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    >>> p.w1(), round(p.ks(), 12)
    (1.0, 0.333333333333)
    """

    def __init__(self, reference: np.ndarray, generated: np.ndarray):
        r = np.asarray(reference, dtype=np.float64).ravel()
        g = np.asarray(generated, dtype=np.float64).ravel()
        self.n, self.m = len(r), len(g)
        values = np.concatenate([r, g])
        order = np.argsort(values, kind="stable")
        self.values = values[order]
        self.from_ref = order < self.n
        self.ref_index = order[self.from_ref]             # original index of each ref entry, in merged order
        self.gen_index = order[~self.from_ref] - self.n
        self.deltas = np.diff(self.values)
        self.cdf_ref = np.cumsum(self.from_ref)[:-1] / self.n
        self.cdf_gen = np.cumsum(~self.from_ref)[:-1] / self.m

    def w1(self) -> float:
        """Wasserstein-1 distance (in the samples' unit)."""
        return float(np.sum(np.abs(self.cdf_ref - self.cdf_gen) * self.deltas))

    def ks(self) -> float:
        """Two-sample Kolmogorov-Smirnov statistic."""
        gaps = np.abs(self.cdf_ref - self.cdf_gen)[self.deltas > 0]
        return float(gaps.max()) if len(gaps) else 0.0

    def ks_p_value(self, statistic: float) -> float:
        """Two-sided p-value as ``scipy.stats.ks_2samp(method='auto')`` gives it (Smirnov's asymptotic
        distribution above 10000 entries, else scipy's exact computation on the samples)."""
        from scipy.stats import distributions

        hi, lo = max(self.n, self.m), min(self.n, self.m)
        if hi <= 10_000:
            from scipy.stats import ks_2samp

            r = self.values[self.from_ref]
            g = self.values[~self.from_ref]
            return float(ks_2samp(r, g).pvalue)
        en = float(hi) * float(lo) / (hi + lo)
        return float(np.clip(distributions.kstwo.sf(statistic, np.round(en)), 0, 1))

    def w1_weighted(self, counts_ref: np.ndarray, counts_gen: np.ndarray) -> float:
        """W1 between the samples with each entry repeated ``counts`` times (indexed as the inputs):
        with the counts of a resampling, scipy's W1 of the resampled arrays."""
        weights = np.zeros(self.n + self.m)
        weights[self.from_ref] = counts_ref[self.ref_index]
        f_ref = np.cumsum(weights)[:-1] / counts_ref.sum()
        weights[self.from_ref] = 0.0
        weights[~self.from_ref] = counts_gen[self.gen_index]
        f_gen = np.cumsum(weights)[:-1] / counts_gen.sum()
        return float(np.sum(np.abs(f_ref - f_gen) * self.deltas))

    def w1_bootstrap(self, n_bootstrap: int, seed: int = 0) -> np.ndarray:
        """W1 of ``n_bootstrap`` resampled pairs (each sample drawn with replacement at its own size)."""
        rng = np.random.default_rng(seed)
        return np.array([self.w1_weighted(np.bincount(rng.integers(0, self.n, self.n), minlength=self.n),
                                          np.bincount(rng.integers(0, self.m, self.m), minlength=self.m))
                         for _ in range(n_bootstrap)])

    def subsample(self, max_entries: int, seed: int = 0) -> "SortedPair":
        """A pair of at most ``max_entries`` entries per sample drawn without replacement."""
        rng = np.random.default_rng(seed)
        r, g = self.values[self.from_ref], self.values[~self.from_ref]
        pick = [np.sort(rng.choice(len(v), max_entries, replace=False)) if len(v) > max_entries else slice(None)
                for v in (r, g)]
        return SortedPair(r[pick[0]], g[pick[1]])


def one_d_metrics(reference: np.ndarray, generated: np.ndarray, n_bootstrap: int = 5, seed: int = 0,
                  bootstrap_max: int = 20_000) -> dict:
    """W1 with its bootstrap error and KS with its p-value from one merged sort (:class:`SortedPair`):
    ``{"w1", "w1_error", "ks", "ks_p_value"}``.

    ``w1_error`` is the standard deviation of W1 over ``n_bootstrap`` bootstrap replicas (nan below 2).
    Samples larger than ``bootstrap_max`` are bootstrapped on a random subsample of that size and the
    spread is scaled to the full sizes by sqrt((1/n + 1/m) / (1/n_sub + 1/m_sub)) (the 1/sqrt(N) scaling
    of W1's statistical error), which keeps the error's cost fixed on 100k-shower samples.
    Non-finite entries make every value nan.

    >>> rng = np.random.default_rng(0)
    >>> m = one_d_metrics(rng.normal(0, 1, 5000), rng.normal(0.5, 1, 5000))
    >>> round(m["w1"], 1), m["w1_error"] < 0.05, m["ks_p_value"] < 1e-6
    (0.5, True, True)
    """
    nan = float("nan")
    r, g = np.asarray(reference, dtype=np.float64), np.asarray(generated, dtype=np.float64)
    if not (np.isfinite(r).all() and np.isfinite(g).all()) or len(r) == 0 or len(g) == 0:
        return {"w1": nan, "w1_error": nan, "ks": nan, "ks_p_value": nan}
    pair = SortedPair(r, g)
    ks_value = pair.ks()
    error = nan
    if n_bootstrap > 1:
        sub = pair if max(pair.n, pair.m) <= bootstrap_max else pair.subsample(bootstrap_max, seed)
        scale = np.sqrt((1 / pair.n + 1 / pair.m) / (1 / sub.n + 1 / sub.m))
        error = float(np.std(sub.w1_bootstrap(n_bootstrap, seed)) * scale)
    return {"w1": pair.w1(), "w1_error": error, "ks": ks_value, "ks_p_value": pair.ks_p_value(ks_value)}


def distance_messages(name: str, result: dict) -> list[str]:
    """One line per problem of an FPD/KPD result (NaN reason, left-out features, size warnings) for the
    terminal; empty when there is none.

    >>> distance_messages("FPD", {"value": float("nan"), "reason": "non-finite values", "warnings": []})
    ['FPD: not computed: non-finite values']
    """
    lines = [f"{name}: not computed: {result['reason']}"] if result.get("reason") else []
    excluded = result.get("excluded_features") or []
    if excluded:
        shown = ", ".join(str(e["name"]) for e in excluded[:8]) + (" ..." if len(excluded) > 8 else "")
        lines.append(f"{name}: {len(excluded)} feature(s) without spread in the reference left out ({shown}); "
                     "see excluded_features in metrics.json")
    lines += [f"{name}: warning: {w}" for w in result.get("warnings") or []]
    return lines


def _knn_radius(x: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)[0][:, -1]


#: what hepgen's PRDC is computed on, and how the official code differs (written into metrics.json)
PRDC_DEFINITION = ("Naeem et al. arXiv:2002.09797 with k nearest neighbours, Euclidean, as the prdc package computes "
                   "it; hepgen evaluate: on the standardised high-level inputs, at most 5000 rows per sample. The "
                   "CaloChallenge's evaluate.py -m prdc applies the same definition to log10 of all voxel energies "
                   "(zeros set to 0.1 MeV) of all showers, so the two are different numbers")


def prdc(reference: np.ndarray, generated: np.ndarray, k: int = 5, max_samples: int = 5_000, seed: int = 0) -> dict:
    """Precision, recall, density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for
    Generative Models", arXiv:2002.09797) with k-nearest-neighbour balls (on at most ``max_samples``
    rows of each sample, drawn without replacement; the same values as the ``prdc`` package's
    ``compute_prdc`` up to ties at a ball's radius).

    >>> rng = np.random.default_rng(0)
    >>> p = prdc(rng.normal(size=(400, 2)), rng.normal(size=(400, 2)))
    >>> p["precision"] > 0.7, p["coverage"] > 0.8
    (True, True)
    """
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
            "error": float(1 / np.sqrt(len(fake))), "k": k, "n_reference": len(real), "n_generated": len(fake),
            "definition": PRDC_DEFINITION}
