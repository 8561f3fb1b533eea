"""Shower observables of the studies cited below, for any geometry, vectorised over showers.

Scalars per shower (MeV, mm; see :func:`shower_observables`):

* ``E_vis`` visible energy above the cell threshold, ``E_inc``, ``E_vis/E_inc``, ``E_max`` (hottest cell),
  ``n_hits`` (cells >= threshold) and ``n_hits_high`` (cells >= the second threshold) — Diefenbacher 2022,
  Irakkathil Jabbar 2022;
* ``m1_x, m1_y, m1_z`` energy-weighted centre of gravity and ``m2_x, m2_y, m2_z`` energy-weighted RMS
  about it along the transverse axes and the depth (cylinders: the challenge's eta/phi in mm) — Diefenbacher 2022,
  Bieringer et al. 2022;
* ``E1_frac, E2_frac, E3_frac`` fractions of E_vis in the first, second and last third of the layers;
* ``start_layer`` first layer l where layers l and l+1 each hold >= 1 % of E_vis (n_layers if none);
* crystal arrays (Cartesian, summed over depth): ``E1/E9``, ``E9/E21``, ``E9/E25`` (odd n >= 5),
  ``E16/E100`` (n >= 10), ``E196/E900`` (n >= 30) on windows centred on the array — Irakkathil Jabbar 2022;
  ``E_peak`` hottest pixel of the depth-summed image — Bieringer et al. 2022.

Pooled-image observables (``shower_observables(..., pool=k)``), eq. 2.2 of Bieringer et al. 2022: each shower
is summed over depth and pooled k x k (a sum, so energy is kept; e.g. ILD ECAL 30x30x30 -> 10x10 pixels) and
pixels below ``threshold_mev`` (0.1 MeV, half a MIP, in that study) are set to zero; then, in MeV and
pixel-index units (0 = first pixel centre), :data:`IMAGE_OBSERVABLES`:

* ``E_vis``: sum of pixel energies (the threshold acts on pooled pixels, not on cells as above, so this
  E_vis differs from the cell-level one); ``E_peak``: highest pixel energy;
* ``E_pixel``: all pixel energies >= ``pixel_threshold_mev`` (5 MeV), pooled over showers (a variable number of
  entries per shower, :data:`PER_ENTRY`; it cannot enter joint distributions);
* ``CG_x``, ``CG_y``: energy-weighted mean pixel index along x and y (NaN for showers without energy);
* ``n_active``: number of pixels above ``threshold_mev``.

Profiles per shower (:func:`shower_profiles`): ``longitudinal`` (energy per layer), ``radial`` (energy per
radial bin), and for Cartesian grids ``x`` and ``y`` (energy per column / row).

References: S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg
(2022); J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD
thesis, KIT (2022); S. Bieringer et al., "Calomplification — the power of generative calorimeter models", JINST 17
(2022) P09028, arXiv:2202.07352.

>>> import numpy as np
>>> from hepgen.geometry import get_geometry
>>> g = get_geometry("belle2-ecl-5x5")
>>> e = np.zeros((1, 25)); e[0, 12] = 100.0                  # a single hit in the centre crystal
>>> o = shower_observables(e, np.array([1e3]), g, threshold_mev=1.0)
>>> float(o["E_vis"][0]), int(o["n_hits"][0]), float(o["E1/E9"][0]), float(o["m1_x"][0]), float(o["m2_x"][0])
(100.0, 1, 1.0, 0.0, 0.0)
>>> e = np.zeros((1, 30, 30, 30)); e[0, :, 4, 7] = 1.0                  # 30 MeV in one column of the ILD ECAL
>>> o = shower_observables(e.reshape(1, -1), np.array([5e4]), get_geometry("ild-ecal"), threshold_mev=0.1, pool=3,
...                        names=["E_vis", "E_peak", "CG_x", "CG_y", "E_pixel"])
>>> [float(o[k][0]) for k in ["E_vis", "E_peak", "CG_x", "CG_y", "E_pixel"]]
[30.0, 30.0, 2.0, 1.0, 30.0]
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from hepgen.errors import InputError
from hepgen.evaluate.projection import SegmentProjection
from hepgen.geometry import Geometry

__all__ = ["shower_observables", "shower_profiles", "profile_axes", "mu90", "correlation_matrix", "correlation_names",
           "compare_correlations",
           "CORRELATION_OBSERVABLES", "apply_threshold", "pooled_images", "image_observables", "IMAGE_OBSERVABLES",
           "PER_ENTRY"]

#: The 12 observables of the correlation matrices of Diefenbacher 2022.
CORRELATION_OBSERVABLES = ("m1_x", "m1_y", "m1_z", "m2_x", "m2_y", "m2_z", "E_vis", "E_inc", "n_hits",
                           "E1_frac", "E2_frac", "E3_frac")
START_FRACTION = 0.01


def apply_threshold(energy: np.ndarray, threshold_mev: float) -> np.ndarray:
    """Set cells below ``threshold_mev`` to zero (as the challenge's and the cited studies' evaluations do).

    >>> apply_threshold(np.array([[0.5, 2.0]]), 1.0).tolist()
    [[0.0, 2.0]]
    """
    if threshold_mev <= 0:
        return energy
    return np.where(energy < threshold_mev, np.zeros((), energy.dtype), energy)


def _coordinates(geometry: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = geometry.voxel_positions()
    if "x" in pos:
        x, y = pos["x"], pos["y"]
    else:
        x, y = pos["eta"], pos["phi"]
    z = pos["z"] if "z" in pos else geometry.layer_of_voxel.astype(np.float64)
    return x, y, z


def _radius(geometry: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(radial bin index of each voxel, bin edges in mm)."""
    pos = geometry.voxel_positions()
    if "r" in pos:
        r = pos["r"]
        centres = np.unique(np.round(r, 6))
        edges = np.concatenate([[0.0], 0.5 * (centres[1:] + centres[:-1]),
                                [centres[-1] * 2 - (centres[-2] if len(centres) > 1 else 0)]])
    else:
        r = np.hypot(pos["x"], pos["y"])
        step = min(geometry.cell_size_mm) if geometry.cell_size_mm is not None else 1.0
        edges = np.arange(0.0, r.max() + step, step)
        if len(edges) < 2:
            edges = np.array([0.0, step])
    idx = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, len(edges) - 2)
    return idx, edges


