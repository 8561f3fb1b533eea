"""Loss terms of the voxel shower models (Buhmann et al., arXiv:2005.05334 and arXiv:2112.09709;
S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022)).

* :func:`gradient_penalty` — WGAN-GP (arXiv:1704.00028), labels from the current batch.
* :func:`constrainer_loss` — κ·E|(a(x')−E)² − (a(x)−E)²| with an energy regressor a(x).
* :func:`sorted_kernel_mmd` — MMD of the sorted hit-energy spectrum in sliding windows.
* :func:`latent_mmd`, :func:`kl_divergence` — BIB-AE latent regularisers.

>>> import torch
>>> float(kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3))) == 0
True
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

__all__ = ["gradient_penalty", "constrainer_loss", "gaussian_mmd", "sorted_kernel_mmd", "latent_mmd",
           "kl_divergence"]


def gradient_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     *extra: torch.Tensor, weight: float = 10.0, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """``weight · E[(|∇_s critic(s, *extra)| − 1)²]`` at uniform interpolations s of real and fake.

    ``extra`` (e.g. the conditioning labels of the current batch) is passed unchanged, so the
    penalty is taken at the labels the real and fake examples share.

    >>> import torch
    >>> critic = lambda x: 3.0 * x.sum(dim=1)        # gradient norm 3*sqrt(2) everywhere
    >>> gp = gradient_penalty(critic, torch.zeros(5, 2), torch.ones(5, 2), weight=1.0)
    >>> round(float(gp), 4) == round((3 * 2 ** 0.5 - 1) ** 2, 4)
    True
    """
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator, dtype=real.dtype,
                     device=real.device)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(mixed, *extra)
    grad, = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norm = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def constrainer_loss(pred_fake: torch.Tensor, pred_real: torch.Tensor, target: torch.Tensor,
                     kappa: float = 0.01) -> torch.Tensor:
    """Energy constrainer loss κ·mean|(a(x')−E)² − (a(x)−E)²| (Diefenbacher 2022, eq. 6.2.1).

    >>> import torch
    >>> float(constrainer_loss(torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([1.0]), kappa=0.5))
    2.0
    """
    pred_fake, pred_real, target = pred_fake.reshape(-1), pred_real.reshape(-1), target.reshape(-1)
    return kappa * ((pred_fake - target) ** 2 - (pred_real - target) ** 2).abs().mean()


def gaussian_mmd(x: torch.Tensor, y: torch.Tensor, alphas: Sequence[float] = (1.0,)) -> torch.Tensor:
    """Biased MMD² with kernels exp(−α|a−b|²), summed over ``alphas``, between the last-axis
    sample sets; leading axes are batch axes (one MMD per batch entry).

    >>> import torch
    >>> float(gaussian_mmd(torch.tensor([0.0]), torch.tensor([1.0]), alphas=[1.0])) == 2 - 2 * float(torch.exp(torch.tensor(-1.0)))
    True
    """
    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = (a.unsqueeze(-1) - b.unsqueeze(-2)) ** 2
        return sum(torch.exp(-alpha * d2) for alpha in alphas)

    return k(x, x).mean(dim=(-1, -2)) + k(y, y).mean(dim=(-1, -2)) - 2 * k(x, y).mean(dim=(-1, -2))


def sorted_kernel_mmd(fake: torch.Tensor, real: torch.Tensor, top_n: int = 2000, window: int = 100,
                      stride: int = 50, alpha: float = 200.0) -> torch.Tensor:
    """Sorted-kernel MMD of hit energies (Diefenbacher 2022, Sec. 6.3; arXiv:2005.05334).

    Each shower (flattened) is sorted by energy, descending; the ``top_n`` highest cells are kept
    and the Gaussian-kernel MMD (width ``alpha``, energies as given, e.g. MeV) is computed between
    fake and real shower i on windows of ``window`` cells moved by ``stride``; the loss is the mean
    over windows and showers. ``top_n`` and ``window`` are capped at the number of cells.

    >>> import torch
    >>> x = torch.rand(2, 50)
    >>> float(sorted_kernel_mmd(x, x, top_n=40, window=10, stride=5))
    0.0
    >>> bool(sorted_kernel_mmd(x, x + 0.5, top_n=40, window=10, stride=5) > 0)
    True
    """
    fake = fake.reshape(fake.shape[0], -1)
    real = real.reshape(real.shape[0], -1)
    n = min(top_n, fake.shape[1])
    window = min(window, n)
    f = torch.sort(fake, dim=1, descending=True).values[:, :n]
    r = torch.sort(real, dim=1, descending=True).values[:, :n]
    starts = list(range(0, n - window + 1, max(1, stride)))
    fw = torch.stack([f[:, s:s + window] for s in starts], dim=1)   # (B, windows, window)
    rw = torch.stack([r[:, s:s + window] for s in starts], dim=1)
    return gaussian_mmd(fw, rw, alphas=(alpha,)).mean()


def latent_mmd(z: torch.Tensor, prior: torch.Tensor | None = None, alphas: Sequence[float] = (1.0, 0.01),
               generator: torch.Generator | None = None) -> torch.Tensor:
    """MMD between encoded latents ``z`` (B, d) and N(0, 1) samples (BIB-AE, α = 1 and 0.01),
    computed on the joint d-dimensional vectors.

    >>> import torch
    >>> z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    >>> float(latent_mmd(z, z))
    0.0
    """
    if prior is None:
        prior = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = torch.cdist(a, b) ** 2
        return sum(torch.exp(-alpha * d2) for alpha in alphas)

    return k(z, z).mean() + k(prior, prior).mean() - 2 * k(z, prior).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions, averaged over the batch.

    >>> import torch, math
    >>> round(float(kl_divergence(torch.ones(1, 1), torch.zeros(1, 1))), 6)
    0.5
    """
    return -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / mu.shape[0]
