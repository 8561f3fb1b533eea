"""An exponential moving average (EMA) of a model's weights, the weights it generates with.

A generative model trained with a constant learning rate and small batches moves its weights by a noisy step every
batch; the average of the last few hundred to thousand steps samples better than the last step (Polyak, Juditsky,
"Acceleration of stochastic approximation by averaging", SIAM J. Control Optim. 30 (1992) 838; the EMA that every
diffusion model samples with: Ho et al., "Denoising Diffusion Probabilistic Models", arXiv:2006.11239; Karras et
al., "Analyzing and Improving the Training Dynamics of Diffusion Models", arXiv:2312.02696). The training option
``ema_decay`` (a model may set it in its ``training_defaults``) keeps one with the decay
d_n = min(ema_decay, (1 + n) / (10 + n)) after n updates (TensorFlow's ``ExponentialMovingAverage`` with
``num_updates``): it averages over about the last n / 9 steps early on, so a short run is not dominated by its
first weights, and over 1 / (1 − ema_decay) steps in a long one. The average lives beside the trained weights in the
checkpoint (``ema.module.*`` beside ``model.*``): training resumes from the trained weights and the average;
validation, ``best.ckpt`` selection, generation and export use the average. Buffers (standardisations, step
counters) are copied, not averaged.

>>> import torch
>>> net = torch.nn.Linear(1, 1, bias=False)
>>> ema = weight_average(net, 0.9)
>>> for w in (1.0, 2.0, 3.0):
...     _ = net.weight.data.fill_(w); update_average(ema, net)
>>> round(float(ema.module.weight), 4)          # 1; 1 + (2 − 1)(1 − 2/11) = 1.8182; then d = 3/12
2.7045
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["weight_average", "update_average", "generation_state", "EMA_PREFIX"]

EMA_PREFIX = "ema.module."     # keys of the averaged weights in a training checkpoint's state dict


def weight_average(model: nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """A frozen copy of ``model`` (same device) that :func:`update_average` moves towards it with the decay
    min(``decay``, (1 + n) / (10 + n)) after n updates (the first update copies the weights).

    >>> ema = weight_average(torch.nn.Linear(2, 1), 0.999)
    >>> int(ema.n_averaged), any(p.requires_grad for p in ema.parameters())
    (0, False)
    """
    if not 0.0 < float(decay) < 1.0:
        raise ValueError(f"ema_decay must lie in (0, 1), got {decay}")

    def lerp(averaged: list[torch.Tensor], current: list[torch.Tensor], n: torch.Tensor) -> None:
        d = min(float(decay), (1.0 + float(n)) / (10.0 + float(n)))
        for a, c in zip(averaged, current):
            a.lerp_(c, 1.0 - d)

    ema = torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=lerp, use_buffers=False)
    ema.requires_grad_(False)       # not trained: data-parallel training must not wait for its gradients
    return ema


@torch.no_grad()
def update_average(ema: torch.optim.swa_utils.AveragedModel, model: nn.Module) -> None:
    """One EMA step of the weights of ``model`` into ``ema``; its buffers copied as they are."""
    ema.update_parameters(model)
    for averaged, current in zip(ema.module.buffers(), model.buffers()):
        averaged.copy_(current)


def generation_state(state_dict: dict[str, Any]) -> dict[str, Any]:
    """The model weights a training checkpoint's state dict generates with: the averaged ones where the run kept
    an average, else the trained ones (``model.*``), without their prefix.

    >>> generation_state({"model.w": 1, "ema.module.w": 2, "ema.n_averaged": 5})
    {'w': 2}
    >>> generation_state({"model.w": 1})
    {'w': 1}
    """
    prefix = EMA_PREFIX if any(k.startswith(EMA_PREFIX) for k in state_dict) else "model."
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
