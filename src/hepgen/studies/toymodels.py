"""Small generative models of low-dimensional toy data, every one a thin configuration of one MLP backbone and
the shared objectives and solvers (:mod:`hepgen.models.objectives`, :mod:`hepgen.models.solvers`).

The model families of B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY
(2024), Ch. 4 (its public companion: the ``gen_model_playground`` repository of the author):

* :class:`ToyAutoencoder` — AE (latent Gaussian fitted to the codes) and VAE with a ramped KL weight
  (Kingma & Welling, arXiv:1312.6114);
* :class:`ToyGAN` — the loss variants of the thesis's Table 4.1: minimax and non-saturating (Goodfellow et al.,
  arXiv:1406.2661), least squares (Mao et al., arXiv:1611.04076), WGAN with weight clipping (Arjovsky et al.,
  arXiv:1701.07875) and WGAN-GP (Gulrajani et al., arXiv:1704.00028); options batch norm in the generator,
  spectral (Miyato et al., arXiv:1802.05957) or weight norm (Salimans & Kingma, arXiv:1602.07868) in the critic;
  Adam with β1 = 0 (the thesis: any β1 > 0 kept its GANs from converging);
* :class:`ToyFlow` — coupling normalising flows, affine (RealNVP, Dinh et al., arXiv:1605.08803) or
  rational-quadratic splines (Durkan et al., arXiv:1906.04032), optionally conditioned on a label (zuko);
* :class:`ToyDDPM` — a denoising diffusion model with 100 steps (Ho et al., arXiv:2006.11239);
* :class:`ToyCFM` — a continuous normalising flow trained by conditional flow matching (Lipman et al.,
  arXiv:2210.02747) or with the minibatch optimal-transport coupling (OT-CFM, Tong et al., arXiv:2302.00482),
  sampled with the midpoint (or Euler) solver.

Interface: ``model.training_step(draw, step)`` makes one update of every network (it calls ``draw()`` for a
fresh (x, label) batch as often as it needs one: a WGAN critic takes several per generator update) and returns
the losses as floats; ``model.sample(n)`` returns (n, d) samples in the data's units (no gradient);
``model.n_sampling_parameters`` counts the parameters used at sampling (generator, decoder, flow, velocity
field), the number the playground keeps roughly equal across models. The data are expected standardised.

>>> import torch
>>> _ = torch.manual_seed(0)
>>> model = ToyCFM(dim=2, coupling="ot")
>>> draw = lambda: (torch.randn(64, 2), torch.zeros(64))
>>> losses = model.training_step(draw, 0)
>>> sorted(losses), tuple(model.sample(5).shape)
(['cfm'], (5, 2))
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from hepgen.models.layers import mlp, time_embedding
from hepgen.models.objectives import (clip_parameters, conditional_flow_matching_loss, ddpm_loss, ddpm_schedule,
                                      discriminator_bce_loss, generator_bce_loss, lsgan_critic_loss,
                                      lsgan_generator_loss, minimax_generator_loss, negative_log_likelihood,
                                      optimizer_step, ot_coupling, vae_loss, wasserstein_critic_loss,
                                      wasserstein_generator_loss)
from hepgen.models.solvers import ddpm_sample, integrate

__all__ = ["BACKBONE", "backbone", "warmup_cosine", "ToyModel", "ToyAutoencoder", "ToyGAN", "ToyFlow", "ToyDDPM",
           "ToyCFM", "GAN_LOSSES", "GAN_NORMS"]

#: the one MLP backbone: hidden width and number of hidden layers (about 8.6k parameters at 2 -> 2)
BACKBONE = {"width": 64, "layers": 3}
GAN_LOSSES = ("minimax", "non-saturating", "least-squares", "wgan", "wgan-gp")
GAN_NORMS = ("none", "batch", "spectral", "weight")
N_FREQ = 4   # time embedding of the diffusion and flow-matching networks: 2 * N_FREQ inputs

Draw = Callable[[], tuple[torch.Tensor, torch.Tensor]]


def backbone(n_in: int, n_out: int, width: int | None = None, layers: int | None = None) -> nn.Sequential:
    """The shared MLP: ``n_in`` -> ``layers`` x ``width`` (LeakyReLU 0.2) -> ``n_out``
    (:func:`hepgen.models.layers.mlp`; defaults :data:`BACKBONE`).

    >>> sum(p.numel() for p in backbone(2, 2).parameters())
    8642
    """
    width = BACKBONE["width"] if width is None else width
    layers = BACKBONE["layers"] if layers is None else layers
    return mlp([n_in] + [width] * layers + [n_out])


def warmup_cosine(optimizer: torch.optim.Optimizer, n_steps: int, warmup_fraction: float = 0.1
                  ) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup_fraction`` of ``n_steps``, then cosine annealing to 0 (the schedule of every
    training in B. Käch's thesis, Sec. 3; Loshchilov & Hutter, arXiv:1608.03983).

    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> sched = warmup_cosine(opt, 10)
    >>> [round(sched.lr_lambdas[0](k), 3) for k in (0, 1, 10)]
    [0.5, 1.0, 0.0]
    """
    warmup = max(1, int(warmup_fraction * n_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, n_steps - warmup))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class ToyModel(nn.Module):
    """Base of the toy models: one AdamW optimiser per network group with the warm-up + cosine schedule."""

    dim: int

    def _optimizer(self, params, lr: float, n_steps: int, betas=(0.9, 0.999)):
        opt = torch.optim.AdamW(list(params), lr=lr, betas=betas, weight_decay=0.0)
        return opt, warmup_cosine(opt, n_steps)

    def _update(self, loss: torch.Tensor, which: tuple) -> float:
        opt, sched = which
        out = float(optimizer_step(loss, opt))
        sched.step()
        return out

    def training_step(self, draw: Draw, step: int) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, n: int) -> torch.Tensor:
        raise NotImplementedError

    @property
    def n_sampling_parameters(self) -> int:
        raise NotImplementedError

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def _velocity_net(dim: int, n_cond: int = 0) -> nn.Sequential:
    return backbone(dim + 2 * N_FREQ + n_cond, dim)


