"""Shower observables of eq. 2.2 of S. Bieringer et al., "Calomplification — the power of generative calorimeter
models", JINST 17 (2022) P09028, arXiv:2202.07352, on depth-summed, pooled images.

Each shower (N, z, y, x) is summed over depth and pooled ``pool`` × ``pool`` (a sum, so energy is
kept), e.g. ILD ECAL 30×30×30 -> 10×10 pixels; pixels below ``threshold_mev`` (0.1 MeV, half a MIP)
are set to zero. Then, in MeV and pixel-index units (0 = first pixel centre):

* ``E_vis``: sum of pixel energies; ``E_peak``: highest pixel energy;
* ``E_pixel``: all pixel energies >= ``pixel_threshold_mev`` (5 MeV), pooled over showers
  (a variable number of entries per shower; it cannot enter joint distributions);
* ``CG_x``, ``CG_y``: energy-weighted mean pixel index along x and y;
* ``n_active``: number of pixels above ``threshold_mev``.

>>> import numpy as np
>>> from hepgen.data import ShowerData
>>> e = np.zeros((1, 30, 30, 30), dtype="float32"); e[0, :, 4, 7] = 1.0     # 30 MeV in one column
>>> obs = shower_observables(ShowerData(np.full(1, 5e4), e.reshape(1, -1), "ild-ecal"),
...                          ["E_vis", "E_peak", "CG_x", "CG_y", "E_pixel"])
>>> [float(obs[k][0]) for k in ["E_vis", "E_peak", "CG_x", "CG_y", "E_pixel"]]
[30.0, 30.0, 2.0, 1.0, 30.0]
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hepgen.data import ShowerData
from hepgen.errors import InputError

__all__ = ["OBSERVABLES", "PER_ENTRY", "pooled_images", "image_observables", "shower_observables"]


def pooled_images(showers: ShowerData, pool: int = 3, threshold_mev: float = 0.1) -> np.ndarray:
    """(N, H/pool, W/pool) images in MeV: summed over depth (axis 1 of ``view()``), pooled, thresholded."""
    cube = showers.view()
    if cube.ndim != 4:
        raise InputError(f"geometry '{showers.geometry.name}': expected (N, depth, rows, columns) showers")
    img = cube.sum(axis=1, dtype=np.float64)
    n, h, w = img.shape
    if h % pool or w % pool:
        raise InputError(f"geometry '{showers.geometry.name}': {h}x{w} images cannot be pooled {pool}x{pool}")
    img = img.reshape(n, h // pool, pool, w // pool, pool).sum(axis=(2, 4))
    img[img < threshold_mev] = 0.0
    return img


def _cg(img: np.ndarray, axis: int) -> np.ndarray:
    total = img.sum(axis=(1, 2))
    pos = np.arange(img.shape[axis])
    proj = img.sum(axis=3 - axis)                  # axis 2 (x): sum rows; axis 1 (y): sum columns
    return np.divide(proj @ pos, total, out=np.full(len(img), np.nan), where=total > 0)


OBSERVABLES: dict[str, Callable[..., np.ndarray]] = {
    "E_vis": lambda img, **_: img.sum(axis=(1, 2)),
    "E_peak": lambda img, **_: img.max(axis=(1, 2)),
    "CG_x": lambda img, **_: _cg(img, 2),
    "CG_y": lambda img, **_: _cg(img, 1),
    "n_active": lambda img, **_: (img > 0).sum(axis=(1, 2)).astype(np.float64),
    "E_pixel": lambda img, pixel_threshold_mev=5.0, **_: img[img >= pixel_threshold_mev],
}
PER_ENTRY = {"E_pixel"}   # observables with several entries per shower


def image_observables(images: np.ndarray, names: Sequence[str], pixel_threshold_mev: float = 5.0) -> dict[str, np.ndarray]:
    """Observables ``names`` of (N, H, W) images; showers without energy give NaN centres of gravity."""
    unknown = [n for n in names if n not in OBSERVABLES]
    if unknown:
        raise InputError(f"unknown observable {unknown[0]!r}: expected one of {', '.join(OBSERVABLES)}")
    return {n: OBSERVABLES[n](images, pixel_threshold_mev=pixel_threshold_mev) for n in names}


def shower_observables(showers: ShowerData, names: Sequence[str], pool: int = 3, threshold_mev: float = 0.1,
                       pixel_threshold_mev: float = 5.0) -> dict[str, np.ndarray]:
    """Observables ``names`` of ``showers`` on depth-summed, ``pool``-pooled, thresholded images."""
    return image_observables(pooled_images(showers, pool, threshold_mev), names, pixel_threshold_mev)
