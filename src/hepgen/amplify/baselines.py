"""Classical density estimators fitted to the training data, the baselines of Sec. 4 (Fig. 8–10, Table 1) of
S. Bieringer et al., "Calomplification — the power of generative calorimeter models", JINST 17 (2022) P09028,
arXiv:2202.07352, and the 1D fit of A. Butter et al., "GANplifying event samples", arXiv:2008.06545
(S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 5).

* :class:`KDEBaseline`: Gaussian kernel density (scikit-learn ``KernelDensity``) with the bandwidth
  chosen by 5-fold cross-validated log-likelihood (``GridSearchCV``) on standardised coordinates
  (each column shifted to mean 0 and scaled to std 1, so bandwidths compare with Table 1).
* :class:`HistogramBaseline`: a histogram on the training range whose number of bins per dimension
  minimises the mean negative log-likelihood of held-out points over random cross-validation splits
  (Bieringer et al. 2022: 500); a pseudo-count of total weight 1 spread over all bins keeps the likelihood of a
  point in an empty bin finite. Sampling draws a bin, then a uniform point inside it.
* :class:`MixtureBaseline`: maximum-likelihood Gaussian mixture (2 components in 1D is the
  5-parameter camel-back fit of Diefenbacher 2022, eq. 5.1.4).

>>> import numpy as np
>>> train = np.random.default_rng(0).normal(size=(300, 1))
>>> kde = KDEBaseline().fit(train)
>>> kde.sample(1000, seed=1).shape
(1000, 1)
>>> 0.05 < kde.bandwidth < 1.5
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hepgen.amplify.quantiles import as_points
from hepgen.errors import InputError

__all__ = ["KDEBaseline", "HistogramBaseline", "MixtureBaseline", "BASELINES", "fit_baseline"]


class KDEBaseline:
    """Gaussian KDE with 5-fold cross-validated bandwidth (in standardised units)."""

    def __init__(self, bandwidths: Sequence[float] | None = None, n_folds: int = 5, seed: int = 0) -> None:
        self.bandwidths = np.geomspace(0.01, 1.5, 40) if bandwidths is None else np.asarray(bandwidths, float)
        self.n_folds, self.seed = n_folds, seed

    def fit(self, train: np.ndarray) -> "KDEBaseline":
        """Choose the bandwidth by cross-validation and fit on all of ``train`` (n, d)."""
        from sklearn.model_selection import GridSearchCV, KFold
        from sklearn.neighbors import KernelDensity

        x = as_points(train, "training sample")
        if len(x) < 2 * self.n_folds:
            raise InputError(f"KDE needs at least {2 * self.n_folds} training points, got {len(x)}")
        self.mean, self.scale = x.mean(axis=0), x.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        z = (x - self.mean) / self.scale
        cv = KFold(self.n_folds, shuffle=True, random_state=self.seed)
        search = GridSearchCV(KernelDensity(kernel="gaussian"), {"bandwidth": self.bandwidths}, cv=cv)
        search.fit(z)
        self.bandwidth = float(search.best_params_["bandwidth"])
        self.model = search.best_estimator_
        return self

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Draw ``n`` points (n, d) in the original units."""
        return self.model.sample(int(n), random_state=seed) * self.scale + self.mean

    def params(self) -> dict:
        return {"bandwidth": self.bandwidth}


