"""Shower HDF5 files in the layouts our users have: CaloChallenge and ILD ("getting_high").

============== ================================= ========================= ===================
layout         incident energy                   voxel energies            units
============== ================================= ========================= ===================
calochallenge  ``incident_energies`` (N, 1)      ``showers`` (N, n_voxels) MeV, MeV
ild            ``<group>/energy`` (N, 1)         ``<group>/layers`` (N,    GeV, MeV
                                                 z, y, x)
============== ================================= ========================= ===================

The CaloChallenge voxel order is (layer, alpha, radius), radius fastest, exactly as the challenge
defines it, so files written here are read by the official evaluation code unchanged. The ILD group
is ``30x30`` for the ECAL and ``hcal_only`` for the AHCAL; incident energies are converted from GeV
to MeV explicitly on reading and back on writing. hepgen adds (and the challenge ignores) a
``geometry`` attribute, optional per-shower ``labels/<name>`` datasets (with an optional ``scale`` attribute,
``log`` or ``linear``: how a model standardises the label, see :class:`~hepgen.data.ShowerData`) and provenance
attributes.

Reading streams in chunks (:meth:`ShowerFile.chunks`), so files larger than memory work; writing
appends chunks to a ``.partial`` file that is renamed into place when complete.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import ShowerData
>>> path = pathlib.Path(tempfile.mkdtemp()) / "ds2.h5"
>>> s = ShowerData(np.array([1e4, 1e6]), np.full((2, 6480), 0.1, np.float32), "calochallenge-2")
>>> write_showers(path, s)
>>> f = ShowerFile(path)
>>> f.layout.name, len(f), f.geometry.name
('calochallenge', 2, 'calochallenge-2')
>>> bool(np.array_equal(f.read().energy, s.energy))
True
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from hepgen.data.atomic import check_writable, partial_path, temp_path
from hepgen.data.showers import LABEL_SCALES, ShowerData
from hepgen.data.validate import FLOAT_KINDS, NUMBER_KINDS, STRICT, Validator, describe_os_error, read_errors
from hepgen.errors import InputError
from hepgen.geometry import Geometry, geometry_for_voxels, geometry_from_spec, get_geometry, preset_names

__all__ = ["ShowerFile", "ShowerWriter", "read_showers", "write_showers", "LAYOUTS", "open_hdf5", "geometry_from_attrs"]


@dataclass(frozen=True)
class Layout:
    """Where a layout keeps its arrays and in which unit the incident energy is stored."""

    name: str
    incident: str
    showers: str
    incident_mev_per_unit: float
    dense: bool


LAYOUTS = {
    "calochallenge": Layout("calochallenge", "incident_energies", "showers", 1.0, False),
    "ild": Layout("ild", "{group}/energy", "{group}/layers", 1e3, True),
}
ILD_GROUPS = {"ild-ecal": "30x30", "ild-ahcal": "hcal_only"}


def open_hdf5(path: str | Path, mode: str = "r"):
    """Open an HDF5 file, turning h5py's and the OS's errors into one clear :class:`InputError`
    (missing, empty, permission denied, locked by a writer, symbolic-link loop, truncated or corrupt)."""
    import h5py

    path = Path(path)
    if mode == "r":
        try:
            st = path.stat()
        except FileNotFoundError:
            raise InputError("file not found" + (" (dangling symbolic link)" if path.is_symlink() else ""),
                             file=str(path)) from None
        except OSError as exc:
            raise InputError(describe_os_error(exc), file=str(path)) from None
        if path.is_dir():
            raise InputError("is a directory; expected an HDF5 file", file=str(path))
        if st.st_size == 0:
            raise InputError("file is empty (0 bytes); expected an HDF5 file", file=str(path))
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise InputError(describe_os_error(exc), file=str(path)) from None


def is_jet_file(path: str | Path) -> bool:
    """Whether an HDF5 file holds JetNet jets (``particle_features``) rather than showers; a file whose
    structure cannot be read is one :class:`InputError` (a corrupt symbol table fails on this first lookup).

    >>> import tempfile, h5py
    >>> p = tempfile.mkdtemp() + "/j.h5"
    >>> with h5py.File(p, "w") as h5: h5["particle_features"] = [[[0.0, 0.0, 1.0, 1.0]]]
    >>> is_jet_file(p)
    True
    """
    with open_hdf5(path) as h5, read_errors(str(path)):
        return "particle_features" in h5


def _detect(h5, path: str) -> tuple[Layout, str, str]:
    """(layout, incident dataset path, showers dataset path)."""
    if "n_hits" in h5 and "hits" in h5 and "showers" not in h5:
        raise InputError("this is a hepgen point-cloud file (n_hits, hits/...); expected voxel showers "
                         "(CaloChallenge or ILD HDF5)", file=path)
    if "showers" in h5 or "incident_energies" in h5:
        for key in ("incident_energies", "showers"):
            if key not in h5:
                raise InputError("dataset missing; a CaloChallenge file needs 'incident_energies' and 'showers'",
                                 file=path, dataset=key)
        return LAYOUTS["calochallenge"], "incident_energies", "showers"
    for group in h5:
        g = h5.get(group)
        if hasattr(g, "keys") and ("layers" in g or "energy" in g):
            for key in ("energy", "layers"):
                if key not in g:
                    raise InputError("dataset missing; an ILD file needs '<group>/energy' and '<group>/layers'",
                                     file=path, dataset=f"{group}/{key}")
            return LAYOUTS["ild"], f"{group}/energy", f"{group}/layers"
    if "particle_features" in h5:
        raise InputError("this is a JetNet jet file, expected calorimeter showers (use the jet commands)", file=path)
    raise InputError("no shower datasets found; expected 'incident_energies' + 'showers' (CaloChallenge) "
                     "or '<group>/energy' + '<group>/layers' (ILD)", file=path)


def geometry_from_attrs(h5, path: str) -> Geometry | None:
    """The geometry a file's attributes name (``geometry_spec`` JSON, else a preset ``geometry``), or None;
    a malformed ``geometry_spec`` (not JSON, wrong values) is one :class:`InputError`.

    >>> import h5py, tempfile
    >>> with h5py.File(tempfile.mkdtemp() + "/g.h5", "w") as h5:
    ...     h5.attrs["geometry"] = "ild-ecal"
    ...     geometry_from_attrs(h5, "g.h5").n_voxels
    27000
    """
    attrs = h5.attrs
    with read_errors(path):
        spec = attrs["geometry_spec"] if "geometry_spec" in attrs else None
        name = attrs["geometry"] if "geometry" in attrs else None
    if spec is not None:
        if isinstance(spec, bytes):
            spec = spec.decode("utf-8", "replace")
        if not isinstance(spec, str):
            raise InputError(f"attribute 'geometry_spec' of type {type(spec).__name__}; expected a JSON string",
                             file=path)
        try:
            spec = json.loads(spec)
        except ValueError as exc:
            raise InputError(f"attribute 'geometry_spec' is not valid JSON ({exc})", file=path) from None
        try:
            return geometry_from_spec(spec, source=path)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - any malformed value in a foreign spec is bad input
            raise InputError(f"attribute 'geometry_spec' does not describe a geometry: {type(exc).__name__}: "
                             f"{str(exc)[:200]}", file=path) from None
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if isinstance(name, str) and name in preset_names():
        return get_geometry(name)
    return None


def _geometry_from_attrs(h5, n_voxels: int, dense_shape: tuple[int, ...], path: str,
                         geometry: Geometry | str | None) -> Geometry:
    geo = get_geometry(geometry) if geometry is not None else geometry_from_attrs(h5, path)
    if geo is None:
        geo = geometry_for_voxels(n_voxels)
        if geo is None:
            raise InputError(f"{n_voxels} voxels per shower match no built-in geometry; pass --geometry NAME or a "
                             "geometry file", file=path, dataset="showers")
    if geo.n_voxels != n_voxels or (len(dense_shape) > 1 and geo.shape != dense_shape):
        shape = dense_shape if len(dense_shape) > 1 else (n_voxels,)
        raise InputError(f"voxel shape {shape} does not fit geometry '{geo.name}' "
                         f"(expected {geo.shape if len(dense_shape) > 1 else (geo.n_voxels,)})", file=path)
    return geo


def _attrs(h5) -> dict[str, Any]:
    """File attributes that can be read (others are skipped: they are metadata, not data)."""
    out = {}
    for k in list(h5.attrs):
        try:
            v = h5.attrs[k]
            out[k] = v.item() if hasattr(v, "item") and getattr(v, "size", 1) == 1 else v
        except (OSError, TypeError, ValueError, KeyError):
            continue
    return out


class ShowerFile:
    """A shower file opened for reading (CaloChallenge or ILD layout, detected).

    Parameters
    ----------
    path: the HDF5 file.
    geometry: force a geometry (name, file or object); otherwise taken from the file's ``geometry``
        attribute or recognised by the number of voxels.
    validate: check every chunk read (NaN, negative deposits, units).
    """

    def __init__(self, path: str | Path, geometry: Geometry | str | None = None, validate: bool = True,
                 policy: str = STRICT) -> None:
        self.path = str(path)
        self.validate = validate
        self.validator = Validator(self.path, policy)
        v = self.validator
        with open_hdf5(path) as h5:
            with read_errors(self.path):
                self.layout, self._incident, self._showers = _detect(h5, self.path)
            inc = v.dataset(h5, self._incident, NUMBER_KINDS, "real numbers (MeV)")
            sh = v.dataset(h5, self._showers, FLOAT_KINDS, "floating-point energies (MeV)")
            if len(sh.shape) < 2:
                raise InputError(f"expected a 2D or 4D array of showers, got shape {sh.shape}",
                                 file=self.path, dataset=self._showers)
            if len(inc.shape) == 0 or inc.shape[0] != sh.shape[0] or inc.size != inc.shape[0]:
                raise InputError(f"incident energies of shape {inc.shape} for {sh.shape[0]} showers; expected "
                                 f"({sh.shape[0]}, 1)", file=self.path, dataset=self._incident)
            if sh.shape[0] == 0:
                raise InputError("file holds no showers (N = 0)", file=self.path, dataset=self._showers)
            self.n = int(sh.shape[0])
            n_vox = int(np.prod(sh.shape[1:]))
            if n_vox == 0:
                raise InputError(f"showers of shape {sh.shape} hold no voxels", file=self.path, dataset=self._showers)
            self.geometry = _geometry_from_attrs(h5, n_vox, tuple(sh.shape[1:]), self.path, geometry)
            self.label_names = []
            self.label_scales: dict[str, str] = {}
            if "labels" in h5:
                group = h5.get("labels")
                if not hasattr(group, "keys"):
                    raise InputError("expected a group of per-shower label datasets", file=self.path,
                                     dataset="labels")
                with read_errors(self.path, "labels"):
                    names = sorted(group.keys())
                for k in names:
                    ds = v.dataset(h5, f"labels/{k}", NUMBER_KINDS, "real numbers")
                    if len(ds.shape) == 0 or ds.shape[0] != self.n or ds.size != self.n:
                        raise InputError(f"label of shape {ds.shape} for {self.n} showers; expected ({self.n},)",
                                         file=self.path, dataset=f"labels/{k}")
                    scale = ds.attrs.get("scale")
                    if scale is not None:
                        scale = scale.decode() if isinstance(scale, bytes) else str(scale)
                        if scale not in LABEL_SCALES:
                            raise InputError(f"attribute scale = {scale!r}; expected one of {', '.join(LABEL_SCALES)}",
                                             file=self.path, dataset=f"labels/{k}")
                        self.label_scales[k] = scale
                self.label_names = names
            self.attrs = _attrs(h5)
            self.compression = sh.compression

    def __len__(self) -> int:
        return self.n

    @property
    def warnings(self) -> list[str]:
        """Implausible values met so far (lenient policy): one line per rule."""
        return self.validator.warnings

    def read(self, start: int = 0, stop: int | None = None) -> ShowerData:
        """Showers ``start:stop`` as :class:`ShowerData` (energies converted to MeV), validated by the policy."""
        stop = self.n if stop is None else min(stop, self.n)
        v = self.validator
        with open_hdf5(self.path) as h5:
            with read_errors(self.path, self._showers):
                inc = h5[self._incident][start:stop]
                energy = h5[self._showers][start:stop]
                labels = {k: h5["labels"][k][start:stop] for k in self.label_names}
        inc = v.as_float(inc.reshape(-1), np.float64, self._incident, "incident energy", self._unit, start)
        energy = v.as_float(energy.reshape(stop - start, -1), np.float32, self._showers, "voxel energy", "MeV", start)
        labels = {k: v.labels(k, x.reshape(-1), start) for k, x in labels.items()}
        inc = inc * self.layout.incident_mev_per_unit
        if self.validate:
            v.showers(inc, energy, self._showers, self._incident, start, "MeV")
        return ShowerData(inc, energy, self.geometry, labels, dict(self.label_scales))

    @property
    def _unit(self) -> str:
        return "MeV" if self.layout.incident_mev_per_unit == 1 else "GeV"

    def chunks(self, size: int = 10_000) -> Iterator[ShowerData]:
        """Iterate over the file in pieces of ``size`` showers."""
        for start in range(0, self.n, size):
            yield self.read(start, start + size)

    def incident_energy(self) -> np.ndarray:
        """(N,) incident energies in MeV, without reading the showers (finite and positive, else InputError)."""
        with open_hdf5(self.path) as h5:
            with read_errors(self.path, self._incident):
                inc = h5[self._incident][:]
        inc = self.validator.as_float(inc.reshape(-1), np.float64, self._incident, "incident energy", self._unit)
        inc = inc * self.layout.incident_mev_per_unit
        if self.validate:
            self.validator.incident(inc, self._incident, plausibility=False)
        return inc


def read_showers(path: str | Path, geometry: Geometry | str | None = None,
                 start: int = 0, stop: int | None = None, policy: str = STRICT) -> ShowerData:
    """Read showers from a CaloChallenge or ILD file (see :class:`ShowerFile`)."""
    return ShowerFile(path, geometry, policy=policy).read(start, stop)


class ShowerWriter:
    """Append showers chunk by chunk; the file appears under its name only after :meth:`close`.

    Parameters
    ----------
    path: final file name.
    geometry: geometry of every chunk.
    layout: ``calochallenge`` (default; any geometry) or ``ild`` (ild-ecal / ild-ahcal).
    compression: ``gzip`` (default, as the CaloChallenge files), ``lzf`` or ``none``.
    overwrite: replace an existing final file (and start over instead of resuming a partial file).
    resume: write into ``name.partial.h5`` and continue it when it exists (:attr:`n_written` tells how
        far it got). Its settings (geometry, layout, labels, compression and every ``metadata`` entry)
        must match, else :class:`InputError` names the differing one; an unreadable partial file (a
        job killed before its first chunk) is started over with a note on stderr. Without ``resume``
        the showers go to a private temporary file that is deleted when the writer fails.
    metadata: provenance stored as file attributes (seed, command, ...).
    labels: names of the per-shower labels every chunk carries; ``label_scales`` declares how a model should
        standardise some of them (``log`` or ``linear``), stored as the datasets' ``scale`` attribute.

    Only whole chunks count: the number of complete showers is recorded after each chunk is flushed,
    so a job killed in the middle of a chunk resumes from the chunk before.

    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "b.h5"
    >>> with ShowerWriter(path, "belle2-ecl-5x5") as w:
    ...     w.append(ShowerData(np.ones(3) * 1e3, np.zeros((3, 25)), "belle2-ecl-5x5"))
    >>> len(ShowerFile(path)), sorted(p.name for p in path.parent.iterdir())
    (3, ['b.h5'])
    """

    def __init__(
        self,
        path: str | Path,
        geometry: Geometry | str,
        layout: str = "calochallenge",
        compression: str = "gzip",
        overwrite: bool = False,
        resume: bool = False,
        metadata: dict[str, Any] | None = None,
        labels: tuple[str, ...] = (),
        label_scales: dict[str, str] | None = None,
    ) -> None:
        self.path = check_writable(path, overwrite)
        self.partial = partial_path(self.path)
        self.geometry = get_geometry(geometry)
        if layout not in LAYOUTS:
            raise InputError(f"unknown file layout '{layout}': expected {', '.join(LAYOUTS)}")
        if layout == "ild" and self.geometry.name not in ILD_GROUPS:
            raise InputError(f"the ILD layout holds {', '.join(ILD_GROUPS)} showers, not '{self.geometry.name}'")
        if compression not in ("gzip", "lzf", "none"):
            raise InputError(f"compression '{compression}': expected gzip, lzf or none")
        self.layout = LAYOUTS[layout]
        group = ILD_GROUPS.get(self.geometry.name, "")
        self._incident = self.layout.incident.format(group=group)
        self._showers = self.layout.showers.format(group=group)
        self.metadata = {k: (json.dumps(v) if isinstance(v, (dict, list, tuple)) else v)
                         for k, v in (metadata or {}).items() if v is not None}
        self.compression, self.labels = compression, tuple(labels)
        self.label_scales = {k: v for k, v in (label_scales or {}).items() if k in self.labels}
        bad = [v for v in self.label_scales.values() if v not in LABEL_SCALES]
        if bad:
            raise InputError(f"label scale '{bad[0]}': expected one of {', '.join(LABEL_SCALES)}")
        self.resume = resume
        self.n_written = 0
        self._h5 = None
        if resume and not overwrite and os.path.islink(self.partial):
            raise InputError("is a symbolic link, not a partial file written by hepgen; hepgen never writes "
                             "through a link: remove it, or pass --overwrite to replace the link (not its target)",
                             file=str(self.partial))
        if resume and not overwrite and self.partial.exists():
            self._h5 = self._reopen_partial()
        if self._h5 is None:
            # a fresh file under a private name (O_EXCL): never through a link or over a file of another job
            self._file = temp_path(self.path)
            self._h5 = open_hdf5(self._file, "w")
            self._create(compression, self.labels)
            self._h5.flush()
            if resume:  # visible under the partial name (replacing a link itself) only once it is valid
                os.replace(self._file, self.partial)
                self._file = self.partial

    def _reopen_partial(self):
        """The partial file opened for appending, or ``None`` (note on stderr) when it cannot be read."""
        import h5py

        try:
            h5 = h5py.File(self.partial, "a")
        except OSError as exc:
            if "unable to lock" in str(exc).lower():  # a live job writes it: never start over under its feet
                raise InputError("partial file is in use by another running job (locked); wait for it to finish or "
                                 "stop it first", file=str(self.partial)) from None
            return self._restart(f"not a readable HDF5 file ({str(exc).split('(')[0].strip()})")
        try:
            problem, n = self._check_partial(h5)
        except InputError:  # other settings: never touched
            h5.close()
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            problem, n = f"unreadable ({exc})", 0
        if problem is not None:
            h5.close()
            return self._restart(problem)
        for key in self._row_datasets(h5):  # drop rows of a chunk that was not completed
            if h5[key].shape[0] != n:
                h5[key].resize(n, axis=0)
        self.n_written = n
        self._file = self.partial
        return h5

    def _restart(self, problem: str) -> None:
        import sys

        print(f"hepgen: note: {self.partial}: partial file {problem}; starting over", file=sys.stderr)

    def _row_datasets(self, h5) -> list[str]:
        names = [self._incident, self._showers]
        return names + [f"labels/{k}" for k in h5["labels"]] if "labels" in h5 else names

    def _check_partial(self, h5) -> tuple[str | None, int]:
        """(why it cannot be resumed or None, number of complete showers); InputError on other settings."""
        attrs = h5.attrs
        if "geometry" not in attrs or not any(k in h5 for k in ("incident_energies", "showers", *ILD_GROUPS.values())):
            return "holds no shower datasets (killed before its first chunk?)", 0
        stored_spec = attrs.get("geometry_spec")
        wanted_spec = json.dumps(self.geometry.spec()) if self.geometry.name not in preset_names() else None
        settings = [("geometry", attrs.get("geometry"), self.geometry.name),
                    ("geometry_spec", stored_spec, wanted_spec)]
        stored_layout = next((n for n, lay in LAYOUTS.items() if lay.showers.format(
            group=ILD_GROUPS.get(str(attrs.get("geometry")), "")) in h5), None)
        settings.append(("layout", stored_layout, self.layout.name))
        settings.append(("labels", sorted(h5["labels"]) if "labels" in h5 else [], sorted(self.labels)))
        if self._showers in h5:
            settings.append(("compression", h5[self._showers].compression or "none", self.compression))
        settings += [(k, attrs.get(k), v) for k, v in self.metadata.items()]
        for key, stored, wanted in settings:
            if (stored is None) != (wanted is None) or (stored is not None and _differs(stored, wanted)):
                shown = "(not set)" if stored is None else _attr_text(stored)
                raise InputError(f"a partial file of a run with other settings exists: {key} = {shown} there, "
                                 f"{'(not set)' if wanted is None else _attr_text(wanted)} now; rerun with the "
                                 "same options to resume it, or pass --overwrite to start over",
                                 file=str(self.partial))
        lengths = {key: h5[key].shape[0] for key in self._row_datasets(h5)}
        if COMPLETE_ROWS in attrs:
            n = int(attrs[COMPLETE_ROWS])
        else:  # written before the count was kept: trust it only when every dataset has the same length
            n = min(lengths.values()) if len(set(lengths.values())) == 1 else -1
        if n < 0 or any(v < n for v in lengths.values()):
            return f"is inconsistent (rows {lengths}, {n} recorded complete)", 0
        return None, n

    def _create(self, compression: str, labels: tuple[str, ...]) -> None:
        from hepgen import __version__

        geo = self.geometry
        comp = None if compression == "none" else compression
        opts = {"gzip": 4}.get(compression)
        per_shower = geo.shape if self.layout.dense else (geo.n_voxels,)
        rows = max(1, min(1000, (1 << 20) // (4 * geo.n_voxels)))
        self._h5.create_dataset(self._incident, shape=(0, 1), maxshape=(None, 1), dtype="f8",
                                chunks=(max(rows, 1024), 1), compression=comp, compression_opts=opts)
        self._h5.create_dataset(self._showers, shape=(0,) + tuple(per_shower), maxshape=(None,) + tuple(per_shower),
                                dtype="f4", chunks=(rows,) + tuple(per_shower), compression=comp,
                                compression_opts=opts)
        for name in labels:
            ds = self._h5.create_dataset(f"labels/{name}", shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))
            if name in self.label_scales:
                ds.attrs["scale"] = self.label_scales[name]
        self._h5.attrs["geometry"] = geo.name
        if geo.name not in preset_names():
            self._h5.attrs["geometry_spec"] = json.dumps(geo.spec())
        self._h5.attrs["hepgen_version"] = __version__
        self._h5.attrs["energy_unit"] = ("MeV" if self.layout.incident_mev_per_unit == 1
                                         else "GeV (incident), MeV (deposits)")
        for k, v in self.metadata.items():
            self._h5.attrs[k] = v
        self._h5.attrs[COMPLETE_ROWS] = 0

    def append(self, showers: ShowerData) -> None:
        """Write a chunk (negative round-off deposits are clipped to 0)."""
        if showers.geometry != self.geometry:
            raise InputError(f"cannot write '{showers.geometry.name}' showers into a '{self.geometry.name}' file",
                             file=str(self.path))
        missing = [name for name in self.labels if name not in showers.labels]
        if missing:
            raise InputError(f"chunk lacks label '{missing[0]}' that the file records", file=str(self.path))
        n, m = self.n_written, len(showers)
        energy = np.clip(showers.energy, 0.0, None)
        if self.layout.dense:
            energy = energy.reshape((m,) + self.geometry.shape)
        inc = (showers.incident_energy / self.layout.incident_mev_per_unit).reshape(-1, 1)
        columns = [(self._incident, inc), (self._showers, energy)]
        columns += [(f"labels/{name}", showers.labels[name]) for name in self.labels]
        for key, data in columns:
            ds = self._h5[key]
            ds.resize(n + m, axis=0)
            ds[n:n + m] = data
        self._h5.flush()  # the rows first, then the count that makes them part of the file
        self._h5.attrs[COMPLETE_ROWS] = n + m
        self._h5.flush()
        self.n_written = n + m

    def close(self) -> None:
        """Finish the file and move it to its final name."""
        if self._h5 is None:
            return
        del self._h5.attrs[COMPLETE_ROWS]
        self._h5.close()
        self._h5 = None
        os.replace(self._file, self.path)

    def abort(self) -> None:
        """Close without finishing: a resumable ``.partial`` file stays, a private temporary file is deleted."""
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
            if not self.resume and os.path.lexists(self._file):
                os.unlink(self._file)

    def __enter__(self) -> "ShowerWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


COMPLETE_ROWS = "hepgen_complete_rows"


def _attr_text(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    return repr(value) if isinstance(value, str) else str(value)


def _differs(stored: Any, wanted: Any) -> bool:
    if stored is None:
        return True
    if hasattr(stored, "item"):
        stored = stored.item()
    return str(stored) != str(wanted)


def write_showers(path: str | Path, showers: ShowerData, layout: str = "calochallenge",
                  compression: str = "gzip", overwrite: bool = False, metadata: dict | None = None) -> None:
    """Write a whole :class:`ShowerData` in one go (atomically)."""
    with ShowerWriter(path, showers.geometry, layout, compression, overwrite,
                      labels=tuple(showers.labels), metadata=metadata, label_scales=showers.label_scales) as w:
        w.append(showers)
