"""Detector geometries: CaloChallenge cylinders, Cartesian cell grids, and user files.

>>> from hepgen.geometry import get_geometry, geometry_for_voxels
>>> get_geometry("calochallenge-3").shape
(45, 50, 18)
>>> geometry_for_voxels(6480).name
'calochallenge-2'
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from hepgen.errors import InputError
from hepgen.geometry.base import Geometry, Slab
from hepgen.geometry.cartesian import CartesianGeometry
from hepgen.geometry.cylindrical import CylindricalGeometry, read_binning_xml
from hepgen.geometry.presets import PRESETS, preset_names

__all__ = [
    "Geometry", "Slab", "CartesianGeometry", "CylindricalGeometry", "get_geometry", "geometry_from_spec",
    "geometry_for_voxels", "preset_names", "read_binning_xml",
]


@lru_cache(maxsize=None)
def _preset(name: str) -> Geometry:
    return PRESETS[name]()


def get_geometry(name: str | Path | Geometry) -> Geometry:
    """A geometry by short name (see :mod:`hepgen.geometry.presets`) or from a user's XML/YAML file.

    >>> get_geometry("belle2-ecl-5x5").n_voxels
    25
    """
    if isinstance(name, Geometry):
        return name
    text = str(name)
    if text in PRESETS:
        return _preset(text)
    path = Path(text)
    if path.suffix.lower() in (".xml", ".yaml", ".yml"):
        if not path.is_file():
            raise InputError("geometry file not found", file=text)
        if path.suffix.lower() == ".xml":
            particle, r_edges, n_alpha = read_binning_xml(path)
            return CylindricalGeometry(path.stem, r_edges, n_alpha, particle=particle, source=str(path))
        import yaml

        try:
            spec = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InputError(f"not valid YAML ({exc})".replace("\n", " "), file=text) from None
        return geometry_from_spec(spec, source=str(path))
    raise InputError(f"unknown geometry '{text}': expected one of {', '.join(PRESETS)} or a .xml/.yaml file")


def _layers_from_spec(layers: list | None, where: str) -> tuple[tuple[Slab, ...], ...] | None:
    """Layer stack from a list of readout layers, each a list of slabs or {repeat: n, slabs: [...]}."""
    if layers is None:
        return None
    out: list[tuple[Slab, ...]] = []
    try:
        for entry in layers:
            if isinstance(entry, dict) and "slabs" in entry:
                slabs = tuple(Slab(str(s["material"]), float(s["thickness_mm"]), bool(s.get("active", False)))
                              for s in entry["slabs"])
                out.extend([slabs] * int(entry.get("repeat", 1)))
            else:
                out.append(tuple(Slab(str(s["material"]), float(s["thickness_mm"]), bool(s.get("active", False)))
                                 for s in entry))
    except (KeyError, TypeError, ValueError):
        raise InputError("layers: expected a list of {repeat: N, slabs: [{material, thickness_mm, active}]}",
                         file=where) from None
    return tuple(out)


_READOUT_KEYS = ("readout_threshold_mev", "evaluation_threshold_mev", "calibrated_energies", "calochallenge_dataset")


def _readout_from_spec(spec: dict, preset: Geometry | None, where: str) -> dict:
    """The readout conventions a spec states (the preset's where it names one and states none)."""
    out = {k: getattr(preset, k) for k in _READOUT_KEYS} if preset is not None else {}
    try:
        for key in ("readout_threshold_mev", "evaluation_threshold_mev"):
            if spec.get(key) is not None:
                out[key] = float(spec[key])
                if not out[key] >= 0:
                    raise ValueError
        if "calibrated_energies" in spec:
            if not isinstance(spec["calibrated_energies"], bool):
                raise ValueError
            out["calibrated_energies"] = spec["calibrated_energies"]
        if spec.get("calochallenge_dataset") is not None:
            if spec["calochallenge_dataset"] not in (1, 2, 3) or isinstance(spec["calochallenge_dataset"], bool):
                raise ValueError
            out["calochallenge_dataset"] = int(spec["calochallenge_dataset"])
    except (TypeError, ValueError):
        raise InputError("readout_threshold_mev, evaluation_threshold_mev: expected numbers >= 0 (MeV); "
                         "calibrated_energies: expected true or false; calochallenge_dataset: expected 1, 2 or 3",
                         file=where) from None
    return out


def geometry_from_spec(spec: dict, source: str | None = None) -> Geometry:
    """Build a geometry from a plain dict (as written by :meth:`Geometry.spec` or a user's YAML).

    A preset can be named (``{"name": "ild-ecal"}``). A Cartesian grid::

        type: cartesian
        name: my-ecal
        nx: 10
        ny: 10
        nz: 20
        cell_size_mm: [5, 5]
        layers:
          - repeat: 20
            slabs: [{material: W, thickness_mm: 3.5}, {material: Si, thickness_mm: 0.5, active: true}]

    A cylinder gives ``r_edges`` (list per layer) and ``n_alpha`` or ``xml: binning.xml``. Either may state
    its readout conventions (see :class:`Geometry`): ``readout_threshold_mev`` (default 0),
    ``evaluation_threshold_mev`` (default none: evaluation warns and uses 0), ``calibrated_energies``
    (default false) and ``calochallenge_dataset`` (1, 2 or 3: the challenge's histogram binning; default none).
    A spec that names a preset takes the preset's conventions where it states none.

    >>> geometry_from_spec({"type": "cartesian", "name": "t", "nx": 2, "ny": 2, "nz": 1,
    ...                     "cell_size_mm": [1, 1]}).n_voxels
    4
    """
    where = source or "<geometry spec>"
    if not isinstance(spec, dict):
        raise InputError("expected a mapping with 'type' and 'name'", file=where)
    if spec.get("type") is None and spec.get("name") in PRESETS:
        return _preset(spec["name"])
    kind = spec.get("type")
    name = str(spec.get("name", Path(where).stem))
    layers = _layers_from_spec(spec.get("layers"), where)
    readout = _readout_from_spec(spec, _preset(name) if name in PRESETS else None, where)
    try:
        if kind == "cartesian":
            size = spec.get("cell_size_mm", [1.0, 1.0])
            if not isinstance(size, (list, tuple)):
                size = [size, size]
            geo = CartesianGeometry(name, int(spec["nx"]), int(spec["ny"]), int(spec["nz"]),
                                    (float(size[0]), float(size[1])), layer_stack=layers, source=source,
                                    **readout)
        elif kind == "cylindrical":
            if "xml" in spec:
                xml = Path(spec["xml"])
                if source and not xml.is_absolute():
                    xml = Path(source).parent / xml
                particle, r_edges, n_alpha = read_binning_xml(xml)
            else:
                import numpy as np

                r_edges = [np.asarray(r, dtype=float) for r in spec["r_edges"]]
                n_alpha = spec["n_alpha"]
                n_alpha = [int(n_alpha)] * len(r_edges) if isinstance(n_alpha, int) else [int(a) for a in n_alpha]
                particle = spec.get("particle", "")
            geo = CylindricalGeometry(name, r_edges, n_alpha, layer_stack=layers,
                                      inner_radius_mm=spec.get("inner_radius_mm"), particle=particle, source=source,
                                      **readout)
        else:
            raise InputError(f"type: expected 'cartesian' or 'cylindrical', got {kind!r}", file=where)
    except KeyError as exc:
        raise InputError(f"missing key {exc} for a {kind} geometry", file=where) from None
    if name in PRESETS and geo != _preset(name):
        # a user spec may reuse a preset's name only when it is the preset
        raise InputError(f"name '{name}' is a built-in geometry but the spec differs from it; rename it", file=where)
    return geo


def geometry_for_voxels(n_voxels: int) -> Geometry | None:
    """The built-in geometry with this many voxels, if exactly one has it (used to recognise files)."""
    matches = [n for n in PRESETS if _preset(n).n_voxels == n_voxels]
    return _preset(matches[0]) if len(matches) == 1 else None
