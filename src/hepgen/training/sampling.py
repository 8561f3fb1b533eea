"""What every generator of a run shares when it samples: the network's micro-batch size and the labels a
model draws itself. Low level (no import of the generators or of the ONNX backend), so that
:mod:`hepgen.training.generate`, :mod:`hepgen.training.onnx` and :mod:`hepgen.timing` all import it.

>>> complete_labels(None, None, [], np.ones(2), None, None)
{}
"""

from __future__ import annotations

import numpy as np


__all__ = ["auto_batch_size", "complete_labels"]


def auto_batch_size(model, n_cond: int, budget_elements: int = 2_000_000) -> int:
    """Network batch size for CPU throughput: the power of two (1 to 1024) nearest to
    ``budget_elements`` / (largest activation of one example), so that a batch's biggest
    intermediate tensor stays near 8 MB and in cache. The activation size is read with forward
    hooks from one sampling call at batch 2. Measured on calochallenge-2: WGAN (26k-element largest
    activation) fastest at 50-100 (rule: 64), BIB-AE (Post-Processor, 415k elements) 3.3x faster
    at 10 than at 100 (rule: 4); docs/history.md. Depends on the model and geometry only,
    so generated files stay reproducible across machines.

    >>> import torch
    >>> class Toy(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__(); self.net = torch.nn.Linear(1, 20_000)
    ...     def sample(self, cond, generator=None):
    ...         return self.net(cond)
    >>> auto_batch_size(Toy(), n_cond=1)
    128
    """
    import torch

    largest = [1]

    def hook(module, inputs, output) -> None:
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor) and t.dim() > 0 and t.shape[0] == 2:
                largest[0] = max(largest[0], t.numel() // 2)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.inference_mode():
            out = model.sample(torch.zeros(2, n_cond), torch.Generator().manual_seed(0))
        largest[0] = max(largest[0], out.numel() // 2)
    finally:
        for h in handles:
            h.remove()
    return int(min(1024, max(1, 2 ** round(np.log2(budget_elements / largest[0])))))


def complete_labels(model, kind, names: list[str], incident_energy: np.ndarray,
                    labels: dict[str, np.ndarray] | None, generator) -> dict[str, np.ndarray]:
    """The conditioning labels ``names`` for these showers: the given ones, the missing ones drawn by the
    model (:meth:`~hepgen.models.base.GenerativeModel.sample_labels`, e.g. the BIB-AE's latent KDE;
    InputError when it cannot draw them)."""
    labels = dict(labels or {})
    missing = [k for k in names if k not in labels]
    if missing:
        labels.update(model.sample_labels(incident_energy, missing, kind, generator))
    return labels
