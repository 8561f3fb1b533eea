"""Parameterised hadronic (charged-pion) showers in any hepgen geometry: the GFlash hadronic ansatz.

The model follows the structure of the GFlash hadronic parameterisation (G. Grindhammer, M. Rudowicz,
S. Peters, "The fast simulation of electromagnetic and hadronic showers", NIM A290 (1990) 469, the H1
parameterisation): a hadron shower is the sum of an electromagnetic part (from pi0 / eta decays) that scales
with the radiation length X0 and a hadronic part that scales with the nuclear interaction length lambda,
each with a gamma-function longitudinal profile and a core/halo radial profile, and with per-shower
parameters that fluctuate and are correlated. The numbers are not the H1 fit (made for the H1 LAr
calorimeter, tables not reproduced here) but the textbook values below; two parameter sets
(:data:`TUNES`) stand in for two Geant4 physics lists.

Per shower of energy E (GeV):

1. **First interaction** at a depth d0 ~ Exp(1) in nuclear interaction lengths of the stack (depth
   counted slab by slab with each material's lambda_I from the PDG tables, 1/lambda mixing in g/cm^2).
   Before it the pion is a minimum-ionising track: each active slab crossed gets one Landau deposit
   (:meth:`hepgen.simulate.response.CrossingResponse.track_deposits`, about 0.5 MeV in 3 mm of scintillator)
   in the cell on the axis, and the pion loses the mean dE/dx of the slabs it crossed. A pion that does not
   interact in the stack leaves only the track (punch-through).
2. **Electromagnetic fraction** f_em with mean <f_em> = 1 - (E/E0)^(k-1) (Groom, NIM A572 (2007) 633;
   PDG review "Calorimetry", E0 ~ 1 GeV, k ~ 0.8 for pions) and a width sigma_f(E) = sigma_10 (E/10 GeV)^-s;
   f_em is Beta-distributed with that mean and width, drawn through a Gaussian copula so that it can be
   correlated with the profile parameters.
3. **Longitudinal profile** measured from the first interaction (the Bock et al. form, R.K. Bock, T. Hansl-Kozanecka,
   T.P. Shah, "Parametrization of the longitudinal development of hadronic showers in sampling calorimeters",
   NIM 186 (1981) 533): dE/dx = E f_em Gamma(t; alpha, beta_em) + E (1 - f_em) Gamma(s; alpha, beta_h), t in X0,
   s in lambda, Gamma(x; a, b) = b (b x)^(a-1) exp(-b x) / Gamma(a), with mean
   alpha = 0.6165 + 0.3183 ln E, beta_em = 0.2198 / X0 and beta_h = 0.9099 - 0.0237 ln E per lambda.
   ln alpha, ln beta_em, ln beta_h and the copula variable of f_em are correlated Gaussians (the GFlash way of
   fluctuating a profile: correlation matrix :attr:`HadronicTune.correlation`).
4. **Radial profiles**: the em part takes the GFlash em core/tail profile in Moliere radii
   (:func:`hepgen.simulate.parameterisation.radial_parameters`, Grindhammer & Peters, hep-ex/0001020) at
   tau = t / T_em; the hadronic part the same two-component form f(r) = p 2r R_C^2/(r^2+R_C^2)^2 +
   (1-p) 2r R_T^2/(r^2+R_T^2)^2 with a core R_C and a halo R_T in units of lambda that widen with depth,
   R(s) = R(0) (0.8 + 0.2 s) (s in lambda after the first interaction), chosen so that about 95 % of a shower
   lies within a cylinder of radius ~1 lambda (the textbook containment radius, PDG review "Calorimetry").
5. **Non-compensating response**: the em part is seen like an electron shower (visible fraction e_hat * f_mip
   of the sampling cell); the hadronic part's visible energy is divided by e/h (nuclear binding energy,
   neutrons, ...), e/h = 1.4 / 1.3 in the two tunes (iron/scintillator calorimeters have e/h ~ 1.3-1.4:
   R. Wigmans, "Calorimetry", 2nd ed., OUP (2017), ch. 3 and 7). The pion response relative to electrons is then
   pi/e = f_em + (1 - f_em) h/e. The hadronic part also fluctuates by a per-shower factor of width
   sigma_int / sqrt(E_h / GeV) (the fluctuations of the invisible energy), set so that the ILD AHCAL's pion
   resolution is near CALICE's ~58 %/sqrt(E) (JINST 7 (2012) P09017, arXiv:1207.4210).
6. **Deposition and readout** as in the em simulator (:mod:`hepgen.simulate.gflash`): per step, the energy is
   carried by spots (the GFlash sampling spot number) placed with the radial profile
   (:func:`hepgen.simulate.gflash.deposit_steps`), then the thin active layers get Poisson track crossings with
   Landau losses (:mod:`hepgen.simulate.response`) and the geometry's readout conventions.

The CaloChallenge dataset 1 pion geometry (ATLAS-like, no layer stack in the challenge files) gets a stand-in
stack (:func:`atlas_like_stack`): LAr presampler, Pb/LAr accordion (EMB1-3: 4.3, 16, 2 X0), a 40 mm iron
cryostat, Fe/scintillator tile calorimeter (1.5, 4.1, 1.8 lambda), with energies written at the EM scale
of each layer.

>>> s = simulate_hadron_showers("ild-ahcal", np.full(8, 20e3), seed=1)
>>> s.energy.shape, bool(0.2 < s.visible_energy.mean() / 20e3 / 0.0262 < 1.0)
((8, 30000), True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
from scipy.special import betaincinv, gammainc, ndtr

from hepgen.errors import InputError
from hepgen.geometry import CylindricalGeometry, Geometry, Slab, get_geometry
from hepgen.simulate.gflash import HADRONS, Detector, deposit_steps, detector_model, voxel_of
from hepgen.simulate.parameterisation import n_spots, radial_parameters

__all__ = ["HADRONS", "HadronicTune", "TUNES", "get_tune", "mean_em_fraction", "mean_profile_parameters",
           "mean_longitudinal_profile", "hadronic_detector", "atlas_like_stack", "simulate_block",
           "sample_shower_parameters", "simulate_hadron_showers", "DEFAULT_TUNE"]

DEFAULT_TUNE = "hadronic-a"
#: Bock et al. (1981) mean profile: alpha = a0 + a1 ln E, beta_em = b (1/X0), beta_h = d0 + d1 ln E (1/lambda)
BOCK = dict(a0=0.6165, a1=0.3183, b=0.2198, d0=0.9099, d1=-0.0237)


@dataclass(frozen=True)
class HadronicTune:
    """One parameter set of the hadronic model (module docstring); energies in GeV, lengths in lambda.

    >>> get_tune("hadronic-a").e_over_h, get_tune("hadronic-b").e_over_h
    (1.4, 1.3)
    """

    name: str
    description: str
    e0_gev: float = 1.0            # <f_em> = 1 - (E/E0)^(k-1)
    k: float = 0.82
    sigma_fem_10: float = 0.11     # width of f_em at 10 GeV
    sigma_fem_slope: float = 0.25  # sigma_f = sigma_10 (E / 10 GeV)^-slope
    e_over_h: float = 1.4
    sigma_intrinsic: float = 0.85  # hadronic part's visible energy fluctuates by sigma / sqrt(E_h / GeV)
    alpha_scale: float = 1.0       # multiplies Bock's mean alpha
    beta_h_scale: float = 1.15     # multiplies Bock's mean beta_h (< 1: longer hadronic part)
    sigma_ln_alpha: float = 0.25
    sigma_ln_beta_em: float = 0.15
    sigma_ln_beta_h: float = 0.15
    #: correlation of the Gaussians (f_em copula, ln alpha, ln beta_em, ln beta_h)
    correlation: tuple = ((1.0, 0.0, 0.0, 0.3), (0.0, 1.0, 0.6, 0.6), (0.0, 0.6, 1.0, 0.4), (0.3, 0.6, 0.4, 1.0))
    core_radius_lambda: float = 0.05
    halo_radius_lambda: float = 0.30
    core_weight: float = 0.5

    @cached_property
    def cholesky(self) -> np.ndarray:
        """Lower Cholesky factor of :attr:`correlation`."""
        return np.linalg.cholesky(np.asarray(self.correlation, dtype=np.float64))


#: The two tunes: stand-ins for two Geant4 physics lists (QGSP_BERT-like and FTFP_BERT-like), not fits to them.
TUNES: dict[str, HadronicTune] = {t.name: t for t in (
    HadronicTune("hadronic-a", "e/h = 1.4, <f_em> exponent k = 0.82, Bock et al. profile with a 15 % shorter "
                 "hadronic part (stand-in for QGSP_BERT)"),
    HadronicTune("hadronic-b", "e/h = 1.3, k = 0.80 (more em), Bock's hadronic length (15 % longer), 10 % "
                 "wider halo (stand-in for FTFP_BERT)", k=0.80, e_over_h=1.3, beta_h_scale=1.0, alpha_scale=1.05,
                 halo_radius_lambda=0.33, sigma_intrinsic=0.80),
)}


def get_tune(tune: str | HadronicTune) -> HadronicTune:
    """A tune by name (``hadronic-a``, ``hadronic-b``) or the tune itself.

    >>> get_tune("hadronic-b").k
    0.8
    """
    if isinstance(tune, HadronicTune):
        return tune
    if tune not in TUNES:
        raise InputError(f"unknown hadronic tune '{tune}': expected one of {', '.join(TUNES)}")
    return TUNES[tune]


def mean_em_fraction(energy_gev: np.ndarray | float, tune: str | HadronicTune = DEFAULT_TUNE) -> np.ndarray:
    """<f_em> = 1 - (E/E0)^(k-1) (Groom 2007; PDG "Calorimetry"), floored at 0.02.

    >>> round(float(mean_em_fraction(10.0)), 3), round(float(mean_em_fraction(100.0)), 3)
    (0.339, 0.563)
    """
    t = get_tune(tune)
    e = np.asarray(energy_gev, dtype=np.float64)
    return np.clip(1.0 - np.power(np.maximum(e, 1e-3) / t.e0_gev, t.k - 1.0), 0.02, 0.98)


def mean_profile_parameters(energy_gev: np.ndarray | float, tune: str | HadronicTune = DEFAULT_TUNE
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (alpha, beta_em per X0, beta_h per lambda) of the longitudinal profile (Bock et al. 1981, tuned).

    >>> a, be, bh = mean_profile_parameters(50.0)
    >>> round(float(a), 3), round(float(be), 4), round(float(bh), 4)
    (1.862, 0.2198, 0.9398)
    """
    t = get_tune(tune)
    ln_e = np.log(np.maximum(np.asarray(energy_gev, dtype=np.float64), 0.1))
    alpha = np.maximum((BOCK["a0"] + BOCK["a1"] * ln_e) * t.alpha_scale, 0.3)
    beta_h = np.maximum((BOCK["d0"] + BOCK["d1"] * ln_e) * t.beta_h_scale, 0.2)
    return alpha, np.full_like(alpha, BOCK["b"]), beta_h


