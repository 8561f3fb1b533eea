"""The training objectives of hepgen's models, written once, and the one optimisation step.

Adversarial losses

* :func:`wasserstein_critic_loss`, :func:`wasserstein_generator_loss` and :func:`gradient_penalty` — WGAN-GP
  (Arjovsky et al., "Wasserstein GAN", arXiv:1701.07875; Gulrajani et al., "Improved Training of
  Wasserstein GANs", arXiv:1704.00028): WGAN, BIB-AE critics.
* :func:`lsgan_critic_loss`, :func:`lsgan_generator_loss` — least squares GAN (Mao et al., "Least Squares
  Generative Adversarial Networks", arXiv:1611.04076): MDMA-GAN, EPiC-GAN, TGAN, MDMA-Calo-GAN.
* :func:`mean_field_loss` — mean-field matching of the MDMA critic (Käch & Melzer-Pellmann, arXiv:2305.15254).
* :func:`bce_loss`, :func:`discriminator_bce_loss`, :func:`generator_bce_loss` — the original GAN loss with
  the non-saturating generator term (Goodfellow et al., "Generative Adversarial Nets", arXiv:1406.2661) and
  one-sided label smoothing (Salimans et al., arXiv:1606.03498): GANplify-GAN, VAE-GAN; :func:`roth_penalty`,
  the discriminator gradient regulariser of Roth et al. (arXiv:1705.09367): GANplify-GAN.
* :func:`focal_loss` — the focal loss of classifiers (Lin et al., "Focal Loss for Dense Object Detection",
  arXiv:1708.02002; B. Käch, PhD thesis (2024), Eq. 3.8): the morphing classifiers of :mod:`hepgen.studies`.
* :func:`minimax_generator_loss` — the saturating generator term E[log(1 − D(G(z)))] of the original minimax
  game (arXiv:1406.2661, Eq. 1); :func:`clip_parameters` — the weight clipping of the original WGAN
  (arXiv:1701.07875, Algorithm 1): the GAN variants of the Two Moons playground (:mod:`hepgen.studies`).

Likelihood, autoencoders and diffusion

* :func:`negative_log_likelihood` — the normalising-flow loss (per feature, as JetFlow reports it).
* :func:`vae_loss` — squared reconstruction error + β · :func:`kl_divergence` (Kingma & Welling,
  "Auto-Encoding Variational Bayes", arXiv:1312.6114; B. Käch, PhD thesis (2024), Eq. 4.12, with a ramped β).
* :func:`ddpm_schedule`, :func:`ddpm_loss` — the denoising diffusion model's noise schedule and ε-prediction
  loss (Ho et al., "Denoising Diffusion Probabilistic Models", arXiv:2006.11239, Eq. 14); the ancestral
  sampler is :func:`hepgen.models.solvers.ddpm_sample`.

Flow matching

* :func:`conditional_flow_matching_loss` — conditional flow matching with straight paths, σ_min = 0
  (Lipman et al., "Flow Matching for Generative Modeling", arXiv:2210.02747), optionally with a minibatch
  coupling such as :func:`ot_coupling` (OT-CFM, Tong et al., "Improving and Generalizing Flow-Based
  Generative Models with Minibatch Optimal Transport", arXiv:2302.00482): MDMA-Flow, MDMA-Calo-Flow.
  The ODE is integrated at sampling by :func:`hepgen.models.solvers.integrate`.

Shower terms (Buhmann et al., arXiv:2005.05334 and arXiv:2112.09709; S. Diefenbacher, "Topics in Generative
Modeling of Particle Physics Data", PhD thesis, U. Hamburg (2022))

* :func:`constrainer_loss` — κ·E|(a(x')−E)² − (a(x)−E)²| with an energy regressor a(x).
* :func:`regressor_feedback_loss` — the energy and position regressor terms with κ_E, κ_P (Irakkathil Jabbar,
  PhD thesis, KIT 2022; the regressors: :mod:`hepgen.models.regressors`).
* :func:`gaussian_mmd`, :func:`sorted_kernel_mmd` — MMD, and MMD of the sorted hit-energy spectrum in
  sliding windows (BIB-AE Post-Processor).
* :func:`latent_mmd`, :func:`kl_divergence` — BIB-AE latent regularisers.

Latent diagnostics

* :func:`mutual_information` — I_q between data and latents (He et al., arXiv:1901.05534) and
  :func:`active_units`, for posterior collapse (the β-VAE study of :mod:`hepgen.studies.beta_vae`).

Optimisation

* :func:`optimizer_step` — ``zero_grad``, ``backward``, optional gradient clipping, ``step`` and an optional
  step counter: every ``training_step`` updates its networks through it.

>>> import torch
>>> float(kl_divergence(torch.zeros(4, 3), torch.zeros(4, 3))) == 0
True
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, cast

import torch
from torch.nn import functional as F

from hepgen.models.layers import standard_normal, uniform

__all__ = ["optimizer_step", "gradient_penalty", "wasserstein_critic_loss", "wasserstein_generator_loss",
           "lsgan_critic_loss", "lsgan_generator_loss", "mean_field_loss", "bce_loss", "discriminator_bce_loss",
           "generator_bce_loss", "focal_loss", "roth_penalty", "minimax_generator_loss", "clip_parameters",
           "negative_log_likelihood", "vae_loss", "ddpm_schedule", "ddpm_loss", "conditional_flow_matching_loss",
           "ot_coupling", "constrainer_loss", "regressor_feedback_loss", "mutual_information", "active_units",
           "gaussian_mmd", "sorted_kernel_mmd", "latent_mmd", "kl_divergence", "cyclical_beta",
           "step_learning_rate", "information_regulariser"]


# -- optimisation ---------------------------------------------------------------------------------------------

def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, clip: float | None = None,
                   counter: torch.Tensor | None = None) -> torch.Tensor:
    """One update of the parameters of ``optimizer`` from ``loss``: ``zero_grad``, ``backward``, gradient
    clipping to a total norm of ``clip`` (None: none), ``step``; then ``counter`` (an integer buffer such as
    ``generator_steps``) is incremented in place. Returns the detached loss.

    >>> w = torch.nn.Parameter(torch.tensor([1.0]))
    >>> steps = torch.zeros((), dtype=torch.long)
    >>> float(optimizer_step((2 * w).sum(), torch.optim.SGD([w], lr=0.5), counter=steps)), w.tolist(), int(steps)
    (2.0, [0.0], 1)
    """
    optimizer.zero_grad()
    loss.backward()
    if clip is not None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    if counter is not None:
        counter += 1
    return loss.detach()


# -- adversarial losses ---------------------------------------------------------------------------------------

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
    eps = uniform((real.shape[0],) + (1,) * (real.dim() - 1), real.device, real.dtype, generator)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(mixed, *extra)
    grad, = torch.autograd.grad(out.sum(), mixed, create_graph=True)
    norm = grad.reshape(grad.shape[0], -1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def wasserstein_critic_loss(critic: Callable[..., torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                            *extra: torch.Tensor, weight: float = 10.0
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """WGAN-GP critic loss ``gp − w`` with the Wasserstein estimate w = E[critic(real)] − E[critic(fake)]
    and the :func:`gradient_penalty` gp (arXiv:1704.00028, Algorithm 1); ``extra`` (labels) is passed to
    the critic. Returns (loss, w, gp); the critic is evaluated on real, then fake, then the interpolates.

    >>> loss, w, gp = wasserstein_critic_loss(lambda x: x.sum(1), torch.ones(3, 1), torch.zeros(3, 1), weight=1.0)
    >>> float(loss), float(w), float(gp)
    (-1.0, 1.0, 0.0)
    """
    w = critic(real, *extra).mean() - critic(fake, *extra).mean()
    gp = gradient_penalty(critic, real, fake, *extra, weight=weight)
    return gp - w, w, gp


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss −E[critic(fake)] (arXiv:1701.07875).

    >>> float(wasserstein_generator_loss(torch.tensor([1.0, 3.0])))
    -2.0
    """
    return -fake_scores.mean()


