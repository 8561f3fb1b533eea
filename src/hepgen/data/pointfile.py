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
from hepgen.data.hdf5 import geometry_from_attrs, open_hdf5
from hepgen.data.validate import FLOAT_KINDS, INT_KINDS, NUMBER_KINDS, STRICT, Validator, read_errors
from hepgen.data.pointcloud import ShowerPoints
from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry, preset_names

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
    """Read a point-cloud shower file written by :class:`PointWriter`, validated like voxel showers
    (:mod:`hepgen.data.validate`, strict policy)."""
    path = str(path)
    v = Validator(path, STRICT)
    with open_hdf5(path) as h5:
        kinds = {"incident_energies": (NUMBER_KINDS, "real numbers (MeV)"), "n_hits": (INT_KINDS, "integers"),
                 "hits/energy": (FLOAT_KINDS, "floating-point energies (MeV)"), "hits/indices": (INT_KINDS, "integers")}
        ds = {}
        for key, (k, expected) in kinds.items():
            with read_errors(path):   # a corrupt symbol table fails on the first name lookup
                present = key in h5
            if not present:
                raise InputError("dataset missing; a point-cloud file needs incident_energies, n_hits, hits/energy, "
                                 "hits/indices", file=path, dataset=key)
            ds[key] = v.dataset(h5, key, k, expected)
        geo = geometry_from_attrs(h5, path)
        if geo is None:
            raise InputError("no geometry: expected a 'geometry' attribute naming a built-in geometry or a "
                             "'geometry_spec'", file=path)
        with read_errors(path):
            inc, n_hits, energy, indices = (ds[k][()] for k in kinds)
    inc = v.as_float(np.reshape(inc, -1), np.float64, "incident_energies", "incident energy", "MeV")
    energy = v.as_float(np.reshape(energy, -1), np.float32, "hits/energy", "hit energy", "MeV")
    n_hits = np.reshape(n_hits, -1).astype(np.int64)
    if len(n_hits) != len(inc) or len(inc) == 0:
        raise InputError(f"{len(n_hits)} hit counts for {len(inc)} incident energies; expected one per shower (N > 0)",
                         file=path, dataset="n_hits")
    bad = n_hits < 0
    if bad.any():
        i = int(np.argmax(bad))
        v.fail("count", "n_hits", i, what="hit count", value=float(n_hits[i]), expected="a count >= 0")
    if int(n_hits.sum()) != len(energy) or np.shape(indices) != (len(energy), 3):
        raise InputError(f"{int(n_hits.sum())} hits counted, {len(energy)} energies, indices of shape "
                         f"{np.shape(indices)}; expected (M,) and (M, 3) with M = sum(n_hits)", file=path)
    indices = np.asarray(indices).astype(np.int64)
    try:
        geo.flatten_indices(indices)
    except (ValueError, KeyError, IndexError):
        bad = (indices < 0).any(axis=1)
        i = int(np.argmax(bad)) if bad.any() else 0
        raise InputError(f"voxel index outside geometry '{geo.name}' (first bad hit at or after {i})", file=path,
                         dataset="hits/indices") from None
    if len(energy):
        start = np.concatenate([[0], np.cumsum(n_hits)[:-1]])
        has = n_hits > 0
        total, largest, smallest = (np.zeros(len(inc)) for _ in range(3))
        total[has] = np.add.reduceat(energy.astype(np.float64), start[has])
        largest[has] = np.maximum.reduceat(energy, start[has])
        smallest[has] = np.minimum.reduceat(energy, start[has])
    else:
        total = largest = smallest = np.zeros(len(inc))
    v.deposits(inc, total, largest, smallest, "hits/energy", "incident_energies")
    return ShowerPoints(inc, n_hits, energy, indices, geo)
