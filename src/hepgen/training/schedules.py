"""Learning-rate schedules and the optimiser override of the shared loop: options of every model.

The thesis defaults (B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY
(2024), Ch. 3-4: AdamW unless stated, linear warm-up + cosine annealing for every training) are available to
every registered model through the ``training`` section of a run config, not through each model's code:

* ``lr_schedule: warmup_cosine`` — the learning rate of every optimiser is multiplied, at every batch, by
  :func:`warmup_cosine_factor`: a linear warm-up over ``warmup_steps`` batches (default: 10 % of the run, as the
  public MDMA code's ``LinearWarmupCosineAnnealingLR(warmup_epochs = max_epochs // 10)``), then a cosine decay
  to ``lr_final_factor`` at the last batch of ``max_epochs`` (cosine annealing of Loshchilov & Hutter, "SGDR:
  Stochastic Gradient Descent with Warm Restarts", arXiv:1608.03983, without restarts). It multiplies the
  model's own per-epoch :meth:`~hepgen.models.base.GenerativeModel.lr_decay`.
* ``lr_schedule: budget_cosine`` — a cosine from the base learning rate to ``lr_final_factor`` over the run's
  budget, whichever of ``max_time`` (wall clock, a total over resumes) and ``max_epochs`` ends it first: the factor
  at a batch is :func:`budget_cosine_factor` of the larger of the two fractions spent. A run trained for a fixed
  wall clock does not know its number of steps in advance; this schedule still ends it at a small learning rate,
  so the weights that generate are not those of a noisy step at the full rate (annealing to zero at the end of
  the budget, as in Loshchilov & Hutter's SGDR without restarts, arXiv:1608.03983). No warm-up. It suits a
  model that has converged within the budget; one still far from it learns less (calo-cfm's cell network in a
  4-minute ``hepgen demo``: its loss stopped at 2.14 against 1.85 at a constant rate), so no model uses it by
  default.
* ``optimizer: adamw`` — every optimiser the model returns is rebuilt as AdamW (Loshchilov & Hutter,
  "Decoupled Weight Decay Regularization", arXiv:1711.05101) on the same parameter groups, keeping their
  learning rates, betas and eps, with the decoupled ``weight_decay`` of the training section (default 0.01,
  the thesis's value). ``optimizer: null`` (the default) keeps each model's own optimisers.

>>> [round(warmup_cosine_factor(s, warmup_steps=2, total_steps=10), 3) for s in (0, 1, 2, 6, 9)]
[0.5, 1.0, 1.0, 0.5, 0.038]
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from hepgen.errors import InputError

__all__ = ["SCHEDULES", "OPTIMIZERS", "warmup_cosine_factor", "budget_cosine_factor", "lr_factor_schedule",
           "override_optimizer"]

SCHEDULES = ("warmup_cosine", "budget_cosine")
OPTIMIZERS = ("adamw",)


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, final_factor: float = 0.0) -> float:
    """Multiplier of the base learning rate at batch ``step`` (0-based) of a run of ``total_steps`` batches:
    (step + 1) / warmup_steps during the warm-up (the first batch already learns), then
    f + (1 − f) · ½ (1 + cos(π · (step − warmup_steps) / (total_steps − warmup_steps))) with f = ``final_factor``;
    after ``total_steps`` (a run extended by a resume) it stays at f.

    >>> warmup_cosine_factor(0, 4, 100), warmup_cosine_factor(3, 4, 100), warmup_cosine_factor(4, 4, 100)
    (0.25, 1.0, 1.0)
    >>> round(warmup_cosine_factor(52, 4, 100), 6), warmup_cosine_factor(100, 4, 100, final_factor=0.1)
    (0.5, 0.1)
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def budget_cosine_factor(fraction_spent: float, final_factor: float = 0.0) -> float:
    """Multiplier of the base learning rate when ``fraction_spent`` (0 … 1) of the run's budget is used:
    f + (1 − f) · ½ (1 + cos(π · fraction)) with f = ``final_factor``; f beyond the budget.

    >>> budget_cosine_factor(0.0), budget_cosine_factor(0.5), round(budget_cosine_factor(0.9), 4)
    (1.0, 0.5, 0.0245)
    >>> budget_cosine_factor(1.3, final_factor=0.1)
    0.1
    """
    progress = min(max(float(fraction_spent), 0.0), 1.0)
    return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_factor_schedule(training: dict, steps_per_epoch: int, max_epochs: int
                       ) -> Callable[[int, float | None], float] | None:
    """The per-batch learning-rate factor of the ``training`` config section (None: no schedule), for a run of
    ``max_epochs`` epochs of ``steps_per_epoch`` batches: a function of the batch number (0-based, over all
    epochs) and the fraction of the wall-clock budget spent (None without ``max_time``).

    >>> f = lr_factor_schedule({"lr_schedule": "warmup_cosine", "warmup_steps": None, "lr_final_factor": 0.0},
    ...                        steps_per_epoch=10, max_epochs=10)
    >>> f(0, None), f(9, None), round(f(99, None), 4)   # warm-up over the first 10 % (10 batches)
    (0.1, 1.0, 0.0003)
    >>> g = lr_factor_schedule({"lr_schedule": "budget_cosine"}, steps_per_epoch=10, max_epochs=100)
    >>> g(0, 0.0), g(10, 0.5), g(500, 0.25)           # the larger fraction: time, then epochs
    (1.0, 0.5, 0.5)
    >>> lr_factor_schedule({"lr_schedule": "steps"}, 10, 10)
    Traceback (most recent call last):
    ...
    hepgen.errors.InputError: training: unknown lr_schedule 'steps'; expected one of warmup_cosine, budget_cosine ...
    """
    name = training.get("lr_schedule")
    if name is None:
        return None
    if name not in SCHEDULES:
        raise InputError(f"training: unknown lr_schedule '{name}'; expected one of {', '.join(SCHEDULES)} (or null)")
    total = max(int(steps_per_epoch) * int(max_epochs), 1)
    final = float(training.get("lr_final_factor") or 0.0)
    if name == "budget_cosine":
        return lambda step, time_spent: budget_cosine_factor(max(step / total, time_spent or 0.0), final)
    warmup = training.get("warmup_steps")
    warmup = max(total // 10, 1) if warmup is None else int(warmup)
    if warmup < 0:
        raise InputError(f"training: warmup_steps must be >= 0, got {warmup}")
    return lambda step, time_spent: warmup_cosine_factor(step, warmup, total, final)


def override_optimizer(optimizers: dict[str, torch.optim.Optimizer], training: dict
                       ) -> dict[str, torch.optim.Optimizer]:
    """The model's named optimisers, or with ``optimizer: adamw`` in ``training`` the same parameter groups in
    AdamW (each group's lr, betas and eps kept; decoupled ``weight_decay`` from ``training``, default 0.01).

    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> opt = override_optimizer({"m": torch.optim.Adam([w], lr=0.1, betas=(0.0, 0.9))},
    ...                          {"optimizer": "adamw", "weight_decay": 0.05})["m"]
    >>> type(opt).__name__, opt.param_groups[0]["lr"], opt.param_groups[0]["betas"], opt.param_groups[0]["weight_decay"]
    ('AdamW', 0.1, (0.0, 0.9), 0.05)
    """
    name = training.get("optimizer")
    if name is None:
        return optimizers
    if name not in OPTIMIZERS:
        raise InputError(f"training: unknown optimizer '{name}'; expected one of {', '.join(OPTIMIZERS)} (or null)")
    decay = training.get("weight_decay")
    decay = 0.01 if decay is None else float(decay)
    out = {}
    for key, opt in optimizers.items():
        groups = [{"params": g["params"], "lr": g["lr"], "betas": tuple(g.get("betas", (0.9, 0.999))),
                   "eps": g.get("eps", 1e-8), "weight_decay": decay} for g in opt.param_groups]
        out[key] = torch.optim.AdamW(groups)
    return out
