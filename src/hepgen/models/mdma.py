"""Mean-field attention (MDMA) block of Käch & Melzer-Pellmann, "Attention to Mean-Fields for Particle Cloud
Generation", arXiv:2305.15254 (B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg /
DESY (2024), Sec. 5.5.1-5.5.3).

Particles interact only through one mean-field token: the token queries all particles with multi-head
cross-attention (one query, softmax over the real particles, padding masked), an optional condition vector
gates the attended mean field, Eq. 6.5: GLU(x̄, Ω(c)) = x̄ ⊗ σ(Ω(c)) (for jets c holds the cardinality
n / n_max; for calorimeter clouds (E_inc, n)), and every particle is updated by one particle-wise network
that sees the mean field, with a residual connection. Cost and memory are linear in the number of particles.

The attention is computed re-associated (exactly equal to ``nn.MultiheadAttention`` with one query): the
query is mapped back through each head's key matrix, q̃_h = W_K,hᵀ q_h, so scores are x_i · q̃_h, and the
values are aggregated before the value projection, Σ_i w_ih W_V,h x_i = W_V,h Σ_i w_ih x_i. Per particle
this costs 2 · heads · hidden multiply-adds instead of 2 · hidden², and no key/value tensor is stored. In a block
the particle embedding fc0 (l_dim -> hidden) is linear before the attention and before fc1, so it is folded
into both: per particle and block (2 heads + l_dim) · l_dim multiply-adds instead of (2 heads + 2 l_dim) · hidden
(MDMA-GAN's generator: 768 instead of 3072).

>>> import torch
>>> block = MDMABlock(l_dim=8, hidden=16, heads=4, cond_dim=1)
>>> x, mask = torch.randn(2, 5, 8), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
>>> y, mf = block(x, torch.randn(2, 8), mask, torch.tensor([[0.6], [1.0]]))
>>> y.shape, mf.shape, bool((y[0, 3:] == 0).all())
(torch.Size([2, 5, 8]), torch.Size([2, 8]), True)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


__all__ = ["attention_bias", "MeanFieldAttention", "MDMABlock", "MDMABody", "linear"]


def linear(n_in: int, n_out: int, weightnorm: bool = False) -> nn.Module:
    """``nn.Linear``, weight-normalised (Salimans & Kingma) when ``weightnorm`` (the MDMA critic)."""
    layer = nn.Linear(n_in, n_out)
    return nn.utils.parametrizations.weight_norm(layer) if weightnorm else layer


def attention_bias(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, n, 1) additive score bias on the mask's device: 0 for real particles, -1e9 for padding (a cloud
    without particles gets uniform weights over zero vectors instead of NaN).

    >>> attention_bias(torch.tensor([[True, False]])).squeeze(-1).tolist()
    [[0.0, -1000000000.0]]
    """
    return torch.zeros(mask.shape + (1,), dtype=dtype, device=mask.device).masked_fill(~mask.unsqueeze(-1), -1e9)


class MeanFieldAttention(nn.Module):
    """Multi-head attention of one query (the mean field, (B, d)) over masked particles (B, n, d) -> (B, d)."""

    def __init__(self, dim: int, heads: int, weightnorm: bool = False) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden width {dim} is not divisible by {heads} heads")
        self.dim, self.heads = dim, heads
        self.q, self.k = linear(dim, dim, weightnorm), linear(dim, dim, weightnorm)
        self.v, self.out = linear(dim, dim, weightnorm), linear(dim, dim, weightnorm)

    def forward(self, query: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
                weight: torch.Tensor | None = None, bias_in: torch.Tensor | None = None) -> torch.Tensor:
        """``mask``: (B, n) bool (True = real particle) or the additive bias of :func:`attention_bias`.

        With ``weight`` (d, m) and ``bias_in`` (d,), the particles are ``x @ weight.T + bias_in`` for x (B, n, m),
        never formed: the query is mapped back through ``weight`` too and the (m-dimensional) particles are
        aggregated before the projection (the attention weights sum to one), which is cheaper when m < d."""
        b, h, d = x.shape[0], self.heads, self.dim
        dh = d // h
        bias = attention_bias(mask, x.dtype) if mask.dtype == torch.bool else mask
        q = self.q(query).view(b, h, dh) / math.sqrt(dh)
        # (the key bias adds the same number to every score of a head and cancels in the softmax)
        q_back = torch.bmm(q.transpose(0, 1), self.k.weight.view(h, dh, d)).transpose(0, 1)   # (B, h, d)
        if weight is not None:
            q_back = torch.matmul(q_back, weight)                                            # (B, h, m)
        w = torch.softmax(torch.baddbmm(bias.transpose(1, 2), q_back, x.transpose(1, 2)), dim=2)   # (B, h, n)
        agg = torch.bmm(w, x)                                                                # (B, h, m)
        if weight is not None:
            agg = F.linear(agg, weight, bias_in)                                             # (B, h, d)
        v = torch.einsum("bhd,hed->bhe", agg, self.v.weight.view(h, dh, d)).reshape(b, d) + self.v.bias
        return self.out(v)


