"""CALICE-style test-beam data: ROOT hit trees in and out (uproot), MIP units, cuts, selections, shower start.

Measured calorimeter data of the CALICE collaboration come as ROOT trees with one entry per event and, per hit,
the cell indices I, J (transverse) and K (layer) and the hit energy in MIP, beside the event number and the beam
energy (S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022),
Ch. 8; E. Buhmann et al., "Hadrons, better, faster, stronger", Mach. Learn. Sci. Tech. 3 (2022) 025014,
arXiv:2112.09709). This module turns such trees into hepgen showers and back:

* :class:`HitTreeLayout`: tree and branch names (CALICE-like defaults, all configurable), the first index value
  (CALICE counts cells and layers from 1);
* :func:`read_hit_tree`: chunks of :class:`~hepgen.data.ShowerData` in MeV (hit energy x ``mip_mev``), hits below
  the training cut (0.2 MIP, the prototype's auto-trigger threshold, Diefenbacher 2022 Sec. 8.1) dropped;
* :func:`shower_start_layer`: the CALICE shower-start finder (arXiv:1105.3417, see there);
* :func:`select_showers`: the selections of the thesis (shower start in the first layers; punch-through rejection);
* :func:`import_hit_tree` (``hepgen convert FILE.root OUT.h5``) and :func:`write_hit_tree`
  (``hepgen convert IN.h5 OUT.root --to root``).

Units: voxel energies in MeV as everywhere in hepgen; ``mip_mev`` is the MIP value of the files' energy scale
(calibrated test-beam data: 26.8 MeV = 0.0268 GeV, the sampling fraction included; ILD AHCAL simulation: the
visible 0.5 MeV). Incident (beam) energies are read in GeV and stored in MeV.

>>> import numpy as np, tempfile, pathlib
>>> from hepgen.data import ShowerData
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> e = np.zeros((1, 21312), np.float32); e[0, 5] = 53.6                  # 2 MIP in layer 1, I = 6, J = 1
>>> write_hit_tree(d / "tb.root", ShowerData([4e4], e, "calice-ahcal-2018"), mip_mev=26.8)
1
>>> s = next(read_hit_tree(d / "tb.root", "calice-ahcal-2018", mip_mev=26.8))
>>> float(s.energy[0, 5]), float(s.incident_energy[0]), s.labels["event_number"].tolist()
(53.599998474121094, 40000.0, [0.0])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from hepgen.data.showers import ShowerData
from hepgen.errors import InputError
from hepgen.geometry import Geometry, get_geometry

__all__ = ["HitTreeLayout", "read_hit_tree", "write_hit_tree", "import_hit_tree", "shower_start_layer",
           "start_layers", "layer_energies_and_hits", "select_showers", "default_mip_mev", "start_thresholds",
           "TRAINING_CUT_MIP", "EVALUATION_CUT_MIP"]

#: hits below this (MIP) are dropped on import: the prototype's auto-trigger threshold (Diefenbacher 2022, Sec. 8.1)
TRAINING_CUT_MIP = 0.2
#: the standard cell cut (MIP) of the evaluation and of the selections (Diefenbacher 2022, Secs. 7.1, 8.1)
EVALUATION_CUT_MIP = 0.5

#: MIP values (MeV, in the files' energy convention) of the geometries whose files hepgen knows
_MIP_MEV = {"calice-ahcal-2018": 26.8, "ild-ahcal": 0.5}


def default_mip_mev(geometry: Geometry | str) -> float | None:
    """The MIP value (MeV) of a geometry's files: 26.8 for ``calice-ahcal-2018`` (calibrated, Diefenbacher 2022
    Sec. 8.1), 0.5 for ``ild-ahcal`` (visible, Sec. 7.1); ``None`` for other geometries (pass it explicitly).

    >>> default_mip_mev("calice-ahcal-2018"), default_mip_mev("ild-ahcal"), default_mip_mev("ild-ecal")
    (26.8, 0.5, None)
    """
    return _MIP_MEV.get(get_geometry(geometry).name)


def _mip(geometry: Geometry, mip_mev: float | None) -> float:
    mip = default_mip_mev(geometry) if mip_mev is None else mip_mev
    if mip is None:
        raise InputError(f"geometry '{geometry.name}' has no known MIP value: pass the MIP value in MeV (--mip-mev)")
    if not (np.isfinite(mip) and mip > 0):
        raise InputError(f"MIP value {mip!r} MeV: expected a positive number")
    return float(mip)


# ---------------------------------------------------------------------------------------------------------------
# the CALICE shower-start finder
# ---------------------------------------------------------------------------------------------------------------

def start_thresholds(beam_energy_gev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Energy (MIP) and hit-count thresholds of :func:`shower_start_layer` for beam energies in GeV:
    6 + 0.1 E/GeV MIP on the sum of the running mean energies of two consecutive layers and
    round(3.77 + 1.44 ln(E/GeV)) on the sum of their hit counts (the CALICE AHCAL shower-start finder).

    >>> [t.tolist() for t in start_thresholds(np.array([40.0, 160.0]))]
    [[10.0, 22.0], [9, 11]]
    """
    e = np.asarray(beam_energy_gev, dtype=np.float64)
    if not np.all(np.isfinite(e) & (e > 0)):
        raise InputError("shower start: beam energies must be finite and > 0 GeV")
    return 6.0 + 0.1 * e, np.floor(3.77 + 1.44 * np.log(e) + 0.5).astype(np.int64)


