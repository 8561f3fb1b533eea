"""The Calomplification study of seed 002 (arXiv:2202.07352): is a VAE-GAN trained on 1k showers worth
more than 1k GEANT4-like showers?

Pipeline: 50 GeV photons in ``ild-ecal`` from the GFlash simulator (:func:`simulate_images`: showers
are simulated in chunks and only their depth-summed, 3×3-pooled 10×10 images in MeV are kept), a
:mod:`~hepgen.models.vaegan` trained by the shared loop on the 1k training images (no pixel cut, as
in the seed), 10^5–10^6 generated images, and :func:`~hepgen.amplify.study.amplify_study` on the
observables E_vis, E_peak, E_pixel, CG_x, CG_y and their joints (0.1 MeV cut on generated and
reference images), with KDE and histogram baselines.

>>> imgs = simulate_images(20, seed=1, threshold_mev=0.0)
>>> imgs.shape, bool(1000 < imgs.sum(axis=(1, 2)).mean() < 1500)     # visible (Si) energy, MeV
((20, 10, 10), True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from hepgen.amplify.observables import image_observables, pooled_images

__all__ = ["simulate_images", "train_vaegan", "generate_images", "calomplification_study", "OBSERVABLE_SETS"]

OBSERVABLE_SETS = ("E_vis", "E_peak", "E_pixel", "CG_x", "CG_y", "E_vis+E_peak", "CG_x+CG_y",
                   "E_vis+E_peak+CG_x+CG_y")


def simulate_images(n: int, seed: int, incident_energy_mev: float = 50_000.0, particle: str = "photon",
                    geometry: str = "ild-ecal", pool: int = 3, threshold_mev: float = 0.1,
                    chunk_size: int = 5000) -> np.ndarray:
    """(n, 10, 10) pooled images in MeV of GFlash showers, simulated chunk by chunk (a 30×30×30 shower
    is never kept beyond its chunk). ``threshold_mev`` = 0 keeps every pixel (training data)."""
    from hepgen.progress import track
    from hepgen.simulate import simulate_showers
    from hepgen.simulate.gflash import BLOCK

    chunk_size = max(BLOCK, chunk_size // BLOCK * BLOCK)
    parts = []
    for start in track(range(0, n, chunk_size), description=f"simulating {n} showers"):
        m = min(chunk_size, n - start)
        s = simulate_showers(geometry, np.full(m, incident_energy_mev), particle, seed=seed, first_shower=start)
        parts.append(pooled_images(s, pool, threshold_mev).astype(np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, 10, 10), np.float32)
