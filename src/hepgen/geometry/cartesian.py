"""Cartesian cell grids: (nz, ny, nx) cells of a fixed transverse size, one readout layer per z.

The flat voxel order is (z, y, x) with x running fastest, i.e. ``showers.reshape(N, nz, ny, nx)``.
Positions are cell centres in mm with the grid centred on the beam axis (x = y = 0).

>>> from hepgen.geometry import get_geometry
>>> g = get_geometry("ild-ahcal")
>>> g.shape, g.cell_size_mm
((48, 25, 25), (30.0, 30.0))
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from hepgen.errors import InputError
from hepgen.geometry.base import Geometry, Slab
from hepgen.geometry.cylindrical import _stack_spec

__all__ = ["CartesianGeometry"]


class CartesianGeometry(Geometry):
    """A regular grid of ``nz`` readout layers of ``ny`` x ``nx`` cells.

    Parameters
    ----------
    name: short name.
    nx, ny, nz: cells along x, y and readout layers along z (depth).
    cell_size_mm: (x, y) size of a cell in mm.
    layer_stack: physical slabs of each readout layer (``None`` when unknown).
    readout_threshold_mev, evaluation_threshold_mev, calibrated_energies, calochallenge_dataset: readout
    conventions (see :class:`~hepgen.geometry.base.Geometry`).

    >>> g = CartesianGeometry("toy", 3, 3, 2, (5.0, 5.0))
    >>> g.n_voxels, g.voxel_positions()["x"][:3].tolist()
    (18, [-5.0, 0.0, 5.0])
    """

    kind = "cartesian"
    axes = ("z", "y", "x")

    def __init__(
        self,
        name: str,
        nx: int,
        ny: int,
        nz: int,
        cell_size_mm: tuple[float, float],
        layer_stack: tuple[tuple[Slab, ...], ...] | None = None,
        source: str | None = None,
        readout_threshold_mev: float = 0.0,
        evaluation_threshold_mev: float | None = None,
        calibrated_energies: bool = False,
        calochallenge_dataset: int | None = None,
    ) -> None:
        if min(nx, ny, nz) < 1:
            raise InputError(f"geometry '{name}': expected nx, ny, nz >= 1, got {nx}, {ny}, {nz}")
        if layer_stack is not None and len(layer_stack) != nz:
            raise InputError(f"geometry '{name}': {len(layer_stack)} physical layers for nz = {nz}")
        self.name = name
        self.nx, self.ny, self.nz = int(nx), int(ny), int(nz)
        self.cell_size_mm = (float(cell_size_mm[0]), float(cell_size_mm[1]))
        self.layer_stack = layer_stack
        self.source = source
        self._set_readout(readout_threshold_mev, evaluation_threshold_mev, calibrated_energies, calochallenge_dataset)

    @property
    def grid_shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return (self.ny, self.nx)

    @property
    def n_voxels(self) -> int:
        return self.nx * self.ny * self.nz

    @property
    def n_layers(self) -> int:
        return self.nz

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.nz, self.ny, self.nx)

    @cached_property
    def _indices(self) -> np.ndarray:
        z, y, x = np.meshgrid(np.arange(self.nz), np.arange(self.ny), np.arange(self.nx), indexing="ij")
        return np.stack([z.ravel(), y.ravel(), x.ravel()], axis=1).astype(np.int64)

    def voxel_indices(self) -> np.ndarray:
        return self._indices.copy()

    def cell_edges_mm(self) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[override]
        """(x edges, y edges) in mm, centred on the beam axis."""
        sx, sy = self.cell_size_mm
        return (np.arange(self.nx + 1) - self.nx / 2) * sx, (np.arange(self.ny + 1) - self.ny / 2) * sy

    def voxel_positions(self) -> dict[str, np.ndarray]:
        """Cell centres ``x``, ``y`` (mm) and depth ``z`` (mm; the layer index when no layer stack)."""
        idx = self._indices
        sx, sy = self.cell_size_mm
        pos = {"x": (idx[:, 2] - (self.nx - 1) / 2) * sx, "y": (idx[:, 1] - (self.ny - 1) / 2) * sy}
        if self.layer_stack is not None:
            d = self.layer_depths_mm()
            pos["z"] = 0.5 * (d[1:] + d[:-1])[idx[:, 0]]
        else:
            pos["z"] = idx[:, 0].astype(np.float64)
        return pos

    def spec(self) -> dict:
        return {
            "type": "cartesian",
            "name": self.name,
            "nx": self.nx,
            "ny": self.ny,
            "nz": self.nz,
            "cell_size_mm": list(self.cell_size_mm),
            "layers": _stack_spec(self.layer_stack),
            **self._readout_spec(),
        }
