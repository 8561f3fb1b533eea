"""Morphing a parametrised distribution: the rotating Gaussian of B. Käch, "Generative Modelling in High-Energy
Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 7.1 (Eqs. 7.2-7.5).

A zero-mean Gaussian with Σ = [[1, −0.99], [−0.99, 1]] (Eq. 7.2) rotated by φ: Σ(φ) = R(φ) Σ R(φ)ᵀ (Eq. 7.4;
R the proper rotation [[cos φ, −sin φ], [sin φ, cos φ]]: Eq. 7.3 prints the lower-left entry as −sin φ, which is
not a rotation). φ ∈ [0, π/2] covers all shapes; φ = 0 lies along the anti-diagonal, π/4 along the x axis, π/2
along the diagonal. The 4-D variant (Eq. 7.5) concatenates two independent draws at the same φ.

Three generative models learn to move φ = 0 to φ = π/2 from samples at the end points only, or also at the
midpoint φ = π/4:

* ``nf-cond`` — an RQS coupling flow conditioned on c = −1 (φ = 0), 0 (π/4, with the midpoint), +1 (π/2),
  sampled at intermediate c (it produces mixtures, not rotations);
* ``cfm`` and ``ot-cfm`` — a continuous flow transporting the φ = 0 samples themselves (flow matching with a data
  source, Tong et al., arXiv:2302.00482; minibatch OT coupling for ``ot-cfm``); with the midpoint the ODE time
  is split in two segments, t ∈ [0, ½] trained on 0 → π/4 pairs and t ∈ [½, 1] on π/4 → π/2 pairs.

The intended path is the rotation: a point of the φ = 0 ellipse with x > 0 (lower right) should end in the upper
right quadrant (x, y > 0) and one with x < 0 in the lower left; ``right_quadrant_fraction`` measures it (the
thesis's Fig. 7.4: only OT-CFM with the midpoint does this; without it, the side of the anti-diagonal decides, i.e.
about half). ``w1_end`` is the summed marginal W1 of the transported points to fresh φ = π/2 samples and
``fd_mid`` the Fréchet distance of the points at the middle of the path (t = ½, c = 0) to the true φ = π/4
distribution (Gaussian: the exact Fréchet distance of the covariances).

>>> import torch
>>> x = rotating_gaussian(50_000, torch.pi / 4, torch.Generator().manual_seed(0))
>>> [[round(v, 1) for v in row] for row in torch.cov(x.T).tolist()]       # along the x axis at φ = π/4
[[2.0, 0.0], [0.0, 0.0]]
"""

from __future__ import annotations

import math
import time
from typing import Any, Sequence

import numpy as np
import torch

from hepgen.models.layers import time_embedding
from hepgen.models.objectives import (conditional_flow_matching_loss, negative_log_likelihood, optimizer_step,
                                      ot_coupling)
from hepgen.models.solvers import integrate
from hepgen.studies.toymodels import N_FREQ, backbone, warmup_cosine

__all__ = ["SIGMA", "covariance", "rotating_gaussian", "right_quadrant_fraction", "MorphingCFM",
           "MorphingFlow", "run_morphing", "morphing_table", "MORPHING_MODELS"]

SIGMA = ((1.0, -0.99), (-0.99, 1.0))
MORPHING_MODELS = ("nf-cond", "cfm", "ot-cfm")


def covariance(phi: float) -> np.ndarray:
    """Σ(φ) = R(φ) Σ R(φ)ᵀ (Eq. 7.4), (2, 2).

    >>> np.round(covariance(np.pi / 2), 2).tolist()
    [[1.0, 0.99], [0.99, 1.0]]
    """
    c, s = math.cos(phi), math.sin(phi)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.array(SIGMA) @ rot.T


