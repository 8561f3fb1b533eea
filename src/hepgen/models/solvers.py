"""Fixed-step ODE integrators for continuous normalising flows: dx/dt = v(x, t) from t0 to t1.

One signature for all methods, :func:`integrate`; the flows trained with conditional flow matching
(:func:`hepgen.models.objectives.conditional_flow_matching_loss`) sample through it. ``velocity(x, t)``
takes the state (B, ...) and the times (B,) (one time per example, the same value for all) and returns
dx/dt of the shape of x; conditioning and masks are bound by the caller (a closure).

* ``"euler"`` — explicit Euler, x ← x + h v(x, t), first order.
* ``"midpoint"`` — explicit midpoint (second-order Runge-Kutta), x ← x + h v(x + h/2 v(x, t), t + h/2)
  (E. Hairer, S. P. Nørsett, G. Wanner, "Solving Ordinary Differential Equations I", Springer (1993),
  Sec. II.1); the choice of MDMA-Flow (B. Käch, PhD thesis, U. Hamburg / DESY (2024), Sec. 5.5.7).

:func:`ddpm_sample` is the stochastic counterpart for the denoising diffusion model: the ancestral sampler
of Ho et al. (arXiv:2006.11239, Algorithm 2) for a noise predictor trained with
:func:`hepgen.models.objectives.ddpm_loss`.

>>> import math, torch
>>> x1 = integrate(lambda x, t: -x, torch.ones(2, 1), n_steps=100, method="midpoint")
>>> abs(float(x1[0, 0]) - math.exp(-1)) < 1e-5
True
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["integrate", "ddpm_sample", "METHODS"]

METHODS = ("euler", "midpoint")


def integrate(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor, n_steps: int,
              method: str = "midpoint", t0: float = 0.0, t1: float = 1.0) -> torch.Tensor:
    """x(t1) from x(t0) = ``x0`` in ``n_steps`` equal steps of size h = (t1 − t0) / n_steps.

    The times are tensors of x0's device and dtype; no gradient bookkeeping is changed (wrap the call in
    ``torch.no_grad()`` for sampling).

    >>> import torch
    >>> integrate(lambda x, t: torch.ones_like(x), torch.zeros(1), n_steps=4, method="euler").tolist()
    [1.0]
    >>> integrate(lambda x, t: t, torch.zeros(1), n_steps=1).tolist()        # midpoint: exact for linear v(t)
    [0.5]
    """
    if method not in METHODS:
        raise ValueError(f"unknown ODE method '{method}': expected one of {', '.join(METHODS)}")
    h = (t1 - t0) / n_steps
    x = x0
    for k in range(n_steps):
        t = torch.full((x.shape[0],), t0 + k * h, dtype=x.dtype, device=x.device)
        if method == "euler":
            x = x + h * velocity(x, t)
        else:
            x_mid = x + 0.5 * h * velocity(x, t)
            x = x + h * velocity(x_mid, t + 0.5 * h)
    return x


def ddpm_sample(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x_noise: torch.Tensor,
                betas: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Ancestral DDPM sampling (Ho et al., arXiv:2006.11239, Algorithm 2, σ_t² = β_t): from x_T = ``x_noise``
    ~ N(0, 1), for t = T .. 1: x_{t−1} = (x_t − β_t / √(1 − ᾱ_t) ε_θ(x_t, t)) / √(1 − β_t) + σ_t z (z = 0 at
    t = 1). ``eps_model(x, s)`` gets s = t / T, shape (B,), as in :func:`hepgen.models.objectives.ddpm_loss`;
    ``betas`` (T,) as :func:`hepgen.models.objectives.ddpm_schedule` gives them. Wrap the call in
    ``torch.no_grad()``.

    >>> import torch
    >>> from hepgen.models.objectives import ddpm_schedule
    >>> betas = ddpm_schedule(100); alpha_bar = torch.cumprod(1 - betas, 0).float()
    >>> def exact_eps(x, s):                      # the exact noise predictor of data all at x0 = 2
    ...     a = alpha_bar[(s * 100).round().long() - 1, None]
    ...     return (x - a.sqrt() * 2) / (1 - a).sqrt()
    >>> ddpm_sample(exact_eps, torch.randn(2, 1), betas).round(decimals=4).tolist()
    [[2.0], [2.0]]
    """
    from hepgen.models.layers import standard_normal

    n_steps = len(betas)
    b = betas.to(device=x_noise.device, dtype=x_noise.dtype)
    alpha_bar = torch.cumprod(1 - b, 0)
    x = x_noise
    for k in range(n_steps - 1, -1, -1):
        s = torch.full((x.shape[0],), (k + 1) / n_steps, dtype=x.dtype, device=x.device)
        x = (x - b[k] / (1 - alpha_bar[k]).sqrt() * eps_model(x, s)) / (1 - b[k]).sqrt()
        if k > 0:
            x = x + b[k].sqrt() * standard_normal(x.shape, x.device, x.dtype, generator)
    return x