def lsgan_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Least-squares critic loss ``scale · E[(D(real) − 1)²] + scale · E[D(fake)²]`` (arXiv:1611.04076, a = 0,
    b = c = 1; MDMA-Calo-GAN uses ``scale`` = 1/2, the jet GANs 1).

    >>> float(lsgan_critic_loss(torch.tensor([0.0]), torch.tensor([2.0]), scale=0.5))
    2.5
    """
    if scale == 1.0:
        return ((real_scores - 1) ** 2).mean() + (fake_scores ** 2).mean()
    return scale * ((real_scores - 1) ** 2).mean() + scale * (fake_scores ** 2).mean()


def lsgan_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Least-squares generator loss ½ E[(D(fake) − 1)²] (arXiv:1611.04076).

    >>> float(lsgan_generator_loss(torch.tensor([3.0])))
    2.0
    """
    return 0.5 * ((fake_scores - 1) ** 2).mean()


def mean_field_loss(mean_field_real: torch.Tensor, mean_field_fake: torch.Tensor) -> torch.Tensor:
    """Mean-field matching L_MF = mean |E_batch x̄_real − E_batch x̄_fake|² of the critic's final mean fields
    (B, d) (Käch & Melzer-Pellmann, arXiv:2305.15254; B. Käch, PhD thesis (2024), Eq. 5.13); the real
    side is detached.

    >>> float(mean_field_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 3.0]])))
    2.5
    """
    return ((mean_field_real.detach().mean(0) - mean_field_fake.mean(0)) ** 2).mean()