def shower_start_layer(layer_energy_mip: np.ndarray, layer_hits: np.ndarray, beam_energy_gev: np.ndarray | float,
                       window: int = 6, track_mip: float = 1.4, track_hits: int = 1,
                       energy_threshold_mip: np.ndarray | float | None = None,
                       hit_threshold: np.ndarray | int | None = None) -> np.ndarray:
    """First layer of the hadronic shower (0-based; ``n_layers`` when none is found: a punch-through or a pion that
    did not interact; the thesis's "start layer 38" of the 37-layer prototype), by the CALICE shower-start finder.

    The thesis evaluates "the shower start layer" with the algorithm of the CALICE collaboration, citing
    CALICE, "Tests of a particle flow algorithm with CALICE test beam data", JINST 6 (2011) P07005,
    arXiv:1105.3417, without spelling it out. This is the form of the CALICE AHCAL analysis software: before the
    first hard interaction the pion is a MIP track (about ``track_mip`` = 1.4 MIP and ``track_hits`` = 1 hit per
    layer); the energy per layer is averaged over a sliding window of ``window`` layers (virtual MIP-track layers in
    front of the calorimeter fill the window at the start); the shower starts at the first layer l where

    * running mean(l - 1) + running mean(l) > the energy threshold (default 6 + 0.1 E_beam/GeV MIP), and
    * hits(l - 1) + hits(l) > the hit threshold (default round(3.77 + 1.44 ln(E_beam/GeV))),

    layer -1 being a virtual MIP-track layer (:func:`start_thresholds`). ``window = 1`` gives the plain
    two-consecutive-layers criterion. Energies in MIP and hit counts above the cell cut (0.5 MIP), (N, n_layers).

    >>> e = np.zeros((3, 10)); n = np.zeros((3, 10), int)
    >>> e[:] = 1.4; n[:] = 1                                       # three MIP tracks through 10 layers ...
    >>> e[1, 4:] = 60.0; n[1, 4:] = 12                             # ... one showers from layer 4 on ...
    >>> e[2, 2:] = 20.0; n[2, 2:] = 12                             # ... one, softer, from layer 2 on
    >>> shower_start_layer(e, n, 40.0, window=1).tolist(), shower_start_layer(e, n, 40.0).tolist()
    ([10, 4, 2], [10, 4, 3])
    """
    energy = np.asarray(layer_energy_mip, dtype=np.float64)
    hits = np.asarray(layer_hits, dtype=np.float64)
    if energy.ndim != 2 or energy.shape != hits.shape:
        raise InputError(f"shower start: expected (N, n_layers) energies and hits, got {energy.shape} and {hits.shape}")
    if window < 1:
        raise InputError(f"shower start: window {window}: expected >= 1 layers")
    n, n_layers = energy.shape
    beam = np.broadcast_to(np.asarray(beam_energy_gev, dtype=np.float64), (n,))
    e_thr, n_thr = start_thresholds(beam) if len(beam) else (np.zeros(0), np.zeros(0, np.int64))
    if energy_threshold_mip is not None:
        e_thr = np.broadcast_to(np.asarray(energy_threshold_mip, dtype=np.float64), (n,))
    if hit_threshold is not None:
        n_thr = np.broadcast_to(np.asarray(hit_threshold), (n,))
    # running mean over the window, virtual MIP-track layers in front: pad with track_mip, cumulative sums
    padded = np.concatenate([np.full((n, window), track_mip), energy], axis=1)
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(padded, axis=1)], axis=1)
    running = (csum[:, window + 1:] - csum[:, 1:n_layers + 1]) / window             # mean of layers l-w+1 .. l
    previous = np.concatenate([np.full((n, 1), track_mip), running[:, :-1]], axis=1)
    hits_previous = np.concatenate([np.full((n, 1), float(track_hits)), hits[:, :-1]], axis=1)
    fired = (previous + running > e_thr[:, None]) & (hits_previous + hits > n_thr[:, None])
    return np.where(fired.any(axis=1), fired.argmax(axis=1), n_layers).astype(np.int64)


