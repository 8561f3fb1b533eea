"""Data model and file formats: showers (voxels and points), jets, HDF5/NumPy readers and writers.

>>> from hepgen.data import ShowerData, JetData, ShowerFile, ShowerWriter, read_showers, write_showers
"""

from hepgen.data.atomic import atomic_path, check_writable, partial_path
from hepgen.data.hdf5 import ShowerFile, ShowerWriter, read_showers, write_showers
from hepgen.data.jets import JET_FEATURES, PARTICLE_FEATURES, JetData
from hepgen.data.jetnet import read_jets, write_jets
from hepgen.data.pointcloud import ShowerPoints, points_to_voxels, voxels_to_points
from hepgen.data.pointfile import PointWriter, read_points
from hepgen.data.showers import ShowerData

__all__ = [
    "ShowerData", "JetData", "ShowerPoints", "ShowerFile", "ShowerWriter", "read_showers", "write_showers",
    "read_jets", "write_jets", "voxels_to_points", "points_to_voxels", "atomic_path", "check_writable",
    "partial_path", "PARTICLE_FEATURES", "JET_FEATURES", "PointWriter", "read_points",
]
