"""Readout response of thin active layers: charged-track crossings with a Landau-like energy loss.

The visible energy mu (MeV) that the shower parameterisation puts into one cell of a thin active
layer (silicon, scintillator, liquid argon) is carried by charged tracks crossing it. The number of
crossings is Poisson with mean mu / <delta>, and each crossing deposits delta drawn from the Landau
distribution (most probable value and width from the Landau-Vavilov-Bichsel formula, PDG review "Passage
of particles through matter", eq. 34.12) for the path length d / cos(theta), truncated at 10 x the most
probable loss at normal incidence (energetic delta rays leave the thin layer).

Crossing angles: the soft electrons that carry most of the visible energy of an electromagnetic shower
are close to isotropic, and an isotropic flux crosses a plane with dN/dcos(theta) = 2 cos(theta) (Lambert's
law, mean cos = 2/3); grazing tracks with cos(theta) < :data:`MIN_COS` (path > 20 d) are not followed (they
scatter out of the plane or stop). Behind light absorbers the shower particles are more forward: a
fraction of the tracks crosses at normal incidence, chosen so that the mean cos equals Fabjan's estimate
cos(E_s / (pi E_c,absorber)) (Wigmans, "Calorimetry", Sec. 4.8); behind W or Pb that fraction is 0. The
long paths of the isotropic component give the path-length part of the sampling fluctuations (for the
ILD SiW ECAL a stochastic term near CALICE's 16.6 %/sqrt(E), see docs/history.md) and the MIP peak of
the cell-energy spectrum (about 0.15-0.2 MeV in 0.525 mm of silicon).

>>> from hepgen.geometry.materials import get_material
>>> r = CrossingResponse(get_material("Si"), 0.525)
>>> 0.13 < r.mpv_mev < 0.16
True
"""

from __future__ import annotations

import numpy as np

from hepgen.geometry.materials import Material

__all__ = ["CrossingResponse", "landau_mpv", "mean_crossing_cos"]

_K = 0.307075  # MeV cm^2 / mol
_ME = 0.51099895  # MeV
_BETAGAMMA = 3.6  # minimum ionising
TRUNCATION = 10.0  # losses above 10 x MPV are cut (energetic delta rays leave the thin layer)
MIN_COS = 0.05  # grazing crossings below this cos(theta) are not followed
_LAMBDA_MPV = -0.22278  # mode of the standard Landau distribution