def layer_energies_and_hits(energy_mev: np.ndarray, geometry: Geometry, threshold_mev: float) -> tuple[np.ndarray,
                                                                                                         np.ndarray]:
    """(N, n_layers) energy per layer (MeV) and number of cells per layer at or above ``threshold_mev``.

    >>> from hepgen.geometry import CartesianGeometry
    >>> toy = CartesianGeometry("toy", 2, 1, 2, (1.0, 1.0))              # 2 layers of 2 cells
    >>> e, n = layer_energies_and_hits(np.array([[0.2, 3.0, 0.5, 5.0]]), toy, 0.5)
    >>> e.tolist(), n.tolist()
    ([[3.0, 5.5]], [[1, 2]])
    """
    energy = np.asarray(energy_mev)
    keep = energy >= max(threshold_mev, np.finfo(np.float32).tiny)
    e = np.where(keep, energy, 0).astype(np.float64)
    edges = geometry.layer_edges
    starts = edges[:-1]
    if len(energy) == 0:
        return np.zeros((0, geometry.n_layers)), np.zeros((0, geometry.n_layers), np.int64)
    return np.add.reduceat(e, starts, axis=1), np.add.reduceat(keep.astype(np.int64), starts, axis=1)


def start_layers(energy_mev: np.ndarray, incident_energy_mev: np.ndarray, geometry: Geometry | str,
                 mip_mev: float | None = None, cut_mip: float = EVALUATION_CUT_MIP, **finder) -> np.ndarray:
    """(N,) CALICE shower-start layer (:func:`shower_start_layer`) of (N, n_voxels) showers in MeV, from the cells at
    or above ``cut_mip`` MIP, with the incident energy as the beam energy; ``finder`` options go to the finder.

    >>> e = np.zeros((1, 21312), np.float32); e[0, 3 * 576:] = 26.8        # 1 MIP in every cell from layer 3 on
    >>> start_layers(e, np.array([4e4]), "calice-ahcal-2018").tolist()
    [3]
    """
    geo = get_geometry(geometry)
    mip = _mip(geo, mip_mev)
    e, n = layer_energies_and_hits(energy_mev, geo, cut_mip * mip)
    return shower_start_layer(e / mip, n, np.asarray(incident_energy_mev, dtype=np.float64) / 1e3, **finder)


# ---------------------------------------------------------------------------------------------------------------
# selections
# ---------------------------------------------------------------------------------------------------------------