def mean_longitudinal_profile(x0_edges: np.ndarray, lambda_edges: np.ndarray, energy_gev: float,
                              tune: str | HadronicTune = DEFAULT_TUNE) -> np.ndarray:
    """Fraction of the deposited energy between consecutive depths behind the first interaction, given in X0
    (``x0_edges``) and in lambda (``lambda_edges``) for the same planes, with the mean parameters:
    <f_em> [P(alpha, beta_em t)] + (1 - <f_em>) [P(alpha, beta_h s)] (P the regularised incomplete gamma
    function).

    >>> f = mean_longitudinal_profile(np.array([0.0, 1e4]), np.array([0.0, 1e4]), 30.0)
    >>> round(float(f.sum()), 6)
    1.0
    """
    a, be, bh = mean_profile_parameters(energy_gev, tune)
    f = mean_em_fraction(energy_gev, tune)
    em = np.diff(gammainc(a, be * np.asarray(x0_edges, dtype=np.float64)))
    had = np.diff(gammainc(a, bh * np.asarray(lambda_edges, dtype=np.float64)))
    return f * em + (1.0 - f) * had


def sample_shower_parameters(energy_gev: np.ndarray, rng: np.random.Generator,
                             tune: str | HadronicTune = DEFAULT_TUNE) -> dict[str, np.ndarray]:
    """Per-shower f_em, alpha, beta_em (1/X0), beta_h (1/lambda) and first-interaction depth d0 (lambda).

    >>> rng = np.random.default_rng(0)
    >>> p = sample_shower_parameters(np.full(20000, 20.0), rng)
    >>> bool(abs(p["f_em"].mean() - mean_em_fraction(20.0)) < 0.005), bool(abs(p["d0"].mean() - 1) < 0.03)
    (True, True)
    """
    t = get_tune(tune)
    e = np.asarray(energy_gev, dtype=np.float64)
    z = rng.standard_normal((len(e), 4)) @ t.cholesky.T
    m = mean_em_fraction(e, t)
    sigma = t.sigma_fem_10 * np.power(np.maximum(e, 0.1) / 10.0, -t.sigma_fem_slope)
    var = np.minimum(sigma**2, 0.9 * m * (1.0 - m))
    nu = m * (1.0 - m) / var - 1.0
    f_em = betaincinv(m * nu, (1.0 - m) * nu, np.clip(ndtr(z[:, 0]), 1e-12, 1 - 1e-12))
    a, be, bh = mean_profile_parameters(e, t)
    return {"f_em": f_em, "alpha": a * np.exp(t.sigma_ln_alpha * z[:, 1]),
            "beta_em": be * np.exp(t.sigma_ln_beta_em * z[:, 2]), "beta_h": bh * np.exp(t.sigma_ln_beta_h * z[:, 3]),
            "d0": rng.exponential(1.0, len(e))}


