"""Sampling a trained model: the one :class:`Generator` (any data kind, any torch device), the network's
micro-batch size and the labels a model draws itself. Below the file writers (:mod:`hepgen.training.generate`)
and the ONNX Runtime backend (:mod:`hepgen.training.onnx`, whose generator is a :class:`Generator`), which both
import it.

>>> complete_labels(None, None, [], np.ones(2), None, None)
{}
"""

from __future__ import annotations

import numpy as np

from hepgen.errors import InputError


__all__ = ["Generator", "auto_batch_size", "complete_labels"]


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


class Generator:
    """A trained model with its fitted data kind: :meth:`sample` returns data in physical units, whatever the kind
    (:class:`~hepgen.data.ShowerData` in MeV for shower and point-cloud models, :class:`~hepgen.data.JetData` in
    the JetNet layout for jet models, float64 arrays in data units for array models).

    ``model``, ``kind`` (:mod:`hepgen.training.kinds`) and ``config`` are what
    :func:`~hepgen.training.run.load_run_model` returns; ``geometry`` and ``labels`` are the kind's.
    A backend other than PyTorch (:class:`hepgen.training.onnx.OnnxGenerator`) overrides :meth:`sample_batch`.
    """

    def __init__(self, model, kind, config: dict) -> None:
        self.model, self.kind, self.config = model, kind, config
        self.geometry = kind.geometry
        self.labels = list(kind.labels)

    def sample(self, incident_energy: np.ndarray | None = None, labels: dict[str, np.ndarray] | None = None,
               batch_size: int = 1000, seed: int | None = None, n: int | None = None):
        """Generate, ``batch_size`` at a time, with a torch generator seeded ``seed``.

        Conditional shower models take one incident energy (MeV) per shower and the conditioning
        ``labels`` the model was trained with (the model may draw missing ones itself, e.g. the BIB-AE's
        KDE, point clouds' n_hits). Models that draw their own conditions (jet multiplicities from a
        KDE) and unconditional ones (arrays) take ``n`` (also as the first argument: ``sample(100)``).
        """
        import torch

        from hepgen.training.kinds import Conditions

        if isinstance(incident_energy, (int, np.integer)):  # sample(n), as for jets and arrays
            incident_energy, n = None, int(incident_energy)
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        if incident_energy is not None:
            e = np.asarray(incident_energy, dtype=np.float64).reshape(-1)
            c = Conditions(incident_energy=e, labels=complete_labels(self.model, self.kind, self.labels, e, labels,
                                                                     gen))
            cond = None
        elif n is not None:
            c = Conditions(n=int(n))
            cond = torch.as_tensor(self.model.sample_conditions(int(n), None if seed is None else int(seed)))
        else:
            raise InputError("give incident energies (shower models) or a number n of examples")
        parts = []
        # inference_mode: no autograd bookkeeping (see docs/history.md)
        with torch.inference_mode():
            for start in range(0, len(c), max(1, batch_size)):
                sl = slice(start, start + batch_size)
                part = c[sl]
                batch_cond = cond[sl] if cond is not None else torch.as_tensor(self.kind.conditions(part))
                parts.append(self.model.postprocess_physical(self.sample_batch(batch_cond, part, gen)))
        return self.kind.concatenate(parts)

    def sample_batch(self, cond, conditions, generator):
        """One batch: preprocessed conditions -> data in physical units (the kind's fast torch decoding)."""
        return self.kind.decode_torch(self.model.sample(cond.to(self.model.device), generator), conditions)