def select_showers(showers: ShowerData, mip_mev: float | None = None, max_start_layer: int | None = None,
                   min_hits: int = 0, require_start: bool = False,
                   cut_mip: float = EVALUATION_CUT_MIP) -> tuple[np.ndarray, dict[str, int]]:
    """Mask of the showers that pass the thesis's selections, and how many each selection rejected.

    * ``min_hits``: punch-through / MIP-track rejection, at least this many cells at or above ``cut_mip``
      (the ILD pion set: 70 hits above 0.5 MIP, Diefenbacher 2022 Sec. 7.1; 0: off);
    * ``require_start``: a shower start must be found (:func:`shower_start_layer`; no start = a punch-through);
    * ``max_start_layer``: the shower starts in the first ``max_start_layer`` layers, i.e. at a 0-based layer
      below it (the thesis's "first 5 layers" against longitudinal leakage: 5; ``None``: off). It implies
      ``require_start``.

    Counts: ``few_hits``, ``no_start``, ``late_start`` (a shower is counted under the first selection it fails,
    in this order) and ``selected``.

    >>> e = np.zeros((3, 21312), np.float32)
    >>> e[1, 0:24] = 26.8; e[2, 2 * 576:] = 26.8                          # a MIP row; a shower from layer 2 on
    >>> mask, counts = select_showers(ShowerData(np.full(3, 4e4), e, "calice-ahcal-2018"), min_hits=30,
    ...                               max_start_layer=5)
    >>> mask.tolist(), counts
    ([False, False, True], {'few_hits': 2, 'no_start': 0, 'late_start': 0, 'selected': 1})
    """
    geo = showers.geometry
    mip = _mip(geo, mip_mev)
    keep = np.ones(len(showers), bool)
    counts = {"few_hits": 0, "no_start": 0, "late_start": 0}
    if min_hits > 0:
        few = np.count_nonzero(showers.energy >= cut_mip * mip, axis=1) < min_hits
        counts["few_hits"] = int(few.sum())
        keep &= ~few
    if require_start or max_start_layer is not None:
        start = start_layers(showers.energy, showers.incident_energy, geo, mip, cut_mip)
        none = keep & (start >= geo.n_layers)
        counts["no_start"] = int(none.sum())
        keep &= ~none
        if max_start_layer is not None:
            late = keep & (start >= max_start_layer)
            counts["late_start"] = int(late.sum())
            keep &= ~late
    counts["selected"] = int(keep.sum())
    return keep, counts


# ---------------------------------------------------------------------------------------------------------------
# ROOT hit trees
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HitTreeLayout:
    """Where a CALICE-style ROOT file keeps its hits: the tree, the per-hit (jagged) branches of the cell indices
    ``i`` (x), ``j`` (y), ``k`` (layer) and the hit ``energy`` in MIP, the per-event branches ``event`` (event
    number; optional) and ``beam_energy`` (GeV; optional when a fixed beam energy is given), and ``index_base``, the
    value of the first cell / layer index (CALICE: 1).

    >>> HitTreeLayout.parse("tree=hits,energy=e_mip,index_base=0").energy
    'e_mip'
    """

    tree: str = "bigtree"
    i: str = "ahc_hitI"
    j: str = "ahc_hitJ"
    k: str = "ahc_hitK"
    energy: str = "ahc_hitEnergy"
    event: str = "eventNumber"
    beam_energy: str = "beamEnergy"
    index_base: int = 1

    @classmethod
    def parse(cls, text: str | None) -> "HitTreeLayout":
        """A layout from ``key=value`` pairs separated by commas (keys: the field names); others keep the defaults."""
        layout = cls()
        if not text:
            return layout
        names = [f.name for f in fields(cls)]
        for part in text.split(","):
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in names or not value:
                raise InputError(f"ROOT layout '{part}': expected key=value with a key among {', '.join(names)}")
            if key == "index_base":
                try:
                    layout = replace(layout, index_base=int(value))
                except ValueError:
                    raise InputError(f"ROOT layout index_base={value!r}: expected an integer") from None
            else:
                layout = replace(layout, **{key: value})
        return layout


def _open_tree(path: str | Path, layout: HitTreeLayout):
    import uproot

    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        f = uproot.open(path)
    except Exception as exc:  # noqa: BLE001 - uproot raises many types for a file that is not ROOT
        raise InputError(f"not a readable ROOT file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
                         file=str(path)) from None
    trees = [k.split(";")[0] for k, c in f.classnames().items() if c.startswith("TTree") or c.startswith("TNtuple")]
    if layout.tree not in trees:
        raise InputError(f"tree '{layout.tree}' not found; the file holds {', '.join(trees) or 'no trees'} "
                         "(choose one with --root-layout tree=NAME)", file=str(path))
    return f, f[layout.tree]


def _branch_error(path: str, layout: HitTreeLayout, branch: str, what: str, event: int | None = None) -> InputError:
    return InputError(what, file=path, dataset=f"{layout.tree}/{branch}", index=event)