def atlas_like_stack() -> tuple[tuple[Slab, ...], ...]:
    """Stand-in layer stack of the CaloChallenge dataset 1 pion geometry (24 readout layers, ATLAS-like).

    Presampler 11 mm LAr; EMB1/2/3: 15/54/7 cells of 1.5 mm Pb + 4.2 mm LAr (about 4.3, 16, 2 X0); layers 4-11
    (no voxels in the barrel slice): a 40 mm iron cryostat in layer 4; TileBar0/1/2: 17/47/21 periods of 14 mm
    iron + 3 mm scintillator (about 1.5, 4.1, 1.8 lambda, the ATLAS tile calorimeter's depths at eta = 0);
    layers 15-23 empty.

    >>> s = atlas_like_stack()
    >>> len(s), len(s[2]) // 2, len(s[13]) // 2
    (24, 54, 47)
    """
    pb_lar = (Slab("Pb", 1.5), Slab("LAr", 4.2, True))
    tile = (Slab("Fe", 14.0), Slab("Scintillator", 3.0, True))
    stack: list[tuple[Slab, ...]] = [(Slab("LAr", 11.0, True),), pb_lar * 15, pb_lar * 54, pb_lar * 7,
                                     (Slab("Fe", 40.0),)]
    stack += [()] * 7 + [tile * 17, tile * 47, tile * 21] + [()] * 9
    return tuple(stack)