def _windows(geometry: Geometry) -> dict[str, np.ndarray]:
    """Boolean voxel masks of the centred crystal windows (square transverse cell grids only)."""
    grid = geometry.grid_shape
    if grid is None or grid[0] != grid[1]:
        return {}
    n = grid[1]
    idx = geometry.voxel_indices()
    iy, ix = idx[:, 1], idx[:, 2]

    def square(w: int) -> np.ndarray:
        s = (n - w) // 2
        return (ix >= s) & (ix < s + w) & (iy >= s) & (iy < s + w)

    out: dict[str, np.ndarray] = {}
    if n % 2 == 1 and n >= 5:
        c = (n - 5) // 2
        corners = ((ix == c) | (ix == c + 4)) & ((iy == c) | (iy == c + 4))
        out.update({"E1": square(1), "E9": square(3), "E25": square(5), "E21": square(5) & ~corners})
    if n >= 10:
        out.update({"E16": square(4), "E100": square(10)})
    if n >= 30:
        out.update({"E196": square(14), "E900": square(30)})
    return out


RATIOS = (("E1/E9", "E1", "E9"), ("E9/E21", "E9", "E21"), ("E9/E25", "E9", "E25"),
          ("E16/E100", "E16", "E100"), ("E196/E900", "E196", "E900"))


