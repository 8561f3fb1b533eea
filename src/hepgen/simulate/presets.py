"""Reference samples of published studies: detector, particle, incident energies and impact points.

The Belle II ECL samples of J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses
using Deep Learning", PhD thesis, KIT (2022), §2.4 (GEANT4 there, GFlash here):

==========================  ==================  ========================================  ==================
preset                      detector            incident energies                         impact point (mm)
==========================  ==================  ========================================  ==================
belle2-ecl-5x5-train        belle2-ecl-5x5      0.5, 1, 1.5, 2.5 GeV (2 GeV held out)     uniform ±30
belle2-ecl-5x5-holdout      belle2-ecl-5x5      2 GeV (the interpolation test)            uniform ±30
belle2-ecl-5x5-all          belle2-ecl-5x5      0.5 – 2.5 GeV in steps of 0.5 GeV         uniform ±30
belle2-ecl-30x30-train      belle2-ecl-30x30    10, 15, 20, 25 GeV (13 GeV held out)      uniform ±40
belle2-ecl-30x30-holdout    belle2-ecl-30x30    13 GeV                                    uniform ±40
belle2-ecl-30x30-all        belle2-ecl-30x30    10, 13, 15, 20, 25 GeV                    uniform ±40
==========================  ==================  ========================================  ==================

The particle is the electron (the thesis's); photons by overriding it. The thesis smears the gun three ways
(its §2.4 Gaussian σ = 3 cm, §3.4.2 uniform ±30 mm for 5×5, §5.1 ±40 mm for 30×30); the presets take the
uniform ranges, ±30 mm being the central 6 cm crystal of the 5×5 array (``--impact`` overrides).

>>> sample_preset("belle2-ecl-5x5-train")["energy"]
'discrete:0.5GeV,1GeV,1.5GeV,2.5GeV'
"""

from __future__ import annotations

from hepgen.errors import InputError

__all__ = ["SAMPLE_PRESETS", "sample_preset"]


def _presets() -> dict[str, dict[str, str]]:
    out = {}
    for det, energies, holdout, impact in (("belle2-ecl-5x5", (0.5, 1, 1.5, 2.5), 2, "uniform:-30:30"),
                                           ("belle2-ecl-30x30", (10, 15, 20, 25), 13, "uniform:-40:40")):
        every = sorted(energies + (holdout,))
        for part, values in (("train", energies), ("holdout", (holdout,)), ("all", every)):
            spec = "discrete:" + ",".join(f"{v:g}GeV" for v in values) if len(values) > 1 else f"{values[0]:g}GeV"
            out[f"{det}-{part}"] = {"detector": det, "particle": "electron", "energy": spec, "impact": impact}
    return out


#: name -> {detector, particle, energy, impact} (the ``hepgen simulate`` options)
SAMPLE_PRESETS: dict[str, dict[str, str]] = _presets()


def sample_preset(name: str) -> dict[str, str]:
    """The options of a sample preset (a copy).

    >>> sample_preset("belle2-ecl-30x30-holdout")
    {'detector': 'belle2-ecl-30x30', 'particle': 'electron', 'energy': '13GeV', 'impact': 'uniform:-40:40'}
    """
    if name not in SAMPLE_PRESETS:
        raise InputError(f"unknown sample preset '{name}': expected one of {', '.join(SAMPLE_PRESETS)}")
    return dict(SAMPLE_PRESETS[name])
