"""GFlash electromagnetic showers deposited into any hepgen geometry (Grindhammer & Peters, hep-ex/0001020).

Per shower: (T, alpha) of the gamma longitudinal profile with the paper's correlated fluctuations;
photons first travel an exponential conversion depth of mean 9/7 X0; electron and positron profiles begin
:data:`ELECTRON_START_X0` behind the entrance (see there). The detector's layer stack is cut
into *steps*: each active slab with the passive slabs in front of it is one sampling cell (visible
fraction e_hat * f_mip), a homogeneous active block is cut into steps of at most 0.5 X0 (visible
fraction 1). Depth is counted in the radiation lengths of the real slabs, so stacks with changing
absorber thickness (ILD) are followed exactly. The energy of a step is the gamma-profile integral;
it is carried by N_step spots (the paper's spot number and spot profile) placed with the two-component
radial profile at tau = t/T and uniform azimuth, and summed per voxel with ``np.bincount``. For
cylinders at normal incidence the spots' voxel counts are drawn directly from the multinomial
distribution of the analytic radial profile (the same distribution, without per-spot work). Thin
active layers then get Poisson track crossings with a Landau-like loss (:mod:`hepgen.simulate.response`),
and the CaloChallenge cylinders a 15.15 keV per-voxel readout threshold.

Randomness is drawn per block of :data:`BLOCK` showers from ``SeedSequence(seed, spawn_key=(block, 1))``,
so a seed gives the same showers whatever the chunking.

>>> import numpy as np
>>> s = simulate_showers("ild-ecal", np.full(4, 10e3), seed=1)
>>> s.energy.shape, bool(100 < s.visible_energy.mean() < 400)
((4, 27000), True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy.special import gammainc

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import CylindricalGeometry, Geometry, get_geometry
from hepgen.geometry.materials import SamplingStructure, get_material, sampling_structure
from hepgen.simulate.parameterisation import (SPOT_HOM, SPOT_SAM, longitudinal_parameters, n_spots,
                                              radial_cdf, radial_parameters, sample_profiles)
from hepgen.simulate.direction import DIRECTION_LABELS, DirectionSpec, check_theta_deg, parse_direction
from hepgen.simulate.impact import IMPACT_LABELS, ImpactSpec, parse_impact
from hepgen.units import ValueSpec
from hepgen.simulate.response import CrossingResponse, mean_crossing_cos

__all__ = ["simulate_showers", "simulate_block", "Detector", "detector_model", "block_rng", "deposit_steps", "voxel_of",
           "BLOCK", "PARTICLES", "HADRONS", "ELECTRON_START_X0", "check_particle", "simulator"]

BLOCK = 32
PARTICLES = ("photon", "electron", "positron")
#: charged pions: the hadronic model (:mod:`hepgen.simulate.hadronic`)
HADRONS = ("pion", "pi+", "pi-")
_MAX_SPOTS = 2_000_000
#: depth (X0) behind the entrance where electron/positron profiles begin. The paper's mean-profile fit puts
#: the maximum at ln y - 0.858 (hep-ex/0001020 eq. 13), 0.36 X0 before the PDG's t_max = ln y - 0.5 (EGS4);
#: starting the profile 0.35 X0 deep moves it onto the PDG value and keeps the photons' C = +0.5, which the
#: 9/7 X0 conversion depth already gives. 0 restores the paper's electron profile.
ELECTRON_START_X0 = 0.35


@dataclass
class Detector:
    """Steps of a geometry's layer stack as the simulator sees them (see module docstring)."""

    geometry: Geometry
    medium: SamplingStructure
    sampling: bool
    step_layer: np.ndarray      # (S,) readout layer of each step
    step_t: np.ndarray          # (S, 2) depth range in X0 at normal incidence
    step_z_mm: np.ndarray       # (S,) depth (mm) where the step's energy is read out
    step_visible: np.ndarray    # (S,) visible fraction of the step's energy
    layer_response: list        # per readout layer: CrossingResponse or None
    sampling_term: float | None  # c_s in sqrt(GeV), for the spot number
    threshold_mev: float        # readout threshold on the written energies (MeV, after ``energy_scale``)
    energy_scale: float = 1.0   # written energy = visible energy x energy_scale (1 / sampling fraction if calibrated)
    step_lambda: np.ndarray | None = None    # (S, 2) depth range in nuclear interaction lengths at normal incidence
    step_mip_mev: np.ndarray | None = None   # (S,) mean MIP energy loss in the step's active slab (MeV)
    step_loss_mev: np.ndarray | None = None  # (S,) mean MIP energy loss in the whole step (MeV)
    lambda_int_mm: float = 0.0               # mean nuclear interaction length of the stack (mm)
    voxel_scale: np.ndarray | None = None    # (n_voxels,) written / visible energy per voxel, replaces energy_scale

    @property
    def sampling_fraction(self) -> float:
        """Visible fraction of the energy in a sampling cell (median over the steps; 1 for homogeneous media)."""
        return float(np.median(self.step_visible))

    @property
    def energy_convention(self) -> str:
        """``calibrated`` (visible energy / sampling fraction, the CaloChallenge ds2/3 convention) or ``visible``."""
        return "calibrated" if self.energy_scale != 1.0 or self.voxel_scale is not None else "visible"

    @property
    def response_groups(self) -> list[tuple[CrossingResponse, np.ndarray | slice]]:
        """(response, voxel columns) for each distinct active-layer response."""
        if not hasattr(self, "_groups"):
            by: dict[int, tuple] = {}
            for l, r in enumerate(self.layer_response):
                if r is not None:
                    by.setdefault(id(r), (r, []))[1].append(np.arange(*self.geometry.layer_slice(l).indices(
                        self.geometry.n_voxels)))
            groups = []
            for r, cols in by.values():
                c = np.concatenate(cols)
                contiguous = len(c) and np.array_equal(c, np.arange(c[0], c[0] + len(c)))
                groups.append((r, slice(int(c[0]), int(c[0]) + len(c)) if contiguous else c))
            self._groups = groups
        return self._groups


