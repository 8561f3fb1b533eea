"""File conversion between formats, streamed in chunks (``hepgen convert``).

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import ShowerData, write_showers, read_points
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_showers(d / "a.h5", ShowerData([1e4], np.eye(1, 25, 3) * 5.0, "belle2-ecl-5x5"))
>>> convert_file(d / "a.h5", d / "a_points.h5", to="points")
1
>>> read_points(d / "a_points.h5").indices.tolist()
[[0, 0, 3]]
"""

from __future__ import annotations

from pathlib import Path

from hepgen.errors import InputError

__all__ = ["convert_file", "FORMATS"]

FORMATS = ("calochallenge", "ild", "points", "jetnet", "root")


def convert_file(source: str | Path, target: str | Path, to: str = "calochallenge", geometry: str | None = None,
                 compression: str = "gzip", chunk_size: int = 10_000, overwrite: bool = False,
                 root: dict | None = None) -> int:
    """Convert ``source`` into ``target`` in format ``to``; returns the number of showers or jets.

    A ``.root`` source is a CALICE-style hit tree (:func:`hepgen.data.calice.import_hit_tree`; geometry default
    ``calice-ahcal-2018``); ``to="root"`` writes showers as one (:func:`hepgen.data.calice.write_hit_tree`).
    ``root`` holds their options: ``layout`` (a :class:`~hepgen.data.calice.HitTreeLayout` or its ``key=value,...``
    text), ``mip_mev``, and for the import ``cut_mip``, ``beam_energy_gev``, ``drop_back_layers``,
    ``max_start_layer``, ``min_hits``, ``require_start``, ``selection_cut_mip``.
    """
    from hepgen.data.hdf5 import ShowerFile, ShowerWriter, is_jet_file
    from hepgen.data.jetnet import read_jets, write_jets
    from hepgen.data.pointfile import PointWriter
    from hepgen.data.pointcloud import voxels_to_points
    from hepgen.progress import track

    if to not in FORMATS:
        raise InputError(f"unknown output format '{to}': expected one of {', '.join(FORMATS)}")
    source, target = Path(source), Path(target)
    try:
        same = source.resolve() == target.resolve()
    except (OSError, RuntimeError) as exc:     # e.g. a symbolic-link loop
        raise InputError(f"cannot resolve the path: {exc}", file=str(source)) from None
    if same:
        raise InputError("input and output are the same file", file=str(target))
    if source.suffix.lower() == ".root" or to == "root":
        return _convert_root(source, target, to, geometry, compression, chunk_size, overwrite, dict(root or {}))
    is_jets = source.suffix in (".npy", ".npz")
    if not is_jets:
        is_jets = is_jet_file(source)
    if is_jets:
        if to != "jetnet":
            raise InputError(f"a jet file converts only to jetnet (.h5/.npz/.npy), not '{to}'", file=str(source))
        jets = read_jets(source)
        write_jets(target, jets, overwrite=overwrite, compression=compression)
        return len(jets)
    if to == "jetnet":
        raise InputError("a shower file cannot be written as JetNet jets; use --to points for a point cloud",
                         file=str(source))
    f = ShowerFile(source, geometry)
    n_chunks = -(-len(f) // chunk_size)
    chunks = track(f.chunks(chunk_size), total=n_chunks, description="converting")
    if to == "points":
        with PointWriter(target, f.geometry, overwrite=overwrite, compression=compression) as w:
            for chunk in chunks:
                w.append(voxels_to_points(chunk))
    else:
        with ShowerWriter(target, f.geometry, layout=to, compression=compression, overwrite=overwrite,
                          labels=tuple(f.label_names), metadata={"converted_from": source.name}) as w:
            for chunk in chunks:
                w.append(chunk)
    return len(f)


def _convert_root(source: Path, target: Path, to: str, geometry: str | None, compression: str, chunk_size: int,
                  overwrite: bool, options: dict) -> int:
    """ROOT hit tree -> shower HDF5, or shower HDF5 -> ROOT hit tree."""
    from hepgen.data.calice import HitTreeLayout, import_hit_tree, write_hit_tree
    from hepgen.data.hdf5 import ShowerFile
    from hepgen.progress import status, track

    layout = options.pop("layout", None)
    if not isinstance(layout, HitTreeLayout):
        layout = HitTreeLayout.parse(layout)
    if source.suffix.lower() == ".root":
        if to != "calochallenge":
            raise InputError(f"a ROOT hit tree converts to calochallenge (HDF5), not '{to}'", file=str(source))
        counts = import_hit_tree(source, target, geometry or "calice-ahcal-2018", layout, compression=compression,
                                 chunk_size=min(chunk_size, 2_000), overwrite=overwrite, **options)
        status(f"{counts['events']} events read, {counts['written']} written; rejected: {counts['few_hits']} with too "
               f"few hits, {counts['no_start']} without a shower start, {counts['late_start']} starting late")
        return counts["written"]
    unknown = set(options) - {"mip_mev"}
    if unknown:
        raise InputError(f"option {sorted(unknown)[0]} applies to importing a ROOT file, not to writing one")
    f = ShowerFile(source, geometry)
    n_chunks = -(-len(f) // chunk_size)
    return write_hit_tree(target, track(f.chunks(chunk_size), total=n_chunks, description="converting"),
                          mip_mev=options.get("mip_mev"), layout=layout, overwrite=overwrite)