class ToyAutoencoder(ToyModel):
    """AE (``variational=False``) or VAE: encoder backbone(d -> 2 k), decoder backbone(k -> d), latent k = d.

    The VAE's KL weight rises linearly from 0 to ``kl_weight`` over the first ``ramp_fraction`` of the
    steps (Bowman et al., arXiv:1511.06349), samples decode z ~ N(0, 1). The AE has no prior: its samples decode a
    Gaussian with the mean and covariance of the codes (a running average over training batches).
    ``kl_weight`` plays the role of the decoder variance of the squared-error reconstruction (data standardised).
    """

    def __init__(self, dim: int = 2, variational: bool = True, n_steps: int = 1000, lr: float = 1e-3,
                 kl_weight: float = 0.01, ramp_fraction: float = 0.3):
        super().__init__()
        self.dim, self.variational, self.kl_max = dim, variational, kl_weight
        self.ramp_steps = max(1, int(ramp_fraction * n_steps))
        self.encoder, self.decoder = backbone(dim, 2 * dim), backbone(dim, dim)
        self.register_buffer("code_mean", torch.zeros(dim))
        self.register_buffer("code_cov", torch.eye(dim))
        self.opt = self._optimizer(self.parameters(), lr, n_steps)

    def training_step(self, draw: Draw, step: int) -> dict[str, float]:
        x, _ = draw()
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        if self.variational:
            z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
            weight = self.kl_max * min(1.0, step / self.ramp_steps)
        else:
            z, logvar, weight = mu, torch.zeros_like(mu), 0.0
            with torch.no_grad():
                c = torch.cov(mu.T).reshape(self.dim, self.dim)
                self.code_mean.lerp_(mu.mean(0), 0.05)
                self.code_cov.lerp_(c, 0.05)
        loss, rec, kl = vae_loss(self.decoder(z), x, mu, logvar, weight)
        self._update(loss, self.opt)
        return {"reconstruction": float(rec.detach()), "kl": float(kl.detach())}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.dim)
        if not self.variational:
            eye = 1e-6 * torch.eye(self.dim)
            z = self.code_mean + z @ torch.linalg.cholesky(self.code_cov + eye).T
        return self.decoder(z)

    @property
    def n_sampling_parameters(self) -> int:
        return sum(p.numel() for p in self.decoder.parameters())


def _with_batch_norm(net: nn.Sequential) -> nn.Sequential:
    """The backbone with BatchNorm1d after every hidden linear layer (Ioffe & Szegedy, arXiv:1502.03167)."""
    layers: list[nn.Module] = []
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for m in net:
        layers.append(m)
        if isinstance(m, nn.Linear) and m is not linears[-1]:
            layers.append(nn.BatchNorm1d(m.out_features))
    return nn.Sequential(*layers)


