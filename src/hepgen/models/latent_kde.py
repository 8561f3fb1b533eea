"""Gaussian kernel density estimate of encoded latents, with sampling inside a window of the labels.

KDE latent sampling of E. Buhmann et al., "Decoding Photons: Physics in the Latent Space of a BIB-AE Generative
Network", arXiv:2102.12491, as used by J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter
Responses using Deep Learning", PhD thesis, KIT (2022), §4.3.3 and §5.3: encode the training showers, fit a KDE
to the latents (here with the conditioning labels as extra columns), draw new latents, and for a requested energy
keep only latents "within a suitable window" of it, so that latent–observable correlations survive when the
aggregate posterior is not N(0, 1). The thesis states neither kernel nor bandwidth: here a Gaussian kernel whose
bandwidth follows SciPy's ``gaussian_kde`` convention: ``bandwidth`` is the factor h and the kernel
covariance is h² times the covariance of the points (SciPy's ``bw_method`` scalar; ``None`` = SciPy's "scott",
n^(−1/(d+4))), so draws have the points' mean and 1 + h² times their covariance. The pion BIB-AE's KDE bandwidth
h = 0.1 (Buhmann et al., "Hadrons, better, faster, stronger", arXiv:2112.09709; S. Diefenbacher, "Topics in
Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022), Sec. 7.3) is this factor directly.

Two ways to draw for requested labels. :meth:`LatentKDE.sample_window` (Irakkathil Jabbar) picks one stored point
among those whose window columns lie within ``tolerance`` of the target (when none does, among those nearest to
it, within ``tolerance`` of the nearest distance) and adds kernel noise. :meth:`LatentKDE.sample_conditional`
(Diefenbacher, Sec. 7.3) rejection-samples: it draws from the whole KDE until the drawn label columns lie within
``tolerance`` of the target; rows never accepted fall back to a kernel draw around the stored point with the
nearest label. The points and the kernel's Cholesky factor are buffers: the KDE travels in the state dict.

>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> kde = LatentKDE().fit(torch.randn(2000, 2, generator=g) * torch.tensor([1.0, 3.0]))
>>> z = kde.sample(4000, g)
>>> bool(((z.std(0) / torch.tensor([1.0, 3.0]) - 1).abs() < 0.1).all())     # width × sqrt(1 + factor²)
True
>>> pts = torch.tensor([[0.0, 1.0], [5.0, 2.0]])                  # latent 0, label 1
>>> w = LatentKDE(bandwidth=1e-3).fit(pts).sample_window(torch.tensor([[2.0], [1.9]]), [1], 0.5, g)
>>> [round(float(v)) for v in w[:, 0]]
[5, 5]
>>> c = LatentKDE(bandwidth=1e-3).fit(pts).sample_conditional(torch.tensor([[2.0], [1.0]]), [1], 0.01, g)
>>> [round(float(v)) for v in c[:, 0]]
[5, 0]
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from hepgen.models.layers import standard_normal, uniform

__all__ = ["LatentKDE"]


class LatentKDE(nn.Module):
    """Gaussian KDE of (N, d) points (see the module docstring); ``bandwidth=None``: Scott's factor."""

    def __init__(self, bandwidth: float | None = None) -> None:
        super().__init__()
        self.bandwidth = bandwidth
        self.register_buffer("points", torch.zeros(0, 0))
        self.register_buffer("chol", torch.zeros(0, 0))

    @property
    def fitted(self) -> bool:
        return self.points.shape[0] > 0

    @torch.no_grad()
    def fit(self, z: torch.Tensor, max_points: int | None = None) -> "LatentKDE":
        """Store (the first ``max_points`` of) ``z`` (N, d) and the kernel; returns self."""
        z = z.detach()[:max_points] if max_points else z.detach()
        if z.dim() != 2 or len(z) < 2:
            raise ValueError(f"a latent KDE needs (N >= 2, d) points, got shape {tuple(z.shape)}")
        n, d = z.shape
        factor = n ** (-1.0 / (d + 4)) if self.bandwidth is None else float(self.bandwidth)
        zd = z.double()
        cov = torch.cov(zd.T).reshape(d, d) * factor ** 2
        cov = cov + 1e-9 * (1 + cov.diagonal().mean()) * torch.eye(d, dtype=cov.dtype, device=cov.device)
        self.points = z.clone()
        self.chol = torch.linalg.cholesky(cov).to(z.dtype)
        return self

    def extra(self) -> dict:
        """The fitted KDE as arrays for a run's ``extra.npz`` (``kde_points``, ``kde_chol``; see :meth:`load_extra`)."""
        return {"kde_points": self.points.cpu().numpy(), "kde_chol": self.chol.cpu().numpy()}

    def load_extra(self, extra) -> None:
        """Restore :meth:`extra` onto this module's device; with ``kde_points`` alone (runs from before the kernel
        was stored) the kernel is refitted from the points; without them nothing changes.

        >>> kde = LatentKDE().fit(torch.randn(50, 3, generator=torch.Generator().manual_seed(0)))
        >>> copy = LatentKDE(); copy.load_extra(kde.extra())
        >>> torch.equal(copy.points, kde.points), torch.equal(copy.chol, kde.chol)
        (True, True)
        """
        if "kde_points" not in extra:
            return
        device = self.points.device
        points = torch.as_tensor(extra["kde_points"]).float().to(device)
        if "kde_chol" in extra:
            self.points, self.chol = points, torch.as_tensor(extra["kde_chol"]).float().to(device)
        else:
            self.fit(points)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("points", "chol"):   # the stored sizes decide the buffers' (fitted or not)
            key = prefix + name
            if key not in state_dict:     # weights saved before the KDE was a module (BIB-AE runs): unfitted,
                state_dict[key] = torch.zeros(0, 0)   # the run's extra (load_extra) fills it
            setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _draw(self, index: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Kernel draws around the stored points ``index`` (any shape): shape ``index.shape + (d,)``."""
        pts = self.points[index]
        noise = standard_normal(pts.shape, pts.device, pts.dtype, generator)
        return pts + noise @ self.chol.T

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, d) draws from the KDE."""
        if not self.fitted:
            raise RuntimeError("the latent KDE is not fitted")
        u = uniform((int(n),), self.points.device, torch.float64, generator)
        return self._draw((u * len(self.points)).long().clamp_max(len(self.points) - 1), generator)

    def sample_window(self, target: torch.Tensor, columns: Sequence[int], tolerance: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, d) draws, row i from the points whose ``columns`` are within ``tolerance`` (max norm) of
        ``target[i]`` (n, len(columns)); the nearest points when none is."""
        if not self.fitted:
            raise RuntimeError("the latent KDE is not fitted")
        labels = self.points[:, list(columns)]
        target = target.to(labels.device, labels.dtype).reshape(len(target), len(columns))
        index = torch.empty(len(target), dtype=torch.long, device=labels.device)
        u = uniform((len(target),), labels.device, torch.float64, generator)
        uniq, inverse = torch.unique(target, dim=0, return_inverse=True)   # discrete energies: one mask each
        for k in range(len(uniq)):
            rows = (inverse == k).nonzero().squeeze(1)
            dist = (labels - uniq[k]).abs().amax(dim=1)
            limit = tolerance if bool((dist <= tolerance).any()) else float(dist.min()) + tolerance
            candidates = (dist <= limit).nonzero().squeeze(1)
            pick = (u[rows] * len(candidates)).long().clamp_max(len(candidates) - 1)
            index[rows] = candidates[pick]
        return self._draw(index, generator)

    def sample_conditional(self, target: torch.Tensor, columns: Sequence[int], tolerance: float,
                           generator: torch.Generator | None = None, tries: int = 100,
                           per_try: int = 32) -> torch.Tensor:
        """(n, d) rejection-sampled draws whose ``columns`` lie within ``tolerance`` (max norm) of ``target[i]``
        (n, len(columns)): up to ``tries`` rounds of ``per_try`` KDE draws per row, the first accepted one kept;
        rows still without one (a tolerance too tight for the data) take a kernel draw around the stored point
        with the nearest label. Draws on the points' device with ``generator``."""
        if not self.fitted:
            raise RuntimeError("the latent KDE is not fitted")
        cols = list(columns)
        pts = self.points
        n, d = len(target), pts.shape[1]
        target = target.to(pts.device, pts.dtype).reshape(n, len(cols))
        out = torch.empty(n, d, dtype=pts.dtype, device=pts.device)
        todo = torch.arange(n, device=pts.device)
        for _ in range(int(tries)):
            if len(todo) == 0:
                break
            u = uniform((len(todo), int(per_try)), pts.device, torch.float64, generator)
            draws = self._draw((u * len(pts)).long().clamp_max(len(pts) - 1), generator)
            ok = (draws[:, :, cols] - target[todo, None, :]).abs().amax(dim=2) <= tolerance
            hit = ok.any(dim=1)
            first = ok.to(torch.uint8).argmax(dim=1)
            out[todo[hit]] = draws[hit, first[hit]]
            todo = todo[~hit]
        if len(todo):
            labels = pts[:, cols]
            chunk = max(1, 2 ** 24 // (len(pts) * len(cols)))   # (chunk, N, columns) distances at a time
            near = torch.cat([(labels[None] - target[rows, None, :]).abs().amax(dim=2).argmin(dim=1)
                              for rows in todo.split(chunk)])
            out[todo] = self._draw(near, generator)
        return out