def rotating_gaussian(n: int, phi: float, generator: torch.Generator | None = None, dim: int = 2) -> torch.Tensor:
    """``n`` draws (n, ``dim``) float32 of the zero-mean Gaussian with covariance Σ(φ); ``dim`` = 4 concatenates
    two independent 2-D draws (Eq. 7.5)."""
    if dim not in (2, 4):
        raise ValueError(f"rotating Gaussian: dim must be 2 or 4, got {dim}")
    chol = torch.from_numpy(np.linalg.cholesky(covariance(phi)))
    parts = [torch.randn(n, 2, generator=generator, dtype=torch.float64) @ chol.T for _ in range(dim // 2)]
    return torch.cat(parts, 1).float()


def right_quadrant_fraction(start: np.ndarray, end: np.ndarray) -> float:
    """Fraction of points (first two coordinates) that end in the quadrant the rotation by +π/2 sends them to:
    x_start > 0 -> (x, y) > 0, x_start < 0 -> (x, y) < 0.

    >>> s = np.array([[1.0, -1.0], [-1.0, 1.0]])
    >>> right_quadrant_fraction(s, np.array([[1.0, 1.0], [1.0, 1.0]]))
    0.5
    """
    sign = np.sign(start[:, 0])
    ok = (np.sign(end[:, 0]) == sign) & (np.sign(end[:, 1]) == sign)
    return float(np.mean(ok))


def _anchors(midpoint: bool) -> list[float]:
    return [0.0, math.pi / 4, math.pi / 2] if midpoint else [0.0, math.pi / 2]


class MorphingCFM(torch.nn.Module):
    """A velocity field v(x, t) (the playground backbone) transporting φ = 0 (t = 0) to φ = π/2 (t = 1) through the
    given anchors: segment k of K covers t ∈ [k/K, (k+1)/K] and is trained on pairs (φ_k, φ_{k+1}) by
    :func:`hepgen.models.objectives.conditional_flow_matching_loss` with the φ_k samples as the source, in the
    segment's own time s = K t − k (so the segment's straight-path target x1 − x0 equals v / K)."""

    def __init__(self, dim: int = 2, coupling: str | None = "ot", midpoint: bool = True):
        super().__init__()
        self.dim, self.anchors = dim, _anchors(midpoint)
        self.coupling = ot_coupling if coupling == "ot" else None
        self.net = backbone(dim + 2 * N_FREQ, dim)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, N_FREQ)], 1))

    def loss(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        k_segments = len(self.anchors) - 1
        total = torch.zeros(())
        mask = torch.ones(batch_size, 1, dtype=torch.bool)
        for k in range(k_segments):
            x0 = rotating_gaussian(batch_size, self.anchors[k], generator, self.dim)[:, None]
            x1 = rotating_gaussian(batch_size, self.anchors[k + 1], generator, self.dim)[:, None]

            def segment_velocity(x: torch.Tensor, s: torch.Tensor, k: int = k) -> torch.Tensor:
                return self.velocity(x[:, 0], (k + s) / k_segments)[:, None] / k_segments

            total = total + conditional_flow_matching_loss(segment_velocity, x1, mask, self.coupling, x0=x0)
        return total / k_segments

    @torch.no_grad()
    def transport(self, x0: torch.Tensor, t1: float = 1.0, n_steps: int = 100, method: str = "midpoint"
                  ) -> torch.Tensor:
        """The points ``x0`` (at φ = 0) carried along the ODE to time ``t1``."""
        return integrate(self.velocity, x0, max(1, round(n_steps * t1)), method, t0=0.0, t1=t1)


class MorphingFlow(torch.nn.Module):
    """The conditional RQS coupling flow of Sec. 7.1 (zuko NSF, condition c = −1 / 0 / +1 for φ = 0 / π/4 / π/2)."""

    def __init__(self, dim: int = 2, midpoint: bool = True):
        super().__init__()
        import zuko

        self.dim, self.anchors = dim, _anchors(midpoint)
        self.flow = zuko.flows.NSF(dim, 1, bins=8, transforms=4, passes=2, hidden_features=(32, 32))

    @staticmethod
    def condition(phi: float) -> float:
        return 4 * phi / math.pi - 1

    def loss(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        xs, cs = [], []
        for phi in self.anchors:
            xs.append(rotating_gaussian(batch_size, phi, generator, self.dim))
            cs.append(torch.full((batch_size, 1), self.condition(phi)))
        return negative_log_likelihood(self.flow(torch.cat(cs)).log_prob(torch.cat(xs)), self.dim)

    @torch.no_grad()
    def sample(self, n: int, phi: float) -> torch.Tensor:
        return self.flow(torch.full((n, 1), self.condition(phi))).sample()


def _train(model: torch.nn.Module, steps: int, batch_size: int, seed: int, lr: float = 1e-3) -> float:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    sched = warmup_cosine(opt, steps)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer_step(model.loss(batch_size, gen), opt)
        sched.step()
    return time.perf_counter() - start


def _fd_gaussian(x: np.ndarray, cov: np.ndarray) -> float:
    from hepgen.evaluate.distances import frechet_distance

    return float(frechet_distance(x.mean(0), np.cov(x.T), np.zeros(len(cov)), cov))


def run_morphing(models: Sequence[str] = MORPHING_MODELS, steps: int = 2000, batch_size: int = 256, seed: int = 0,
                 n_eval: int = 5000, dim: int = 2) -> dict[str, Any]:
    """Train each of ``models`` with and without the midpoint and measure the transport (module docstring):
    rows "<model>, midpoint" / "<model>, end points" with right_quadrant_fraction (CNFs), w1_end and fd_mid.

    >>> r = run_morphing(["ot-cfm"], steps=3, n_eval=200)
    >>> sorted(r["rows"])
    ['ot-cfm, end points', 'ot-cfm, midpoint']
    """
    from hepgen.evaluate import w1

    unknown = [m for m in models if m not in MORPHING_MODELS]
    if unknown:
        raise ValueError(f"unknown morphing model(s) {', '.join(unknown)}: expected some of "
                         f"{', '.join(MORPHING_MODELS)}")
    gen = torch.Generator().manual_seed(seed + 77)
    source = rotating_gaussian(n_eval, 0.0, gen, dim)
    target = rotating_gaussian(n_eval, math.pi / 2, gen, dim).double().numpy()
    cov_mid = covariance(math.pi / 4)
    rows: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(models):
        for midpoint in (True, False):
            label = f"{name}, {'midpoint' if midpoint else 'end points'}"
            if name == "nf-cond":
                model: torch.nn.Module = MorphingFlow(dim, midpoint)
            else:
                model = MorphingCFM(dim, "ot" if name == "ot-cfm" else None, midpoint)
            seconds = _train(model, steps, batch_size, seed + 100 * i + int(midpoint))
            row: dict[str, Any] = {"steps": steps, "seconds": seconds}
            torch.manual_seed(seed + 5)
            if name == "nf-cond":
                end = model.sample(n_eval, math.pi / 2).double().numpy()
                mid = model.sample(n_eval, math.pi / 4).double().numpy()
            else:
                end = model.transport(source).double().numpy()
                mid = model.transport(source, t1=0.5).double().numpy()
                row["right_quadrant_fraction"] = right_quadrant_fraction(source.double().numpy(), end)
            row["w1_end"] = float(sum(w1(target[:, j], end[:, j]) for j in range(dim)))
            row["fd_mid"] = _fd_gaussian(mid[:, :2], cov_mid)
            rows[label] = row
    return {"settings": {"models": list(models), "steps": steps, "batch_size": batch_size, "seed": seed,
                         "n_eval": n_eval, "dim": dim}, "rows": rows}


def morphing_table(result: dict[str, Any]) -> str:
    """Markdown table of :func:`run_morphing`'s rows.

    >>> print(morphing_table({"rows": {"cfm, midpoint": {"right_quadrant_fraction": 0.9, "w1_end": 0.1,
    ...                                                    "fd_mid": 0.2, "seconds": 3.0}}}).splitlines()[-1])
    | cfm, midpoint | 0.900 | 0.100 | 0.200 | 3 |
    """
    lines = ["| model | right quadrant | W1 at φ = π/2 (sum) | FD at the middle vs φ = π/4 | train s |",
             "|---|---|---|---|---|"]
    for name, row in result["rows"].items():
        rq = row.get("right_quadrant_fraction")
        lines.append(f"| {name} | {'–' if rq is None else f'{rq:.3f}'} | {row['w1_end']:.3f} | {row['fd_mid']:.3f} "
                     f"| {row['seconds']:.0f} |")
    return "\n".join(lines)
