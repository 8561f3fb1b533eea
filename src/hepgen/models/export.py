"""What a model declares for ONNX export: :class:`ExportGraph` or :class:`ExportUnsupported`.

Sampling is split into the random draws (kept outside the graph: ONNX random operators are not
reproducible across runtimes) and a deterministic network. :meth:`GenerativeModel.export_graph`
returns both; ``draw(cond, generator)`` makes the draws in the order and from the generators that
the model's own ``sample(cond, generator)`` uses, so that ``network(cond, *draw(cond, generator))``
equals ``sample(cond, generator)`` for the same seed (up to float rounding). Variable-size clouds
are padded to ``n_max`` slots with the mask computed inside the graph from the conditions.

>>> import torch
>>> graph = ExportGraph(torch.nn.Identity(), lambda cond, generator: [cond], "no noise")
>>> graph.noise(torch.ones(2, 1), None)[0].shape
torch.Size([2, 1])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from hepgen.errors import InputError

__all__ = ["ExportGraph", "ExportUnsupported", "GraphModule", "cloud_export_graph", "cloud_mask", "jet_buckets",
           "padded_noise"]


class ExportUnsupported(InputError):
    """A model that cannot be exported to ONNX; the message is the one-line reason."""


@dataclass
class ExportGraph:
    """A model's sampling as (random draws, deterministic network).

    ``network``: a ``torch.nn.Module`` whose ``forward(cond, *noise)`` maps preprocessed conditions
    (N, n_cond) and the draws to the example in preprocessed space (the shape ``sample`` returns).
    ``draw(cond, generator)``: the list of noise tensors, drawn as ``sample`` draws them.
    ``notes``: one line on what stays outside the graph.
    """

    network: torch.nn.Module
    draw: Callable[[torch.Tensor, torch.Generator | None], list]
    notes: str = ""

    def noise(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> list:
        """The draws for ``cond`` as contiguous tensors."""
        return [t.contiguous() for t in self.draw(cond, generator)]


class GraphModule(torch.nn.Module):
    """``forward(cond, *noise) = fn(cond, *noise)`` around the model, so the graph owns its parameters.

    >>> GraphModule(torch.nn.Linear(1, 1), lambda m, cond: cond * 2)(torch.ones(1, 1)).tolist()
    [[2.0]]
    """

    def __init__(self, model: torch.nn.Module, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, cond: torch.Tensor, *noise: torch.Tensor) -> torch.Tensor:
        return self.fn(self.model, cond, *noise)


def jet_buckets(n: torch.Tensor, bucket: int):
    """(rows, mask) of the size buckets of :func:`hepgen.models.jet_gan.bucketed` (clouds sorted by size).

    >>> [(rows.tolist(), mask.shape[1]) for rows, mask in jet_buckets(torch.tensor([3, 1, 2]), 2)]
    [([1, 2], 2), ([0], 3)]
    """
    from hepgen.models.layers import mask_from_cardinality

    order = torch.argsort(n)
    for start in range(0, len(n), bucket):
        idx = order[start:start + bucket]
        yield idx, mask_from_cardinality(n[idx], int(n[idx].max()))


def padded_noise(batches, n_rows: int, n_max: int, draws: Callable[[torch.Tensor], list], per_slot: tuple) -> list:
    """The draws a cloud model makes batch by batch (``batches``: (rows, mask (b, width)) in sampling order),
    placed at ``n_max`` slots; ``per_slot[k]``: draw k is per particle (b, width, f), else per cloud (b, f).

    >>> z, = padded_noise(jet_buckets(torch.tensor([2, 1, 3]), 2), 3, 4,
    ...                   lambda mask: [torch.ones(*mask.shape, 1)], (True,))
    >>> z[..., 0].tolist()  # clouds 1 and 0 share a bucket of width 2, cloud 2 has its own of width 3
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0]]
    """
    out: list | None = None
    for rows, mask in batches:
        parts = draws(mask)
        if out is None:
            out = [torch.zeros(((n_rows, n_max) + t.shape[2:]) if w else ((n_rows,) + t.shape[1:]), dtype=t.dtype)
                   for t, w in zip(parts, per_slot)]
        for o, t, w in zip(out, parts, per_slot):
            if w:
                o[rows, :t.shape[1]] = t
            else:
                o[rows] = t
    return out or []


def cloud_mask(n: torch.Tensor, n_max: int) -> torch.Tensor:
    """(B, n_max) bool mask of the first ``n`` slots, written with graph-exportable operators.

    >>> cloud_mask(torch.tensor([1, 2]), 3).int().tolist()
    [[1, 0, 0], [1, 1, 0]]
    """
    return torch.arange(n_max).unsqueeze(0) < n.unsqueeze(1)


def cloud_export_graph(model: torch.nn.Module, n_max: int, cardinality: Callable[[torch.Tensor], torch.Tensor],
                       batches: Callable[[torch.Tensor], object], draws: Callable[..., list], per_slot: tuple,
                       particles: Callable[..., torch.Tensor], notes: str) -> ExportGraph:
    """:class:`ExportGraph` of a cloud model padded to ``n_max`` slots, output (B, n_max, f + 1) with the mask
    as last feature (the layout of ``sample``).

    ``cardinality(cond)``: particles per cloud (graph-exportable); ``batches(cond)``: the (rows, mask) batches
    of ``sample`` in its order; ``draws(mask, generator)``: one batch's noise as ``sample`` draws it;
    ``particles(model, mask, cond, *noise)``: (B, n_max, f) particles for the padded mask.
    """

    def draw(cond, generator):
        return padded_noise(batches(cond), len(cond), n_max, lambda mask: draws(mask, generator), per_slot)

    def network(m, cond, *noise):
        mask = cloud_mask(cardinality(cond), n_max)
        x = particles(m, mask, cond, *noise)
        keep = mask.to(x.dtype).unsqueeze(-1)
        return torch.cat([x * keep, keep], dim=2)

    return ExportGraph(GraphModule(model, network), draw, notes)
