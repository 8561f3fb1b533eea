"""One cached set of per-shower feature arrays for a sample, computed once, chunk by chunk.

Every metric, histogram and figure reads a :class:`FeatureSet`; nothing is recomputed per metric.
It holds the scalar observables (:mod:`hepgen.evaluate.observables`), the CaloChallenge high-level
features for cylindrical geometries (:mod:`hepgen.evaluate.highlevel`), per-shower profiles and the
cell-energy spectrum on a fine log10 grid (1e-4 decades per bin), all after the readout threshold.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> s = ShowerData(np.full(3, 1e4), np.full((3, 25), 4.0), "belle2-ecl-5x5")
>>> fs = compute_features(s, threshold_mev=1.0)
>>> len(fs), float(fs.scalars["E_vis"][0]), int(fs.cell_counts.sum())
(3, 100.0, 75)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from hepgen.data import ShowerData
from hepgen.errors import InputError
from hepgen.evaluate.highlevel import highlevel_features, highlevel_names
from hepgen.evaluate.observables import _sums, apply_threshold, shower_observables
from hepgen.geometry import Geometry

__all__ = ["FeatureSet", "compute_features", "cached_features", "default_threshold_mev", "CELL_LOG10_MIN",
           "CELL_LOG10_STEP"]

CELL_LOG10_MIN, CELL_LOG10_MAX, CELL_LOG10_STEP = -6.0, 8.0, 1e-4

_warned_no_threshold: set[str] = set()


def default_threshold_mev(geometry: Geometry) -> float:
    """Cell threshold (MeV) applied before evaluation: the geometry's ``evaluation_threshold_mev`` (the
    challenge's or the source study's value, see :class:`hepgen.geometry.Geometry`); a geometry that states
    none is evaluated without a threshold (0 MeV) and a warning says so once.

    >>> from hepgen.geometry import get_geometry
    >>> round(default_threshold_mev(get_geometry("calochallenge-2")), 5)
    0.01515
    """
    if geometry.evaluation_threshold_mev is None:
        if geometry.name not in _warned_no_threshold:
            from hepgen.progress import warn

            _warned_no_threshold.add(geometry.name)
            warn(f"geometry '{geometry.name}' states no evaluation_threshold_mev: evaluating without a cell "
                 "threshold (0 MeV); set it in the geometry's YAML or pass a threshold")
        return 0.0
    return geometry.evaluation_threshold_mev


@dataclass
class FeatureSet:
    """Per-shower features of one sample (after the threshold).

    Attributes
    ----------
    geometry: the sample's geometry.
    threshold_mev: the cell threshold applied.
    scalars: name -> (N,) float64 (observables and, for cylinders, high-level features).
    profiles: name -> (N, bins) float32 energies per layer / radial bin / x / y column (MeV).
    cell_counts: histogram of all cell energies > 0 on the fine log10 grid (see module docstring).
    highlevel: names of the CaloChallenge high-level features among ``scalars`` (empty for other geometries).
    warnings: implausible values the reader met in the source file (see :mod:`hepgen.data.validate`).
    """

    geometry: Geometry
    threshold_mev: float
    scalars: dict[str, np.ndarray]
    profiles: dict[str, np.ndarray]
    cell_counts: np.ndarray
    highlevel: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scalars["E_inc"])

    @property
    def incident_energy(self) -> np.ndarray:
        return self.scalars["E_inc"]

    def cell_histogram(self, edges: np.ndarray) -> np.ndarray:
        """Counts of cell energies in ``edges`` (MeV), rebinned from the fine grid (exact up to 1e-4 decades)."""
        centres = CELL_LOG10_MIN + (np.arange(len(self.cell_counts)) + 0.5) * CELL_LOG10_STEP
        idx = np.searchsorted(np.log10(edges), centres, side="right") - 1
        ok = (idx >= 0) & (idx < len(edges) - 1)
        return np.bincount(idx[ok], weights=self.cell_counts[ok], minlength=len(edges) - 1)

    def save(self, path: str | Path, key: str = "") -> None:
        """Write the arrays to an ``.npz`` (atomically); ``key`` identifies the source (see :func:`cached_features`)."""
        from hepgen.data.atomic import atomic_path

        arrays = {f"s/{k}": v for k, v in self.scalars.items()} | {f"p/{k}": v for k, v in self.profiles.items()}
        meta = json.dumps({"geometry": self.geometry.spec(), "threshold_mev": self.threshold_mev,
                           "highlevel": self.highlevel, "key": key, "warnings": self.warnings})
        with atomic_path(path, overwrite=True) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, cell_counts=self.cell_counts, meta=np.array(meta), **arrays)

    @classmethod
    def load(cls, path: str | Path, key: str | None = None) -> "FeatureSet | None":
        """Read a saved FeatureSet; ``None`` when missing, unreadable or made from another source ``key``."""
        from hepgen.geometry import geometry_from_spec

        try:
            with np.load(path) as z:
                meta = json.loads(str(z["meta"]))
                if key is not None and meta["key"] != key:
                    return None
                scalars = {k[2:]: z[k] for k in z.files if k.startswith("s/")}
                profiles = {k[2:]: z[k] for k in z.files if k.startswith("p/")}
                return cls(geometry_from_spec(meta["geometry"]), meta["threshold_mev"], scalars, profiles,
                           z["cell_counts"], meta["highlevel"], list(meta.get("warnings", [])))
        except (OSError, KeyError, ValueError):
            return None

    def subset(self, index: np.ndarray) -> "FeatureSet":
        """Features of a subset of showers (the cell spectrum is kept whole)."""
        return FeatureSet(self.geometry, self.threshold_mev, {k: v[index] for k, v in self.scalars.items()},
                          {k: v[index] for k, v in self.profiles.items()}, self.cell_counts, self.highlevel,
                          self.warnings)


def _cell_counts(energy: np.ndarray) -> np.ndarray:
    n_bins = int(round((CELL_LOG10_MAX - CELL_LOG10_MIN) / CELL_LOG10_STEP))
    x = np.log10(energy[energy > 0])         # in the energies' dtype (float32 for files), in place below
    x -= CELL_LOG10_MIN
    x /= CELL_LOG10_STEP
    idx = x.astype(np.intp)
    np.clip(idx, 0, n_bins - 1, out=idx)
    return np.bincount(idx, minlength=n_bins)


def compute_features(showers: ShowerData | Iterable[ShowerData], threshold_mev: float | None = None,
                     chunk_size: int = 10_000, description: str | None = None,
                     block_size: int = 256, mip_mev: float | None = None) -> FeatureSet:
    """Compute a :class:`FeatureSet` from a sample or an iterable of chunks (e.g. ``ShowerFile.chunks()``).

    ``threshold_mev`` (default :func:`default_threshold_mev`) zeroes cells below it first. With ``mip_mev`` (the
    MIP value of the energies, hadron showers) the scalars also hold ``start_layer_calice``, the shower-start layer
    of the CALICE finder (:func:`hepgen.data.calice.shower_start_layer`, arXiv:1105.3417) on the cells above the
    threshold, the incident energy taken as the beam energy. Each chunk is
    processed in blocks of ``block_size`` showers (thresholded and converted to float64 once per block, small
    enough to stay in the CPU cache); the features do not depend on ``chunk_size`` or ``block_size``.
    """
    from threadpoolctl import threadpool_limits

    from hepgen.progress import track

    chunks = showers.chunks(chunk_size) if isinstance(showers, ShowerData) else showers
    if description is not None:
        chunks = track(chunks, description=description)
    with threadpool_limits(1):                  # small BLAS products: threads only cost on a busy machine
        return _compute_features(chunks, threshold_mev, block_size, mip_mev)


def _compute_features(chunks: Iterable[ShowerData], threshold_mev: float | None, block_size: int,
                      mip_mev: float | None = None) -> FeatureSet:
    from hepgen.data.calice import shower_start_layer

    geometry: Geometry | None = None
    scalars: dict[str, list[np.ndarray]] = {}
    profiles: dict[str, list[np.ndarray]] = {}
    cells = None
    for chunk in chunks:
        if geometry is None:
            geometry = chunk.geometry
            if threshold_mev is None:
                threshold_mev = default_threshold_mev(geometry)
        elif chunk.geometry != geometry:
            raise InputError(f"chunks of different geometries '{geometry.name}' and '{chunk.geometry.name}'")
        for start in range(0, len(chunk.energy), block_size):
            raw = chunk.energy[start:start + block_size]
            inc = chunk.incident_energy[start:start + block_size]
            energy = apply_threshold(raw, threshold_mev)                 # same dtype as the file (float32)
            energy64 = energy.astype(np.float64)                          # the one float64 copy, for the sums
            sums = _sums(energy64, geometry)
            obs = shower_observables(energy, inc, geometry, threshold_mev=0.0,
                                     high_threshold_mev=10 * threshold_mev if threshold_mev > 0 else 1.0, sums=sums)
            if geometry.r_edges is not None:   # radius-angle readout: the CaloChallenge high-level features
                hlf = highlevel_features(energy64, geometry)
                obs.update(hlf)
                obs["E_tot/E_inc"] = hlf["E_tot"] / inc
            s, layout, _ = sums
            if mip_mev is not None:   # hadron showers: the CALICE shower start on the thresholded cells
                hits = np.add.reduceat(energy > 0, geometry.layer_edges[:-1], axis=1, dtype=np.int64)
                obs["start_layer_calice"] = shower_start_layer(s[:, layout["longitudinal"]] / mip_mev, hits,
                                                               inc / 1e3).astype(np.float64)
            for k in ("longitudinal", "radial", "x", "y"):
                if k in layout:
                    profiles.setdefault(k, []).append(s[:, layout[k]].astype(np.float32))
            for k, v in obs.items():
                scalars.setdefault(k, []).append(v)
            c = _cell_counts(energy)
            if cells is None:
                cells = c
            else:
                cells += c
    if geometry is None:
        raise InputError("no showers to evaluate (empty sample)")
    hl = highlevel_names(geometry) if geometry.r_edges is not None else []
    return FeatureSet(geometry, float(threshold_mev), {k: np.concatenate(v) for k, v in scalars.items()},
                      {k: np.concatenate(v) for k, v in profiles.items()}, cells, hl)


def cached_features(path: str | Path, cache: str | Path, threshold_mev: float | None = None,
                    geometry: str | None = None, chunk_size: int = 5_000, description: str | None = None,
                    mip_mev: float | None = None) -> FeatureSet:
    """Features of a shower file, computed once and kept in ``cache`` (an ``.npz``); a rerun (e.g. after an
    interrupted evaluation) reads them back while the file's size, time stamp and the threshold are unchanged.
    The file is read with the lenient policy: implausible values become the FeatureSet's ``warnings``."""
    from hepgen.data import ShowerFile
    from hepgen.data.validate import LENIENT

    f = ShowerFile(path, geometry, policy=LENIENT)
    thr = default_threshold_mev(f.geometry) if threshold_mev is None else threshold_mev
    st = Path(path).stat()
    key = f"{Path(path).resolve()}|{st.st_size}|{st.st_mtime_ns}|{thr!r}|{f.geometry.name}"
    if mip_mev is not None:
        key += f"|mip={mip_mev!r}"
    fs = FeatureSet.load(cache, key) if Path(cache).exists() else None
    if fs is None:
        fs = compute_features(f.chunks(chunk_size), thr, description=description, mip_mev=mip_mev)
        fs.warnings = f.warnings
        fs.save(cache, key)
    return fs


def multivariate_inputs(fs: FeatureSet, incident_energy: np.ndarray) -> np.ndarray:
    """The per-shower inputs of FPD/KPD/PRDC and the high-level classifier: [log10 E_inc, features...].

    CaloChallenge geometries give the challenge's high-level columns
    (:func:`hepgen.evaluate.highlevel.classifier_highlevel_inputs`); other detectors every scalar feature
    of ``fs`` but E_inc, in sorted order.
    """
    from hepgen.evaluate.highlevel import classifier_highlevel_inputs

    if fs.highlevel:
        return classifier_highlevel_inputs(fs.scalars, incident_energy, fs.geometry)
    names = [n for n in sorted(fs.scalars) if n != "E_inc"]
    x = np.stack([fs.scalars[n] for n in names], axis=1)
    return np.concatenate([np.log10(incident_energy)[:, None], x], axis=1)