def bce_loss(logits: torch.Tensor, label: float) -> torch.Tensor:
    """Binary cross-entropy of discriminator logits against one constant ``label`` (1 real, 0 fake, < 1 for
    one-sided label smoothing, arXiv:1606.03498).

    >>> round(float(bce_loss(torch.tensor([0.0]), 1.0)), 4)
    0.6931
    """
    if label == 1.0:
        target = torch.ones_like(logits)
    elif label == 0.0:
        target = torch.zeros_like(logits)
    else:
        target = torch.full_like(logits, label)
    return F.binary_cross_entropy_with_logits(logits, target)


def discriminator_bce_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0
                           ) -> torch.Tensor:
    """GAN discriminator loss −E[log D(real)] − E[log(1 − D(fake))] on logits (arXiv:1406.2661); real
    examples get the target ``real_label``.

    >>> round(float(discriminator_bce_loss(torch.tensor([0.0]), torch.tensor([0.0]))), 4)
    1.3863
    """
    return bce_loss(real_logits, real_label) + bce_loss(fake_logits, 0.0)


def generator_bce_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss −E[log D(fake)] on logits (arXiv:1406.2661, Sec. 3).

    >>> round(float(generator_bce_loss(torch.tensor([0.0]))), 4)
    0.6931
    """
    return bce_loss(fake_logits, 1.0)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 1.5, alpha: float = 0.5,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Focal loss FL(p_t) = −α_t (1 − p_t)^γ log p_t (arXiv:1708.02002; Käch thesis Eq. 3.8) of binary ``logits``
    against ``target`` ∈ {0, 1}, averaged (weighted by ``weight`` if given); p_t is the probability given to the
    true class, α_t = α for target 1 and 1 − α for target 0 (α = 0.5 everywhere in the thesis: FL is then half the
    BCE at γ = 0). It down-weights examples already classified well, so outputs stay less over-confident.

    >>> round(float(focal_loss(torch.tensor([0.0]), torch.tensor([1.0]), gamma=2.0)), 5)   # 0.5 · 0.25 · log 2
    0.08664
    """
    target = target.to(logits.dtype)
    log_p = F.logsigmoid(logits)
    log_1mp = F.logsigmoid(-logits)
    log_pt = target * log_p + (1 - target) * log_1mp
    alpha_t = target * alpha + (1 - target) * (1 - alpha)
    loss = -alpha_t * (1 - log_pt.exp()).clamp_min(0) ** gamma * log_pt
    if weight is None:
        return loss.mean()
    return (weight * loss).sum() / weight.sum()