@lru_cache(maxsize=32)
def _response(material: str, thickness: float, absorber: str) -> CrossingResponse:
    return CrossingResponse(get_material(material), thickness, mean_crossing_cos(get_material(absorber)))


def detector_model(geometry: str | Geometry, visible_energy: bool = False) -> Detector:
    """Cut a geometry's layer stack into simulation steps.

    Geometries with ``calibrated_energies`` (the CaloChallenge datasets 2/3) write calibrated energies: the
    energy seen in the active slabs divided by the sampling fraction (the challenge's Geant4 detector: 0.033;
    the GFlash stack: the visible fraction of its sampling cell, :attr:`Detector.sampling_fraction`), so that
    E_tot / E_inc is close to 1 (arXiv:2410.21611), unless ``visible_energy``. The geometry's
    ``readout_threshold_mev`` (stated in the files' convention) is the same physical cut in both conventions.

    >>> d = detector_model("ild-ecal")
    >>> len(d.step_layer), round(float(d.step_t[-1, 1]), 1)     # 30 sampling cells, 24 X0 deep
    (30, 24.2)
    >>> c = detector_model("calochallenge-2")
    >>> c.energy_convention, round(c.sampling_fraction, 4), round(1 / c.energy_scale, 4), c.threshold_mev
    ('calibrated', 0.0255, 0.0255, 0.01515)
    >>> v = detector_model("calochallenge-2", visible_energy=True)
    >>> v.energy_convention, round(v.threshold_mev * 1e6, 1)                    # eV: 15.15 keV x 0.0255
    ('visible', 386.4)
    """
    geo = get_geometry(geometry)
    if geo.layer_stack is None:
        raise InputError(f"geometry '{geo.name}' has no physical layer stack (materials, thicknesses); the GFlash "
                         "simulator needs one: use a geometry with 'layers' (e.g. calochallenge-2, ild-ecal)")
    if geo.grid_shape is None and geo.r_edges is None:
        raise InputError(f"geometry '{geo.name}': the simulator handles Cartesian and cylindrical geometries")
    all_slabs = [s for layer in geo.layer_stack for s in layer]
    sampling = not all(s.active for s in all_slabs)
    medium = sampling_structure(all_slabs)
    layer, t_rng, z_mm, vis, lam_rng, mip, loss = [], [], [], [], [], [], []
    responses: list = [None] * geo.n_layers
    t = z = lam = 0.0
    pending: list = []  # passive slabs waiting for the next active slab
    pending_t0 = pending_lam0 = pending_loss = 0.0
    for l, slabs in enumerate(geo.layer_stack):
        for slab in slabs:
            mat = get_material(slab.material)
            dt = slab.thickness_mm / mat.x0_mm
            dlam = slab.thickness_mm / mat.lambda_int_mm
            dloss = slab.thickness_mm * mat.mip_dedx_mev_mm
            if not slab.active:
                if not pending:
                    pending_t0, pending_lam0, pending_loss = t, lam, 0.0
                pending.append(slab)
                pending_loss += dloss
            elif pending:
                cell = sampling_structure(pending + [slab])
                layer.append(l), t_rng.append((pending_t0, t + dt)), z_mm.append(z + slab.thickness_mm / 2)
                vis.append(cell.visible_fraction), lam_rng.append((pending_lam0, lam + dlam))
                mip.append(dloss), loss.append(pending_loss + dloss)
                if responses[l] is None:
                    heaviest = max(pending, key=lambda p: p.thickness_mm * get_material(p.material).density_g_cm3)
                    responses[l] = _response(slab.material, slab.thickness_mm, heaviest.material)
                pending = []
            else:  # homogeneous active block: steps of at most 0.5 X0
                n = max(1, int(np.ceil(dt / 0.5)))
                for k in range(n):
                    layer.append(l), t_rng.append((t + dt * k / n, t + dt * (k + 1) / n))
                    z_mm.append(z + slab.thickness_mm * (k + 0.5) / n), vis.append(1.0)
                    lam_rng.append((lam + dlam * k / n, lam + dlam * (k + 1) / n))
                    mip.append(dloss / n), loss.append(dloss / n)
            t += dt
            z += slab.thickness_mm
            lam += dlam
    if not layer:
        raise InputError(f"geometry '{geo.name}' has no active slab: nothing would be read out")
    if sampling:  # F_s and e_hat of the sampling cell, not of the whole stack
        cell_mm = medium.thickness_mm / len(layer)
        medium = replace(medium, thickness_mm=cell_mm, f_s=medium.x0_mm / cell_mm)
    cs = None
    if sampling:
        terms = [r.mean_mev * (1 + r.var_mev2 / r.mean_mev**2) / v / 1e3
                 for r, v in ((responses[l], v) for l, v in zip(layer, vis)) if r is not None and v > 0]
        cs = float(np.sqrt(np.median(terms))) if terms else 0.1
    threshold = geo.readout_threshold_mev
    fraction = float(np.median(vis))
    calibrated = geo.calibrated_energies and sampling
    scale = 1.0 / fraction if calibrated and not visible_energy else 1.0
    if calibrated and visible_energy:
        threshold *= fraction  # the same cut, in visible MeV
    return Detector(geo, medium, sampling, np.asarray(layer), np.asarray(t_rng), np.asarray(z_mm), np.asarray(vis),
                    responses, cs, threshold, scale, np.asarray(lam_rng), np.asarray(mip), np.asarray(loss),
                    z / lam if lam > 0 else 0.0)