@lru_cache(maxsize=16)
def _projection(geometry: Geometry):
    """Projection onto every linear sum the observables need (see :mod:`hepgen.evaluate.projection`), column slices."""
    from scipy import sparse

    x, y, z = _coordinates(geometry)
    v = geometry.n_voxels
    rows, cols, vals = [], [], []
    layout: dict[str, slice] = {}
    n_rows = 0

    def add(name: str, weights: list[np.ndarray] | None = None, groups: np.ndarray | None = None,
            n_groups: int = 0) -> None:
        nonlocal n_rows
        vox = np.arange(v)
        if groups is not None:
            rows.append(n_rows + groups)
            cols.append(vox)
            vals.append(np.ones(v))
            layout[name] = slice(n_rows, n_rows + n_groups)
            n_rows += n_groups
        else:
            for i, w in enumerate(weights or []):
                nz = np.flatnonzero(w)
                rows.append(np.full(len(nz), n_rows + i))
                cols.append(nz)
                vals.append(np.asarray(w, dtype=np.float64)[nz])
            layout[name] = slice(n_rows, n_rows + len(weights or []))
            n_rows += len(weights or [])

    add("moments", [np.ones(v), x, y, z, x ** 2, y ** 2, z ** 2])
    add("longitudinal", groups=geometry.layer_of_voxel, n_groups=geometry.n_layers)
    r_idx, r_edges = _radius(geometry)
    add("radial", groups=r_idx, n_groups=len(r_edges) - 1)
    if geometry.grid_shape is not None:   # regular transverse grid: per column, per row, depth-summed image
        ny, nx = geometry.grid_shape
        idx = geometry.voxel_indices()
        add("x", groups=idx[:, 2], n_groups=nx)
        add("y", groups=idx[:, 1], n_groups=ny)
        add("image", groups=idx[:, 1] * nx + idx[:, 2], n_groups=nx * ny)
    win = _windows(geometry)
    if win:
        add("windows", [m.astype(np.float64) for m in win.values()])
    m = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_rows, v))
    return SegmentProjection(m, geometry.layer_of_voxel), layout, list(win), r_edges


def profile_axes(geometry: Geometry) -> dict[str, tuple[np.ndarray, str]]:
    """Bin edges and axis label of each profile of :func:`shower_profiles`.

    >>> from hepgen.geometry import get_geometry
    >>> sorted(profile_axes(get_geometry("ild-ecal")))
    ['longitudinal', 'radial', 'x', 'y']
    """
    _, _, _, r_edges = _projection(geometry)
    out = {"longitudinal": (np.arange(geometry.n_layers + 1) - 0.5, "layer"),
           "radial": (r_edges, "r [mm]")}
    edges = geometry.cell_edges_mm()
    if edges is not None:
        ex, ey = edges
        out["x"] = (ex, "x [mm]")
        out["y"] = (ey, "y [mm]")
    return out


def _sums(energy: np.ndarray, geometry: Geometry) -> tuple[np.ndarray, dict[str, slice], list[str]]:
    proj, layout, windows, _ = _projection(geometry)
    return proj(energy), layout, windows


def shower_profiles(energy: np.ndarray, geometry: Geometry) -> dict[str, np.ndarray]:
    """Per-shower profiles (N, bins) in MeV of thresholded voxel energies (see :func:`profile_axes`).

    >>> from hepgen.geometry import get_geometry
    >>> g = get_geometry("ild-ecal")
    >>> p = shower_profiles(np.ones((2, g.n_voxels)), g)
    >>> p["longitudinal"].shape, float(p["longitudinal"][0, 0]), float(p["x"][0].sum())
    ((2, 30), 900.0, 27000.0)
    """
    s, layout, _ = _sums(np.asarray(energy), geometry)
    return {k: s[:, layout[k]].astype(np.float32) for k in ("longitudinal", "radial", "x", "y") if k in layout}


