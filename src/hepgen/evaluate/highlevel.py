"""CaloChallenge high-level features, with the definitions of the challenge's ``HighLevelFeatures``.

Per readout layer ``l`` that holds voxels (``geometry.relevant_layers``):

* ``E_layer_l``  energy in the layer (MeV),
* ``EC_r_l``, ``width_r_l``  energy-weighted mean and standard deviation of the voxel radius (mm),
* ``sparsity_l``  fraction of the layer's voxels with zero energy,

and for layers binned in angle (``geometry.layers_binned_in_alpha``)

* ``EC_eta_l``, ``EC_phi_l``  centre of energy in the challenge's eta = r cos(alpha) and phi = r sin(alpha) (mm),
* ``width_eta_l``, ``width_phi_l``  sqrt(<eta^2> - <eta>^2) clipped at 0 (mm),

plus ``E_tot``. As in the challenge, means divide by ``sum(E) + 1e-16`` so an empty layer gives 0.
All sums over voxels are one :class:`~hepgen.evaluate.projection.SegmentProjection` per block of showers.

>>> import numpy as np
>>> from hepgen.geometry import get_geometry
>>> g = get_geometry("calochallenge-2")
>>> e = np.zeros((1, g.n_voxels)); e[0, 0] = 2.0           # one hit in layer 0, alpha bin 0, radius bin 0
>>> f = highlevel_features(e, g)
>>> float(f["E_layer_0"][0]), round(float(f["sparsity_0"][0]) * 144), float(f["width_eta_0"][0])
(2.0, 143, 0.0)
>>> bool(np.isclose(f["EC_r_0"][0], g.voxel_positions()["r"][0]))
True
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from hepgen.errors import InputError
from hepgen.evaluate.projection import SegmentProjection
from hepgen.geometry import Geometry

__all__ = ["highlevel_features", "highlevel_names", "classifier_highlevel_inputs"]

_EPS = 1e-16


@lru_cache(maxsize=16)
def _projection(geometry: Geometry):
    """Projection onto every needed per-layer sum, its column of each (kind, layer), voxels per layer."""
    from scipy import sparse

    pos = geometry.voxel_positions()
    layer = geometry.layer_of_voxel
    layers = list(geometry.relevant_layers)
    alpha_layers = set(geometry.layers_binned_in_alpha)
    weights = {"E": np.ones(geometry.n_voxels), "r": pos["r"], "r2": pos["r"] ** 2,
               "eta": pos["eta"], "phi": pos["phi"], "eta2": pos["eta"] ** 2, "phi2": pos["phi"] ** 2}
    rows, cols, vals, names = [], [], [], []
    for l in layers:
        vox = np.flatnonzero(layer == l)
        kinds = ["E", "r", "r2"] + (["eta", "phi", "eta2", "phi2"] if l in alpha_layers else [])
        for kind in kinds:
            rows.append(np.full(len(vox), len(names)))
            cols.append(vox)
            vals.append(weights[kind][vox])
            names.append((kind, l))
    m = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(len(names), geometry.n_voxels))
    counts = np.bincount(layer, minlength=geometry.n_layers)
    return SegmentProjection(m, layer), {n: i for i, n in enumerate(names)}, counts


def highlevel_names(geometry: Geometry) -> list[str]:
    """Names of the high-level features of a CaloChallenge geometry, in the order the classifier uses.

    >>> from hepgen.geometry import get_geometry
    >>> highlevel_names(get_geometry("calochallenge-1-photons"))[:3]
    ['E_tot', 'E_layer_0', 'E_layer_1']
    """
    _require_cylinder(geometry)
    layers, alpha = geometry.relevant_layers, geometry.layers_binned_in_alpha
    names = ["E_tot"] + [f"E_layer_{l}" for l in layers]
    for kind in ("EC_eta", "EC_phi", "width_eta", "width_phi"):
        names += [f"{kind}_{l}" for l in alpha]
    for kind in ("sparsity", "EC_r", "width_r"):
        names += [f"{kind}_{l}" for l in layers]
    return names


def _require_cylinder(geometry: Geometry) -> None:
    if geometry.r_edges is None:
        raise InputError(f"CaloChallenge high-level features need a cylindrical geometry, got '{geometry.name}' "
                         f"({geometry.kind})")


def highlevel_features(energy: np.ndarray, geometry: Geometry) -> dict[str, np.ndarray]:
    """High-level features of (N, n_voxels) voxel energies in MeV (apply the readout threshold first).

    Returns one (N,) float64 array per name of :func:`highlevel_names`.
    """
    _require_cylinder(geometry)
    energy = np.asarray(energy, dtype=np.float64)                       # one conversion
    proj, col, counts = _projection(geometry)
    sums = proj(energy)                                                  # (N, n_columns)
    hits = proj.count_positive(energy)                                   # (N, n_layers)
    out: dict[str, np.ndarray] = {"E_tot": energy.sum(axis=1)}
    for l in geometry.relevant_layers:
        e = sums[:, col[("E", l)]]
        out[f"E_layer_{l}"] = e
        denom = e + _EPS
        ec_r = sums[:, col[("r", l)]] / denom
        out[f"EC_r_{l}"] = ec_r
        out[f"width_r_{l}"] = np.sqrt(np.clip(sums[:, col[("r2", l)]] / denom - ec_r ** 2, 0.0, None))
        out[f"sparsity_{l}"] = 1.0 - hits[:, l] / counts[l]
        if l in geometry.layers_binned_in_alpha:
            for axis in ("eta", "phi"):
                ec = sums[:, col[(axis, l)]] / denom
                out[f"EC_{axis}_{l}"] = ec
                out[f"width_{axis}_{l}"] = np.sqrt(np.clip(sums[:, col[(axis + "2", l)]] / denom - ec ** 2, 0.0, None))
    return out


def classifier_highlevel_inputs(features: dict[str, np.ndarray], incident_energy: np.ndarray,
                                geometry: Geometry) -> np.ndarray:
    """The challenge's high-level classifier input: log10 E_inc, log10(E_layer + 1e-8), EC and widths / 100,
    log10(E_tot + 1e-8), sparsity, EC_r and width_r / 100 (MeV, mm), shape (N, n_features).

    >>> import numpy as np
    >>> from hepgen.geometry import get_geometry
    >>> g = get_geometry("calochallenge-1-photons")
    >>> x = classifier_highlevel_inputs(highlevel_features(np.ones((2, g.n_voxels)), g), np.full(2, 1e3), g)
    >>> x.shape
    (2, 30)
    """
    layers, alpha = geometry.relevant_layers, geometry.layers_binned_in_alpha
    cols = [np.log10(np.asarray(incident_energy, dtype=np.float64).reshape(-1))]
    cols += [np.log10(features[f"E_layer_{l}"] + 1e-8) for l in layers]
    for kind in ("EC_eta", "EC_phi", "width_eta", "width_phi"):
        cols += [features[f"{kind}_{l}"] / 1e2 for l in alpha]
    cols.append(np.log10(features["E_tot"] + 1e-8))
    cols += [features[f"sparsity_{l}"] for l in layers]
    cols += [features[f"EC_r_{l}"] / 1e2 for l in layers]
    cols += [features[f"width_r_{l}"] / 1e2 for l in layers]
    return np.stack(cols, axis=1)
