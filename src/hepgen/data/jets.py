"""Jets as particle clouds in the JetNet layout: :class:`JetData`.

Particle features are ordered as in JetNet: ``(eta_rel, phi_rel, pt_rel, mask)``; jet features are
``(pt [GeV], eta, mass [GeV], n_particles)``. Zero-padded particles have ``mask = 0``.

>>> import numpy as np
>>> p = np.zeros((2, 30, 4), np.float32); p[0, :3, 2] = [0.5, 0.3, 0.2]; p[0, :3, 3] = 1
>>> jets = JetData(p)
>>> jets.n_particles.tolist()
[3, 0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hepgen.errors import InputError

__all__ = ["JetData", "PARTICLE_FEATURES", "JET_FEATURES"]

PARTICLE_FEATURES = ("eta_rel", "phi_rel", "pt_rel", "mask")
JET_FEATURES = ("pt", "eta", "mass", "n_particles")


@dataclass
class JetData:
    """N jets of at most ``n_max`` particles.

    Attributes
    ----------
    particles: (N, n_max, 4) float32 in JetNet order (eta_rel, phi_rel, pt_rel, mask).
    jets: (N, 4) float32 jet features (pt GeV, eta, mass GeV, n_particles); derived from the
        particles (mass and pt relative, so as fractions) when not given.
    jet_type: e.g. ``g``, ``q``, ``t``, ``w``, ``z`` (informational).
    """

    particles: np.ndarray
    jets: np.ndarray | None = None
    jet_type: str = ""

    def __post_init__(self) -> None:
        self.particles = np.asarray(self.particles, dtype=np.float32)
        if self.particles.ndim != 3 or self.particles.shape[2] != 4:
            raise InputError(f"particle features: expected shape (N, n_max, 4) "
                             f"(eta_rel, phi_rel, pt_rel, mask), got {self.particles.shape}")
        mask = self.particles[..., 3]
        if not np.all((mask == 0) | (mask == 1)):
            raise InputError("particle features: the mask (feature 3) must be 0 or 1")
        if self.jets is None:
            self.jets = self.relative_jet_features()
        self.jets = np.asarray(self.jets, dtype=np.float32)
        if self.jets.shape != (len(self.particles), 4):
            raise InputError(f"jet features: expected shape ({len(self.particles)}, 4) "
                             f"(pt, eta, mass, n_particles), got {self.jets.shape}")

    def __len__(self) -> int:
        return len(self.particles)

    def __getitem__(self, index: int | slice | np.ndarray) -> "JetData":
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return JetData(self.particles[index], self.jets[index], self.jet_type)

    @classmethod
    def concatenate(cls, parts: Sequence["JetData"]) -> "JetData":
        """Join samples with the same number of particle slots."""
        return cls(np.concatenate([p.particles for p in parts]), np.concatenate([p.jets for p in parts]),
                   parts[0].jet_type)

    @property
    def mask(self) -> np.ndarray:
        """(N, n_max) bool, True for real particles."""
        return self.particles[..., 3] > 0.5

    @property
    def n_particles(self) -> np.ndarray:
        """(N,) number of real particles per jet."""
        return self.mask.sum(axis=1)

    @property
    def n_max(self) -> int:
        return self.particles.shape[1]

    def relative_jet_features(self) -> np.ndarray:
        """(N, 4): (pt_rel, eta_rel, mass_rel, n) of the particle sum, the JetNet relative jet features.

        Massless particles; the mass is relative to the jet pt, as in JetNet's ``jet_features`` from
        relative coordinates.
        """
        eta, phi, pt = (self.particles[..., i].astype(np.float64) for i in range(3))
        m = self.mask
        pt = np.where(m, pt, 0.0)
        px, py = pt * np.cos(phi), pt * np.sin(phi)
        pz, e = pt * np.sinh(eta), pt * np.cosh(eta)
        PX, PY, PZ, E = px.sum(1), py.sum(1), pz.sum(1), e.sum(1)
        PT = np.hypot(PX, PY)
        mass = np.sqrt(np.maximum(E**2 - PX**2 - PY**2 - PZ**2, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            eta_j = np.where(PT > 0, np.arcsinh(np.divide(PZ, PT, where=PT > 0, out=np.zeros_like(PT))), 0.0)
        return np.stack([PT, eta_j, mass, m.sum(1)], axis=1).astype(np.float32)