def hadronic_detector(geometry: str | Geometry, visible_energy: bool = False) -> Detector:
    """The simulation steps of a geometry (:func:`hepgen.simulate.gflash.detector_model`), with the stand-in stack
    of :func:`atlas_like_stack` for CaloChallenge dataset 1 geometries; those write energies at each layer's EM
    scale (visible / the layer's visible fraction) unless ``visible_energy``.

    >>> d = hadronic_detector("calochallenge-1-pions")
    >>> d.geometry.n_voxels, round(float(d.step_lambda[-1, 1]), 1), d.energy_convention
    (533, 8.7, 'calibrated')
    """
    geo = get_geometry(geometry)
    if geo.layer_stack is None and geo.calochallenge_dataset == 1 and geo.n_layers == 24 and geo.r_edges is not None:
        stand_in = CylindricalGeometry(geo.name, geo.r_edges, geo.n_alpha, layer_stack=atlas_like_stack(),
                                       particle=geo.particle, calochallenge_dataset=1,
                                       evaluation_threshold_mev=geo.evaluation_threshold_mev)
        det = detector_model(stand_in, visible_energy)
        if not visible_energy:
            scale = np.ones(geo.n_layers)
            for l in range(geo.n_layers):
                v = det.step_visible[det.step_layer == l]
                if len(v):
                    scale[l] = 1.0 / float(np.median(v))
            det = replace(det, voxel_scale=scale[stand_in.layer_of_voxel])
        return det
    if geo.layer_stack is None:
        raise InputError(f"geometry '{geo.name}' has no physical layer stack (materials, thicknesses); the hadronic "
                         "simulator needs one (e.g. ild-ahcal, calochallenge-1-pions, a geometry file with 'layers')")
    return detector_model(geo, visible_energy)


