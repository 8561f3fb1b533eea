"""The GFlash parameterisation of electromagnetic showers (Grindhammer & Peters, hep-ex/0001020).

Longitudinal: each shower has a gamma-function profile dE/dt = E beta (beta t)^(alpha-1) exp(-beta t) /
Gamma(alpha), t in radiation lengths, with T = (alpha - 1)/beta the depth of the maximum. ln T and
ln alpha are correlated Gaussians whose means, widths and correlation depend on ln y, y = E/E_c
(eqs. 13-19 for homogeneous media; eqs. 27-31 with Z_eff, F_s and e_hat for sampling calorimeters).
Radial: f(r) = p 2r R_C^2/(r^2+R_C^2)^2 + (1-p) 2r R_T^2/(r^2+R_T^2)^2, r in Moliere radii, with
R_C, R_T, p functions of tau = t/T and ln E (eqs. 20-25, sampling corrections eqs. 32-34).
Spots: N_spot = 93 ln(Z) E^0.876 (homogeneous) or 10.3/c_s E^0.959 (sampling), E in GeV, distributed
longitudinally along their own gamma profile (eqs. 26, 35).

>>> p = longitudinal_parameters(np.log(1e4 / 8.0), z_eff=74.0)
>>> round(float(np.exp(p["mean_ln_t"])), 2)      # T_hom = ln y - 0.812
6.32
"""

from __future__ import annotations

import numpy as np

__all__ = ["longitudinal_parameters", "sample_profiles", "radial_parameters", "radial_cdf", "n_spots"]

# hep-ex/0001020, Table / eqs. 13-19 (homogeneous) and 27-31 (sampling)
HOM = dict(t1=-0.812, a1=0.81, a2=0.458, a3=2.26, st1=-1.4, st2=1.26, sa1=-0.58, sa2=0.86, r1=0.705, r2=-0.023)
SAM = dict(t1=-0.55, t2=-0.69, a1=-0.476, st1=-2.5, st2=1.25, sa1=-0.82, sa2=0.79, r1=0.784, r2=-0.023)
# radial profile, eqs. 20-25 (E in GeV)
RAD = dict(z1=(0.0251, 0.00319), z2=(0.1162, -0.000381), k1=(0.659, -0.00309), k2=0.645, k3=-2.59,
           k4=(0.3585, 0.0412), p1=(2.632, -0.00094), p2=(0.401, 0.00187), p3=(1.313, -0.0686))
RAD_SAM = dict(c1=-0.0203, c2=0.0397, t1=-0.14, t2=-0.495, w1=0.348, w2=-0.642)
# spot profile relative to the energy profile (eqs. 26, 35)
SPOT_HOM = dict(t1=0.698, t2=0.00212, a1=0.639, a2=0.00334)
SPOT_SAM = dict(t1=0.813, t2=0.0019, a1=0.844, a2=0.0026)


def _inverse_width(a: float, b: float, ln_y: np.ndarray) -> np.ndarray:
    den = a + b * ln_y
    return np.where(den > 2.0, 1.0 / np.maximum(den, 2.0), 0.5)  # widths capped at 0.5 as in Geant4


def longitudinal_parameters(ln_y: np.ndarray | float, z_eff: float, f_s: float | None = None,
                            e_hat: float = 1.0) -> dict[str, np.ndarray]:
    """Means and widths of ln T and ln alpha and their correlation for showers with ln(E/E_c) = ``ln_y``.

    ``f_s`` (sampling frequency X0_eff / layer thickness) switches on the sampling-calorimeter form;
    the result always also holds the homogeneous values (``*_hom``), which drive the spot profile.

    >>> p = longitudinal_parameters(7.0, z_eff=74.0, f_s=2.5, e_hat=0.7)
    >>> round(float(p["rho"]), 3), round(float(p["sigma_ln_t"]), 3)
    (0.623, 0.16)
    """
    ln_y = np.asarray(ln_y, dtype=np.float64)
    t_hom = np.maximum(HOM["t1"] + ln_y, 0.1)
    a_hom = np.maximum(HOM["a1"] + (HOM["a2"] + HOM["a3"] / z_eff) * ln_y, 0.1)
    out = {
        "mean_ln_t_hom": np.log(t_hom), "mean_ln_alpha_hom": np.log(a_hom),
        "sigma_ln_t_hom": _inverse_width(HOM["st1"], HOM["st2"], ln_y),
        "sigma_ln_alpha_hom": _inverse_width(HOM["sa1"], HOM["sa2"], ln_y),
        "rho_hom": np.clip(HOM["r1"] + HOM["r2"] * ln_y, -1.0, 1.0),
    }
    if f_s is None:
        out.update(mean_ln_t=out["mean_ln_t_hom"], mean_ln_alpha=out["mean_ln_alpha_hom"],
                   sigma_ln_t=out["sigma_ln_t_hom"], sigma_ln_alpha=out["sigma_ln_alpha_hom"], rho=out["rho_hom"])
        return out
    out["mean_ln_t"] = np.log(np.maximum(t_hom + SAM["t1"] / f_s + SAM["t2"] * (1.0 - e_hat), 0.1))
    out["mean_ln_alpha"] = np.log(np.maximum(a_hom + SAM["a1"] / f_s, 0.1))
    out["sigma_ln_t"] = _inverse_width(SAM["st1"], SAM["st2"], ln_y)
    out["sigma_ln_alpha"] = _inverse_width(SAM["sa1"], SAM["sa2"], ln_y)
    out["rho"] = np.clip(SAM["r1"] + SAM["r2"] * ln_y, -1.0, 1.0)
    return out