def block_rng(seed_entropy: int, block: int, stream: int = 1) -> np.random.Generator:
    """Generator of one block of showers: stream 0 draws incident energies, stream 1 the showers.

    >>> float(block_rng(1, 0).random()) == float(block_rng(1, 0).random())
    True
    """
    return np.random.default_rng(np.random.SeedSequence(seed_entropy, spawn_key=(block, stream)))


def simulate_block(det: Detector, incident_energy: np.ndarray, rng: np.random.Generator, particle: str = "photon",
                   incidence_angle: float | np.ndarray = 0.0, impact_mm: np.ndarray | None = None,
                   azimuth: float | np.ndarray = 0.0) -> np.ndarray:
    """(B, n_voxels) float32 energies (MeV) of B showers, all randomness from ``rng``; ``impact_mm`` (B, 2) moves
    each shower's axis to the impact point (x, y) in mm (None: the detector's centre). ``incidence_angle`` (theta,
    radians, signed) and ``azimuth`` (phi, radians) tilt the axis, one value or one per shower: the profile is
    integrated along the path (depth t / cos theta) and a spot of the step read out at depth z (mm) sits at
    z tan(theta) (cos phi, sin phi) from the impact point, its lateral offset in the tilt plane shrunk by cos theta
    (the projection onto the layer plane)."""
    e = np.asarray(incident_energy, dtype=np.float64)
    b, med, geo = len(e), det.medium, det.geometry
    theta = np.broadcast_to(np.asarray(incidence_angle, dtype=np.float64), (b,))
    phi = np.broadcast_to(np.asarray(azimuth, dtype=np.float64), (b,))
    f_s = med.f_s if det.sampling else None
    ln_y = np.log(np.maximum(e / med.critical_energy_mev, 1.0 + 1e-9))
    par = longitudinal_parameters(ln_y, med.z_eff, f_s, med.e_hat)
    prof = sample_profiles(par, rng)
    t0 = rng.exponential(9.0 / 7.0, b) if particle == "photon" else np.full(b, ELECTRON_START_X0)
    cos = np.cos(theta)[:, None]
    t_lo = np.maximum(det.step_t[None, :, 0] / cos - t0[:, None], 0.0)
    t_hi = np.maximum(det.step_t[None, :, 1] / cos - t0[:, None], 0.0)
    alpha, tmax = prof["alpha"][:, None], prof["t"][:, None]
    beta = (alpha - 1.0) / tmax
    frac = gammainc(alpha, beta * t_hi) - gammainc(alpha, beta * t_lo)
    visible = e[:, None] * frac * det.step_visible[None, :]
    # spots: their own gamma profile, total number per the paper
    sp = SPOT_SAM if det.sampling else SPOT_HOM
    t_s = np.maximum(prof["t_hom"] * (sp["t1"] + sp["t2"] * med.z_eff), 0.5)[:, None]
    a_s = np.maximum(prof["alpha_hom"] * (sp["a1"] + sp["a2"] * med.z_eff), 1.1)[:, None]
    b_s = (a_s - 1.0) / t_s
    q = gammainc(a_s, b_s * t_hi) - gammainc(a_s, b_s * t_lo)
    e_gev = e / 1e3
    n_tot = n_spots(e_gev, med.z_eff, det.sampling_term)[:, None]
    n_step = np.where(visible > 0, np.maximum(np.round(n_tot * q), 1.0), 0.0).astype(np.int64)
    # radial parameters at the middle of each step
    a_mean = np.exp(par["mean_ln_alpha"])[:, None]
    tau = 0.5 * (t_lo + t_hi) / tmax * (alpha - 1.0) / alpha * a_mean / np.maximum(a_mean - 1.0, 1e-3)
    rc, rt, p = radial_parameters(e_gev[:, None], np.minimum(tau, 10.0), med.z_eff, f_s, med.e_hat)
    rm = med.moliere_radius_mm
    out = np.zeros((b, geo.n_voxels))
    deposit_steps(det, out, visible, n_step, rc * rm, rt * rm, p, rng, theta, phi, impact_mm)
    for resp, cols in det.response_groups:
        out[:, cols] = resp.apply(out[:, cols], rng)
    if det.energy_scale != 1.0:
        out *= det.energy_scale
    if det.threshold_mev > 0:
        out[out < det.threshold_mev] = 0.0
    return out.astype(np.float32)