def shower_observables(energy: np.ndarray, incident_energy: np.ndarray, geometry: Geometry,
                       threshold_mev: float = 0.0, high_threshold_mev: float | None = None,
                       sums: tuple | None = None, pool: int | None = None, names: Sequence[str] | None = None,
                       pixel_threshold_mev: float = 5.0) -> dict[str, np.ndarray]:
    """Scalar observables of (N, n_voxels) voxel energies in MeV (see the module docstring).

    ``pool`` chooses the definition, and with it what ``threshold_mev`` cuts:

    * ``None`` (default): the cell-level observables (one (N,) float64 array each); cells below
      ``threshold_mev`` are dropped first; ``high_threshold_mev`` (default 10 x threshold, or 1 MeV) gives
      ``n_hits_high``; ``sums`` are precomputed linear sums (:mod:`hepgen.evaluate.features` passes them).
    * k: the pooled-image observables of Bieringer et al. eq. 2.2 (:data:`IMAGE_OBSERVABLES`) on depth-summed
      images pooled k x k, whose *pixels* below ``threshold_mev`` are dropped (:func:`pooled_images`);
      ``pixel_threshold_mev`` is the cut of ``E_pixel``; ``incident_energy`` is not used.

    ``names`` selects observables (default: all of the chosen definition); an unknown name is an
    :class:`~hepgen.errors.InputError`.
    """
    if pool is not None:
        wanted = list(IMAGE_OBSERVABLES) if names is None else list(names)
        return image_observables(pooled_images(energy, geometry, pool, threshold_mev), wanted, pixel_threshold_mev)
    out = _cell_observables(energy, incident_energy, geometry, threshold_mev, high_threshold_mev, sums)
    if names is None:
        return out
    unknown = [n for n in names if n not in out]
    if unknown:
        raise InputError(f"unknown observable {unknown[0]!r}: expected one of {', '.join(out)}")
    return {n: out[n] for n in names}


def _cell_observables(energy: np.ndarray, incident_energy: np.ndarray, geometry: Geometry, threshold_mev: float,
                      high_threshold_mev: float | None, sums: tuple | None) -> dict[str, np.ndarray]:
    energy = apply_threshold(np.asarray(energy), threshold_mev)
    inc = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
    if high_threshold_mev is None:
        high_threshold_mev = 10 * threshold_mev if threshold_mev > 0 else 1.0
    s, layout, windows = sums if sums is not None else _sums(energy, geometry)
    mom = s[:, layout["moments"]]
    e = mom[:, 0]
    safe = np.where(e > 0, e, 1.0)
    out: dict[str, np.ndarray] = {"E_vis": e, "E_inc": inc, "E_vis/E_inc": e / inc,
                                  "E_max": energy.max(axis=1).astype(np.float64),
                                  "n_hits": np.count_nonzero(energy >= max(threshold_mev, np.finfo(np.float32).tiny),
                                                             axis=1).astype(np.float64),
                                  "n_hits_high": np.count_nonzero(energy >= high_threshold_mev,
                                                                  axis=1).astype(np.float64)}
    for i, axis in enumerate("xyz"):
        m1 = mom[:, 1 + i] / safe
        out[f"m1_{axis}"] = np.where(e > 0, m1, 0.0)
        out[f"m2_{axis}"] = np.where(e > 0, np.sqrt(np.clip(mom[:, 4 + i] / safe - m1 ** 2, 0.0, None)), 0.0)
    layers = s[:, layout["longitudinal"]]
    for i, part in enumerate(np.array_split(np.arange(geometry.n_layers), 3)):
        out[f"E{i + 1}_frac"] = (np.where(e > 0, layers[:, part].sum(axis=1) / safe, 0.0) if len(part)
                                 else np.zeros(len(e)))
    above = layers >= START_FRACTION * e[:, None]
    above &= layers > 0
    both = above[:, :-1] & above[:, 1:] if geometry.n_layers > 1 else above
    out["start_layer"] = np.where(both.any(axis=1), both.argmax(axis=1), geometry.n_layers).astype(np.float64)
    if "image" in layout:
        out["E_peak"] = s[:, layout["image"]].max(axis=1)
    if windows:
        w = dict(zip(windows, s[:, layout["windows"]].T))
        for name, num, den in RATIOS:
            if num in w and den in w:
                out[name] = np.where(w[den] > 0, w[num] / np.where(w[den] > 0, w[den], 1.0), 0.0)
    return out


