"""Cylindrical geometries of the CaloChallenge, read from its binning XML files.

Each readout layer has its own radial edges (mm) and number of angular bins. The flat voxel order is
(layer, alpha, radius) with the radius running fastest, exactly as the challenge's ``XMLHandler``
defines it; angular bin centres are the midpoints of ``linspace(-pi, pi, n_alpha + 1)`` and the
challenge's "eta"/"phi" coordinates of a voxel are ``r cos(alpha)`` and ``r sin(alpha)``.
Layers without radial bins (in dataset 1) keep their id and hold no voxels.

>>> from hepgen.geometry import get_geometry
>>> [get_geometry(n).n_voxels for n in
...  ("calochallenge-1-photons", "calochallenge-1-pions", "calochallenge-2", "calochallenge-3")]
[368, 533, 6480, 40500]
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import cached_property
from pathlib import Path

import numpy as np

from hepgen.errors import InputError
from hepgen.geometry.base import Geometry, Slab

__all__ = ["CylindricalGeometry", "read_binning_xml"]


def read_binning_xml(path: str | Path, particle: str | None = None) -> tuple[str, list[np.ndarray], list[int]]:
    """Read a CaloChallenge binning XML: (particle name, radial edges per layer in mm, n_alpha per layer).

    >>> from importlib.resources import files
    >>> name, r, a = read_binning_xml(files("hepgen.geometry") / "data" / "binning_dataset_2.xml")
    >>> name, len(r), float(r[0][-1]), a[0]
    ('electron', 45, 41.85, 16)
    """
    try:
        root = ET.parse(str(path)).getroot()
    except (ET.ParseError, OSError) as exc:
        raise InputError(f"not a readable binning XML ({exc})", file=str(path)) from None
    bins = [b for b in root if b.tag == "Bin"]
    if particle is not None:
        bins = [b for b in bins if b.attrib.get("name") == particle]
    if not bins:
        raise InputError(f"no <Bin> element{' for particle ' + particle if particle else ''}", file=str(path))
    b = bins[0]
    r_edges, n_alpha = [], []
    for i, layer in enumerate(b):
        try:
            edges = np.array([float(v) for v in layer.attrib["r_edges"].split(",")])
            n_alpha.append(int(layer.attrib["n_bin_alpha"]))
        except (KeyError, ValueError):
            raise InputError("expected attributes r_edges and n_bin_alpha", file=str(path), index=i) from None
        if len(edges) > 1 and np.any(np.diff(edges) <= 0):
            raise InputError("r_edges must increase", file=str(path), index=i)
        r_edges.append(edges)
    return b.attrib.get("name", ""), r_edges, n_alpha


class CylindricalGeometry(Geometry):
    """Concentric-cylinder readout: per layer, ``n_alpha`` angular times ``len(r_edges) - 1`` radial bins.

    Parameters
    ----------
    name: short name.
    r_edges: radial bin edges in mm, one array per readout layer.
    n_alpha: angular bins per layer.
    layer_stack: physical slabs of each readout layer (``None`` when unknown).
    inner_radius_mm: radius of the calorimeter's front face from the beam axis.
    particle: the particle named in the XML (informational).
    readout_threshold_mev, evaluation_threshold_mev, calibrated_energies, calochallenge_dataset: readout
    conventions (see :class:`~hepgen.geometry.base.Geometry`).

    >>> g = CylindricalGeometry("toy", [np.array([0., 5., 10.])] * 3, [4, 4, 4])
    >>> g.n_voxels, g.shape
    (24, (3, 4, 2))
    """

    kind = "cylindrical"
    axes = ("layer", "alpha", "radius")

    def __init__(
        self,
        name: str,
        r_edges: list[np.ndarray],
        n_alpha: list[int],
        layer_stack: tuple[tuple[Slab, ...], ...] | None = None,
        inner_radius_mm: float | None = None,
        particle: str = "",
        source: str | None = None,
        readout_threshold_mev: float = 0.0,
        evaluation_threshold_mev: float | None = None,
        calibrated_energies: bool = False,
        calochallenge_dataset: int | None = None,
    ) -> None:
        if len(r_edges) != len(n_alpha):
            raise InputError(f"geometry '{name}': {len(r_edges)} radial binnings but {len(n_alpha)} angular")
        if layer_stack is not None and len(layer_stack) != len(r_edges):
            raise InputError(f"geometry '{name}': {len(layer_stack)} physical layers for {len(r_edges)} readout layers")
        self.name = name
        self.r_edges = [np.asarray(r, dtype=np.float64) for r in r_edges]
        self.n_alpha = [int(a) for a in n_alpha]
        self.layer_stack = layer_stack
        self.inner_radius_mm = inner_radius_mm
        self.particle = particle
        self.source = source
        self._set_readout(readout_threshold_mev, evaluation_threshold_mev, calibrated_energies, calochallenge_dataset)

    @property
    def n_radial(self) -> list[int]:
        """Number of radial bins per layer (0 for layers without voxels)."""
        return [max(len(r) - 1, 0) for r in self.r_edges]

    @cached_property
    def n_voxels(self) -> int:  # type: ignore[override]
        return int(sum(a * r for a, r in zip(self.n_alpha, self.n_radial)))

    @property
    def n_layers(self) -> int:
        return len(self.r_edges)

    @property
    def relevant_layers(self) -> list[int]:
        """Layer ids that hold voxels (the challenge's ``relevantLayers``)."""
        return [i for i, r in enumerate(self.n_radial) if r > 0]

    @property
    def layers_binned_in_alpha(self) -> list[int]:
        """Layer ids with more than one angular bin (the challenge's ``layersBinnedInAlpha``)."""
        return [i for i, a in enumerate(self.n_alpha) if a > 1]

    @property
    def shape(self) -> tuple[int, int, int] | None:
        if len(set(self.n_alpha)) == 1 and len(set(self.n_radial)) == 1:
            return (self.n_layers, self.n_alpha[0], self.n_radial[0])
        return None

    @cached_property
    def _indices(self) -> np.ndarray:
        rows = []
        for layer, (na, nr) in enumerate(zip(self.n_alpha, self.n_radial)):
            if nr == 0:
                continue
            a, r = np.meshgrid(np.arange(na), np.arange(nr), indexing="ij")
            rows.append(np.stack([np.full(na * nr, layer), a.ravel(), r.ravel()], axis=1))
        return np.concatenate(rows).astype(np.int64)

    def voxel_indices(self) -> np.ndarray:
        return self._indices.copy()

    def alpha_centres(self, layer: int) -> np.ndarray:
        """Angular bin centres (radians) of a layer: midpoints of ``linspace(-pi, pi, n_alpha + 1)``."""
        edges = np.linspace(-np.pi, np.pi, self.n_alpha[layer] + 1)
        return 0.5 * (edges[1:] + edges[:-1])

    @cached_property
    def _positions(self) -> dict[str, np.ndarray]:
        idx = self._indices
        r = np.concatenate([np.tile(0.5 * (self.r_edges[l][1:] + self.r_edges[l][:-1]), self.n_alpha[l])
                            for l in self.relevant_layers])
        alpha = np.concatenate([np.repeat(self.alpha_centres(l), self.n_radial[l]) for l in self.relevant_layers])
        pos = {"r": r, "alpha": alpha, "eta": r * np.cos(alpha), "phi": r * np.sin(alpha)}
        if self.layer_stack is not None:
            d = self.layer_depths_mm()
            pos["z"] = 0.5 * (d[1:] + d[:-1])[idx[:, 0]]
        return pos

    def voxel_positions(self) -> dict[str, np.ndarray]:
        """Voxel centres: ``r`` (mm), ``alpha`` (rad), the challenge's ``eta``/``phi`` (mm) and depth ``z`` (mm)."""
        return {k: v.copy() for k, v in self._positions.items()}

    def spec(self) -> dict:
        return {
            "type": "cylindrical",
            "name": self.name,
            "particle": self.particle,
            "r_edges": [r.tolist() for r in self.r_edges],
            "n_alpha": list(self.n_alpha),
            "inner_radius_mm": self.inner_radius_mm,
            "layers": _stack_spec(self.layer_stack),
            **self._readout_spec(),
        }


def _stack_spec(stack: tuple[tuple[Slab, ...], ...] | None) -> list | None:
    if stack is None:
        return None
    return [[{"material": s.material, "thickness_mm": s.thickness_mm, "active": s.active} for s in layer]
            for layer in stack]