def landau_mpv(material: Material, path_mm: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(most probable energy loss, Landau width xi) in MeV of a MIP crossing ``path_mm`` of ``material``.

    >>> from hepgen.geometry.materials import get_material
    >>> mpv, xi = landau_mpv(get_material("Si"), 0.3)
    >>> 0.075 < float(mpv) < 0.09
    True
    """
    beta2 = _BETAGAMMA**2 / (1 + _BETAGAMMA**2)
    xi = 0.5 * _K * material.z_over_a * material.density_g_cm3 * np.asarray(path_mm) / 10.0 / beta2
    i_mev = material.mean_excitation_ev * 1e-6
    mpv = xi * (np.log(2 * _ME * _BETAGAMMA**2 / i_mev) + np.log(xi / i_mev) + 0.200 - beta2)
    return mpv, xi


def mean_crossing_cos(absorber: Material) -> float:
    """Mean cos(theta) of shower particles crossing a sampling layer behind ``absorber``: cos(E_s / (pi E_c)).

    >>> from hepgen.geometry.materials import get_material
    >>> round(mean_crossing_cos(get_material("W")), 2)
    0.66
    """
    from hepgen.geometry.materials import E_S_MEV

    return float(np.cos(E_S_MEV / (np.pi * absorber.critical_energy_mev)))


class CrossingResponse:
    """Energy seen in cells of a thin active slab of ``material`` and ``thickness_mm``; ``mean_cos`` is the
    mean cosine of the crossing angle (see :func:`mean_crossing_cos`).

    Attributes: ``mpv_mev`` (normal incidence), ``mean_mev`` and ``var_mev2`` of one crossing's deposit.
    """

    _CROSSINGS_EXACT = 24  # above this many crossings in a cell the sum is drawn from a Gaussian

    def __init__(self, material: Material, thickness_mm: float, mean_cos: float = 0.75) -> None:
        self.material, self.thickness_mm = material, float(thickness_mm)
        lambert_mean = 2.0 / 3.0 * (1.0 - MIN_COS**3) / (1.0 - MIN_COS**2)
        #: fraction of crossings from the isotropic (Lambert) component; the rest cross at normal incidence
        self.isotropic_fraction = float(np.clip((1.0 - mean_cos) / (1.0 - lambert_mean), 0.0, 1.0))
        mpv0, xi0 = landau_mpv(material, thickness_mm)
        self.mpv_mev, self.xi_mev = float(mpv0), float(xi0)
        from scipy.stats import landau  # tabulated inverse CDF of the truncated standard Landau

        lam_max = _LAMBDA_MPV + (TRUNCATION - 1.0) * float(mpv0 / xi0)
        self._lam = np.concatenate([np.linspace(-3.5, 5.0, 2048), np.geomspace(5.0, lam_max, 2049)[1:]])
        u = landau.cdf(self._lam)
        u = (u - u[0]) / (u[-1] - u[0])
        self._ppf = np.interp(np.linspace(0.0, 1.0, 1 << 16), u, self._lam)  # inverse CDF on a uniform grid
        self._dppf = np.append(np.diff(self._ppf), 0.0)
        # mean and variance of one crossing's deposit, from a fixed reference sample
        ref = self._deposits(200_000, np.random.default_rng(12345))
        self.mean_mev, self.var_mev2 = float(ref.mean()), float(ref.var())

    def _deposits(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Landau energy losses (MeV) of ``n`` crossings, truncated at ``TRUNCATION`` x the most probable loss."""
        u = rng.random(n)  # Lambert's law on [MIN_COS, 1] by inversion: cos^2 uniform
        cos = np.where(rng.random(n) < self.isotropic_fraction, np.sqrt(MIN_COS**2 + u * (1.0 - MIN_COS**2)), 1.0)
        mpv, xi = landau_mpv(self.material, self.thickness_mm / cos)
        pos = rng.random(n) * (len(self._ppf) - 1)
        i = pos.astype(np.int64)
        lam = self._ppf[i] + (pos - i) * self._dppf[i]
        return mpv + xi * (lam - _LAMBDA_MPV)

    def track_deposits(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Energies (MeV) seen by ``n`` cells crossed once at normal incidence by a minimum-ionising track
        (Landau, truncated as the shower crossings): the hits of a charged hadron before its first interaction.

        >>> from hepgen.geometry.materials import get_material
        >>> r = CrossingResponse(get_material("Scintillator"), 3.0)
        >>> d = r.track_deposits(20000, np.random.default_rng(0))
        >>> bool(abs(np.median(d) / r.mpv_mev - 1.1) < 0.1), bool(0.4 < r.mpv_mev < 0.6)
        (True, True)
        """
        pos = rng.random(n) * (len(self._ppf) - 1)
        i = pos.astype(np.int64)
        lam = self._ppf[i] + (pos - i) * self._dppf[i]
        return self.mpv_mev + self.xi_mev * (lam - _LAMBDA_MPV)

    def apply(self, visible_mev: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Fluctuated cell energies (MeV) for expected visible energies ``visible_mev`` (any shape).

        >>> from hepgen.geometry.materials import get_material
        >>> r = CrossingResponse(get_material("Si"), 0.525)
        >>> e = r.apply(np.full(20000, 50.0), np.random.default_rng(1))
        >>> bool(abs(e.mean() / 50.0 - 1) < 0.01)
        True
        """
        mu = np.asarray(visible_mev, dtype=np.float64)
        out = np.zeros(mu.shape)
        flat_mu, flat_out = mu.reshape(-1), out.reshape(-1)
        idx = np.flatnonzero(flat_mu > 0)
        n = rng.poisson(flat_mu[idx] / self.mean_mev)
        small = (n > 0) & (n <= self._CROSSINGS_EXACT)
        if small.any():
            counts = n[small]
            dep = self._deposits(int(counts.sum()), rng)
            owner = np.repeat(np.arange(len(counts)), counts)
            flat_out[idx[small]] = np.bincount(owner, weights=dep, minlength=len(counts))
        big = n > self._CROSSINGS_EXACT
        if big.any():
            nb = n[big].astype(np.float64)
            flat_out[idx[big]] = np.maximum(
                rng.normal(nb * self.mean_mev, np.sqrt(nb * self.var_mev2)), 0.0)
        return out
