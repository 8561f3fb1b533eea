"""EPiC-GAN: equivariant point cloud GAN, Buhmann, Kasieczka & Thaler, arXiv:2301.08128 (the published JetNet150
baseline of Table 5.5 of B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024)).

EPiC layers: a global state g and particles x_i; g ← g + MLP(mean_i x_i, s · Σ_i x_i, g) (pooling over
real particles, s = ``sum_scale``), then every particle x_i ← x_i + MLP(x_i, W g) independently. The
generator maps per-particle noise (3 features) and global noise (``latent`` dims) through ``layers_gen``
EPiC layers to 3 features; the critic has ``layers`` EPiC layers and scores (mean, s · sum, g). LSGAN loss,
AdamW β1 = 0 as for MDMA-GAN; masks and size buckets as in :mod:`hepgen.models.mdma_gan`.

>>> import torch
>>> m = EPiCGAN((30, 4), 1, {**EPiCGAN.default_config, "hidden": 16, "layers_gen": 2, "layers": 1})
>>> m.sample(torch.tensor([[0.1], [0.5]]))[..., 3].sum(1).tolist()
[3.0, 15.0]
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hepgen.models.jet_gan import JetGAN
from hepgen.models.layers import standard_normal
from hepgen.models.mdma import linear
from hepgen.models.registry import register_model

__all__ = ["EPiCGAN", "EPiCLayer", "EPiCNetwork"]


def _pool(x: torch.Tensor, mask: torch.Tensor, sum_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    s = (x * mask.unsqueeze(-1)).sum(1)
    return s / mask.sum(1, keepdim=True).clamp(min=1), s * sum_scale


class EPiCLayer(nn.Module):
    """Global update from pooled particles, then particle update from the global state (both residual)."""

    def __init__(self, hidden: int, latent: int, n_cond: int, sum_scale: float, weightnorm: bool = False) -> None:
        super().__init__()
        self.sum_scale = sum_scale
        self.g1, self.g2 = linear(2 * hidden + latent + n_cond, hidden, weightnorm), linear(hidden, latent, weightnorm)
        self.g2l = linear(latent, hidden, weightnorm)
        self.l1, self.l2 = linear(2 * hidden, hidden, weightnorm), linear(hidden, hidden, weightnorm)

    def forward(self, x, g, mask, cond):
        mean, total = _pool(x, mask, self.sum_scale)
        g = F.leaky_relu(self.g2(F.leaky_relu(self.g1(torch.cat([mean, total, g, cond], 1)), 0.01)) + g, 0.01)
        gl = self.g2l(g).unsqueeze(1).expand(-1, x.shape[1], -1)
        x = F.leaky_relu(self.l2(F.leaky_relu(self.l1(torch.cat([x, gl], 2)), 0.01)) + x, 0.01)
        return x * mask.unsqueeze(-1), g


class EPiCNetwork(nn.Module):
    """Particles (B, n, n_in) + mask + condition -> particles (B, n, 3) (generator, EPiC-FM's velocity field) or
    a score (B,) (``critic``). The global state starts from a given latent g (B, latent) (the generator) or,
    with ``pooled_global`` (default: as ``critic``), from the pooled embedded particles (critic, EPiC-FM)."""

    def __init__(self, hidden, latent, n_cond, n_layers, sum_scale, weightnorm, critic, n_in: int = 3,
                 pooled_global: bool | None = None):
        super().__init__()
        self.sum_scale, self.critic = sum_scale, critic
        self.pooled_global = critic if pooled_global is None else pooled_global
        self.embed = linear(n_in, hidden, weightnorm)
        self.embed_g = linear(2 * hidden + n_cond if self.pooled_global else latent + n_cond, latent, weightnorm)
        self.layers = nn.ModuleList(EPiCLayer(hidden, latent, n_cond, sum_scale, weightnorm) for _ in range(n_layers))
        self.out = nn.Sequential(linear(2 * hidden + latent + n_cond, hidden, weightnorm), nn.LeakyReLU(0.01),
                                 linear(hidden, 1, weightnorm)) if critic else nn.Linear(hidden, 3)

    def forward(self, x, mask, cond, g=None):
        x = F.leaky_relu(self.embed(x), 0.01) * mask.unsqueeze(-1)
        g = self.embed_g(torch.cat([*_pool(x, mask, self.sum_scale), cond] if self.pooled_global else [g, cond], 1))
        g = F.leaky_relu(g, 0.01)
        for layer in self.layers:
            x, g = layer(x, g, mask, cond)
        if self.critic:
            return self.out(torch.cat([*_pool(x, mask, self.sum_scale), g, cond], 1)).squeeze(1)
        return self.out(x) * mask.unsqueeze(-1)


@register_model("epic-gan")
class EPiCGAN(JetGAN):
    """EPiC-GAN (JetNet150 settings of arXiv:2301.08128: hidden 128, global latent 10, 6 / 3 EPiC layers)."""

    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {'hidden': 16, 'latent': 4, 'layers_gen': 2, 'layers': 1}
    default_config = {
        "hidden": 128, "latent": 10, "layers_gen": 6, "layers": 3, "sum_scale": 0.01,
        "lr": 1e-4, "betas": [0.0, 0.999], "weight_decay": 0.01, "bucket": 128,
        "preprocessing": [{"name": "standardize"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.gen = EPiCNetwork(c["hidden"], c["latent"], n_cond, c["layers_gen"], c["sum_scale"], False, False)
        self.critic = EPiCNetwork(c["hidden"], c["latent"], n_cond, c["layers"], c["sum_scale"], True, True)

    def generate(self, mask, cond, generator=None):
        z = standard_normal((*mask.shape, 3), cond.device, cond.dtype, generator) * mask.unsqueeze(-1)
        g = standard_normal((len(mask), self.config["latent"]), cond.device, cond.dtype, generator)
        return self.gen(z, mask, cond, g)

    def score(self, x, mask, cond):
        return self.critic(x, mask, cond), None

    def export_graph(self):
        """Noise per particle slot (and the global latent per cloud) drawn outside in the size buckets of
        :meth:`sample`; the graph pads every cloud to n_max slots with the mask from n / n_max (first condition)."""
        from hepgen.models.export import cloud_export_graph, jet_buckets
        from hepgen.models.jet_gan import cardinality_of

        n_max, bucket = self.data_shape[0], int(self.config["bucket"])

        def draws(mask, generator):
            z = torch.randn(*mask.shape, 3, generator=generator) * mask.unsqueeze(-1)
            return [z, torch.randn(len(mask), self.config["latent"], generator=generator)]

        return cloud_export_graph(self, n_max, lambda cond: cardinality_of(cond, n_max),
                                  lambda cond: jet_buckets(cardinality_of(cond, n_max), bucket), draws, (True, False),
                                  lambda m, mask, cond, z, g: m.gen(z, mask, cond, g),
                                  "noise_0: N(0, 1) per particle slot (B, n_max, 3); noise_1: latent (B, latent)")
