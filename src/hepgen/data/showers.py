"""Calorimeter showers as voxel arrays: :class:`ShowerData`.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> rng = np.random.default_rng(0)
>>> showers = ShowerData(np.full(4, 5e4), rng.exponential(1.0, (4, 27000)).astype("float32"), "ild-ecal")
>>> showers.view().shape                      # (N, z, y, x)
(4, 30, 30, 30)
>>> train, test = showers.split(0.5, seed=1)
>>> len(train), len(test)
(2, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry

__all__ = ["ShowerData", "LABEL_SCALES", "label_scale"]

#: how a conditioning label can be standardised: log (strictly positive, e.g. energies) or linear (signed)
LABEL_SCALES = ("log", "linear")


def label_scale(values: np.ndarray, declared: str | None = None) -> str:
    """The standardisation of a conditioning label: the declared one, else ``log`` when every value is > 0
    (today's rule for energies and other positive labels) and ``linear`` otherwise (positions, angles).

    >>> import numpy as np
    >>> label_scale(np.array([1e3, 2e3])), label_scale(np.array([-3.0, 4.0])), label_scale(np.ones(2), "linear")
    ('log', 'linear', 'linear')
    """
    if declared is not None:
        if declared not in LABEL_SCALES:
            raise InputError(f"label scale '{declared}': expected one of {', '.join(LABEL_SCALES)}")
        return declared
    values = np.asarray(values)
    return "log" if values.size and bool(np.all(values > 0)) else "linear"


@dataclass
class ShowerData:
    """N showers in one geometry.

    Attributes
    ----------
    incident_energy: (N,) float64, energy of the incoming particle in MeV.
    energy: (N, n_voxels) float32, energy deposited (as read out) in each voxel in MeV.
    geometry: the :class:`~hepgen.geometry.Geometry` (a short name is accepted and resolved).
    labels: optional per-shower arrays of length N, e.g. ``incidence_angle`` (rad), ``visible_energy`` (MeV) or
        the impact point ``impact_x_mm``, ``impact_y_mm``.
    label_scales: optional declaration per label of how a model should standardise it when conditioned on it:
        ``log`` (strictly positive quantities such as energies) or ``linear`` (signed ones: positions, angles).
        Undeclared labels are logged when all their values are > 0 and linear otherwise
        (:func:`label_scale`). Stored as the ``scale`` attribute of the label's dataset in hepgen files.
    """

    incident_energy: np.ndarray
    energy: np.ndarray
    geometry: Geometry | str
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    label_scales: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.geometry = get_geometry(self.geometry)
        self.incident_energy = np.asarray(self.incident_energy, dtype=np.float64).reshape(-1)
        self.energy = np.asarray(self.energy, dtype=np.float32)
        n = len(self.incident_energy)
        if self.energy.ndim != 2:
            self.energy = self.energy.reshape(len(self.energy), -1)
        if self.energy.shape != (n, self.geometry.n_voxels):
            raise InputError(
                f"expected energy of shape ({n}, {self.geometry.n_voxels}) for geometry "
                f"'{self.geometry.name}', got {self.energy.shape}"
            )
        for key, value in list(self.labels.items()):
            value = np.asarray(value)
            if len(value) != n:
                raise InputError(f"label '{key}' has {len(value)} entries for {n} showers")
            self.labels[key] = value
        for key, scale in self.label_scales.items():
            if scale not in LABEL_SCALES:
                raise InputError(f"label '{key}': scale '{scale}', expected one of {', '.join(LABEL_SCALES)}")

    # -- container protocol -----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.incident_energy)

    def __getitem__(self, index: int | slice | np.ndarray | Sequence[int]) -> "ShowerData":
        """A subset (always a ShowerData, also for an int index)."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return ShowerData(self.incident_energy[index], self.energy[index], self.geometry,
                          {k: v[index] for k, v in self.labels.items()}, dict(self.label_scales))

    @classmethod
    def concatenate(cls, parts: Sequence["ShowerData"]) -> "ShowerData":
        """Join samples of one geometry with the same labels.

        >>> import numpy as np
        >>> a = ShowerData(np.ones(2), np.zeros((2, 25)), "belle2-ecl-5x5")
        >>> len(ShowerData.concatenate([a, a, a]))
        6
        """
        if not parts:
            raise InputError("nothing to concatenate")
        geo = parts[0].geometry
        keys = set(parts[0].labels)
        for p in parts[1:]:
            if p.geometry != geo:
                raise InputError(f"cannot concatenate geometries '{geo.name}' and '{p.geometry.name}'")
            if set(p.labels) != keys:
                raise InputError(f"cannot concatenate samples with labels {sorted(keys)} and {sorted(p.labels)}")
        scales: dict[str, str] = {}
        for p in parts:
            for k, v in p.label_scales.items():
                if scales.setdefault(k, v) != v:
                    raise InputError(f"cannot concatenate samples that declare label '{k}' as {scales[k]} and {v}")
        return cls(
            np.concatenate([p.incident_energy for p in parts]),
            np.concatenate([p.energy for p in parts]),
            geo,
            {k: np.concatenate([p.labels[k] for p in parts]) for k in keys},
            scales,
        )

    def split(self, fraction: float, seed: int | None = 0) -> tuple["ShowerData", "ShowerData"]:
        """Random split into (first, rest) with ``round(fraction * N)`` showers in the first part."""
        if not 0.0 <= fraction <= 1.0:
            raise InputError(f"split fraction must be in [0, 1], got {fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = int(round(fraction * len(self)))
        return self[np.sort(order[:cut])], self[np.sort(order[cut:])]

    def chunks(self, size: int) -> Iterator["ShowerData"]:
        """Iterate over consecutive pieces of at most ``size`` showers."""
        for start in range(0, len(self), size):
            yield self[start:start + size]

    # -- physics views ----------------------------------------------------------------------
    def view(self) -> np.ndarray:
        """Voxel energies as (N, layers, alpha, radius) or (N, z, y, x); a view, not a copy."""
        if self.geometry.shape is None:
            raise InputError(f"geometry '{self.geometry.name}' has layers of different binning: "
                             "use layer(l) instead of a dense view")
        return self.energy.reshape((len(self),) + self.geometry.shape)

    def layer(self, layer: int) -> np.ndarray:
        """(N, voxels in layer) energies of one readout layer."""
        return self.energy[:, self.geometry.layer_slice(layer)]

    @property
    def visible_energy(self) -> np.ndarray:
        """(N,) total deposited energy in MeV (sum over voxels)."""
        return self.energy.sum(axis=1, dtype=np.float64)

    def n_hits(self, threshold_mev: float = 0.0) -> np.ndarray:
        """(N,) number of voxels with energy above ``threshold_mev``."""
        return (self.energy > threshold_mev).sum(axis=1)

    def layer_energy(self) -> np.ndarray:
        """(N, n_layers) energy per readout layer in MeV."""
        edges = self.geometry.layer_edges
        csum = np.concatenate([np.zeros((len(self), 1)), np.cumsum(self.energy, axis=1, dtype=np.float64)], axis=1)
        return csum[:, edges[1:]] - csum[:, edges[:-1]]

    def __repr__(self) -> str:
        e = self.incident_energy
        rng = f"{e.min() / 1e3:.3g}-{e.max() / 1e3:.3g} GeV" if len(e) else "empty"
        return f"<ShowerData {len(self)} showers, {self.geometry.name}, E_inc {rng}, labels {sorted(self.labels)}>"