def deposit_steps(det: Detector, out: np.ndarray, visible: np.ndarray, n_step: np.ndarray, rc_mm: np.ndarray,
                  rt_mm: np.ndarray, p: np.ndarray, rng: np.random.Generator,
                  theta: float | np.ndarray | None = None, azimuth: float | np.ndarray | None = None,
                  impact_mm: np.ndarray | None = None) -> None:
    """Add the energy of each (shower, step) to ``out`` (B, n_voxels), spread over the readout with the
    two-component radial profile f(r) = p 2r R_C^2/(r^2+R_C^2)^2 + (1-p) 2r R_T^2/(r^2+R_T^2)^2.

    ``visible`` (B, S) is the energy (MeV) of each shower in each step of ``det``, carried by ``n_step`` (B, S)
    equal spots; ``rc_mm``, ``rt_mm``, ``p`` (B, S) are the core and tail radii (mm) and the core weight.
    ``theta`` / ``azimuth`` (radians, one value or one per shower) tilt the axes and ``impact_mm`` (B, 2) moves
    them (see :func:`simulate_block`). Cylinders at normal incidence draw the spots' voxel counts from the
    multinomial distribution of the profile; otherwise each spot gets a radius, an azimuth and a voxel.

    >>> d = detector_model("belle2-ecl-5x5")
    >>> out = np.zeros((1, 25)); shape = (1, len(d.step_layer))
    >>> deposit_steps(d, out, np.full(shape, 10.0), np.full(shape, 50), np.full(shape, 5.0),
    ...               np.full(shape, 20.0), np.full(shape, 0.8), np.random.default_rng(0))
    >>> bool(out.sum() <= 10.0 * shape[1] + 1e-9), bool(out[0, 12] == out.max())
    (True, True)
    """
    b = out.shape[0]
    theta = np.broadcast_to(np.asarray(0.0 if theta is None else theta, dtype=np.float64), (b,))
    azimuth = np.broadcast_to(np.asarray(0.0 if azimuth is None else azimuth, dtype=np.float64), (b,))
    tilted = bool(np.any(theta))
    if det.geometry.r_edges is not None and not tilted and impact_mm is None:   # radius-angle bins
        _deposit_cylinder_multinomial(det, out, visible, n_step, rc_mm, rt_mm, p, rng)
    else:
        _deposit_spots(det, out, visible, n_step, rc_mm, rt_mm, p, rng, theta if tilted else None,
                       azimuth if tilted and np.any(azimuth) else None, impact_mm)


