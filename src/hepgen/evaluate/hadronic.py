"""The pion (hadron-shower) evaluation of Diefenbacher 2022, Chs. 7-8, and Buhmann et al., arXiv:2112.09709.

What it adds to the common evaluation (:mod:`hepgen.evaluate.features`, :mod:`hepgen.evaluate.evaluation`):

* the **0.5 MIP cut** before every observable (:func:`hadronic_threshold_mev`; the MIP value per geometry from
  :func:`hepgen.data.calice.default_mip_mev`: 26.8 MeV for the calibrated CALICE test-beam data, 0.5 MeV for the
  ILD AHCAL, or given);
* the **shower start layer of the CALICE finder** (arXiv:1105.3417; :func:`hepgen.data.calice.shower_start_layer`)
  as the scalar ``start_layer_calice`` (``n_layers`` when none is found);
* the **transverse x and y profiles** (energy per cell column / row, the FeatureSet's ``x`` and ``y`` profiles of
  Cartesian geometries) and the longitudinal one, here with their means per cell index;
* the **correlation matrices** of the 12 variables m1,x, m1,y, m1,z, m2,x, m2,y, m2,z, E_vis, E_inc, n_hit,
  E1/E_vis, E2/E_vis, E3/E_vis (11 at a single beam energy, the test beam) and their difference
  (:func:`hepgen.evaluate.observables.compare_correlations`);
* mu90 and sigma90/mu90 of E_vis per beam energy, for all showers and for those starting in the first 5 layers
  (the thesis's cut against longitudinal leakage, Fig. 8.7).

References: S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg
(2022); E. Buhmann et al., "Hadrons, better, faster, stronger", Mach. Learn. Sci. Tech. 3 (2022) 025014,
arXiv:2112.09709; CALICE, "Tests of a particle flow algorithm with CALICE test beam data", JINST 6 (2011) P07005,
arXiv:1105.3417.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> e = np.zeros((2, 21312), np.float32); e[:, 2 * 576:] = 26.8          # 1 MIP per cell from layer 2 on
>>> e[1, :] += 5.0                                                         # + 0.19 MIP everywhere: below the cut
>>> fs = hadronic_features(ShowerData(np.full(2, 4e4), e, "calice-ahcal-2018"))
>>> fs.threshold_mev, fs.scalars["start_layer_calice"].tolist(), fs.scalars["n_hits"].tolist()
(13.4, [2.0, 2.0], [20160.0, 20160.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepgen.data import ShowerData
from hepgen.data.calice import EVALUATION_CUT_MIP, default_mip_mev
from hepgen.errors import InputError
from hepgen.evaluate.features import FeatureSet, compute_features
from hepgen.evaluate.observables import compare_correlations, mu90
from hepgen.geometry import Geometry, get_geometry

__all__ = ["hadronic_threshold_mev", "hadronic_features", "hadronic_summary", "mean_profiles", "MAX_START_LAYER"]

#: showers starting in the first 5 layers (0-based start < 5): the thesis's leakage cut (Sec. 8.3)
MAX_START_LAYER = 5


def hadronic_threshold_mev(geometry: Geometry | str, mip_mev: float | None = None,
                           cut_mip: float = EVALUATION_CUT_MIP) -> tuple[float, float]:
    """(cell threshold in MeV, MIP value in MeV) of the pion evaluation: ``cut_mip`` (0.5) MIP of the geometry's MIP
    value (:func:`hepgen.data.calice.default_mip_mev`) or of ``mip_mev``.

    >>> hadronic_threshold_mev("ild-ahcal"), hadronic_threshold_mev("calice-ahcal-2018", cut_mip=0.2)
    ((0.25, 0.5), (5.36, 26.8))
    """
    geo = get_geometry(geometry)
    mip = default_mip_mev(geo) if mip_mev is None else float(mip_mev)
    if mip is None:
        raise InputError(f"geometry '{geo.name}' has no known MIP value: give it (--mip-mev) for the hadronic "
                         "evaluation")
    if not (np.isfinite(mip) and mip > 0) or not cut_mip >= 0:
        raise InputError(f"MIP value {mip!r} MeV and cut {cut_mip!r} MIP: expected a MIP value > 0 and a cut >= 0")
    return round(cut_mip * mip, 12), mip


def hadronic_features(showers: ShowerData, mip_mev: float | None = None, cut_mip: float = EVALUATION_CUT_MIP,
                      chunk_size: int = 10_000) -> FeatureSet:
    """The :class:`FeatureSet` of the pion evaluation: cells below ``cut_mip`` MIP dropped, ``start_layer_calice``
    among the scalars (see the module docstring)."""
    thr, mip = hadronic_threshold_mev(showers.geometry, mip_mev, cut_mip)
    return compute_features(showers, thr, chunk_size=chunk_size, mip_mev=mip)


def mean_profiles(fs: FeatureSet) -> dict[str, np.ndarray]:
    """Mean energy (MeV) per layer and, on cell grids, per x column and y row (the transverse profiles).

    >>> import numpy as np
    >>> from hepgen.data import ShowerData
    >>> e = np.zeros((2, 21312), np.float32); e[:, 5] = 30.0                    # layer 0, row 0, column 5
    >>> p = mean_profiles(hadronic_features(ShowerData(np.full(2, 4e4), e, "calice-ahcal-2018")))
    >>> float(p["x"][5]), float(p["y"][0]), float(p["longitudinal"][0]), len(p["x"])
    (30.0, 30.0, 30.0, 24)
    """
    return {k: fs.profiles[k].mean(axis=0, dtype=np.float64) for k in ("longitudinal", "x", "y") if k in fs.profiles}


def _energy_groups(inc: np.ndarray, max_groups: int = 12) -> list[tuple[float, np.ndarray]]:
    values = np.unique(inc)
    if len(values) > max_groups:   # a continuous spectrum: all showers together
        return [(float("nan"), np.ones(len(inc), bool))]
    return [(float(v), inc == v) for v in values]


def hadronic_summary(ref: FeatureSet, gen: FeatureSet, mip_mev: float | None = None,
                     max_start_layer: int = MAX_START_LAYER, min_showers: int = 10) -> dict[str, Any]:
    """The pion-evaluation numbers of two FeatureSets made with a MIP value (``start_layer_calice`` present):
    per beam energy (the discrete incident energies; all showers for a continuous spectrum) the fractions without a
    shower start, the mean start layer, mu90 and sigma90/mu90 of E_vis for all showers and for those starting in the
    first ``max_start_layer`` layers, with the generated / reference ratios; the correlation comparison
    (:func:`~hepgen.evaluate.observables.compare_correlations`); the mean x/y/z profiles.
    """
    for fs, name in ((ref, "reference"), (gen, "generated")):
        if "start_layer_calice" not in fs.scalars:
            raise InputError(f"{name} features have no start_layer_calice: compute them with a MIP value")
    n_layers = ref.geometry.n_layers
    energies = []
    for e_inc, mr in _energy_groups(ref.incident_energy):
        mg = np.ones(len(gen), bool) if np.isnan(e_inc) else np.isclose(gen.incident_energy, e_inc, rtol=1e-9)
        if mr.sum() < min_showers or mg.sum() < min_showers:
            continue
        entry: dict[str, Any] = {"E_inc_mev": e_inc, "n_reference": int(mr.sum()), "n_generated": int(mg.sum())}
        for key, fs, m in (("reference", ref, mr), ("generated", gen, mg)):
            start = fs.scalars["start_layer_calice"][m]
            found = start < n_layers
            early = start < max_start_layer
            e_vis = fs.scalars["E_vis"][m]
            entry[key] = {"no_start_fraction": float(1 - found.mean()),
                          "mean_start_layer": float(start[found].mean()) if found.any() else float("nan"),
                          "all": mu90(e_vis),
                          f"start_below_{max_start_layer}": (mu90(e_vis[early]) if early.sum() >= min_showers
                                                             else None)}
        for sel in ("all", f"start_below_{max_start_layer}"):
            a, b = entry["reference"][sel], entry["generated"][sel]
            entry[f"{sel}_mu90_ratio"] = b["mu90"] / a["mu90"] if a and b and a["mu90"] else float("nan")
            entry[f"{sel}_resolution_ratio"] = (b["sigma90/mu90"] / a["sigma90/mu90"]
                                                if a and b and a["sigma90/mu90"] else float("nan"))
        energies.append(entry)
    return {"mip_mev": mip_mev, "threshold_mev": ref.threshold_mev, "max_start_layer": max_start_layer,
            "per_energy": energies, "correlations": compare_correlations(ref.scalars, gen.scalars),
            "profiles": {k: {"reference": v.tolist(), "generated": mean_profiles(gen)[k].tolist()}
                         for k, v in mean_profiles(ref).items()}}
