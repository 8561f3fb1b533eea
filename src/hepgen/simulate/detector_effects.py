"""Detector effects of a test-beam prototype: electronic noise, dead cells and the auto-trigger threshold.

The reference simulators write ideal cell energies. Measured data (the CALICE AHCAL technological prototype of the
2018 SPS test beam, S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis,
U. Hamburg (2022), Ch. 8) also carry the readout: a pedestal noise on every channel, channels that do not work,
and the per-cell auto-trigger threshold of 0.2 MIP below which no hit is recorded. Geant4 samples of the thesis
went through a digitisation step for the same reason (Sec. 8.1). :func:`apply_detector_effects` applies, in this
order, to cell energies in MeV in the files' (calibrated) convention:

1. **electronic noise**: Gaussian, ``noise_mip`` (default 0.06 MIP) standard deviation, independently in every cell
   of every event, hit or empty (so empty cells make noise hits above the threshold with probability
   1 - Phi(threshold / noise): 4.3e-4 per cell at 0.2 / 0.06, about 9 noise hits per event in 21 312 cells,
   almost none above the 0.5 MIP evaluation cut);
2. **dead cells**: a fixed map (:func:`dead_cell_mask`) of exactly round(``dead_fraction`` x n_cells) cells
   (default 0.5 %) drawn once from ``dead_seed``, the same for every event and every sample of one detector,
   read as 0;
3. **the readout (auto-trigger) threshold**: cells below ``threshold_mip`` (default 0.2 MIP) are 0, negative noise
   included.

The input should be simulated *without* a readout threshold (:func:`simulate_measured` does that), so that noise
can lift cells from just below the threshold above it, as in a real readout. The noise draws come from the
``seed`` given per call: a different seed for each sample, the same dead map for all.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> e = np.full((200, 21312), 10 * 26.8, np.float32)                   # 10 MIP in every cell
>>> out = apply_detector_effects(ShowerData(np.full(200, 4e4), e, "calice-ahcal-2018"), seed=1)
>>> dead = (out.energy == 0).all(axis=0)
>>> int(dead.sum()), round(float(out.energy[:, ~dead].std() / 26.8), 2)  # 0.5 % of 21 312; sigma in MIP
(107, 0.06)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from hepgen.data import ShowerData
from hepgen.data.calice import TRAINING_CUT_MIP, default_mip_mev
from hepgen.errors import InputError
from hepgen.geometry import Geometry, geometry_from_spec, get_geometry

__all__ = ["DetectorEffects", "dead_cell_mask", "apply_detector_effects", "simulate_measured",
           "noise_hit_probability"]


@dataclass(frozen=True)
class DetectorEffects:
    """The readout of a stand-in detector (module docstring): noise sigma and threshold in MIP, the dead fraction
    and the seed of the dead-cell map; ``mip_mev`` None takes the geometry's MIP value
    (:func:`hepgen.data.calice.default_mip_mev`: 26.8 MeV for ``calice-ahcal-2018``).

    >>> DetectorEffects().as_dict()
    {'noise_mip': 0.06, 'dead_fraction': 0.005, 'threshold_mip': 0.2, 'dead_seed': 2018, 'mip_mev': None}
    """

    noise_mip: float = 0.06
    dead_fraction: float = 0.005
    threshold_mip: float = TRAINING_CUT_MIP
    dead_seed: int = 2018
    mip_mev: float | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.noise_mip) and self.noise_mip >= 0):
            raise InputError(f"detector effects: noise {self.noise_mip!r} MIP: expected a number >= 0")
        if not 0 <= self.dead_fraction < 1:
            raise InputError(f"detector effects: dead fraction {self.dead_fraction!r}: expected 0 <= fraction < 1")
        if not (np.isfinite(self.threshold_mip) and self.threshold_mip >= 0):
            raise InputError(f"detector effects: threshold {self.threshold_mip!r} MIP: expected a number >= 0")

    def as_dict(self) -> dict:
        """The settings as a plain dict (for a study's JSON)."""
        return asdict(self)

    def mip(self, geometry: Geometry) -> float:
        """The MIP value (MeV) used on ``geometry``."""
        mip = default_mip_mev(geometry) if self.mip_mev is None else float(self.mip_mev)
        if mip is None or not mip > 0:
            raise InputError(f"detector effects on geometry '{geometry.name}': give the MIP value (mip_mev) in MeV")
        return mip


def noise_hit_probability(effects: DetectorEffects) -> float:
    """Probability that an empty cell reads a noise hit above the threshold: 1 - Phi(threshold / noise).

    >>> round(noise_hit_probability(DetectorEffects()), 6)
    0.000429
    """
    from scipy.special import ndtr

    if effects.noise_mip == 0:
        return 0.0
    return float(ndtr(-effects.threshold_mip / effects.noise_mip))


def dead_cell_mask(geometry: Geometry | str, fraction: float = 0.005, seed: int = 2018) -> np.ndarray:
    """(n_voxels,) bool map of exactly round(``fraction`` x n_voxels) dead cells, drawn without replacement from
    ``seed`` (the same map for the same geometry, fraction and seed).

    >>> m = dead_cell_mask("calice-ahcal-2018"); int(m.sum()), bool((m == dead_cell_mask("calice-ahcal-2018")).all())
    (107, True)
    """
    geo = get_geometry(geometry)
    mask = np.zeros(geo.n_voxels, bool)
    n_dead = int(round(fraction * geo.n_voxels))
    mask[np.random.default_rng(seed).choice(geo.n_voxels, n_dead, replace=False)] = True
    return mask


def apply_detector_effects(showers: ShowerData, effects: DetectorEffects | None = None, seed: int | None = 0,
                           chunk_size: int = 1000) -> ShowerData:
    """The showers as the stand-in detector reads them out (module docstring): noise, dead cells, threshold.
    Energies in MeV; returns a new :class:`ShowerData` (float32, the labels kept)."""
    eff = effects or DetectorEffects()
    geo = showers.geometry
    mip = eff.mip(geo)
    dead = dead_cell_mask(geo, eff.dead_fraction, eff.dead_seed)
    rng = np.random.default_rng(seed)
    sigma, threshold = eff.noise_mip * mip, eff.threshold_mip * mip
    out = np.empty(showers.energy.shape, np.float32)
    for start in range(0, len(showers), chunk_size):
        e = showers.energy[start:start + chunk_size].astype(np.float64)
        if sigma > 0:
            e += rng.normal(0.0, sigma, e.shape)
        e[:, dead] = 0.0
        e[e < threshold] = 0.0
        out[start:start + chunk_size] = e
    return ShowerData(showers.incident_energy.copy(), out, geo, dict(showers.labels), dict(showers.label_scales))


def simulate_measured(geometry: Geometry | str, incident_energy: np.ndarray, tune: str = "hadronic-a",
                      seed: int | None = 0, effects: DetectorEffects | None = None, particle: str = "pion"
                      ) -> ShowerData:
    """Stand-in "measured" showers: the hadronic reference (:mod:`hepgen.simulate.hadronic`, parameter set
    ``tune``) simulated without the geometry's readout threshold, then read out by :func:`apply_detector_effects`
    (noise seeded from ``seed``, the dead map from ``effects.dead_seed``). Energies in MeV, the geometry's
    convention (``calice-ahcal-2018``: calibrated, 1 MIP = 26.8 MeV).

    >>> s = simulate_measured("calice-ahcal-2018", np.full(4, 4e4), seed=1)
    >>> s.geometry.name, bool(s.energy[s.energy > 0].min() >= 0.2 * 26.8)
    ('calice-ahcal-2018', True)
    """
    from hepgen.simulate.gflash import simulate_showers

    geo = get_geometry(geometry)
    bare = geometry_from_spec({**geo.spec(), "name": f"{geo.name}-no-threshold",   # noise acts before the threshold
                               "readout_threshold_mev": 0.0})
    raw = simulate_showers(bare, np.asarray(incident_energy, dtype=np.float64), particle, seed=seed, tune=tune)
    raw = ShowerData(raw.incident_energy, raw.energy, geo, dict(raw.labels), dict(raw.label_scales))
    noise_seed = None if seed is None else np.random.SeedSequence([seed, 0xDE7])   # not the showers' streams
    return apply_detector_effects(raw, effects, noise_seed)
