"""MDMA-GAN: mean-field attention GAN for particle clouds, Käch & Melzer-Pellmann, "Attention to Mean-Fields for
Particle Cloud Generation", arXiv:2305.15254 (B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis,
U. Hamburg / DESY (2024), Sec. 5.5.4-5.5.5).

Generator: Gaussian noise with 3 features per particle -> α -> sum-pooled mean field -> ``num_blocks_gen``
:class:`~hepgen.models.mdma.MDMABlock` (cardinality n / n_max gating the mean field) -> β (3 features).
Critic: the same body, weight-normalised, ``num_blocks`` blocks; a 2-layer MLP maps the final mean field
(and the condition) to the score, and the critic also returns the mean field for the mean-field matching
loss L_MF = |mean x̄_real - mean x̄_fake|² (Eq. 5.13). LSGAN loss, AdamW with β1 = 0 (Table 5.4).
Batches are trimmed to their largest cloud; sampling sorts the clouds by size and runs buckets of
similar size, so almost no padded slot is computed (:class:`~hepgen.models.jet_gan.JetGAN`).

>>> import torch
>>> cfg = {**MDMAGAN.default_config, "hidden_gen": 16, "hidden": 16, "num_blocks_gen": 2, "heads_gen": 4, "heads": 4}
>>> m = MDMAGAN((30, 4), 1, cfg)
>>> x = m.sample(torch.tensor([[0.1], [1.0]]))
>>> x.shape, x[:, :, 3].sum(1).tolist()
(torch.Size([2, 30, 4]), [3.0, 30.0])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from hepgen.models.jet_gan import JetGAN
from hepgen.models.layers import standard_normal
from hepgen.models.mdma import MDMABody, linear
from hepgen.models.registry import register_model

__all__ = ["MDMAGAN", "MDMAGenerator", "MDMACritic"]


class MDMAGenerator(nn.Module):
    """Noise (B, n, 3) + mask + condition -> particles (B, n, 3) in preprocessed units."""

    def __init__(self, n_max: int, n_cond: int, l_dim: int, hidden: int, heads: int, num_blocks: int) -> None:
        super().__init__()
        self.body = MDMABody(3, l_dim, hidden, heads, num_blocks, n_cond, n_max=n_max)
        self.out = nn.Linear(l_dim, 3)

    def forward(self, z: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        x, _ = self.body(z, mask, cond)
        return self.out(F.leaky_relu(x, 0.2)) * mask.unsqueeze(-1)


class MDMACritic(nn.Module):
    """Weight-normalised critic returning (score (B,), final mean field (B, l_dim))."""

    def __init__(self, n_max: int, n_cond: int, l_dim: int, hidden: int, heads: int, num_blocks: int) -> None:
        super().__init__()
        self.body = MDMABody(3, l_dim, hidden, heads, num_blocks, n_cond, weightnorm=True, n_max=n_max)
        self.head = nn.Sequential(linear(l_dim + n_cond, hidden, True), nn.LeakyReLU(0.2),
                                  linear(hidden, l_dim, True), nn.LeakyReLU(0.2), linear(l_dim, 1, True))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, mf = self.body(x, mask, cond)
        return self.head(torch.cat([mf, cond], dim=1)).squeeze(1), mf


@register_model("mdma-gan")
class MDMAGAN(JetGAN):
    """MDMA-GAN; defaults: Käch 2024, Table 5.4 (JetNet150 top), 111,443 generator parameters there."""

    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {'hidden_gen': 8, 'hidden': 8, 'heads_gen': 2, 'heads': 2, 'num_blocks_gen': 1}
    default_config = {
        "l_dim_gen": 16, "hidden_gen": 48, "heads_gen": 16, "num_blocks_gen": 7,
        "l_dim": 16, "hidden": 64, "heads": 16, "num_blocks": 2,
        "lr": 1e-4, "betas": [0.0, 0.999], "weight_decay": 0.01,
        "mean_field_loss": 1.0,    # weight of L_MF in the generator loss (0 switches it off)
        "bucket": 128,             # clouds per size bucket at sampling
        "preprocessing": [{"name": "standardize"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c, n_max = self.config, self.data_shape[0]
        self.gen = MDMAGenerator(n_max, n_cond, c["l_dim_gen"], c["hidden_gen"], c["heads_gen"], c["num_blocks_gen"])
        self.critic = MDMACritic(n_max, n_cond, c["l_dim"], c["hidden"], c["heads"], c["num_blocks"])

    def generate(self, mask, cond, generator=None):
        z = standard_normal((*mask.shape, 3), cond.device, cond.dtype, generator)
        return self.gen(z * mask.unsqueeze(-1), mask, cond)

    def score(self, x, mask, cond):
        return self.critic(x, mask, cond)
