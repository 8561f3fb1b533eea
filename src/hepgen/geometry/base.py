"""What every detector geometry provides: voxel bookkeeping and the physical layer structure.

A geometry maps the flat voxel index used in files (``showers[:, i]``) to readout layers, to
integer indices along its axes and to positions in mm; it also knows which materials a particle
crosses in each readout layer (:class:`Slab`), so that a simulator can deposit energy into it.

>>> from hepgen.geometry import get_geometry
>>> g = get_geometry("ild-ecal")
>>> g.n_voxels, g.shape, g.axes
(27000, (30, 30, 30), ('z', 'y', 'x'))
>>> g.voxel_indices()[31].tolist()   # z, y, x of voxel 31
[0, 1, 1]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["Slab", "Geometry"]


@dataclass(frozen=True)
class Slab:
    """One homogeneous slab of a layer: material name (see ``hepgen.geometry.materials``),
    thickness in mm, and whether it is read out (active) or passive (absorber).

    >>> Slab("W", 1.4).thickness_mm
    1.4
    """

    material: str
    thickness_mm: float
    active: bool = False


class Geometry(ABC):
    """Base class of detector geometries.

    Subclasses fill ``name``, ``axes`` (names of the three index axes, depth axis first),
    ``layer_stack`` (one tuple of :class:`Slab` per readout layer, or ``None`` when unknown) and
    implement :meth:`voxel_indices` and :meth:`voxel_positions`.
    """

    name: str
    axes: tuple[str, str, str]
    kind: str
    layer_stack: tuple[tuple[Slab, ...], ...] | None

    # -- voxel bookkeeping -------------------------------------------------------------------
    @property
    @abstractmethod
    def n_voxels(self) -> int:
        """Number of voxels in one shower (the length of a file's voxel axis)."""

    @property
    @abstractmethod
    def n_layers(self) -> int:
        """Number of readout layers along the depth axis."""

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int, int] | None:
        """Dense per-shower shape along ``axes`` or ``None`` when layers differ in binning."""

    @abstractmethod
    def voxel_indices(self) -> np.ndarray:
        """(n_voxels, 3) int array: the index of each voxel along ``axes``."""

    @abstractmethod
    def voxel_positions(self) -> dict[str, np.ndarray]:
        """Voxel centres in mm (and radians for angles), one (n_voxels,) array per coordinate."""

    @cached_property
    def layer_of_voxel(self) -> np.ndarray:
        """(n_voxels,) readout-layer index of each voxel."""
        return self.voxel_indices()[:, 0].copy()

    @cached_property
    def layer_edges(self) -> np.ndarray:
        """(n_layers + 1,) offsets: voxels of layer l are ``[layer_edges[l], layer_edges[l+1])``."""
        counts = np.bincount(self.layer_of_voxel, minlength=self.n_layers)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def layer_slice(self, layer: int) -> slice:
        """Slice of the flat voxel axis that holds readout layer ``layer``."""
        return slice(int(self.layer_edges[layer]), int(self.layer_edges[layer + 1]))

    @cached_property
    def flat_index(self) -> dict[tuple[int, int, int], int]:
        """Map from an index triple along ``axes`` to the flat voxel index."""
        return {tuple(int(v) for v in idx): i for i, idx in enumerate(self.voxel_indices())}

    def flatten_indices(self, indices: np.ndarray) -> np.ndarray:
        """Flat voxel index of each (M, 3) index triple (inverse of :meth:`voxel_indices`)."""
        indices = np.asarray(indices, dtype=np.int64)
        if self.shape is not None:
            return np.ravel_multi_index(tuple(indices.T), self.shape)
        lookup = self.flat_index
        return np.fromiter((lookup[tuple(i)] for i in indices.tolist()), np.int64, len(indices))

    # -- physical structure --------------------------------------------------------------------
    def layer_depths_mm(self) -> np.ndarray:
        """(n_layers + 1,) depth of each readout layer's front face in mm (last: the back face)."""
        if self.layer_stack is None:
            raise ValueError(f"geometry '{self.name}' has no physical layer structure")
        thick = [sum(s.thickness_mm for s in layer) for layer in self.layer_stack]
        return np.concatenate([[0.0], np.cumsum(thick)])

    def describe(self) -> str:
        """One line for humans: name, kind, voxel count, layers."""
        shape = "x".join(map(str, self.shape)) if self.shape else "irregular"
        return f"{self.name} ({self.kind}, {self.n_voxels} voxels, {self.n_layers} layers, {shape} along {self.axes})"

    def __repr__(self) -> str:
        return f"<Geometry {self.describe()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Geometry) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(self.name)

    @abstractmethod
    def spec(self) -> dict:
        """A plain dict (YAML/JSON-able) from which :func:`hepgen.geometry.geometry_from_spec` rebuilds it."""
