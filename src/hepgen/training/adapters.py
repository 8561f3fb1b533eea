"""Between data objects and tensors: how a model family's examples and conditions are prepared.

A model declares ``data_kind``; the loop asks :func:`adapter_for` for the matching adapter, which
fits the preprocessing on the training set, turns data into ``{"x", "cond"}`` arrays, turns
generated arrays back into data, and saves its state. Only voxel showers exist now
(:class:`ShowerAdapter`); point clouds and jets add their own adapter here.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> s = ShowerData(np.array([1e3, 1e4]), np.ones((2, 25)), "belle2-ecl-5x5")
>>> a = ShowerAdapter.fit(s, [{"name": "divide_by_incident"}])
>>> arrays = a.encode(s)
>>> arrays["x"].shape, arrays["cond"].shape
((2, 1, 5, 5), (2, 1))
>>> bool(np.allclose(a.decode(arrays["x"], s.incident_energy).energy, s.energy))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import get_geometry, geometry_from_spec, preset_names
from hepgen.training.preprocessing import Pipeline

__all__ = ["ShowerAdapter", "adapter_for", "adapter_from_state"]


class ShowerAdapter:
    """Voxel showers <-> tensors: x has the geometry's dense shape (flat when irregular), cond is
    (log incident energy, log labels...) standardised."""

    kind = "showers"

    def __init__(self, geometry, data: Pipeline, cond: Pipeline, labels: list[str]) -> None:
        self.geometry = get_geometry(geometry)
        self.data, self.cond, self.labels = data, cond, list(labels)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return tuple(self.geometry.shape) if self.geometry.shape is not None else (self.geometry.n_voxels,)

    @property
    def n_cond(self) -> int:
        return 1 + len(self.labels)

    @classmethod
    def fit(cls, showers: ShowerData, preprocessing: list[dict], labels: list[str] = ()) -> "ShowerAdapter":
        """Fit the preprocessing on a training sample."""
        missing = [k for k in labels if k not in showers.labels and k != "visible_energy"]
        if missing:
            raise InputError(f"conditioning label(s) {missing} not in the data (has {sorted(showers.labels)})")
        adapter = cls(showers.geometry, Pipeline(preprocessing), Pipeline([{"name": "log_standardize"}]), list(labels))
        adapter.data.fit(showers.energy, showers.incident_energy)
        adapter.cond.fit(adapter.raw_cond(showers.incident_energy, adapter._labels_of(showers)), None)
        return adapter

    def _labels_of(self, showers: ShowerData) -> dict[str, np.ndarray]:
        out = dict(showers.labels)
        if "visible_energy" in self.labels and "visible_energy" not in out:
            out["visible_energy"] = showers.visible_energy
        return out

    def raw_cond(self, incident_energy: np.ndarray, labels: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """(N, n_cond) physical conditioning values (MeV, label units)."""
        labels = labels or {}
        cols = [np.asarray(incident_energy, dtype=np.float64).reshape(-1)]
        for k in self.labels:
            if k not in labels:
                raise InputError(f"this model is conditioned on '{k}'; give it (labels={{'{k}': ...}})")
            cols.append(np.asarray(labels[k], dtype=np.float64).reshape(-1))
        out = np.stack(cols, axis=1)
        if np.any(out <= 0):
            raise InputError("incident energies and conditioning labels must be > 0 (MeV)")
        return out

    def encode_cond(self, incident_energy: np.ndarray, labels: dict | None = None) -> np.ndarray:
        return self.cond.forward(self.raw_cond(incident_energy, labels), None).astype(np.float32)

    def encode(self, showers: ShowerData) -> dict[str, np.ndarray]:
        """{"x": (N, *data_shape) float32, "cond": (N, n_cond) float32} of a sample."""
        x = self.data.forward(showers.energy.astype(np.float64), showers.incident_energy)
        return {"x": x.reshape((len(showers),) + self.data_shape).astype(np.float32),
                "cond": self.encode_cond(showers.incident_energy, self._labels_of(showers))}

    def decode(self, x: np.ndarray, incident_energy: np.ndarray, labels: dict | None = None) -> ShowerData:
        """Generated preprocessed arrays -> :class:`ShowerData` in MeV (negative values clipped)."""
        n = len(incident_energy)
        energy = self.data.inverse(np.asarray(x, dtype=np.float64).reshape(n, -1), np.asarray(incident_energy))
        return ShowerData(incident_energy, np.clip(energy, 0, None).astype(np.float32), self.geometry,
                          {k: np.asarray(v) for k, v in (labels or {}).items()})

    def torch_physical(self, x, cond):
        """Preprocessed torch batch -> voxel energies in MeV (differentiable; used by losses in MeV)."""
        import torch

        mean, std = self.cond.transforms[0].params["mean"][0], self.cond.transforms[0].params["std"][0]
        e = torch.exp(cond[:, 0] * std + mean)
        return self.data.inverse(x.reshape(x.shape[0], -1), e).reshape(x.shape)

    def state(self) -> dict[str, Any]:
        geo = self.geometry
        return {"kind": self.kind, "geometry": geo.name if geo.name in preset_names() else geo.spec(),
                "data": self.data.state(), "cond": self.cond.state(), "labels": self.labels}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ShowerAdapter":
        geo = state["geometry"]
        geo = get_geometry(geo) if isinstance(geo, str) else geometry_from_spec(geo)
        return cls(geo, Pipeline.from_state(state["data"]), Pipeline.from_state(state["cond"]), state["labels"])


ADAPTERS = {"showers": ShowerAdapter}


def adapter_for(data_kind: str) -> type:
    """The adapter class for a model's ``data_kind``."""
    if data_kind not in ADAPTERS:
        raise InputError(f"no data adapter for '{data_kind}' (have {', '.join(ADAPTERS)})")
    return ADAPTERS[data_kind]


def adapter_from_state(state: dict[str, Any]):
    """Rebuild a saved adapter."""
    return adapter_for(state["kind"]).from_state(state)