def pooled_images(energy: np.ndarray, geometry: Geometry, pool: int = 3, threshold_mev: float = 0.1) -> np.ndarray:
    """(N, H/pool, W/pool) images in MeV of (N, n_voxels) voxel energies: summed over depth (the first axis of
    ``geometry.shape``), pooled ``pool`` x ``pool`` (a sum), pixels below ``threshold_mev`` set to zero
    (Bieringer et al. 2022, eq. 2.2).

    >>> from hepgen.geometry import get_geometry
    >>> pooled_images(np.ones((1, 100)), get_geometry("belle2-ecl-10x10"), pool=5).tolist()
    [[[25.0, 25.0], [25.0, 25.0]]]
    """
    energy = np.asarray(energy)
    if geometry.shape is None:
        raise InputError(f"geometry '{geometry.name}' has layers of different binning: "
                         "use layer(l) instead of a dense view")
    cube = energy.reshape((len(energy),) + geometry.shape)
    img = cube.sum(axis=1, dtype=np.float64)
    n, h, w = img.shape
    if h % pool or w % pool:
        raise InputError(f"geometry '{geometry.name}': {h}x{w} images cannot be pooled {pool}x{pool}")
    img = img.reshape(n, h // pool, pool, w // pool, pool).sum(axis=(2, 4))
    img[img < threshold_mev] = 0.0
    return img


def _cg(img: np.ndarray, axis: int) -> np.ndarray:
    total = img.sum(axis=(1, 2))
    pos = np.arange(img.shape[axis])
    proj = img.sum(axis=3 - axis)                  # axis 2 (x): sum rows; axis 1 (y): sum columns
    return np.divide(proj @ pos, total, out=np.full(len(img), np.nan), where=total > 0)


#: the pooled-image observables (Bieringer et al. 2022, eq. 2.2; see the module docstring), of (N, H, W) images
IMAGE_OBSERVABLES: dict[str, Callable[..., np.ndarray]] = {
    "E_vis": lambda img, **_: img.sum(axis=(1, 2)),
    "E_peak": lambda img, **_: img.max(axis=(1, 2)),
    "CG_x": lambda img, **_: _cg(img, 2),
    "CG_y": lambda img, **_: _cg(img, 1),
    "n_active": lambda img, **_: (img > 0).sum(axis=(1, 2)).astype(np.float64),
    "E_pixel": lambda img, pixel_threshold_mev=5.0, **_: img[img >= pixel_threshold_mev],
}
#: pooled-image observables with several entries per shower
PER_ENTRY = {"E_pixel"}


def image_observables(images: np.ndarray, names: Sequence[str],
                      pixel_threshold_mev: float = 5.0) -> dict[str, np.ndarray]:
    """Pooled-image observables ``names`` (:data:`IMAGE_OBSERVABLES`) of (N, H, W) images in MeV; showers without
    energy give NaN centres of gravity.

    >>> image_observables(np.array([[[0.0, 2.0], [0.0, 6.0]]]), ["E_vis", "CG_x", "E_pixel"])["CG_x"].tolist()
    [1.0]
    """
    unknown = [n for n in names if n not in IMAGE_OBSERVABLES]
    if unknown:
        raise InputError(f"unknown observable {unknown[0]!r}: expected one of {', '.join(IMAGE_OBSERVABLES)}")
    return {n: IMAGE_OBSERVABLES[n](images, pixel_threshold_mev=pixel_threshold_mev) for n in names}


def mu90(values: np.ndarray) -> dict[str, float]:
    """Mean and standard deviation of the central 90 % (5 %-95 % quantiles) of ``values``, with errors.

    >>> r = mu90(np.random.default_rng(0).normal(100.0, 10.0, 100_000))
    >>> round(r["mu90"]), round(r["sigma90"] / r["mu90"], 3)
    (100, 0.079)
    """
    v = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(v, [0.05, 0.95])
    core = v[(v >= lo) & (v <= hi)]
    n = max(len(core), 2)
    mu, sigma = float(core.mean()), float(core.std(ddof=1))
    return {"mu90": mu, "mu90_err": sigma / np.sqrt(n), "sigma90": sigma, "sigma90_err": sigma / np.sqrt(2 * (n - 1)),
            "sigma90/mu90": sigma / mu if mu else float("nan"),
            "sigma90/mu90_err": ((sigma / mu) * np.sqrt(1 / (2 * (n - 1)) + (sigma / mu) ** 2 / n) if mu
                                 else float("nan"))}


def correlation_matrix(observables: dict[str, np.ndarray],
                       names: tuple[str, ...] = CORRELATION_OBSERVABLES) -> np.ndarray:
    """Pearson correlation matrix of the named observables (constant ones give 0 off the diagonal).

    >>> x = np.arange(10.0)
    >>> correlation_matrix({"a": x, "b": 2 * x, "c": -x}, ("a", "b", "c")).round(3).tolist()
    [[1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]
    """
    data = np.stack([np.asarray(observables[n], dtype=np.float64) for n in names])
    std = data.std(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(data)
    c = np.where(np.isfinite(c), c, 0.0)
    np.fill_diagonal(c, 1.0)
    c[std == 0, :] = 0.0
    c[:, std == 0] = 0.0
    np.fill_diagonal(c, 1.0)
    return c


def correlation_names(observables: dict[str, np.ndarray],
                      names: tuple[str, ...] = CORRELATION_OBSERVABLES) -> tuple[str, ...]:
    """The observables of the correlation matrices: the 12 of Diefenbacher 2022, less ``E_inc`` when every shower
    has the same incident energy (the test-beam matrices, one beam energy each, have 11; Sec. 8.3).

    >>> obs = {n: np.arange(4.0) for n in CORRELATION_OBSERVABLES} | {"E_inc": np.full(4, 4e4)}
    >>> len(correlation_names(obs)), "E_inc" in correlation_names(obs)
    (11, False)
    """
    inc = observables.get("E_inc")
    if inc is not None and len(inc) and np.all(np.asarray(inc) == np.asarray(inc)[0]):
        return tuple(n for n in names if n != "E_inc")
    return tuple(names)


def compare_correlations(reference: dict[str, np.ndarray], generated: dict[str, np.ndarray],
                         names: tuple[str, ...] | None = None) -> dict:
    """The thesis's comparison of correlation matrices: both Pearson matrices (:func:`correlation_matrix`) of
    ``names`` (default :func:`correlation_names` of the reference), the element-wise difference generated -
    reference, its largest and mean absolute off-diagonal value, and the statistical scale of a coefficient,
    1/sqrt(N) of the smaller sample.

    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(2, 20_000)); b = rng.normal(size=(2, 20_000))
    >>> r = compare_correlations({"x": a[0], "y": a[0] + a[1]}, {"x": b[0], "y": b[1] - b[0]}, ("x", "y"))
    >>> round(r["reference"][0][1], 1), round(r["generated"][0][1], 1), round(r["max_abs_difference"], 1)
    (0.7, -0.7, 1.4)
    """
    names = correlation_names(reference) if names is None else tuple(names)
    cr, cg = correlation_matrix(reference, names), correlation_matrix(generated, names)
    diff = cg - cr
    off = ~np.eye(len(names), dtype=bool)
    n = min(len(next(iter(reference.values()))), len(next(iter(generated.values()))))
    return {"names": list(names), "reference": cr.round(6).tolist(), "generated": cg.round(6).tolist(),
            "difference": diff.round(6).tolist(), "max_abs_difference": float(np.abs(diff).max()),
            "mean_abs_difference": float(np.abs(diff[off]).mean()) if off.any() else 0.0,
            "error": float(1.0 / np.sqrt(max(n, 1)))}