def roth_penalty(disc: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                 inv_scale: torch.Tensor | None = None) -> torch.Tensor:
    """Discriminator gradient regulariser of Roth et al., "Stabilizing Training of Generative Adversarial Networks
    through Regularization", arXiv:1705.09367, eq. 9: E_real[(1 − D)² |∇logit|²] + E_fake[D² |∇logit|²], D the
    sigmoid of the logits of ``disc`` (GANplify-GAN).

    The gradient is taken in data units: for inputs standardised as z = (x − μ)/s, ∇_x = ∇_z / s, so
    ``inv_scale`` = 1/s per feature (None: the inputs are in data units already).

    >>> float(roth_penalty(lambda x: x.sum(1), torch.zeros(2, 3), torch.zeros(2, 3)).detach())   # D = 1/2, |∇|² = 3
    1.5
    """
    out = []
    for x, weight in ((real, lambda d: (1 - d) ** 2), (fake, lambda d: d ** 2)):
        x = x.detach().requires_grad_(True)
        logit = disc(x)
        grad, = torch.autograd.grad(logit.sum(), x, create_graph=True)
        if inv_scale is not None:
            grad = grad * inv_scale
        out.append((weight(torch.sigmoid(logit)) * grad.pow(2).sum(dim=1)).mean())
    return out[0] + out[1]


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Saturating generator loss E[log(1 − D(G(z)))] on logits, the generator's side of the original minimax
    game (Goodfellow et al., arXiv:1406.2661, Eq. 1); it is minimised, and its gradient vanishes where the
    discriminator rejects the fakes confidently (the reason for :func:`generator_bce_loss`).

    >>> round(float(minimax_generator_loss(torch.tensor([0.0]))), 4)      # log(1/2)
    -0.6931
    """
    return -bce_loss(fake_logits, 0.0)


def clip_parameters(parameters: Iterable[torch.Tensor], clip: float = 0.01) -> None:
    """Clamp every parameter to [−clip, clip] in place: the weight clipping that keeps the original WGAN critic
    K-Lipschitz (Arjovsky et al., arXiv:1701.07875, Algorithm 1, c = 0.01), applied after each critic update.

    >>> w = torch.nn.Parameter(torch.tensor([-1.0, 0.005, 2.0]))
    >>> clip_parameters([w], 0.01); [round(v, 6) for v in w.tolist()]
    [-0.01, 0.005, 0.01]
    """
    with torch.no_grad():
        for p in parameters:
            p.clamp_(-clip, clip)


# -- likelihood, autoencoders, diffusion ----------------------------------------------------------------------

def negative_log_likelihood(log_prob: torch.Tensor, n_features: int = 1) -> torch.Tensor:
    """Mean negative log-likelihood −E[log p(x)] of a normalising flow, divided by ``n_features`` (per feature).

    >>> float(negative_log_likelihood(torch.tensor([-2.0, -4.0]), n_features=2))
    1.5
    """
    return -log_prob.mean() / n_features


def vae_loss(reconstruction: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             kl_weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VAE loss E|x̂ − x|² (summed over features, averaged over the batch) + ``kl_weight`` · KL(q(z|x) ‖ N(0, 1))
    (Kingma & Welling, arXiv:1312.6114; B. Käch, PhD thesis (2024), Eq. 4.12; a ``kl_weight`` ramped up from 0
    avoids the posterior collapse at the start). ``kl_weight`` = 0 is a plain autoencoder. Returns
    (loss, reconstruction term, KL term).

    >>> loss, rec, kl = vae_loss(torch.ones(2, 3), torch.zeros(2, 3), torch.ones(2, 1), torch.zeros(2, 1), 0.5)
    >>> float(loss), float(rec), float(kl)
    (3.25, 3.0, 0.5)
    """
    rec = ((reconstruction - x) ** 2).reshape(len(x), -1).sum(1).mean()
    kl = kl_divergence(mu, logvar)
    return rec + kl_weight * kl, rec, kl


