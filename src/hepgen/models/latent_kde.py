"""Gaussian kernel density estimate of encoded training latents (with their labels), for sampling a trained
autoencoder's latent space instead of its N(0, 1) prior.

Buhmann et al., "Hadrons, better, faster, stronger", arXiv:2112.09709, and S. Diefenbacher, PhD thesis,
U. Hamburg (2022), Sec. 7.3: after training, encode (up to) 100k training showers, fit a Gaussian-kernel KDE
with bandwidth h = 0.1 on [latent, labels] (the labels, e.g. the incident energy, are extra KDE dimensions so
that latent-label correlations are kept), and draw a latent for a requested label by rejection sampling: draw
from the KDE until the drawn label lies within a tolerance of the requested one. The bandwidth is SciPy's
``gaussian_kde`` factor convention: the kernel covariance is ``h²`` times the covariance of the points (so
draws have the points' mean and ``1 + h²`` times their covariance). The state is the array of points
(:meth:`LatentKDE.state`), stored with the run (a model returns it from ``after_training``).

>>> import numpy as np
>>> pts = np.random.default_rng(0).normal(size=(2000, 3))
>>> kde = LatentKDE(pts, bandwidth=0.1)
>>> kde.sample(5, np.random.default_rng(1)).shape
(5, 3)
>>> LatentKDE.from_state(kde.state()).points.shape
(2000, 3)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hepgen.errors import InputError

__all__ = ["LatentKDE"]


class LatentKDE:
    """Gaussian KDE on ``points`` (N, d) with SciPy-style ``bandwidth`` factor; columns ``label_dims`` may be
    conditioned on by rejection sampling (:meth:`sample_conditional`)."""

    def __init__(self, points: np.ndarray, bandwidth: float = 0.1) -> None:
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or len(points) < 2 or not np.isfinite(points).all():
            raise InputError(f"latent KDE needs at least 2 finite points of shape (N, d), got {points.shape}")
        self.points = points
        self.bandwidth = float(bandwidth)
        cov = np.atleast_2d(np.cov(points, rowvar=False)) * self.bandwidth ** 2
        self.chol = np.linalg.cholesky(cov + 1e-9 * np.eye(points.shape[1]))

    @classmethod
    def fit(cls, points: np.ndarray, bandwidth: float = 0.1, max_points: int | None = None) -> "LatentKDE":
        """The KDE of the first ``max_points`` rows of ``points`` (the thesis keeps 100k encoded showers)."""
        points = np.asarray(points, dtype=np.float64)
        return cls(points if max_points is None else points[: int(max_points)], bandwidth)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to store with the run (:meth:`from_state` reads them back)."""
        return {"kde_points": self.points, "kde_bandwidth": np.asarray(self.bandwidth)}

    @classmethod
    def from_state(cls, state: dict, bandwidth: float = 0.1) -> "LatentKDE":
        """Rebuild from :meth:`state` (``bandwidth`` is used where the state has none: older runs)."""
        bw = float(np.asarray(state["kde_bandwidth"])) if "kde_bandwidth" in state else bandwidth
        return cls(np.asarray(state["kde_points"], dtype=np.float64), bw)

    @property
    def dim(self) -> int:
        return int(self.points.shape[1])

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, d) unconditional draws: a random stored point plus Gaussian kernel noise."""
        idx = rng.integers(0, len(self.points), int(n))
        return self.points[idx] + rng.standard_normal((int(n), self.dim)) @ self.chol.T

    def sample_conditional(self, target: np.ndarray, label_dims: Sequence[int], rng: np.random.Generator,
                           tolerance: float, tries: int = 100, per_try: int = 32) -> np.ndarray:
        """(n, d) draws whose columns ``label_dims`` lie within ``tolerance`` (max norm) of ``target``
        (n, len(label_dims)): up to ``tries`` rounds of ``per_try`` KDE draws per row; rows still without an
        accepted draw (tolerance too tight for the data) take a kernel draw around the stored point with the
        nearest label."""
        dims = list(label_dims)
        target = np.asarray(target, dtype=np.float64).reshape(len(target), len(dims))
        pts, d = self.points, self.dim
        out = np.empty((len(target), d))
        todo = np.arange(len(target))
        for _ in range(tries):
            if not len(todo):
                break
            idx = rng.integers(0, len(pts), (len(todo), per_try))
            draws = pts[idx] + rng.standard_normal((len(todo), per_try, d)) @ self.chol.T
            dist = np.abs(draws[:, :, dims] - target[todo, None, :]).max(axis=2)
            ok = dist < tolerance
            hit = ok.any(axis=1)
            first = ok.argmax(axis=1)
            out[todo[hit]] = draws[hit, first[hit]]
            todo = todo[~hit]
        if len(todo):
            near = np.abs(pts[None, :, dims] - target[todo, None, :]).max(axis=2).argmin(axis=1)
            out[todo] = pts[near] + rng.standard_normal((len(todo), d)) @ self.chol.T
        return out
