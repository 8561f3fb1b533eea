"""TGAN: transformer-encoder GAN on particle clouds (Käch, Krücker & Melzer-Pellmann, "Point Cloud Generation using
Transformer Encoders and Normalising Flows", arXiv:2211.13623; B. Käch, "Generative Modelling in High-Energy
Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 5.4.4).

Block (BERT-like, no positional encoding): masked multi-head self-attention, residual + LayerNorm,
particle-wise φ (l_dim -> hidden) and ψ (hidden -> l_dim), residual + LayerNorm. Generator: Gaussian noise
(3 per particle)
-> α -> ``num_blocks_gen`` blocks -> β (3). Critic: α, a learnable class token treated as a particle,
``num_blocks`` blocks, the token through a 2-layer MLP -> score. LSGAN, AdamW β1 = 0 (Table 5.2).
Self-attention is quadratic in n: meant for JetNet30 (TNF, the variant post-processing a frozen NF, is not here).

>>> import torch
>>> m = TGAN((30, 4), 1, {**TGAN.default_config, "hidden": 16, "heads": 2, "l_dim": 8, "num_blocks": 1,
...                       "num_blocks_gen": 1})
>>> m.sample(torch.tensor([[0.1], [1.0]]))[..., 3].sum(1).tolist()
[3.0, 30.0]
"""

from __future__ import annotations

import torch
from torch import nn

from hepgen.models.jet_gan import JetGAN
from hepgen.models.layers import standard_normal
from hepgen.models.registry import register_model

__all__ = ["TGAN", "EncoderBlock"]


class EncoderBlock(nn.Module):
    """Masked self-attention at width l_dim, residual + LayerNorm, particle-wise φ (l_dim -> hidden) and
    ψ (hidden -> l_dim), residual + LayerNorm (the widths that give the thesis's 80 k parameters)."""

    def __init__(self, l_dim: int, hidden: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(l_dim, heads, batch_first=True)
        self.phi, self.psi = nn.Linear(l_dim, hidden), nn.Linear(hidden, l_dim)
        self.norm1, self.norm2 = nn.LayerNorm(l_dim), nn.LayerNorm(l_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x, x, x, key_padding_mask=~mask, need_weights=False)[0])
        return self.norm2(x + self.psi(nn.functional.leaky_relu(self.phi(x), 0.2))) * mask.unsqueeze(-1)


class _Body(nn.Module):
    def __init__(self, n_cond, l_dim, hidden, heads, num_blocks, critic):
        super().__init__()
        self.critic = critic
        self.embed = nn.Linear(3 + n_cond, l_dim)
        self.blocks = nn.ModuleList(EncoderBlock(l_dim, hidden, heads) for _ in range(num_blocks))
        if critic:
            self.token = nn.Parameter(torch.zeros(1, 1, l_dim))
            self.head = nn.Sequential(nn.Linear(l_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        else:
            self.head = nn.Linear(l_dim, 3)

    def forward(self, x, mask, cond):
        x = self.embed(torch.cat([x, cond.unsqueeze(1).expand(-1, x.shape[1], -1)], 2)) * mask.unsqueeze(-1)
        if self.critic:
            x = torch.cat([self.token.expand(len(x), -1, -1), x], 1)
            mask = torch.cat([torch.ones_like(mask[:, :1]), mask], 1)
        for block in self.blocks:
            x = block(x, mask)
        return self.head(x[:, 0]).squeeze(1) if self.critic else self.head(x) * mask.unsqueeze(-1)


@register_model("tgan")
class TGAN(JetGAN):
    """Transformer GAN; defaults: Käch 2024, Table 5.2 (80 k parameters in Table 5.3)."""

    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {'l_dim': 8, 'hidden': 16, 'heads': 2, 'num_blocks': 1, 'num_blocks_gen': 1}
    default_config = {
        "l_dim": 16, "hidden": 256, "heads": 16, "num_blocks": 4, "num_blocks_gen": 4,
        "lr": 1e-4, "betas": [0.0, 0.999], "weight_decay": 0.01, "bucket": 128,
        "preprocessing": [{"name": "standardize"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.gen = _Body(n_cond, c["l_dim"], c["hidden"], c["heads"], c["num_blocks_gen"], False)
        self.critic = _Body(n_cond, c["l_dim"], c["hidden"], c["heads"], c["num_blocks"], True)

    def generate(self, mask, cond, generator=None):
        z = standard_normal((*mask.shape, 3), cond.device, cond.dtype, generator)
        return self.gen(z * mask.unsqueeze(-1), mask, cond)

    def score(self, x, mask, cond):
        return self.critic(x, mask, cond), None