def _normed(net: nn.Sequential, norm: str) -> nn.Sequential:
    if norm in ("spectral", "weight"):
        wrap = (nn.utils.parametrizations.spectral_norm if norm == "spectral"
                else nn.utils.parametrizations.weight_norm)
        return nn.Sequential(*[wrap(m) if isinstance(m, nn.Linear) else m for m in net])
    return net


class ToyGAN(ToyModel):
    """A GAN with generator backbone(d -> d) (noise dimension = data dimension, as the thesis requires) and critic
    backbone(d -> 1); ``loss`` one of :data:`GAN_LOSSES`; ``norm`` one of :data:`GAN_NORMS` (``batch``: in the
    generator; ``spectral`` / ``weight``: in the critic). WGAN variants update the critic ``n_critic`` = 5 times
    per generator update (each on a fresh batch), the others once; the WGAN critic is clipped to
    [−``clip``, ``clip``] after each update (RMSprop-free: Adam with β1 = 0 as for every GAN here)."""

    def __init__(self, dim: int = 2, loss: str = "non-saturating", norm: str = "none", n_steps: int = 1000,
                 lr: float = 2e-4, n_critic: int | None = None, clip: float = 0.01, gp_weight: float = 10.0):
        super().__init__()
        if loss not in GAN_LOSSES:
            raise ValueError(f"GAN loss '{loss}': expected one of {', '.join(GAN_LOSSES)}")
        if norm not in GAN_NORMS:
            raise ValueError(f"GAN norm '{norm}': expected one of {', '.join(GAN_NORMS)}")
        self.dim, self.loss, self.norm, self.clip, self.gp_weight = dim, loss, norm, clip, gp_weight
        self.n_critic = n_critic if n_critic is not None else (5 if loss.startswith("wgan") else 1)
        gen = backbone(dim, dim)
        self.generator = _with_batch_norm(gen) if norm == "batch" else gen
        self.critic = _normed(backbone(dim, 1), norm)
        self.opt_g = self._optimizer(self.generator.parameters(), lr, n_steps, betas=(0.0, 0.9))
        self.opt_c = self._optimizer(self.critic.parameters(), lr, n_steps * self.n_critic, betas=(0.0, 0.9))

    def _critic_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        c = lambda x: self.critic(x).squeeze(1)   # noqa: E731
        if self.loss in ("minimax", "non-saturating"):
            return discriminator_bce_loss(c(real), c(fake))
        if self.loss == "least-squares":
            return lsgan_critic_loss(c(real), c(fake))
        weight = self.gp_weight if self.loss == "wgan-gp" else 0.0
        return wasserstein_critic_loss(c, real, fake, weight=weight)[0]

    def _generator_loss(self, scores: torch.Tensor) -> torch.Tensor:
        return {"minimax": minimax_generator_loss, "non-saturating": generator_bce_loss,
                "least-squares": lsgan_generator_loss}.get(self.loss, wasserstein_generator_loss)(scores)

    def training_step(self, draw: Draw, step: int) -> dict[str, float]:
        for _ in range(self.n_critic):
            real, _ = draw()
            with torch.no_grad():
                fake = self.generator(torch.randn_like(real))
            critic_loss = self._update(self._critic_loss(real, fake), self.opt_c)
            if self.loss == "wgan":
                clip_parameters(self.critic.parameters(), self.clip)
        fake = self.generator(torch.randn(len(real), self.dim))
        gen_loss = self._update(self._generator_loss(self.critic(fake).squeeze(1)), self.opt_g)
        return {"critic": critic_loss, "generator": gen_loss}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        self.generator.eval()
        out = self.generator(torch.randn(n, self.dim))
        self.generator.train()
        return out

    @property
    def n_sampling_parameters(self) -> int:
        return sum(p.numel() for p in self.generator.parameters())