def read_hit_tree(path: str | Path, geometry: Geometry | str = "calice-ahcal-2018", layout: HitTreeLayout | None = None,
                  mip_mev: float | None = None, cut_mip: float = TRAINING_CUT_MIP,
                  beam_energy_gev: float | None = None, drop_back_layers: bool = False,
                  chunk_size: int = 2_000) -> Iterator[ShowerData]:
    """Read a CALICE-style ROOT hit tree as chunks of showers (MeV; labels ``event_number``).

    Each hit adds ``energy x mip_mev`` (computed in float64, stored as float32) to the cell (K, J, I) -
    ``index_base``; hits below ``cut_mip`` MIP are dropped (default 0.2 MIP, the training cut; hits in one cell are
    summed). ``beam_energy_gev`` replaces a missing beam-energy branch. Hits in layers behind the geometry's last
    layer are dropped with ``drop_back_layers`` (the thesis drops the prototype's last two layers), else refused.
    Bad input (a missing tree or branch, per-hit branches of different lengths, non-integer indices or indices
    outside the geometry, non-finite energies, a non-positive beam energy) raises one :class:`InputError` naming
    file, tree/branch, event index (the tree entry) and what was expected.
    """
    import awkward as ak

    geo = get_geometry(geometry)
    if geo.grid_shape is None:
        raise InputError(f"geometry '{geo.name}': a hit tree of cell indices needs a regular cell grid (Cartesian)")
    mip = _mip(geo, mip_mev)
    if not cut_mip >= 0:
        raise InputError(f"cut {cut_mip!r} MIP: expected a number >= 0")
    layout = layout or HitTreeLayout()
    file, tree = _open_tree(path, layout)
    where = str(path)
    names = set(tree.keys())
    hit_branches = [layout.i, layout.j, layout.k, layout.energy]
    for b in hit_branches:
        if b not in names:
            raise _branch_error(where, layout, b, f"branch missing; the tree holds {', '.join(sorted(names))} "
                                "(map branches with --root-layout i=...,j=...,k=...,energy=...)")
    has_beam = layout.beam_energy in names
    if not has_beam and beam_energy_gev is None:
        raise _branch_error(where, layout, layout.beam_energy, "branch missing: expected the beam energy (GeV) per "
                            "event, or give a fixed one (--beam-energy GEV)")
    has_event = layout.event in names
    ny, nx = geo.grid_shape
    limits = {layout.i: nx, layout.j: ny, layout.k: geo.n_layers}
    n_entries = int(tree.num_entries)
    if n_entries == 0:
        raise InputError("the tree holds no events", file=where, dataset=layout.tree)
    try:
        for start in range(0, n_entries, chunk_size):
            stop = min(start + chunk_size, n_entries)
            wanted = hit_branches + [b for b, ok in ((layout.beam_energy, has_beam), (layout.event, has_event)) if ok]
            try:
                arrays = tree.arrays(wanted, entry_start=start, entry_stop=stop, library="ak")
            except Exception as exc:  # noqa: BLE001 - a corrupt basket or an unreadable branch type
                raise InputError(f"cannot read the branches ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})",
                                 file=where, dataset=layout.tree, index=start) from None
            flat, counts = {}, None
            for b in hit_branches:
                col = arrays[b]
                if col.ndim != 2:
                    raise _branch_error(where, layout, b, f"expected one value per hit (a jagged per-event array), "
                                        f"got type {col.type}", start)
                c = ak.to_numpy(ak.num(col, axis=1)).astype(np.int64)
                if counts is None:
                    counts = c
                elif not np.array_equal(c, counts):
                    bad = int(np.flatnonzero(c != counts)[0])
                    raise _branch_error(where, layout, b, f"{c[bad]} hits where '{hit_branches[0]}' has "
                                        f"{counts[bad]}: expected the same number of entries in every per-hit branch",
                                        start + bad)
                try:
                    flat[b] = ak.to_numpy(ak.flatten(col, axis=1))
                except Exception:  # noqa: BLE001 - nested deeper or records
                    raise _branch_error(where, layout, b, f"expected plain numbers per hit, got type {col.type}",
                                        start) from None
            assert counts is not None
            offsets = np.concatenate([[0], np.cumsum(counts)])
            event_of_hit = np.repeat(np.arange(stop - start), counts)
            energy = flat[layout.energy]
            if energy.dtype.kind not in "fiu":
                raise _branch_error(where, layout, layout.energy, f"dtype {energy.dtype}: expected real numbers (MIP)",
                                    start)
            energy = energy.astype(np.float64)
            bad = ~np.isfinite(energy)
            if bad.any():
                h = int(np.flatnonzero(bad)[0])
                raise _branch_error(where, layout, layout.energy, f"hit {h - offsets[event_of_hit[h]]} has energy "
                                    f"{energy[h]}: expected finite energies (MIP)", start + int(event_of_hit[h]))
            index = {}
            for b in (layout.i, layout.j, layout.k):
                raw = flat[b]
                if raw.dtype.kind in "f":
                    ok = np.isfinite(raw) & (raw == np.round(raw))
                    if not ok.all():
                        h = int(np.flatnonzero(~ok)[0])
                        raise _branch_error(where, layout, b, f"index {raw[h]}: expected whole cell indices",
                                            start + int(event_of_hit[h]))
                elif raw.dtype.kind not in "iu":
                    raise _branch_error(where, layout, b, f"dtype {raw.dtype}: expected integer cell indices", start)
                index[b] = raw.astype(np.int64) - layout.index_base
            keep = energy >= cut_mip
            if drop_back_layers:
                keep &= index[layout.k] < geo.n_layers
            for b, n in limits.items():
                out = keep & ((index[b] < 0) | (index[b] >= n))
                if out.any():
                    h = int(np.flatnonzero(out)[0])
                    raise _branch_error(where, layout, b, f"index {index[b][h] + layout.index_base} outside the "
                                        f"geometry '{geo.name}': expected {layout.index_base}-"
                                        f"{n - 1 + layout.index_base}" + (" (--drop-back-layers drops hits behind the "
                                                                           "last layer)" if b == layout.k else ""),
                                        start + int(event_of_hit[h]))
            if has_beam:
                beam = arrays[layout.beam_energy]
                if beam.ndim != 1:
                    raise _branch_error(where, layout, layout.beam_energy, f"expected one value per event, got type "
                                        f"{beam.type}", start)
                beam = ak.to_numpy(beam).astype(np.float64)
            else:
                beam = np.full(stop - start, float(beam_energy_gev))  # type: ignore[arg-type]
            bad_beam = ~(np.isfinite(beam) & (beam > 0))
            if bad_beam.any():
                ev = int(np.flatnonzero(bad_beam)[0])
                raise _branch_error(where, layout, layout.beam_energy, f"beam energy {beam[ev]}: expected a finite "
                                    "energy > 0 (GeV)", start + ev)
            events = (ak.to_numpy(arrays[layout.event]).astype(np.float64) if has_event
                      else np.arange(start, stop, dtype=np.float64))
            showers = np.zeros((stop - start, geo.n_voxels), np.float32)
            vox = np.ravel_multi_index((index[layout.k][keep], index[layout.j][keep], index[layout.i][keep]),
                                       geo.shape)
            cell = event_of_hit[keep] * geo.n_voxels + vox
            e_mev = energy[keep] * mip
            cells, inverse = np.unique(cell, return_inverse=True)
            showers.reshape(-1)[cells] = np.bincount(inverse, weights=e_mev, minlength=len(cells)).astype(np.float32)
            yield ShowerData(beam * 1e3, showers, geo, {"event_number": events}, {"event_number": "linear"})
    finally:
        file.close()