class MDMABlock(nn.Module):
    """One mean-field block: (particles (B, n, l_dim), mean field (B, l_dim), mask, cond) -> updated pair.

    ``cond_dim > 0`` switches on the GLU gate of the attended mean field by the condition vector
    (cardinality, incident energy, time embedding...).
    """

    def __init__(self, l_dim: int, hidden: int, heads: int, cond_dim: int = 0, weightnorm: bool = False) -> None:
        super().__init__()
        self.fc0 = linear(l_dim, hidden, weightnorm)
        self.norm = nn.LayerNorm(hidden)
        self.attn = MeanFieldAttention(hidden, heads, weightnorm)
        self.gate = linear(cond_dim, hidden, weightnorm) if cond_dim else None
        self.fc1_x = linear(hidden, l_dim, weightnorm)                # particle part of fc1(cat(x, x̄))
        self.fc1_mf = linear(hidden, l_dim, weightnorm)               # mean-field part
        self.fc2 = linear(hidden, l_dim, weightnorm)

    def forward(self, x: torch.Tensor, mf: torch.Tensor, mask: torch.Tensor,
                cond: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``bias``: :func:`attention_bias` of ``mask`` if already computed (stacked blocks share it)."""
        # The particles' hidden features h = fc0(σ(x)) enter only linearly (attention scores, the attention-weighted
        # sum, fc1_x), so fc0 is folded into the query and into fc1_x: per particle l_dim- instead of
        # hidden-dimensional products, the same function (up to float rounding).
        xa = F.leaky_relu(x, 0.2)
        w0, b0 = self.fc0.weight, self.fc0.bias
        mf_h = self.norm(F.linear(F.leaky_relu(mf, 0.2), w0, b0))
        a = self.attn(mf_h, xa, mask if bias is None else bias, w0, b0)
        if self.gate is not None:
            a = a * torch.sigmoid(self.gate(cond))
        w1 = self.fc1_x.weight
        x = x + F.leaky_relu(F.linear(xa, w1 @ w0, w1 @ b0 + self.fc1_x.bias) + self.fc1_mf(a).unsqueeze(1), 0.2)
        x = x * mask.unsqueeze(-1)
        mf = mf + self.fc2(F.leaky_relu(a, 0.2))
        return x, mf


class MDMABody(nn.Module):
    """Embedding α (n_in -> l_dim per particle), sum-pooled initial mean field, ``num_blocks`` blocks.

    Returns particles (B, n, l_dim) and mean field (B, l_dim). Shared by the MDMA-GAN generator and
    critic and the MDMA-Flow vector field.
    """

    def __init__(self, n_in: int, l_dim: int, hidden: int, heads: int, num_blocks: int, cond_dim: int = 0,
                 weightnorm: bool = False, n_max: int = 30) -> None:
        super().__init__()
        self.embed = linear(n_in, l_dim, weightnorm)
        self.embed_mf = linear(l_dim, l_dim, weightnorm)
        self.blocks = nn.ModuleList(MDMABlock(l_dim, hidden, heads, cond_dim, weightnorm) for _ in range(num_blocks))
        self.n_max = n_max

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor | None = None):
        x = self.embed(x) * mask.unsqueeze(-1)
        mf = self.embed_mf(x.sum(1) / self.n_max)
        bias = attention_bias(mask, x.dtype)
        for block in self.blocks:
            x, mf = block(x, mf, mask, cond, bias)
        return x, mf