class ToyFlow(ToyModel):
    """A coupling normalising flow (zuko): ``kind`` ``affine`` (RealNVP) or ``rqs`` (rational-quadratic splines,
    ``bins`` on [−5, 5], linear tails; two masking passes = coupling), trained by maximum likelihood
    (:func:`hepgen.models.objectives.negative_log_likelihood`). With ``conditional`` the label of each example
    (Two Moons: which moon) is the context of every coupling network, and samples draw the label from the
    labels seen in training (a Bernoulli with their mean). The coupling networks are narrower than the backbone
    so that the parameter count stays close to it (B. Käch's thesis, Sec. 4.4)."""

    def __init__(self, dim: int = 2, kind: str = "rqs", conditional: bool = False, n_steps: int = 1000,
                 lr: float = 1e-3, transforms: int | None = None, hidden: int | None = None, bins: int = 8):
        super().__init__()
        import zuko

        if kind not in ("affine", "rqs"):
            raise ValueError(f"flow kind '{kind}': expected affine or rqs")
        self.dim, self.kind, self.conditional = dim, kind, conditional
        context = 1 if conditional else 0
        if kind == "rqs":
            t, h = transforms or 4, hidden or 32
            self.flow = zuko.flows.NSF(dim, context, bins=bins, transforms=t, passes=2, hidden_features=(h, h))
        else:
            t, h = transforms or 6, hidden or 40
            self.flow = zuko.flows.RealNVP(dim, context, transforms=t, hidden_features=(h, h))
        self.register_buffer("label_rate", torch.tensor(0.5))
        self.opt = self._optimizer(self.parameters(), lr, n_steps)

    def training_step(self, draw: Draw, step: int) -> dict[str, float]:
        x, label = draw()
        if self.conditional:
            self.label_rate.lerp_(label.float().mean(), 0.05)
            dist = self.flow(label.float().reshape(-1, 1))
        else:
            dist = self.flow()
        loss = self._update(negative_log_likelihood(dist.log_prob(x), self.dim), self.opt)
        return {"nll_per_feature": loss}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        if self.conditional:
            label = (torch.rand(n, 1) < self.label_rate).float()
            return self.flow(label).sample()
        return self.flow().sample((n,))

    @property
    def n_sampling_parameters(self) -> int:
        return self.n_parameters


class ToyDDPM(ToyModel):
    """DDPM with ``n_noise_steps`` (100 on Two Moons in the thesis) and the linear schedule of
    :func:`hepgen.models.objectives.ddpm_schedule`; the noise predictor is backbone(d + time embedding -> d)."""

    def __init__(self, dim: int = 2, n_steps: int = 1000, lr: float = 1e-3, n_noise_steps: int = 100):
        super().__init__()
        self.dim = dim
        self.net = _velocity_net(dim)
        self.register_buffer("betas", ddpm_schedule(n_noise_steps))
        self.opt = self._optimizer(self.net.parameters(), lr, n_steps)

    def eps(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(s, N_FREQ)], 1))

    def training_step(self, draw: Draw, step: int) -> dict[str, float]:
        x, _ = draw()
        return {"ddpm": self._update(ddpm_loss(self.eps, x, self.betas), self.opt)}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return ddpm_sample(self.eps, torch.randn(n, self.dim), self.betas)

    @property
    def n_sampling_parameters(self) -> int:
        return self.n_parameters


class ToyCFM(ToyModel):
    """A continuous normalising flow v(x, t) = backbone(x, time embedding) trained by
    :func:`hepgen.models.objectives.conditional_flow_matching_loss` (σ_min = 0: Lipman's CFM and Tong's I-CFM
    coincide), ``coupling`` ``None`` or ``"ot"`` (:func:`hepgen.models.objectives.ot_coupling`, OT-CFM), sampled
    from N(0, 1) by :func:`hepgen.models.solvers.integrate` with ``ode_steps`` of ``method`` (thesis: 100
    midpoint steps)."""

    def __init__(self, dim: int = 2, coupling: str | None = None, n_steps: int = 1000, lr: float = 1e-3,
                 method: str = "midpoint", ode_steps: int = 100):
        super().__init__()
        if coupling not in (None, "ot"):
            raise ValueError(f"CFM coupling '{coupling}': expected None or 'ot'")
        self.dim, self.method, self.ode_steps = dim, method, ode_steps
        self.coupling = ot_coupling if coupling == "ot" else None
        self.net = _velocity_net(dim)
        self.opt = self._optimizer(self.net.parameters(), lr, n_steps)

    def velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, time_embedding(t, N_FREQ)], 1))

    def _cloud_velocity(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:   # (B, 1, d): one-point clouds
        return self.velocity(x[:, 0], t)[:, None]

    def training_step(self, draw: Draw, step: int) -> dict[str, float]:
        x, _ = draw()
        mask = torch.ones(len(x), 1, dtype=torch.bool)
        loss = conditional_flow_matching_loss(self._cloud_velocity, x[:, None], mask, self.coupling)
        return {"cfm": self._update(loss, self.opt)}

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        return integrate(self.velocity, torch.randn(n, self.dim), self.ode_steps, self.method)

    @property
    def n_sampling_parameters(self) -> int:
        return self.n_parameters
