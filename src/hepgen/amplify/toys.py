"""The GANplification toy distributions of A. Butter et al., "GANplifying event samples", arXiv:2008.06545
(S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Ch. 5)
with exact samplers and exact quantiles.

* ``camel``: 1D camel back p(x) = ½ N(x; 4, 1) + ½ N(x; −4, 1) (eq. 5.1.1), 100 training points.
* ``ring``: 2D Gaussian ring, radius |N(4, 1)| (a folded normal), angle uniform (eq. 5.2.1–2), 100.
* ``sphere``: 5D hypersphere, uniform direction, radius |N(4, 1)| (eq. 5.3.1), 500.

Samples are Cartesian (the generator's coordinates). :meth:`Toy.coordinates` gives the evaluation
coordinates (x; r, φ; r, φ1..φ4) and :meth:`Toy.uniformise` maps them through their exact CDFs to
independent U(0, 1) variables, so that analytic quantiles are equal-width bins there:
:meth:`Toy.cells` builds the per-direction or combined ("spider web") product cells with exact
probabilities 1/n_quant.

>>> toy = get_toy("ring")
>>> x = toy.sample(100_000, seed=0)
>>> x.shape
(100000, 2)
>>> u = toy.uniformise(x)
>>> bool(abs(u.mean() - 0.5) < 0.01)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from hepgen.amplify.quantiles import GridCells
from hepgen.errors import InputError

__all__ = ["Toy", "get_toy", "TOYS"]

_RADIUS = stats.foldnorm(c=4.0)          # |N(4, 1)|


def _camel_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (stats.norm.cdf(x - 4.0) + stats.norm.cdf(x + 4.0))


def _sin_power_cdf(phi: np.ndarray, power: int) -> np.ndarray:
    """CDF on [0, π] of the density ∝ sin^power(φ) (power 1, 2 or 3)."""
    c, s = np.cos(phi), np.sin(phi)
    if power == 1:
        return (1 - c) / 2
    if power == 2:
        return (phi - s * c) / np.pi
    if power == 3:
        return (2.0 / 3.0 - c + c ** 3 / 3.0) / (4.0 / 3.0)
    raise ValueError(power)


@dataclass(frozen=True)
class Toy:
    """One toy: ``name``, Cartesian dimension ``dim``, default training size ``n_train``, the names of
    its evaluation coordinates ``coordinate_names``."""

    name: str
    dim: int
    n_train: int
    coordinate_names: tuple[str, ...]

    def sample(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Exact sample of ``n`` points, shape (n, dim), in Cartesian coordinates."""
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        if self.name == "camel":
            sign = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
            return (rng.normal(size=n) + 4.0 * sign)[:, None]
        radius = np.abs(rng.normal(4.0, 1.0, size=n))
        direction = rng.normal(size=(n, self.dim))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        return direction * radius[:, None]

    def coordinates(self, x: np.ndarray) -> np.ndarray:
        """Evaluation coordinates: x (1D); (r, φ ∈ [0, 2π)) (2D); (r, φ1..φ3 ∈ [0, π], φ4 ∈ [0, 2π)) (5D)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        if x.shape[1] != self.dim:
            raise InputError(f"toy '{self.name}' is {self.dim}-dimensional, got {x.shape[1]} columns")
        if self.dim == 1:
            return x
        r = np.linalg.norm(x, axis=1)
        out = [r]
        for k in range(self.dim - 2):                      # φ_k = arccos(x_k / |x_k..x_d|)
            tail = np.linalg.norm(x[:, k:], axis=1)
            out.append(np.arccos(np.clip(x[:, k] / np.where(tail > 0, tail, 1.0), -1.0, 1.0)))
        out.append(np.mod(np.arctan2(x[:, -1], x[:, -2]), 2 * np.pi))
        return np.stack(out, axis=1)

    def uniformise(self, x: np.ndarray) -> np.ndarray:
        """Exact CDF of each evaluation coordinate: independent U(0, 1) columns for true samples."""
        c = self.coordinates(x)
        if self.dim == 1:
            return _camel_cdf(c)
        u = [_RADIUS.cdf(c[:, 0])]
        for k in range(self.dim - 2):
            u.append(_sin_power_cdf(c[:, 1 + k], self.dim - 2 - k))
        u.append(c[:, -1] / (2 * np.pi))
        return np.clip(np.stack(u, axis=1), 0.0, 1.0)

    def cells(self, n_per_dim: int, coordinates: tuple[int, ...] | None = None) -> GridCells:
        """Analytic equal-probability cells in uniformised coordinates: ``n_per_dim`` quantiles along
        each of ``coordinates`` (indices into ``coordinate_names``; all by default), their product
        when several. Use with ``uniformise(x)[:, coordinates]``.

        >>> get_toy("sphere").cells(4).n_cells
        1024
        """
        coordinates = tuple(range(len(self.coordinate_names))) if coordinates is None else coordinates
        inner = np.arange(1, n_per_dim) / n_per_dim
        return GridCells([inner] * len(coordinates))


TOYS = {
    "camel": Toy("camel", 1, 100, ("x",)),
    "ring": Toy("ring", 2, 100, ("r", "phi")),
    "sphere": Toy("sphere", 5, 500, ("r", "phi1", "phi2", "phi3", "phi4")),
}


def get_toy(name: str) -> Toy:
    """The toy called ``camel``, ``ring`` or ``sphere``.

    >>> get_toy("camel").n_train
    100
    """
    if name not in TOYS:
        raise InputError(f"unknown toy '{name}': expected one of {', '.join(TOYS)}")
    return TOYS[name]
