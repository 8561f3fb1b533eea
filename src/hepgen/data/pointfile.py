"""Point-cloud shower files (one point per hit voxel), HDF5.

Layout: ``incident_energies`` (N,) MeV, ``n_hits`` (N,), ``hits/energy`` (M,) MeV and
``hits/indices`` (M, 3) integer indices along the geometry's axes; attribute ``geometry``.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import ShowerData, voxels_to_points
>>> path = pathlib.Path(tempfile.mkdtemp()) / "p.h5"
>>> pts = voxels_to_points(ShowerData([1e4], np.eye(1, 25, 7) * 2.0, "belle2-ecl-5x5"))
>>> with PointWriter(path, "belle2-ecl-5x5") as w:
...     w.append(pts)
>>> read_points(path).energy.tolist()
[2.0]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hepgen.data.atomic import check_writable, temp_path
from hepgen.data.hdf5 import open_hdf5
from hepgen.data.pointcloud import ShowerPoints
from hepgen.errors import InputError
from hepgen.geometry import Geometry, geometry_from_spec, get_geometry, preset_names

__all__ = ["PointWriter", "read_points"]


class PointWriter:
    """Append :class:`ShowerPoints` chunks; renamed into place on close."""

    def __init__(self, path: str | Path, geometry: Geometry | str, overwrite: bool = False,
                 compression: str = "gzip") -> None:
        self.path = check_writable(path, overwrite)
        self.geometry = get_geometry(geometry)
        comp = None if compression == "none" else compression
        self.partial = temp_path(self.path)  # private, fresh (never through a planted link)
        self._h5 = open_hdf5(self.partial, "w")
        for name, shape, dtype in (("incident_energies", (0,), "f8"), ("n_hits", (0,), "i8"),
                                   ("hits/energy", (0,), "f4"), ("hits/indices", (0, 3), "i4")):
            self._h5.create_dataset(name, shape=shape, maxshape=(None,) + shape[1:], dtype=dtype,
                                    chunks=(65536,) + shape[1:], compression=comp)
        self._h5.attrs["geometry"] = self.geometry.name
        self._h5.attrs["axes"] = json.dumps(list(self.geometry.axes))
        if self.geometry.name not in preset_names():
            self._h5.attrs["geometry_spec"] = json.dumps(self.geometry.spec())

    def append(self, points: ShowerPoints) -> None:
        for name, data in (("incident_energies", points.incident_energy), ("n_hits", points.n_hits),
                           ("hits/energy", points.energy), ("hits/indices", points.indices)):
            ds = self._h5[name]
            n = ds.shape[0]
            ds.resize(n + len(data), axis=0)
            ds[n:] = data

    def __enter__(self) -> "PointWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._h5.close()
        if exc_type is None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


def read_points(path: str | Path) -> ShowerPoints:
    """Read a point-cloud shower file written by :class:`PointWriter`."""
    with open_hdf5(path) as h5:
        for key in ("incident_energies", "n_hits", "hits/energy", "hits/indices"):
            if key not in h5:
                raise InputError("dataset missing; a point-cloud file needs incident_energies, n_hits, hits/energy, "
                                 "hits/indices", file=str(path), dataset=key)
        geo = (geometry_from_spec(json.loads(h5.attrs["geometry_spec"])) if "geometry_spec" in h5.attrs
               else get_geometry(str(h5.attrs.get("geometry", ""))))
        return ShowerPoints(h5["incident_energies"][:], h5["n_hits"][:], h5["hits/energy"][:],
                            h5["hits/indices"][:].astype(np.int64), geo)
