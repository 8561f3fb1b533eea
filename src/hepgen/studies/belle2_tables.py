"""The Belle II thesis's evaluation: KS p-values per observable per energy and timing per shower.

J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD thesis,
KIT (2022), §4 and Tables 3.1/4.1/5.1 (two-sample Kolmogorov–Smirnov p-values of generated against reference
showers, per incident energy, the interpolated energy included; significance level 0.05) and Tables 3.2/4.2/5.2
(time per shower of the reference simulation beside the network's).

Observables (:func:`thesis_observables`, pixels below ``threshold_mev`` zeroed first, 1 MeV in the thesis's 5×5
and 10×10 studies, 10 MeV on 30×30): E_max, the window ratios of the array (E1/E9 and E9/E21 on 5×5,
E16/E100 on 10×10, E196/E900 on 30×30), N_hits at ≥ 1 MeV and ≥ 10 MeV, and the energy of the active pixels,
every pixel above ``active_mev`` pooled over the showers (the thesis's KS threshold: 40 MeV for the 5×5
VAE-WGAN, 50 MeV for the WGAN).

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> rng = np.random.default_rng(0)
>>> e = np.repeat([1e3, 2e3], 200)
>>> ref = ShowerData(e, rng.exponential(1.0, (400, 25)) * e[:, None] / 25, "belle2-ecl-5x5")
>>> gen = ShowerData(e, rng.exponential(1.0, (400, 25)) * e[:, None] / 25, "belle2-ecl-5x5")
>>> table = ks_table(ref, gen)
>>> list(table["1 GeV"]), table["1 GeV"]["E_max"] > 0.01
(['E_max', 'E1/E9', 'E9/E21', 'N_hits >= 1 MeV', 'N_hits >= 10 MeV', 'active pixel energy'], True)
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from hepgen.data import ShowerData

__all__ = ["thesis_observables", "ks_table", "ks_markdown", "time_per_shower", "timing_markdown",
           "THESIS_KS_4_1", "THESIS_TIMING_4_2"]

#: Table 4.1 of the thesis: KS p-values of its VAE-WGAN against GEANT4, 5×5 electrons (2 GeV interpolated)
THESIS_KS_4_1 = {"E_max": [0.06, 0.7, 0.1, 6e-5, 0.01], "E1/E9": [0.004, 0.003, 0.38, 4.22e-6, 0.006],
                 "E9/E21": [1.7e-8, 2e-30, 1e-69, 3e-27, 2e-25], "active pixel energy": [0.99, 0.8, 0.99, 0.36, 0.99]}
#: Table 4.2: ms per shower, GEANT4 (CPU) and the VAE-WGAN (NVIDIA GM200 GPU), 0.5–2.5 GeV
THESIS_TIMING_4_2 = {"GEANT4": [8, 15, 24, 33, 40], "VAE-WGAN": [0.33, 0.32, 0.31, 0.34, 0.32]}


def _ratio_names(n: int) -> list[str]:
    return {5: ["E1/E9", "E9/E21"], 10: ["E16/E100"], 30: ["E196/E900"]}.get(n, [])


def thesis_observables(showers: ShowerData, threshold_mev: float = 1.0, active_mev: float = 40.0
                       ) -> dict[str, np.ndarray]:
    """Per-shower observables (and the pooled active-pixel energies) of a crystal-array sample (MeV)."""
    from hepgen.evaluate.observables import shower_observables

    energy = np.where(showers.energy >= threshold_mev, showers.energy, 0.0)
    n = int(showers.geometry.grid_shape[-1]) if showers.geometry.grid_shape is not None else 0
    obs = shower_observables(energy, showers.incident_energy, showers.geometry, threshold_mev=threshold_mev,
                             high_threshold_mev=max(10.0, threshold_mev))
    out = {"E_max": obs["E_max"]}
    for name in _ratio_names(n):
        out[name] = obs[name]
    out[f"N_hits >= {threshold_mev:g} MeV"] = obs["n_hits"]
    out[f"N_hits >= {max(10.0, threshold_mev):g} MeV"] = obs["n_hits_high"]
    out["active pixel energy"] = energy[energy > active_mev]
    return out


def ks_table(reference: ShowerData, generated: ShowerData, threshold_mev: float = 1.0,
             active_mev: float = 40.0) -> dict[str, dict[str, float]]:
    """{"<E> GeV": {observable: KS p-value}} per incident energy present in both samples (scipy's ks_2samp;
    NaN ratios of empty showers are left out)."""
    from scipy.stats import ks_2samp

    table: dict[str, dict[str, float]] = {}
    for e in np.unique(reference.incident_energy):
        sel_r, sel_g = reference.incident_energy == e, generated.incident_energy == e
        if not sel_g.any():
            continue
        a = thesis_observables(reference[np.flatnonzero(sel_r)], threshold_mev, active_mev)
        b = thesis_observables(generated[np.flatnonzero(sel_g)], threshold_mev, active_mev)
        row = {}
        for k in a:
            x, y = np.asarray(a[k], float), np.asarray(b[k], float)
            x, y = x[np.isfinite(x)], y[np.isfinite(y)]
            row[k] = float(ks_2samp(x, y).pvalue) if len(x) and len(y) else float("nan")
        table[f"{e / 1e3:g} GeV"] = row
    return table


def _fmt(p: float) -> str:
    if not np.isfinite(p):
        return "–"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def ks_markdown(tables: dict[str, dict[str, dict[str, float]]], held_out: Sequence[str] = (),
                thesis: dict[str, list[float]] | None = None) -> str:
    """Markdown rows (observable × energy) of one or more KS tables {label: table}; ``held_out`` energies are
    marked with *; ``thesis`` adds the thesis's row per observable where it has one."""
    first = next(iter(tables.values()))
    energies = list(first)
    head = "| model | observable | " + " | ".join(e + (" *" if e in held_out else "") for e in energies) + " |"
    lines = [head, "|" + "---|" * (len(energies) + 2)]
    for obs in next(iter(first.values())):
        for label, table in tables.items():
            lines.append(f"| {label} | {obs} | " + " | ".join(_fmt(table[e].get(obs, float("nan"))) for e in energies)
                         + " |")
        if thesis and obs in thesis and len(thesis[obs]) == len(energies):
            lines.append(f"| thesis (GEANT4) | {obs} | " + " | ".join(_fmt(p) for p in thesis[obs]) + " |")
    return "\n".join(lines)


def time_per_shower(make: Callable[[int], object], n: int, repeats: int = 3) -> float:
    """Best of ``repeats`` wall-clock times of ``make(n)`` (after one warm-up call), in ms per shower."""
    make(min(n, 10))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        make(n)
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / n


def timing_markdown(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table {energy: {column: ms per shower}}, with each model's speed-up over the first column."""
    energies = list(rows)
    cols = list(next(iter(rows.values())))
    lines = ["| E | " + " | ".join(f"{c} (ms/shower)" for c in cols) + " | "
             + " | ".join(f"speed-up {c}" for c in cols[1:]) + " |", "|" + "---|" * (2 * len(cols))]
    for e in energies:
        r = rows[e]
        lines.append(f"| {e} | " + " | ".join(f"{r[c]:.3g}" for c in cols) + " | "
                     + " | ".join(f"×{r[cols[0]] / r[c]:.3g}" for c in cols[1:]) + " |")
    return "\n".join(lines)
