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
from hepgen.data.validate import FLOAT_KINDS, NUMBER_KINDS, Validator, describe_os_error, read_errors
from hepgen.data.jets import JetData
from hepgen.errors import InputError

__all__ = ["read_jets", "write_jets"]


def _check_shape(particles: np.ndarray, jets: np.ndarray | None, path: str) -> None:
    if particles.ndim != 3 or particles.shape[-1] != 4:
        raise InputError(f"expected shape (N, n_particles, 4) (eta_rel, phi_rel, pt_rel, mask), got {particles.shape}",
                         file=path, dataset="particle_features")
    if len(particles) == 0:
        raise InputError("file holds no jets (N = 0)", file=path, dataset="particle_features")
    if jets is not None and jets.shape != (len(particles), 4):
        raise InputError(f"expected shape ({len(particles)}, 4) (pt, eta, mass, n_particles), got {jets.shape}",
                         file=path, dataset="jet_features")


def _load_npy(path: Path, start: int, stop: int | None) -> np.ndarray:
    try:
        return np.asarray(np.load(path, mmap_mode="r", allow_pickle=False)[start:stop])
    except (ValueError, OSError, EOFError, TypeError) as exc:
        reason = describe_os_error(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
        if reason.startswith("not a readable HDF5"):
            reason = str(exc)
        raise InputError(f"not a readable .npy file: {reason}"[:300], file=str(path)) from None


def _load_npz(path: Path, start: int, stop: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as z:
            if "particle_features" not in z.files:
                raise InputError("array missing", file=str(path), dataset="particle_features")
            particles = z["particle_features"][start:stop]
            jets = z["jet_features"][start:stop] if "jet_features" in z.files else None
            return particles, jets
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip, zlib, pickle and header errors of a foreign file
        reason = "permission denied" if isinstance(exc, PermissionError) else f"{type(exc).__name__}: {exc}"
        raise InputError(f"not a readable .npz file: {reason}"[:300], file=str(path)) from None


def read_jets(path: str | Path, start: int = 0, stop: int | None = None) -> JetData:
    """Read a JetNet HDF5, .npy or .npz file (validated by :class:`hepgen.data.validate.Validator`)."""
    path = Path(path)
    v = Validator(str(path))
    jets = None
    jet_type = ""
    if path.suffix in (".npy", ".npz"):
        try:
            path.stat()
        except FileNotFoundError:
            raise InputError("file not found", file=str(path)) from None
        except OSError as exc:
            raise InputError(describe_os_error(exc), file=str(path)) from None
        if path.suffix == ".npy":
            particles = _load_npy(path, start, stop)
        else:
            particles, jets = _load_npz(path, start, stop)
    else:
        with open_hdf5(path) as h5:
            pf = v.dataset(h5, "particle_features", FLOAT_KINDS, "floating-point (eta_rel, phi_rel, pt_rel, mask)")
            jf = v.dataset(h5, "jet_features", NUMBER_KINDS, "real numbers (pt, eta, mass, n_particles)") \
                if "jet_features" in h5 else None
            with read_errors(str(path), "particle_features"):
                particles = pf[start:stop]
                jets = jf[start:stop] if jf is not None else None
                jet_type = h5.attrs.get("jet_type", "")
            jet_type = jet_type.decode("utf-8", "replace") if isinstance(jet_type, bytes) else str(jet_type)
    v.check_dtype(particles.dtype, "particle_features", FLOAT_KINDS, "floating-point (eta_rel, phi_rel, pt_rel, mask)")
    if jets is not None:
        v.check_dtype(jets.dtype, "jet_features", NUMBER_KINDS, "real numbers (pt, eta, mass, n_particles)")
    _check_shape(particles, jets, str(path))
    particles = v.as_float(particles, np.float32, "particle_features", "particle feature", "", start)
    if jets is not None:
        jets = v.as_float(jets, np.float32, "jet_features", "jet feature", "", start)
    v.jets(particles, jets, start)
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
