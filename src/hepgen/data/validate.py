"""Checks every reader applies to a chunk of showers before handing it on.

Each failure raises :class:`~hepgen.errors.InputError` naming the file, dataset and first bad index.

>>> import numpy as np
>>> check_showers(np.array([5e4]), np.array([[1.0, np.nan]]), file="x.h5")
Traceback (most recent call last):
...
hepgen.errors.InputError: x.h5: dataset 'showers': index 0: NaN or infinite voxel energy; expected finite MeV values
"""

from __future__ import annotations

import numpy as np

from hepgen.errors import InputError

__all__ = ["check_showers", "NEGATIVE_TOLERANCE_MEV"]

# Deposits more negative than this are an error; tiny negative values (float round-off in a model's
# inverse preprocessing) are tolerated by readers and clipped by writers.
NEGATIVE_TOLERANCE_MEV = -1e-6


def check_showers(
    incident_energy: np.ndarray,
    energy: np.ndarray,
    *,
    file: str | None = None,
    energy_dataset: str = "showers",
    incident_dataset: str = "incident_energies",
    offset: int = 0,
    incident_unit: str = "MeV",
) -> None:
    """Validate incident energies (MeV) and voxel energies (MeV) of a chunk starting at ``offset``."""
    bad = ~np.isfinite(incident_energy)
    if bad.any():
        raise InputError(f"NaN or infinite incident energy; expected finite {incident_unit} values",
                         file=file, dataset=incident_dataset, index=offset + int(np.argmax(bad)))
    bad = incident_energy <= 0
    if bad.any():
        raise InputError(f"incident energy {float(incident_energy[np.argmax(bad)]):g} <= 0; expected positive {incident_unit}",
                         file=file, dataset=incident_dataset, index=offset + int(np.argmax(bad)))
    rows_bad = ~np.isfinite(energy).all(axis=1)
    if rows_bad.any():
        raise InputError("NaN or infinite voxel energy; expected finite MeV values",
                         file=file, dataset=energy_dataset, index=offset + int(np.argmax(rows_bad)))
    rows_bad = (energy < NEGATIVE_TOLERANCE_MEV).any(axis=1)
    if rows_bad.any():
        i = int(np.argmax(rows_bad))
        raise InputError(f"negative voxel energy {float(energy[i].min()):g} MeV; expected deposits >= 0",
                         file=file, dataset=energy_dataset, index=offset + i)
    if len(incident_energy):
        ratio = energy.sum(axis=1, dtype=np.float64) / incident_energy
        if np.median(ratio) > 2.0:
            raise InputError(
                f"the showers hold {np.median(ratio):.3g} x their incident energy (median): incident energies "
                f"look like GeV where {incident_unit} is expected, or deposits like keV where MeV is expected",
                file=file, dataset=incident_dataset, index=offset)