def import_hit_tree(source: str | Path, target: str | Path, geometry: Geometry | str = "calice-ahcal-2018",
                    layout: HitTreeLayout | None = None, mip_mev: float | None = None,
                    cut_mip: float = TRAINING_CUT_MIP, beam_energy_gev: float | None = None,
                    drop_back_layers: bool = False, max_start_layer: int | None = None, min_hits: int = 0,
                    require_start: bool = False, selection_cut_mip: float = EVALUATION_CUT_MIP,
                    compression: str = "gzip", chunk_size: int = 2_000, overwrite: bool = False) -> dict[str, int]:
    """Convert a ROOT hit tree into a CaloChallenge-layout HDF5 file (atomically: nothing is written or replaced on
    bad input), applying the training cut and the selections (:func:`read_hit_tree`, :func:`select_showers`).
    Returns the counts: ``events`` read, ``written``, and the rejections of each selection.
    """
    from hepgen.data.hdf5 import ShowerWriter
    from hepgen.progress import track

    geo = get_geometry(geometry)
    mip = _mip(geo, mip_mev)
    layout = layout or HitTreeLayout()
    metadata = {"converted_from": Path(source).name, "mip_mev": mip, "cut_mip": cut_mip,
                "root_layout": {f.name: getattr(layout, f.name) for f in fields(layout)},
                "selection": {"max_start_layer": max_start_layer, "min_hits": min_hits, "require_start": require_start,
                              "cut_mip": selection_cut_mip}}
    totals = {"events": 0, "written": 0, "few_hits": 0, "no_start": 0, "late_start": 0}
    chunks = read_hit_tree(source, geo, layout, mip, cut_mip, beam_energy_gev, drop_back_layers, chunk_size)
    with ShowerWriter(target, geo, compression=compression, overwrite=overwrite, labels=("event_number",),
                      label_scales={"event_number": "linear"}, metadata=metadata) as w:
        for chunk in track(chunks, description="importing"):
            keep, counts = select_showers(chunk, mip, max_start_layer, min_hits, require_start, selection_cut_mip)
            totals["events"] += len(chunk)
            for k in ("few_hits", "no_start", "late_start"):
                totals[k] += counts[k]
            if keep.any():
                w.append(chunk[np.flatnonzero(keep)])
                totals["written"] += int(keep.sum())
        if totals["written"] == 0:
            raise InputError(f"no event of {totals['events']} passes the selections ({totals['few_hits']} with too few "
                             f"hits, {totals['no_start']} without a shower start, {totals['late_start']} starting "
                             "late); nothing written", file=str(source))
    return totals