def _deposit_cylinder_multinomial(det, out, visible, n_step, rc, rt, p, rng) -> None:
    geo: CylindricalGeometry = det.geometry
    bi, si = np.nonzero(n_step)
    layers = det.step_layer[si]
    keys = {}
    for l in np.unique(layers):
        if geo.n_radial[l] > 0:
            keys.setdefault((geo.n_alpha[l], tuple(geo.r_edges[l])), []).append(l)
    for (n_alpha, edges), ls in keys.items():
        sel = np.isin(layers, ls)
        b, s, lay = bi[sel], si[sel], layers[sel]
        edges = np.asarray(edges)
        cdf = radial_cdf(edges[None, :], rc[b, s][:, None], rt[b, s][:, None], p[b, s][:, None])
        pr = np.clip(np.diff(cdf, axis=1), 0.0, None) / n_alpha          # (K, n_r) per alpha bin
        pv = np.repeat(pr[:, None, :], n_alpha, axis=1).reshape(len(b), -1)
        pv = np.concatenate([pv, np.clip(1.0 - pv.sum(axis=1, keepdims=True), 0.0, None)], axis=1)
        pv /= pv.sum(axis=1, keepdims=True)
        counts = rng.multinomial(n_step[b, s], pv)[:, :-1]
        energy = counts * (visible[b, s] / n_step[b, s])[:, None]
        start = geo.layer_edges[lay]
        idx = b[:, None] * geo.n_voxels + start[:, None] + np.arange(pv.shape[1] - 1)[None, :]
        out.reshape(-1)[:] += np.bincount(idx.reshape(-1), weights=energy.reshape(-1), minlength=out.size)