def simulate_block(det: Detector, incident_energy: np.ndarray, rng: np.random.Generator, particle: str = "pion",
                   incidence_angle: float = 0.0, impact_mm: np.ndarray | None = None,
                   tune: str | HadronicTune = DEFAULT_TUNE, parameters: dict | None = None) -> np.ndarray:
    """(B, n_voxels) float32 energies (MeV) of B pion showers of ``incident_energy`` (MeV), randomness from ``rng``;
    ``parameters``, if given, receives the per-shower draws (:func:`sample_shower_parameters`: f_em, alpha, beta_em,
    beta_h, d0 in lambda along the path).

    >>> d = hadronic_detector("ild-ahcal")
    >>> out = simulate_block(d, np.full(4, 10e3), np.random.default_rng(0))
    >>> out.shape, bool(out.min() >= 0)
    ((4, 30000), True)
    """
    t = get_tune(tune)
    e = np.asarray(incident_energy, dtype=np.float64)
    b, med, geo = len(e), det.medium, det.geometry
    cos = np.cos(incidence_angle)
    par = sample_shower_parameters(e / 1e3, rng, t)
    if parameters is not None:
        parameters.update(par)
    lam_lo, lam_hi = det.step_lambda[:, 0] / cos, det.step_lambda[:, 1] / cos
    x0_lo, x0_hi = det.step_t[:, 0] / cos, det.step_t[:, 1] / cos
    order = np.argsort(np.concatenate([lam_lo, lam_hi]), kind="stable")
    lam_pts = np.concatenate([lam_lo, lam_hi])[order]
    x0_pts = np.concatenate([x0_lo, x0_hi])[order]
    cum = np.cumsum(det.step_loss_mev / cos)
    loss_pts = np.concatenate([cum - det.step_loss_mev / cos, cum])[order]
    d0 = par["d0"]
    t0 = np.interp(d0, lam_pts, x0_pts)
    e_shower = np.maximum(e - np.interp(d0, lam_pts, loss_pts), 0.0)
    interacts = d0 < lam_hi[-1]
    e_shower = np.where(interacts, e_shower, 0.0)
    f_em = par["f_em"]
    e_em, e_h = e_shower * f_em, e_shower * (1.0 - f_em)
    e_h_gev = np.maximum(e_h / 1e3, 1e-3)
    g = np.maximum(1.0 + t.sigma_intrinsic / np.sqrt(e_h_gev) * rng.standard_normal(b), 0.0)
    # longitudinal: gamma profiles behind the first interaction
    t_lo = np.maximum(x0_lo[None, :] - t0[:, None], 0.0)
    t_hi = np.maximum(x0_hi[None, :] - t0[:, None], 0.0)
    s_lo = np.maximum(lam_lo[None, :] - d0[:, None], 0.0)
    s_hi = np.maximum(lam_hi[None, :] - d0[:, None], 0.0)
    alpha = par["alpha"][:, None]
    be, bh = par["beta_em"][:, None], par["beta_h"][:, None]
    frac_em = gammainc(alpha, be * t_hi) - gammainc(alpha, be * t_lo)
    frac_h = gammainc(alpha, bh * s_hi) - gammainc(alpha, bh * s_lo)
    vis_em = e_em[:, None] * frac_em * det.step_visible[None, :]
    vis_h = (e_h * g / t.e_over_h)[:, None] * frac_h * det.step_visible[None, :]
    out = np.zeros((b, geo.n_voxels))
    f_s = med.f_s if det.sampling else None
    # em part: GFlash em radial profile in Moliere radii
    e_em_gev = np.maximum(e_em / 1e3, 1e-2)
    n_em = n_spots(e_em_gev, med.z_eff, det.sampling_term)[:, None]
    n_step = np.where(vis_em > 0, np.maximum(np.round(n_em * frac_em), 1.0), 0.0).astype(np.int64)
    t_max = np.maximum((alpha - 1.0) / be, 1.0)
    tau = np.minimum(0.5 * (t_lo + t_hi) / t_max, 10.0)
    rc, rt, p = radial_parameters(e_em_gev[:, None], tau, med.z_eff, f_s, med.e_hat)
    rm = med.moliere_radius_mm
    deposit_steps(det, out, vis_em, n_step, rc * rm, rt * rm, p, rng, incidence_angle, impact_mm=impact_mm)
    # hadronic part: core/halo in lambda, widening with depth
    n_h = n_spots(e_h_gev, med.z_eff, det.sampling_term)[:, None]
    n_step = np.where(vis_h > 0, np.maximum(np.round(n_h * frac_h), 1.0), 0.0).astype(np.int64)
    widen = 0.8 + 0.2 * np.minimum(0.5 * (s_lo + s_hi), 6.0)
    lam_mm = det.lambda_int_mm
    rc = t.core_radius_lambda * lam_mm * widen
    rt = t.halo_radius_lambda * lam_mm * widen
    deposit_steps(det, out, vis_h, n_step, rc, rt, np.full_like(rc, t.core_weight), rng, incidence_angle,
                  impact_mm=impact_mm)
    for resp, cols in det.response_groups:
        out[:, cols] = resp.apply(out[:, cols], rng)
    _add_track(det, out, d0, lam_hi, rng, incidence_angle, impact_mm)
    if det.voxel_scale is not None:
        out *= det.voxel_scale[None, :]
    elif det.energy_scale != 1.0:
        out *= det.energy_scale
    if det.threshold_mev > 0:
        out[out < det.threshold_mev] = 0.0
    return out.astype(np.float32)