def write_hit_tree(path: str | Path, showers: ShowerData | Iterator[ShowerData], mip_mev: float | None = None,
                   layout: HitTreeLayout | None = None, overwrite: bool = False) -> int:
    """Write showers as a CALICE-style ROOT hit tree (the inverse of :func:`read_hit_tree`): per event the cell
    indices and energies (MIP, float64) of the cells with energy > 0, the event number (label ``event_number``,
    else the running index) and the beam energy in GeV. Written atomically; returns the number of events.
    """
    import awkward as ak
    import uproot

    from hepgen.data.atomic import atomic_path

    layout = layout or HitTreeLayout()
    chunks = [showers] if isinstance(showers, ShowerData) else showers
    n_written = 0
    tree = None
    with atomic_path(path, overwrite=overwrite) as tmp:
        with uproot.recreate(tmp) as f:
            for chunk in chunks:
                geo = chunk.geometry
                if geo.grid_shape is None:
                    raise InputError(f"geometry '{geo.name}': a hit tree needs a regular cell grid (Cartesian)")
                mip = _mip(geo, mip_mev)
                rows, vox = np.nonzero(chunk.energy > 0)
                counts = np.bincount(rows, minlength=len(chunk))
                k, j, i = np.unravel_index(vox, geo.shape)
                energy = chunk.energy[rows, vox].astype(np.float64) / mip
                events = (chunk.labels["event_number"].astype(np.int64) if "event_number" in chunk.labels
                          else np.arange(n_written, n_written + len(chunk), dtype=np.int64))
                data = {layout.i: ak.unflatten((i + layout.index_base).astype(np.int32), counts),
                        layout.j: ak.unflatten((j + layout.index_base).astype(np.int32), counts),
                        layout.k: ak.unflatten((k + layout.index_base).astype(np.int32), counts),
                        layout.energy: ak.unflatten(energy, counts), layout.event: events,
                        layout.beam_energy: chunk.incident_energy / 1e3}
                if tree is None:    # a TTree (as CALICE writes), not the RNTuple uproot makes of a plain dict
                    tree = f.mktree(layout.tree, {k: (v.type.content if isinstance(v, ak.Array) else v.dtype)
                                                  for k, v in data.items()})
                tree.extend(data)
                n_written += len(chunk)
        os.chmod(tmp, 0o644)
    return n_written
