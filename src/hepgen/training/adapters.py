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

__all__ = ["ShowerAdapter", "ArrayAdapter", "adapter_for", "adapter_from_state"]


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


class ArrayAdapter:
    """Plain arrays (toy points (N, d), pooled images (N, H, W)) <-> tensors, no conditioning.

    ``scaling`` is ``"standardize"`` (per feature (x − mean) / std, for toy points) or ``"scale"``
    (divide by one global scale, the mean of the per-example maxima: keeps zeros and positivity,
    for images). ``repeat`` lists the training set that many times per loop epoch, so that a model
    trained for thousands of passes over 100 points does not pay the loop's per-epoch overhead.

    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (100, 2))
    >>> a = ArrayAdapter.fit(x, "standardize", repeat=3)
    >>> arr = a.encode(x)
    >>> arr["x"].shape, arr["cond"].shape, bool(np.allclose(a.decode(arr["x"][:100]), x, atol=1e-5))
    ((300, 2), (300, 0), True)
    """

    kind = "arrays"
    geometry = None
    labels: list = []

    def __init__(self, shape: tuple[int, ...], scaling: str, offset: np.ndarray, scale: np.ndarray,
                 repeat: int = 1) -> None:
        if scaling not in ("standardize", "scale"):
            raise InputError(f"array scaling '{scaling}': expected standardize or scale")
        self.shape, self.scaling, self.repeat = tuple(int(s) for s in shape), scaling, max(1, int(repeat))
        self.offset, self.scale = np.asarray(offset, np.float64), np.asarray(scale, np.float64)

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.shape

    n_cond = 0

    @classmethod
    def fit(cls, x: np.ndarray, scaling: str = "standardize", repeat: int = 1) -> "ArrayAdapter":
        """Fit the scaling on a training array (N, ...)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim < 2 or len(x) < 2 or not np.all(np.isfinite(x)):
            raise InputError(f"expected a finite (N >= 2, ...) training array, got shape {x.shape}")
        if scaling == "standardize":
            offset, scale = x.mean(axis=0), x.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
        else:
            offset, scale = np.zeros(1), np.array([max(float(x.reshape(len(x), -1).max(axis=1).mean()), 1e-12)])
        return cls(x.shape[1:], scaling, offset, scale, repeat)

    def encode(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """{"x": (N·repeat, *shape) float32, "cond": (N·repeat, 0)}."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[1:] != self.shape:
            raise InputError(f"expected arrays of shape (N, {', '.join(map(str, self.shape))}), got {x.shape}")
        z = np.tile(((x - self.offset) / self.scale).astype(np.float32), (self.repeat,) + (1,) * len(self.shape))
        return {"x": z, "cond": np.zeros((len(z), 0), np.float32)}

    def encode_cond(self, n: int) -> np.ndarray:
        return np.zeros((int(n), 0), np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Generated arrays back to data units (float64)."""
        return np.asarray(z, np.float64).reshape((len(z),) + self.shape) * self.scale + self.offset

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "shape": list(self.shape), "scaling": self.scaling, "repeat": self.repeat,
                "offset": self.offset.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ArrayAdapter":
        return cls(tuple(state["shape"]), state["scaling"], np.array(state["offset"]), np.array(state["scale"]),
                   state.get("repeat", 1))


ADAPTERS = {"showers": ShowerAdapter, "arrays": ArrayAdapter}


def adapter_for(data_kind: str) -> type:
    """The adapter class for a model's ``data_kind``."""
    if data_kind not in ADAPTERS:
        raise InputError(f"no data adapter for '{data_kind}' (have {', '.join(ADAPTERS)})")
    return ADAPTERS[data_kind]


def adapter_from_state(state: dict[str, Any]):
    """Rebuild a saved adapter."""
    return adapter_for(state["kind"]).from_state(state)