def sample_profiles(params: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw per-shower (T, alpha) of the energy profile and (T_hom, alpha_hom) from one pair of normals.

    >>> rng = np.random.default_rng(0)
    >>> s = sample_profiles(longitudinal_parameters(np.full(4000, 7.0), 74.0), rng)
    >>> c = np.corrcoef(np.log(s["t"]), np.log(s["alpha"]))[0, 1]
    >>> bool(abs(c - (0.705 - 0.023 * 7)) < 0.05)
    True
    """
    shape = np.shape(params["mean_ln_t"])
    z1, z2 = rng.standard_normal(shape), rng.standard_normal(shape)
    out = {}
    for suffix in ("", "_hom"):
        rho = params["rho" + suffix]
        c1, c2 = np.sqrt((1 + rho) / 2), np.sqrt((1 - rho) / 2)
        out["t" + suffix] = np.exp(params["mean_ln_t" + suffix] + params["sigma_ln_t" + suffix] * (c1 * z1 + c2 * z2))
        out["alpha" + suffix] = np.exp(params["mean_ln_alpha" + suffix]
                                       + params["sigma_ln_alpha" + suffix] * (c1 * z1 - c2 * z2))
    out["t"] = np.maximum(out["t"], 0.1)
    out["alpha"] = np.maximum(out["alpha"], 1.1)
    out["alpha_hom"] = np.maximum(out["alpha_hom"], 1.1)
    return out


def radial_parameters(energy_gev: np.ndarray, tau: np.ndarray, z_eff: float, f_s: float | None = None,
                      e_hat: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R_C, R_T, p) in Moliere radii at relative depth ``tau`` for showers of ``energy_gev``.

    >>> rc, rt, p = radial_parameters(np.array([10.0]), np.array([1.0]), 74.0)
    >>> bool(rc[0] < rt[0]) and bool(0 < p[0] < 1)
    True
    """
    ln_e = np.log(energy_gev)
    rc = RAD["z1"][0] + RAD["z1"][1] * ln_e + (RAD["z2"][0] + RAD["z2"][1] * z_eff) * tau
    k1 = RAD["k1"][0] + RAD["k1"][1] * z_eff
    k4 = RAD["k4"][0] + RAD["k4"][1] * ln_e
    rt = k1 * (np.exp(RAD["k3"] * (tau - RAD["k2"])) + np.exp(k4 * (tau - RAD["k2"])))
    p1 = RAD["p1"][0] + RAD["p1"][1] * z_eff
    p2 = RAD["p2"][0] + RAD["p2"][1] * z_eff
    p3 = RAD["p3"][0] + RAD["p3"][1] * ln_e
    x = (p2 - tau) / p3
    p = p1 * np.exp(x - np.exp(x))
    if f_s is not None:
        rc = rc + RAD_SAM["c1"] * (1 - e_hat) + RAD_SAM["c2"] / f_s * np.exp(-tau)
        rt = rt + RAD_SAM["t1"] * (1 - e_hat) + RAD_SAM["t2"] / f_s * np.exp(-tau)
        p = p + (1 - e_hat) * (RAD_SAM["w1"] + RAD_SAM["w2"] / f_s * np.exp(-(tau - 1.0) ** 2))
    rc = np.maximum(rc, 1e-3)
    return rc, np.maximum(rt, rc), np.clip(p, 0.0, 1.0)


def radial_cdf(r: np.ndarray, rc: np.ndarray, rt: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Fraction of a step's energy within radius ``r`` (same unit as rc, rt).

    >>> float(radial_cdf(np.array(1.0), 1.0, 1.0, 0.5))
    0.5
    """
    r2 = np.square(r)
    return p * r2 / (r2 + np.square(rc)) + (1 - p) * r2 / (r2 + np.square(rt))


def n_spots(energy_gev: np.ndarray, z_eff: float, sampling_term: float | None = None) -> np.ndarray:
    """Number of energy spots per shower: 93 ln(Z) E^0.876 (homogeneous) or 10.3/c_s E^0.959 (sampling).

    >>> int(n_spots(np.array([1.0]), 74.0)[0])
    400
    """
    if sampling_term is None:
        n = 93.0 * np.log(z_eff) * np.power(energy_gev, 0.876)
    else:
        n = 10.3 / sampling_term * np.power(energy_gev, 0.959)
    return np.maximum(np.round(n), 1.0)
