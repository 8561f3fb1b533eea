"""Post-Processor of the BIB-AE: a per-cell network (kernel-1 convolutions) that rescales cell
energies without moving them, trained with the sorted-kernel MMD so that the hit-energy spectrum
(MIP peak) and the number of hits come out right (arXiv:2005.05334 §3 for photons,
arXiv:2112.09709 for pions: second MMD width, sorted MSE/MAE, batch-mean term).

It starts as the identity (last layer initialised to zero; this replaces the paper's MSE-only
pre-training epoch) and is conditioned on (log Σ cells, labels).

>>> import torch
>>> pp = PostProcessor(n_cond=1, width=8)
>>> x = torch.rand(3, 4, 5)
>>> bool(torch.allclose(pp(x, torch.zeros(3, 1)), x))
True
"""

from __future__ import annotations

import torch
from torch import nn

from hepgen.models.layers import mlp
from hepgen.models.objectives import sorted_kernel_mmd

__all__ = ["PostProcessor", "postprocessor_loss"]


class PostProcessor(nn.Module):
    """out = relu(x + f(x, c)) cell by cell, f a stack of kernel-1 convolutions with LeakyReLU."""

    def __init__(self, n_cond: int, width: int = 64, depth: int = 4) -> None:
        super().__init__()
        self.cond_net = mlp([1 + n_cond, 32, 32], act=nn.LeakyReLU)
        layers: list[nn.Module] = [nn.Conv1d(1 + 32, width, 1), nn.LeakyReLU(0.01)]
        for _ in range(depth - 2):
            layers += [nn.Conv1d(width, width, 1), nn.LeakyReLU(0.01)]
        last = nn.Conv1d(width, 1, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.cells = nn.Sequential(*layers, last)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], 1, -1)
        total = torch.log1p(flat.sum(dim=2).clamp_min(0))
        c = self.cond_net(torch.cat([total, cond], dim=1)).unsqueeze(2).expand(-1, -1, flat.shape[2])
        out = flat + self.cells(torch.cat([flat, c], dim=1))
        return torch.relu(out).reshape(x.shape)


def postprocessor_loss(out: torch.Tensor, inp: torch.Tensor, real: torch.Tensor, out_mev: torch.Tensor,
                       real_mev: torch.Tensor, cfg: dict) -> dict[str, torch.Tensor]:
    """Weighted loss terms of the Post-Processor.

    ``out``/``inp``/``real`` are preprocessed (PP output, its input, real showers); ``*_mev`` are the
    PP output and real showers in MeV for the sorted-kernel MMDs (one per ``pp_mmd_alphas``).
    Weights: ``pp_mse``, ``pp_mmd``, ``pp_sorted`` (sorted MSE + MAE), ``pp_batch`` (batch means).

    >>> import torch
    >>> x = torch.rand(4, 30)
    >>> cfg = {"pp_mse": 1.0, "pp_mmd": 5.0, "pp_mmd_alphas": [200.0], "pp_top_n": 20, "pp_window": 10,
    ...        "pp_stride": 5, "pp_sorted": 0.0, "pp_batch": 0.0}
    >>> float(sum(postprocessor_loss(x, x, x, x, x, cfg).values()))
    0.0
    """
    terms = {"pp_mse": cfg["pp_mse"] * ((out - inp) ** 2).mean()}
    mmd = sum(sorted_kernel_mmd(out_mev, real_mev, cfg["pp_top_n"], cfg["pp_window"], cfg["pp_stride"], a)
              for a in cfg["pp_mmd_alphas"])
    terms["pp_mmd"] = cfg["pp_mmd"] * mmd
    if cfg["pp_sorted"]:
        so = torch.sort(out.reshape(out.shape[0], -1), dim=1).values
        sr = torch.sort(real.reshape(real.shape[0], -1), dim=1).values
        terms["pp_sorted"] = cfg["pp_sorted"] * (((so - sr) ** 2).mean() + (so - sr).abs().mean())
    if cfg["pp_batch"]:
        terms["pp_batch"] = cfg["pp_batch"] * ((out.mean(0) - real.mean(0)) ** 2).mean()
    return terms
