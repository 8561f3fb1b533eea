"""JetNet jet files: HDF5 with ``particle_features`` (N, n, 4) and ``jet_features`` (N, 4), or .npy/.npz.

Particle features are (eta_rel, phi_rel, pt_rel, mask); jet features (pt [GeV], eta, mass [GeV],
n_particles). A ``.npy`` file holds the particle features alone; a ``.npz`` holds both arrays under
the same names.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import JetData
>>> p = np.zeros((5, 30, 4), np.float32); p[:, :2, 2] = 0.5; p[:, :2, 3] = 1
>>> path = pathlib.Path(tempfile.mkdtemp()) / "g30.h5"
>>> write_jets(path, JetData(p, jet_type="g"))
>>> read_jets(path).n_particles.tolist()
[2, 2, 2, 2, 2]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hepgen.data.atomic import atomic_path
from hepgen.data.hdf5 import open_hdf5
from hepgen.data.jets import JetData
from hepgen.errors import InputError

__all__ = ["read_jets", "write_jets"]


def _check(particles: np.ndarray, path: str) -> None:
    if particles.ndim != 3 or particles.shape[-1] != 4:
        raise InputError(f"expected shape (N, n_particles, 4) (eta_rel, phi_rel, pt_rel, mask), got {particles.shape}",
                         file=path, dataset="particle_features")
    if len(particles) == 0:
        raise InputError("file holds no jets (N = 0)", file=path, dataset="particle_features")
    bad = ~np.isfinite(particles).all(axis=(1, 2))
    if bad.any():
        raise InputError("NaN or infinite particle feature", file=path, dataset="particle_features",
                         index=int(np.argmax(bad)))
    bad = (particles[..., 2] < 0).any(axis=1)
    if bad.any():
        raise InputError("negative pt_rel; expected pt_rel >= 0", file=path, dataset="particle_features",
                         index=int(np.argmax(bad)))


def read_jets(path: str | Path, start: int = 0, stop: int | None = None) -> JetData:
    """Read a JetNet HDF5, .npy or .npz file."""
    path = Path(path)
    jets = None
    jet_type = ""
    if path.suffix == ".npy":
        if not path.exists():
            raise InputError("file not found", file=str(path))
        try:
            particles = np.load(path, mmap_mode="r")[start:stop]
        except ValueError as exc:
            raise InputError(f"not a readable .npy file: {exc}", file=str(path)) from None
    elif path.suffix == ".npz":
        if not path.exists():
            raise InputError("file not found", file=str(path))
        with np.load(path) as z:
            if "particle_features" not in z:
                raise InputError("array missing", file=str(path), dataset="particle_features")
            particles = z["particle_features"][start:stop]
            jets = z["jet_features"][start:stop] if "jet_features" in z else None
    else:
        with open_hdf5(path) as h5:
            if "particle_features" not in h5:
                raise InputError("dataset missing; a JetNet file needs 'particle_features' (N, n, 4)",
                                 file=str(path), dataset="particle_features")
            particles = h5["particle_features"][start:stop]
            jets = h5["jet_features"][start:stop] if "jet_features" in h5 else None
            jet_type = str(h5.attrs.get("jet_type", ""))
    particles = np.asarray(particles, dtype=np.float32)
    _check(particles, str(path))
    try:
        return JetData(particles, jets, jet_type)
    except InputError as exc:
        raise InputError(exc.message, file=str(path), dataset="jet_features" if "jet" in exc.message else
                         "particle_features") from None


def write_jets(path: str | Path, jets: JetData, overwrite: bool = False, compression: str = "gzip") -> None:
    """Write JetNet arrays; the format follows the suffix (.h5/.hdf5, .npz, .npy)."""
    path = Path(path)
    with atomic_path(path, overwrite) as tmp:
        if path.suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, jets.particles)
        elif path.suffix == ".npz":
            with open(tmp, "wb") as fh:
                np.savez(fh, particle_features=jets.particles, jet_features=jets.jets)
        else:
            import h5py

            comp = None if compression == "none" else compression
            with h5py.File(tmp, "w") as h5:
                h5.create_dataset("particle_features", data=jets.particles, compression=comp)
                h5.create_dataset("jet_features", data=jets.jets, compression=comp)
                h5.attrs["jet_type"] = jets.jet_type