def _deposit_spots(det, out, visible, n_step, rc, rt, p, rng, theta=None, azimuth=None, impact_mm=None) -> None:
    geo = det.geometry
    bi, si = np.nonzero(n_step)
    n = n_step[bi, si]
    # process in pieces of at most _MAX_SPOTS spots (memory bound)
    csum = np.cumsum(n)
    start = 0
    while start < len(n):
        base = csum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(csum, base + _MAX_SPOTS, side="right")))
        b, s, k = bi[start:stop], si[start:stop], n[start:stop]
        owner = np.repeat(np.arange(len(k)), k)
        m = len(owner)
        f32 = np.float32
        u = rng.random(m, dtype=f32)
        core = rng.random(m, dtype=f32) < p[b, s].astype(f32)[owner]
        radius = np.where(core, rc[b, s].astype(f32)[owner], rt[b, s].astype(f32)[owner])
        r = radius * np.sqrt(u / (f32(1.0) - u))
        psi = rng.random(m, dtype=f32) * f32(2 * np.pi)     # the spot's azimuth about the axis
        x, y = r * np.cos(psi), r * np.sin(psi)
        if theta is not None:   # along the tilt (x before the turn by phi): shrunk by cos theta, shifted z tan theta
            x = x * np.cos(theta[b]).astype(f32)[owner] + (det.step_z_mm[s] * np.tan(theta[b])).astype(f32)[owner]
        if azimuth is not None:     # turn the tilt plane by phi about the depth axis
            c, sn = np.cos(azimuth[b]).astype(f32)[owner], np.sin(azimuth[b]).astype(f32)[owner]
            x, y = x * c - y * sn, x * sn + y * c
        if impact_mm is not None:
            x = x + np.asarray(impact_mm[b, 0], dtype=f32)[owner]
            y = y + np.asarray(impact_mm[b, 1], dtype=f32)[owner]
        lay = det.step_layer[s]
        vox = voxel_of(geo, lay[owner], x, y)
        ok = vox >= 0
        idx = (b * geo.n_voxels)[owner][ok] + vox[ok]
        out.reshape(-1)[:] += np.bincount(idx, weights=(visible[b, s] / k)[owner][ok], minlength=out.size)
        start = stop