def _add_track(det: Detector, out: np.ndarray, d0: np.ndarray, lam_hi: np.ndarray, rng: np.random.Generator,
               angle: float, impact_mm: np.ndarray | None) -> None:
    """MIP hits of the pion in the steps it crosses before its first interaction (cell on the axis)."""
    bi, si = np.nonzero(lam_hi[None, :] <= d0[:, None])
    if not len(bi):
        return
    geo = det.geometry
    x = np.zeros(len(bi)) if impact_mm is None else np.asarray(impact_mm, dtype=np.float64)[bi, 0]
    y = np.zeros(len(bi)) if impact_mm is None else np.asarray(impact_mm, dtype=np.float64)[bi, 1]
    x = x + det.step_z_mm[si] * np.tan(angle)
    vox = voxel_of(geo, det.step_layer[si], x.astype(np.float32), y.astype(np.float32))
    dep = det.step_mip_mev[si] / np.cos(angle)
    for l in np.unique(det.step_layer[si]):
        r = det.layer_response[l]
        if r is not None:
            sel = det.step_layer[si] == l
            dep[sel] = r.track_deposits(int(sel.sum()), rng) / np.cos(angle)
    ok = vox >= 0
    out.reshape(-1)[:] += np.bincount(bi[ok] * geo.n_voxels + vox[ok], weights=dep[ok], minlength=out.size)


def simulate_hadron_showers(geometry: str | Geometry, incident_energy: np.ndarray, particle: str = "pion",
                            seed: int | None = None, tune: str | HadronicTune = DEFAULT_TUNE, **kwargs):
    """Pion showers of ``incident_energy`` (MeV): :func:`hepgen.simulate.gflash.simulate_showers` with a hadron
    (``pion``, ``pi+``, ``pi-``: the model does not tell the charges apart) and a tune (:data:`TUNES`).

    >>> a = simulate_hadron_showers("ild-ahcal", np.full(4, 10e3), seed=2, tune="hadronic-b")
    >>> b = simulate_hadron_showers("ild-ahcal", np.full(4, 10e3), seed=2, tune="hadronic-b")
    >>> bool(np.array_equal(a.energy, b.energy))
    True
    """
    from hepgen.simulate.gflash import simulate_showers

    return simulate_showers(geometry, incident_energy, particle, seed=seed, tune=tune, **kwargs)