class HistogramBaseline:
    """Histogram density with cross-validated number of bins per dimension (coordinate descent)."""

    def __init__(self, bin_grid: Sequence[int] | None = None, n_splits: int = 500, test_fraction: float = 0.2,
                 sweeps: int = 2, max_bins_per_point: float = 20.0, seed: int = 0) -> None:
        self.bin_grid = (np.unique(np.geomspace(1, 200, 60).astype(int)) if bin_grid is None
                         else np.asarray(bin_grid, dtype=int))
        self.n_splits, self.test_fraction, self.sweeps, self.seed = n_splits, test_fraction, sweeps, seed
        self.max_bins_per_point = max_bins_per_point

    def _index(self, x: np.ndarray, bins: Sequence[int]) -> np.ndarray:
        idx = []
        for j, b in enumerate(bins):
            u = (x[:, j] - self.low[j]) / (self.high[j] - self.low[j])
            idx.append(np.clip((u * b).astype(np.int64), 0, b - 1))
        return np.ravel_multi_index(tuple(idx), tuple(bins))

    def _cv_nll(self, bins: Sequence[int]) -> float:
        n_bins = float(np.prod(np.asarray(bins, dtype=np.float64)))
        if n_bins > self.max_bins_per_point * len(self._x):
            return np.inf
        volume = np.prod((self.high - self.low) / np.asarray(bins))
        idx = self._index(self._x, bins)
        total = 0.0
        for fit, test in self._splits:
            # counts of the test points' bins among the fit points, by sorting (independent of n_bins)
            ref = np.sort(idx[fit])
            counts = np.searchsorted(ref, idx[test], "right") - np.searchsorted(ref, idx[test], "left")
            dens = (counts + 1.0 / n_bins) / ((len(fit) + 1.0) * volume)
            total += -np.log(dens).mean()
        return total / len(self._splits)

    def fit(self, train: np.ndarray) -> "HistogramBaseline":
        """Choose bins per dimension by cross-validated NLL and fill the histogram with ``train``."""
        x = as_points(train, "training sample")
        if len(x) < 10:
            raise InputError(f"histogram estimator needs at least 10 training points, got {len(x)}")
        n, d = x.shape
        span = x.max(axis=0) - x.min(axis=0)
        span[span == 0] = 1.0
        self.low, self.high = x.min(axis=0) - 1e-9 * span, x.max(axis=0) + 1e-9 * span
        rng = np.random.default_rng(self.seed)
        n_test = max(1, int(round(self.test_fraction * n)))
        self._x = x
        self._splits = []
        for _ in range(self.n_splits):
            perm = rng.permutation(n)
            self._splits.append((perm[n_test:], perm[:n_test]))
        # first a common bin count, then each dimension in turn
        scores = [self._cv_nll([b] * d) for b in self.bin_grid]
        bins = [int(self.bin_grid[int(np.argmin(scores))])] * d
        if d > 1:
            for _ in range(self.sweeps):
                for j in range(d):
                    trial = []
                    for b in self.bin_grid:
                        cand = list(bins)
                        cand[j] = int(b)
                        trial.append(self._cv_nll(cand))
                    bins[j] = int(self.bin_grid[int(np.argmin(trial))])
        self.bins = tuple(bins)
        self.cv_nll = self._cv_nll(self.bins)
        n_bins = int(np.prod(self.bins))
        counts = np.bincount(self._index(x, self.bins), minlength=n_bins)
        self.probabilities = (counts + 1.0 / n_bins) / (n + 1.0)
        del self._x, self._splits
        return self

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """Draw ``n`` points: a bin by its probability, then uniformly inside it."""
        rng = np.random.default_rng(seed)
        flat = rng.choice(len(self.probabilities), size=int(n), p=self.probabilities)
        cells = np.array(np.unravel_index(flat, self.bins)).T
        width = (self.high - self.low) / np.asarray(self.bins)
        return self.low + (cells + rng.uniform(size=cells.shape)) * width

    def params(self) -> dict:
        return {"bins": list(self.bins), "cv_nll": float(self.cv_nll)}


class MixtureBaseline:
    """Maximum-likelihood Gaussian mixture; 2 components in 1D = the 5-parameter fit of Diefenbacher 2022."""

    def __init__(self, n_components: int = 2, seed: int = 0) -> None:
        self.n_components, self.seed = n_components, seed

    def fit(self, train: np.ndarray) -> "MixtureBaseline":
        from sklearn.mixture import GaussianMixture

        x = as_points(train, "training sample")
        self.model = GaussianMixture(self.n_components, n_init=5, random_state=self.seed).fit(x)
        return self

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        m = self.model
        comp = rng.choice(self.n_components, size=int(n), p=m.weights_)
        out = np.empty((int(n), m.means_.shape[1]))
        for c in range(self.n_components):
            sel = comp == c
            out[sel] = rng.multivariate_normal(m.means_[c], m.covariances_[c], size=int(sel.sum()))
        return out

    def params(self) -> dict:
        return {"weights": self.model.weights_.tolist(), "means": self.model.means_.tolist()}


BASELINES = {"kde": KDEBaseline, "hist": HistogramBaseline, "fit": MixtureBaseline}


def fit_baseline(name: str, train: np.ndarray, seed: int = 0,
                 **options) -> KDEBaseline | HistogramBaseline | MixtureBaseline:
    """Fit the baseline called ``name`` (``kde``, ``hist`` or ``fit``) to ``train``.

    >>> h = fit_baseline("hist", np.random.default_rng(0).uniform(size=(500, 1)), n_splits=20)
    >>> h.bins[0] <= 10          # a flat density wants few bins
    True
    """
    if name not in BASELINES:
        raise InputError(f"unknown baseline '{name}': expected one of {', '.join(BASELINES)}")
    return BASELINES[name](seed=seed, **options).fit(train)