def ddpm_schedule(n_steps: int = 1000, beta_start: float | None = None, beta_end: float | None = None
                  ) -> torch.Tensor:
    """The linear variance schedule β_1 .. β_T of DDPM (Ho et al., arXiv:2006.11239, Sec. 4: 1e-4 .. 0.02 for
    T = 1000), (T,) float64. By default both ends are scaled by 1000 / T, so that a short chain (the Two
    Moons model of B. Käch's thesis uses T = 100) ends as close to pure noise as the paper's:
    ᾱ_T = Π(1 − β_t) ≈ 4e-5 for T ≥ 40 (β_T is capped at 0.5 for shorter chains).

    >>> betas = ddpm_schedule(100)
    >>> round(float(betas[0]), 6), round(float(betas[-1]), 6), float(torch.prod(1 - betas)) < 1e-4
    (0.001, 0.2, True)
    """
    scale = 1000.0 / n_steps
    lo = 1e-4 * scale if beta_start is None else beta_start
    hi = min(0.02 * scale, 0.5) if beta_end is None else beta_end
    if not (0 < lo <= hi < 1):
        raise ValueError(f"DDPM schedule: expected 0 < beta_start <= beta_end < 1, got {lo}, {hi}")
    return torch.linspace(lo, hi, n_steps, dtype=torch.float64)


