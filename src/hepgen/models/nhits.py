"""Number of hits given the incident energy, for sampling point clouds without a reference file.

Two estimators of p(n_hits | E_inc), both fitted on training showers and stored as plain lists:

* ``"poly"`` (B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024),
  App. C.2): mean and standard deviation of n_hits as degree-5 (mean) and
  degree-2 (spread) polynomials in log E_inc; samples are Gaussian around the mean, rounded.
* ``"kde"`` (Gaussian kernel with Scott's bandwidth, as EPiC-GAN/MDMA use for cardinalities, made
  conditional): one of the sqrt(N) training showers nearest in log E_inc is drawn, then kernel noise
  of width h_n (Scott's rule on the spread of n_hits at fixed energy) is added to its n_hits.

Samples are clipped to [1, n_max].

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> e = 10 ** rng.uniform(3, 5, 4000)
>>> n = np.round(300 * np.log10(e / 500) + rng.normal(0, 10, 4000))
>>> m = NHitsModel.fit(e, n, kind="poly")
>>> s = m.sample(np.full(2000, 1e4), np.random.default_rng(1))
>>> bool(abs(s.mean() - 300 * np.log10(20)) < 5), s.dtype
(True, dtype('int64'))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepgen.errors import InputError

__all__ = ["NHitsModel"]


class NHitsModel:
    """p(n_hits | incident energy in MeV); :meth:`fit`, :meth:`sample`, :meth:`state`/:meth:`from_state`."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    @classmethod
    def fit(cls, incident_energy: np.ndarray, n_hits: np.ndarray, kind: str = "kde", degree: int = 5,
            n_max: int | None = None, max_points: int = 20000) -> "NHitsModel":
        """Fit on (E_inc in MeV, n_hits) pairs of training showers."""
        x = np.log(np.asarray(incident_energy, np.float64).reshape(-1))
        n = np.asarray(n_hits, np.float64).reshape(-1)
        if len(x) != len(n) or len(x) < 2:
            raise InputError(f"need >= 2 (incident energy, n_hits) pairs of equal length, got {len(x)} and {len(n)}")
        params: dict[str, Any] = {"kind": kind, "n_max": int(n_max if n_max is not None else n.max())}
        if kind == "poly":
            deg = min(degree, max(len(np.unique(x)) - 1, 0))
            mean = np.polyfit(x, n, deg)
            resid = np.abs(n - np.polyval(mean, x)) * np.sqrt(np.pi / 2)   # E|r| = sigma sqrt(2/pi)
            params.update(mean=mean.tolist(), sigma=np.polyfit(x, resid, min(2, deg)).tolist())
        elif kind == "kde":
            keep = np.random.default_rng(0).permutation(len(x))[:max_points]
            x, n = x[keep], n[keep]
            scott = len(x) ** (-1.0 / 5.0)   # 1-D Scott factor
            params.update(log_e=x.tolist(), n=n.tolist(), h_n=float(max(1.0, _local_spread(x, n)) * scott))
        else:
            raise InputError(f"n_hits model kind must be 'kde' or 'poly', got '{kind}'")
        return cls(params)

    def sample(self, incident_energy: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """(N,) int64 numbers of hits for incident energies in MeV."""
        rng = rng or np.random.default_rng()
        x = np.log(np.asarray(incident_energy, np.float64).reshape(-1))
        p = self.params
        if p["kind"] == "poly":
            mu = np.polyval(p["mean"], x)
            sig = np.clip(np.polyval(p["sigma"], x), 0.0, None)
            out = mu + sig * rng.standard_normal(len(x))
        else:
            xs, ns = np.asarray(p["log_e"]), np.asarray(p["n"])
            order = np.argsort(xs)
            xs, ns = xs[order], ns[order]
            k = int(min(len(xs), max(5, round(np.sqrt(len(xs))))))
            lo = np.clip(np.searchsorted(xs, x) - k // 2, 0, len(xs) - k)
            out = ns[lo + rng.integers(0, k, len(x))] + p["h_n"] * rng.standard_normal(len(x))
        return np.clip(np.round(out), 1, p["n_max"]).astype(np.int64)

    def state(self) -> dict[str, Any]:
        return dict(self.params)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "NHitsModel":
        return cls(dict(state))


def _local_spread(x: np.ndarray, n: np.ndarray, n_bins: int = 20) -> float:
    """Mean standard deviation of n within quantile bins of x."""
    edges = np.quantile(x, np.linspace(0, 1, n_bins + 1))
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    stds = [n[which == b].std() for b in range(n_bins) if np.sum(which == b) > 1]
    return float(np.mean(stds)) if stds else float(n.std())
