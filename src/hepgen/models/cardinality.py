"""Particle multiplicity sampler: Gaussian KDE with Scott's bandwidth (B. Käch, "Generative Modelling in
High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 5.2.1, after EPiC-GAN, arXiv:2301.08128).

A sample is a random training multiplicity plus Gaussian kernel noise of width h = sigma n^(-1/5)
(Scott's rule in 1-D), rounded to an integer and clamped to [1, n_max].

>>> import numpy as np
>>> kde = CardinalityKDE(np.array([10, 12, 12, 14, 30]), n_max=30)
>>> n = kde.sample(1000, seed=1)
>>> int(n.min()) >= 1 and int(n.max()) <= 30, abs(float(n.mean()) - 15.6) < 1.0
(True, True)
"""

from __future__ import annotations

import numpy as np

from hepgen.errors import InputError

__all__ = ["CardinalityKDE"]


class CardinalityKDE:
    """KDE of the training multiplicities ``n_particles`` (integers >= 1)."""

    def __init__(self, n_particles: np.ndarray, n_max: int) -> None:
        n = np.asarray(n_particles, dtype=np.float64).reshape(-1)
        if len(n) == 0 or np.any(n < 1):
            raise InputError("cardinality KDE: need at least one training multiplicity, all >= 1")
        self.values, self.n_max = n, int(n_max)
        # scipy's gaussian_kde uses Scott's factor n^(-1/(d+4)) times the sample std
        self.bandwidth = float(n.std(ddof=1) * len(n) ** (-1 / 5)) if len(n) > 1 else 0.0

    def sample(self, size: int, seed: int | None = None) -> np.ndarray:
        """(size,) int64 multiplicities in [1, n_max]."""
        rng = np.random.default_rng(seed)
        pick = self.values[rng.integers(0, len(self.values), size)]
        n = np.rint(pick + rng.normal(0.0, self.bandwidth, size))
        return np.clip(n, 1, self.n_max).astype(np.int64)


class JetModelBase:
    """Mixin for jet models (``data_kind = "jets"``): keeps the training multiplicities after training
    (stored in the run's ``extra.npz``) and samples cardinalities from their KDE.

    The preprocessed batch holds the mask in ``x[..., 3]`` and n / n_max in ``cond[:, 0]``
    (:class:`hepgen.training.kinds.JetKind`).
    """

    data_kind = "jets"
    extra_uses_weights = False    # the multiplicities and conditions come from the training data alone
    cardinality: CardinalityKDE | None = None

    train_cond: np.ndarray | None = None

    def after_training(self, data: dict) -> dict:
        n = data["x"][..., 3].sum(dim=1).round().long().clamp(min=1).cpu().numpy()
        self.load_extra({"n_particles": n, "cond": data["cond"].cpu().numpy()})
        return {"n_particles": n, "cond": self.train_cond}

    def load_extra(self, extra: dict) -> None:
        if "n_particles" in extra:
            self.cardinality = CardinalityKDE(extra["n_particles"], self.data_shape[0])
            self.train_cond = np.asarray(extra.get("cond", np.zeros((0, 1))), np.float32)

    def sample_cardinality(self, size: int, seed: int | None = None) -> np.ndarray:
        """(size,) particle multiplicities from the KDE of the training set."""
        if self.cardinality is None:
            raise InputError("this jet model has no multiplicity KDE (train it to the end first)")
        return self.cardinality.sample(size, seed)

    def sample_conditions(self, size: int, seed: int | None = None) -> np.ndarray:
        """(size, n_cond) preprocessed conditions: n / n_max from the KDE; further conditions (the jet mass
        of NF(c)) drawn from training jets of the same multiplicity (any jet if none has it)."""
        n = self.sample_cardinality(size, seed)
        cond = np.zeros((size, self.n_cond), np.float32)
        cond[:, 0] = n / self.data_shape[0]
        if self.n_cond > 1:
            rng = np.random.default_rng(None if seed is None else seed + 1)
            train_n = np.rint(self.train_cond[:, 0] * self.data_shape[0]).astype(np.int64)
            for k in np.unique(n):
                rows = np.flatnonzero(train_n == k)
                rows = rows if len(rows) else np.arange(len(train_n))
                sel = n == k
                cond[sel, 1:] = self.train_cond[rng.choice(rows, sel.sum()), 1:]
        return cond