def ddpm_loss(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
              betas: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """The simplified DDPM loss E_{t, ε} |ε − ε_θ(√ᾱ_t x0 + √(1 − ᾱ_t) ε, t)|² (Ho et al., arXiv:2006.11239, Eq. 14;
    B. Käch, PhD thesis (2024), Eq. 4.34), the mean over the batch and features.

    The step k ∈ {0, …, T − 1} (β_{k+1} of ``betas``, (T,)) is drawn uniformly per example; ``eps_model(x_t, s)``
    gets the noise level as s = (k + 1) / T ∈ (0, 1], shape (B,) (1 = pure noise), the convention of
    :func:`hepgen.models.solvers.ddpm_sample`.

    >>> _ = torch.manual_seed(0)
    >>> loss = ddpm_loss(lambda x, s: torch.zeros_like(x), torch.zeros(4096, 2), ddpm_schedule(10))
    >>> round(float(loss), 1)                                              # E|ε|² = 1
    1.0
    """
    n_steps = len(betas)
    alpha_bar = torch.cumprod(1 - betas, 0).to(device=x0.device, dtype=x0.dtype)
    k = torch.floor(uniform((len(x0),), x0.device, x0.dtype, generator) * n_steps).long().clamp_(max=n_steps - 1)
    a = alpha_bar[k].view(-1, *([1] * (x0.dim() - 1)))
    eps = standard_normal(x0.shape, x0.device, x0.dtype, generator)
    xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
    return ((eps_model(xt, (k + 1).to(x0.dtype) / n_steps) - eps) ** 2).mean()


# -- flow matching --------------------------------------------------------------------------------------------

def conditional_flow_matching_loss(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x1: torch.Tensor,
                                   mask: torch.Tensor,
                                   coupling: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                                   | None = None, x0: torch.Tensor | None = None) -> torch.Tensor:
    """Conditional flow matching on padded clouds (arXiv:2210.02747, straight paths, σ_min = 0).

    Draws x0 ~ N(0, 1) like ``x1`` (B, n, F), then t ~ U(0, 1) per cloud (B,), both from the global RNG of
    x1's device; ``coupling(x0, x1, mask)`` may return the index of the noise cloud paired with each data
    cloud (minibatch OT-CFM, arXiv:2302.00482, e.g. :func:`ot_coupling`; None: independent coupling). The
    noise is zeroed on padded slots; with x_t = t x1 + (1 − t) x0 the loss is the mean over real slots and
    features of |velocity(x_t, t) − (x1 − x0)|², ``mask`` (B, n) bool marking the real slots.

    ``x0``: a source sample of x1's shape instead of the noise (Tong et al.'s arbitrary source distribution,
    arXiv:2302.00482, Eqs. 4.52-4.53 of B. Käch's thesis: transporting one data distribution to another,
    e.g. a morphing between two parameter points); the coupling is then applied to it in the same way.

    >>> _ = torch.manual_seed(0)
    >>> x1, mask = torch.zeros(64, 10, 2), torch.arange(10).expand(64, 10) < 5       # half the slots padded
    >>> loss = conditional_flow_matching_loss(lambda x, t: torch.zeros_like(x), x1, mask)   # target −x0
    >>> round(float(loss), 1)                                                           # E|x0|² = 1
    1.0
    """
    x0 = torch.randn_like(x1) if x0 is None else x0
    if coupling is not None:
        x0 = x0[coupling(x0, x1, mask)]
    x0 = x0 * mask.unsqueeze(-1)
    t = uniform((len(x1),), x1.device, x1.dtype)
    tt = t.view(-1, *([1] * (x1.dim() - 1)))
    xt = tt * x1 + (1 - tt) * x0
    m = mask.unsqueeze(-1).to(x1.dtype)
    return ((velocity(xt, t) - (x1 - x0)) ** 2 * m).sum() / (m.sum() * x1.shape[-1])


def ot_coupling(x0: torch.Tensor, x1: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Index j(i) of the noise cloud paired with data cloud i by the exact minibatch OT plan (POT ``emd``) on
    the squared distance over cloud i's real particles (arXiv:2302.00482), on the device of ``x0``.

    >>> x1 = torch.tensor([[[0.0]], [[5.0]]]); x0 = torch.tensor([[[5.1]], [[0.1]]])
    >>> ot_coupling(x0, x1, torch.ones(2, 1, dtype=torch.bool)).tolist()
    [1, 0]
    """
    import numpy as np
    import ot

    m = mask.to(x0.dtype)
    x1m = x1 * m.unsqueeze(-1)
    cost = m @ (x0 ** 2).sum(-1).T - 2 * x1m.flatten(1) @ x0.flatten(1).T + (x1m ** 2).sum((1, 2)).unsqueeze(1)
    w = np.full(len(x0), 1.0 / len(x0))
    plan = ot.emd(w, w, cost.detach().double().cpu().numpy())
    return torch.as_tensor(plan.argmax(axis=1), device=x0.device)


# -- shower terms ---------------------------------------------------------------------------------------------

def constrainer_loss(pred_fake: torch.Tensor, pred_real: torch.Tensor, target: torch.Tensor,
                     kappa: float = 0.01, reduction: str = "mean") -> torch.Tensor:
    """Energy constrainer loss κ·mean|(a(x')−E)² − (a(x)−E)²| (Diefenbacher 2022, eq. 6.2.1); the same term is
    the auxiliary regressor loss of Irakkathil Jabbar (PhD thesis, KIT 2022, §3.4.1), written there with a sum
    over the batch (``reduction="sum"``).

    >>> import torch
    >>> float(constrainer_loss(torch.tensor([3.0]), torch.tensor([1.0]), torch.tensor([1.0]), kappa=0.5))
    2.0
    >>> float(constrainer_loss(torch.tensor([3.0, 3.0]), torch.ones(2), torch.ones(2), kappa=0.5, reduction="sum"))
    4.0
    """
    pred_fake, pred_real, target = pred_fake.reshape(-1), pred_real.reshape(-1), target.reshape(-1)
    diff = ((pred_fake - target) ** 2 - (pred_real - target) ** 2).abs()
    return kappa * (diff.sum() if reduction == "sum" else diff.mean())


def regressor_feedback_loss(energy_regressor: Callable[[torch.Tensor], torch.Tensor] | None,
                            position_regressor: Callable[[torch.Tensor], torch.Tensor] | None,
                            real: torch.Tensor, fake: torch.Tensor, energy: torch.Tensor | None = None,
                            position: torch.Tensor | None = None, kappa_e: float = 0.0425, kappa_p: float = 0.0425,
                            reduction: str = "sum") -> torch.Tensor:
    """The generator's energy and position regressor terms of Irakkathil Jabbar ("Fast Simulation of
    Electromagnetic Calorimeter Responses using Deep Learning", PhD thesis, KIT (2022), §3.4.1–3.4.2):
    κ_E Σ_i |L_real,i − L_fake,i| + κ_P Σ_i |…| with L_real,i = [R(x_i) − y_i]², L_fake,i = [R(G(z_i, y_i)) − y_i]²
    (:func:`constrainer_loss`). The regressors are trained on real showers only and map showers to
    ``energy`` (B,) or (B, 1) and ``position`` (B, 2) in the units the caller chooses (e.g. the standardised
    output of :class:`hepgen.models.regressors.ShowerRegressor`); a ``None`` regressor adds nothing. The
    thesis's weights: κ_E = 0.0425 (5×5 and 10×10 WGAN / VAE-WGAN), κ_P = 0.0425 (10×10), κ_E = κ_P = 0.01
    (30×30 VAE-WGAN and ID-GAN), with the sum over a batch of 250.

    >>> import torch
    >>> reg = lambda x: x.sum(dim=(1, 2))[:, None]
    >>> real, fake = torch.ones(2, 2, 2), torch.full((2, 2, 2), 2.0)
    >>> float(regressor_feedback_loss(reg, None, real, fake, energy=torch.full((2,), 4.0), kappa_e=0.5))
    16.0
    """
    loss = fake.new_zeros(())
    if energy_regressor is not None and energy is not None:
        target = energy.reshape(len(fake), -1)
        loss = loss + constrainer_loss(energy_regressor(fake), energy_regressor(real), target, kappa_e, reduction)
    if position_regressor is not None and position is not None:
        target = position.reshape(len(fake), -1)
        loss = loss + constrainer_loss(position_regressor(fake), position_regressor(real), target, kappa_p,
                                       reduction)
    return loss


def gaussian_mmd(x: torch.Tensor, y: torch.Tensor, alphas: Sequence[float] = (1.0,)) -> torch.Tensor:
    """Biased MMD² with kernels exp(−α|a−b|²), summed over ``alphas``, between the last-axis
    sample sets; leading axes are batch axes (one MMD per batch entry).

    >>> import torch
    >>> (float(gaussian_mmd(torch.tensor([0.0]), torch.tensor([1.0]), alphas=[1.0]))
    ...  == 2 - 2 * float(torch.exp(torch.tensor(-1.0))))
    True
    """
    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = (a.unsqueeze(-1) - b.unsqueeze(-2)) ** 2
        return cast(torch.Tensor, sum(torch.exp(-alpha * d2) for alpha in alphas))  # sum() types its start 0

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
        return cast(torch.Tensor, sum(torch.exp(-alpha * d2) for alpha in alphas))  # sum() types its start 0

    return k(z, z).mean() + k(prior, prior).mean() - 2 * k(z, prior).mean()


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions, averaged over the batch.

    >>> import torch, math
    >>> round(float(kl_divergence(torch.ones(1, 1), torch.zeros(1, 1))), 6)
    0.5
    """
    return -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / mu.shape[0]


# -- latent diagnostics ---------------------------------------------------------------------------------------

def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """The mutual information I_q(x; z) between data and latents under a Gaussian encoder q(z|x) = N(mu, exp(logvar)),
    estimated on a batch as in He et al., "Lagging Inference Networks and Posterior Collapse in Variational
    Autoencoders", arXiv:1901.05534 (their code's ``calc_mi``): E_x E_q(z|x)[log q(z|x)] − E_q(z)[log q(z)], the
    aggregate posterior q(z) being the mixture of the batch's encoder Gaussians and one z drawn per x. Both terms
    are evaluated at the same draws (their code takes the first analytically: the same expectation, but a
    collapsed encoder then gives ±0.1 nats of noise instead of 0). In nats; 0 when the encoder ignores x (posterior
    collapse), at most log(batch size).

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> collapsed = mutual_information(torch.zeros(256, 4), torch.zeros(256, 4), g)
    >>> informative = mutual_information(torch.randn(256, 4, generator=g) * 3, torch.full((256, 4), -4.0), g)
    >>> abs(float(collapsed)) < 1e-5, float(informative) > 4.0
    (True, True)
    """
    import math

    b, d = mu.shape
    var = logvar.exp()
    eps = standard_normal(mu.shape, mu.device, mu.dtype, generator)
    z = mu + eps * (0.5 * logvar).exp()                                           # (B, d): one z per x
    dev = z[:, None, :] - mu[None, :, :]                                          # (B_z, B_x, d)
    log_density = -0.5 * (dev ** 2 / var[None]).sum(-1) - 0.5 * (d * math.log(2 * math.pi) + logvar.sum(-1))[None]
    log_q_own = torch.diagonal(log_density)                                       # log q(z_i | x_i)
    log_qz = torch.logsumexp(log_density, dim=1) - math.log(b)
    return (log_q_own - log_qz).mean()


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Number of active latent dimensions: Cov_x(E_q(z|x)[z]) above ``threshold`` (Burda et al., arXiv:1509.00519;
    the 0.01 of He et al., arXiv:1901.05534), from the encoder means ``mu`` (N, d) of a sample.

    >>> import torch
    >>> int(active_units(torch.stack([torch.linspace(-1, 1, 50), torch.full((50,), 0.3)], 1)))
    1
    """
    return (mu.var(dim=0) > threshold).sum()



# -- schedules and the information terms of the Belle II latent models -----------------------------------------

def cyclical_beta(epoch: float, period: float = 10.0, ratio: float = 0.5, beta_max: float = 1.0,
                  beta_min: float = 0.0, fixed_after: float | None = None) -> float:
    """KL weight β of the cyclical annealing schedule (Fu et al., "Cyclical Annealing Schedule: A Simple Approach to
    Mitigating KL Vanishing", arXiv:1903.10145, eq. 6 with the linear ramp): in each cycle of ``period`` epochs,
    τ = (epoch mod period) / period, β rises linearly from ``beta_min`` to ``beta_max`` while τ < ``ratio`` (their R)
    and stays at ``beta_max`` for the rest of the cycle. ``fixed_after``: from that epoch on β = ``beta_max``
    (variant 1 of Irakkathil Jabbar's VAE-WGAN, PhD thesis KIT 2022, §4.3: annealed until about epoch 250, then 1;
    ``None`` keeps cycling, variant 2). ``epoch`` may be fractional (per-batch resolution).

    >>> [cyclical_beta(e, period=4, ratio=0.5) for e in range(9)]
    [0.0, 0.5, 1.0, 1.0, 0.0, 0.5, 1.0, 1.0, 0.0]
    >>> cyclical_beta(5, period=4, ratio=0.5, fixed_after=4), cyclical_beta(2.5, period=10, ratio=0.5, beta_max=0.1)
    (1.0, 0.05)
    """
    if period <= 0 or not 0 < ratio <= 1:
        raise ValueError(f"cyclical beta: period must be > 0 and ratio in (0, 1], got {period}, {ratio}")
    if fixed_after is not None and epoch >= fixed_after:
        return float(beta_max)
    tau = (epoch % period) / period
    return float(beta_min + (beta_max - beta_min) * min(1.0, tau / ratio))


def step_learning_rate(epoch: int, initial: float, steps: Sequence[Sequence[float]] = ()) -> float:
    """Piecewise-constant learning rate: ``initial``, then each ``(from_epoch, lr)`` of ``steps`` once ``epoch``
    reaches ``from_epoch`` (the step schedules of Irakkathil Jabbar's WGAN and VAE-WGAN, §3.4 and §5.3).

    >>> [step_learning_rate(e, 1e-3, [(70, 5e-4), (90, 2e-4), (100, 1e-4)]) for e in (0, 70, 95, 400)]
    [0.001, 0.0005, 0.0002, 0.0001]
    """
    lr = float(initial)
    for start, value in sorted((float(a), float(b)) for a, b in steps):
        if epoch >= start:
            lr = value
    return lr


def information_regulariser(code: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """R_ID of the ID-GAN (Lee et al., "High-Fidelity Synthesis with Disentangled Representation", ECCV 2020,
    arXiv:1910.01413, eq. 4) without its constant entropy term: E[log q_φ(c | G(s, c))], the Gaussian log-density
    (nats, summed over latents, averaged over the batch) of the code ``c`` that made each generated example under
    the frozen encoder's posterior N(``mu``, exp(``logvar``)) of that example. The generator maximises it.

    >>> import torch, math
    >>> r = information_regulariser(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))
    >>> abs(float(r) + 1.5 * math.log(2 * math.pi)) < 1e-5
    True
    """
    import math

    return (-0.5 * ((code - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))).sum(dim=1).mean()