def voxel_of(geo: Geometry, layer: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Flat voxel index of points (x, y) in mm on readout layers ``layer``; -1 outside the readout."""
    if geo.grid_shape is not None:   # regular transverse cell grid
        ex, ey = geo.cell_edges_mm()
        fx = (x - np.float32(ex[0])) * np.float32(1.0 / geo.cell_size_mm[0])
        fy = (y - np.float32(ey[0])) * np.float32(1.0 / geo.cell_size_mm[1])
        ok = (fx >= 0) & (fx < geo.nx) & (fy >= 0) & (fy < geo.ny)
        ix, iy = fx.astype(np.int32), fy.astype(np.int32)
        return np.where(ok, (layer * geo.ny + iy) * geo.nx + ix, -1).astype(np.int64)
    r = np.hypot(x, y)
    alpha = np.arctan2(y, x)
    vox = np.full(len(x), -1, dtype=np.int64)
    for l in np.unique(layer):
        sel = np.flatnonzero(layer == l)
        edges, na, nr = geo.r_edges[l], geo.n_alpha[l], geo.n_radial[l]
        if nr == 0:
            continue
        ir = np.searchsorted(edges, r[sel], side="right") - 1
        ia = np.minimum(np.floor((alpha[sel] + np.pi) / (2 * np.pi) * na).astype(np.int64), na - 1)
        ok = (ir >= 0) & (ir < nr)
        vox[sel[ok]] = geo.layer_edges[l] + ia[ok] * nr + ir[ok]
    return vox


def check_particle(particle: str) -> None:
    """Raise :class:`InputError` unless ``particle`` is one the simulators handle (:data:`PARTICLES`, :data:`HADRONS`).

    >>> check_particle("pi+")
    """
    if particle not in PARTICLES + HADRONS:
        raise InputError(f"particle '{particle}': the simulator handles {', '.join(PARTICLES + HADRONS)}")


def simulator(geometry: str | Geometry, particle: str, visible_energy: bool = False, tune: str = "hadronic-a"):
    """(detector, block function) for a particle: the em GFlash :func:`simulate_block` for photons and electrons,
    the hadronic model (:func:`hepgen.simulate.hadronic.simulate_block` with ``tune``) for pions.

    >>> det, block = simulator("ild-ahcal", "pion", tune="hadronic-b")
    >>> block.keywords["tune"], det.geometry.name
    ('hadronic-b', 'ild-ahcal')
    """
    check_particle(particle)
    if particle in HADRONS:
        from functools import partial

        from hepgen.simulate import hadronic

        hadronic.get_tune(tune)
        return hadronic.hadronic_detector(geometry, visible_energy), partial(hadronic.simulate_block, tune=tune)
    return detector_model(geometry, visible_energy), simulate_block


def simulate_showers(geometry: str | Geometry, incident_energy: np.ndarray, particle: str = "photon",
                     seed: int | None = None, incidence_angle: float = 0.0, chunk_size: int = 10_000,
                     first_shower: int = 0, visible_energy: bool = False,
                     impact: str | ImpactSpec | np.ndarray | None = None,
                     theta_deg: str | ValueSpec | np.ndarray | None = None,
                     phi_deg: str | ValueSpec | np.ndarray | None = None, tune: str = "hadronic-a") -> ShowerData:
    """Simulate GFlash showers of ``incident_energy`` (MeV) in a geometry; returns :class:`ShowerData`.

    ``particle`` is photon, electron or positron, or a charged pion (``pion``, ``pi+``, ``pi-``: the hadronic
    model of :mod:`hepgen.simulate.hadronic` with parameter set ``tune``); ``incidence_angle`` in radians (tilt in
    the x-z plane, or in the plane of alpha = 0 for cylinders); ``seed`` makes the result reproducible, and
    shower i always uses the random stream of block ``(first_shower + i) // BLOCK``. ``chunk_size``
    bounds how many showers are held in float64 work arrays at a time. CaloChallenge ds2/3 geometries give
    calibrated energies (geometries with ``calibrated_energies``, see :func:`detector_model`) unless ``visible_energy``.
    ``impact`` moves the shower axes: an impact-point specification (:func:`hepgen.simulate.impact.parse_impact`,
    drawn per block from its own random stream, so the showers' other draws do not change) or an (N, 2) array
    of points in mm; the points are returned as the labels ``impact_x_mm``, ``impact_y_mm`` (declared linear).
    ``theta_deg`` / ``phi_deg`` tilt each shower's axis (:mod:`hepgen.simulate.direction`): a specification
    (``30``, ``uniform:0:40``..., drawn per block from the stream ``(block, 3)``, theta then phi) or one value per
    shower, in degrees; both are returned as the labels ``theta_deg``, ``phi_deg`` (declared linear) when either
    is given. They replace ``incidence_angle`` (one fixed theta in radians, no labels).

    >>> import numpy as np
    >>> a = simulate_showers("belle2-ecl-5x5", np.full(40, 1e3), "electron", seed=3)
    >>> b = simulate_showers("belle2-ecl-5x5", np.full(40, 1e3), "electron", seed=3, chunk_size=32)
    >>> bool(np.array_equal(a.energy, b.energy)), bool(0.9 < a.visible_energy.mean() / 1e3 < 1.0)
    (True, True)
    """
    check_particle(particle)
    if not 0.0 <= incidence_angle < np.pi / 2:
        raise InputError(f"incidence angle {incidence_angle} rad: expected 0 <= angle < pi/2")
    if first_shower % BLOCK:
        raise InputError(f"first_shower must be a multiple of {BLOCK}")
    e = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
    if len(e) and (not np.all(np.isfinite(e)) or e.min() <= 0):
        bad = int(np.flatnonzero(~np.isfinite(e) | (e <= 0))[0])
        raise InputError(f"incident energies must be positive and finite (MeV), got {e[bad]}", index=bad)
    geo = get_geometry(geometry)
    det, block = simulator(geo, particle, visible_energy, tune)
    entropy = np.random.SeedSequence(seed).entropy
    points = None
    if isinstance(impact, (str, ImpactSpec)):
        spec = (parse_impact(impact) if isinstance(impact, str) else impact).resolve(geo)
        points = np.concatenate([spec.sample(BLOCK, block_rng(entropy, (first_shower + start) // BLOCK, 2))
                                 for start in range(0, len(e), BLOCK)] or [np.zeros((0, 2))])[: len(e)]
    elif impact is not None:
        points = np.asarray(impact, dtype=np.float64)
        if points.shape != (len(e), 2) or not np.all(np.isfinite(points)):
            raise InputError(f"impact points: expected {len(e)} finite (x, y) pairs in mm, got shape {points.shape}")
    if points is not None and geo.grid_shape is None and geo.r_edges is None:
        raise InputError(f"geometry '{geo.name}': impact points need a Cartesian or cylindrical readout")
    angles = _directions(theta_deg, phi_deg, len(e), entropy, first_shower)
    if angles is not None:
        if incidence_angle:
            raise InputError("give the incidence angle either as incidence_angle (radians, no labels) or as "
                             "theta_deg (labels), not both")
        if geo.grid_shape is None and geo.r_edges is None:
            raise InputError(f"geometry '{geo.name}': tilted showers need a Cartesian or cylindrical readout")
        if particle in HADRONS:
            raise InputError(f"tilted {particle} showers per shower (theta_deg/phi_deg) are not modelled by the "
                             "hadronic parameterisation: give one incidence angle (--angle)")
    parts = []
    for start in range(0, len(e), BLOCK):
        rng = block_rng(entropy, (first_shower + start) // BLOCK)
        sl = slice(start, start + BLOCK)
        if angles is None:
            parts.append(block(det, e[sl], rng, particle, incidence_angle, None if points is None else points[sl]))
        else:
            theta, phi = np.radians(angles[sl].T)
            parts.append(block(det, e[sl], rng, particle, theta, None if points is None else points[sl], phi))
    energy = np.concatenate(parts) if parts else np.zeros((0, geo.n_voxels), np.float32)
    labels: dict[str, np.ndarray] = {}
    if points is not None:
        labels.update(zip(IMPACT_LABELS, points.T))
    if angles is not None:
        labels.update(zip(DIRECTION_LABELS, angles.T))
    return ShowerData(e, energy, geo, labels, {k: "linear" for k in labels})


def _directions(theta_deg, phi_deg, n: int, entropy: int, first_shower: int) -> np.ndarray | None:
    """(n, 2) (theta, phi) in degrees of the showers, or None when neither angle is given."""
    if theta_deg is None and phi_deg is None:
        return None
    if all(v is None or isinstance(v, (str, ValueSpec)) for v in (theta_deg, phi_deg)):
        spec: DirectionSpec = parse_direction(theta_deg, phi_deg)
        return np.concatenate([spec.sample(BLOCK, block_rng(entropy, (first_shower + start) // BLOCK, 3))
                               for start in range(0, n, BLOCK)] or [np.zeros((0, 2))])[:n]
    out = []
    for value in (theta_deg, phi_deg):
        if value is None:
            value = np.zeros(n)
        elif isinstance(value, (str, ValueSpec)):
            raise InputError("theta_deg and phi_deg: give both as specifications or both as arrays (degrees)")
        value = np.asarray(value, dtype=np.float64)
        if value.shape != (n,) or not np.all(np.isfinite(value)):
            raise InputError(f"angles: expected {n} finite values in degrees, got shape {value.shape}")
        out.append(value)
    check_theta_deg(out[0])
    return np.column_stack(out)
