"""The OnlineFlow density model: a masked autoregressive flow (MAF; Papamakarios et al., "Masked Autoregressive Flow
for Density Estimation", arXiv:1705.07057) of MADE blocks (Germain et al., arXiv:1502.03509), built with zuko,
as trained on a data stream at the trigger in A. Butter, S. Diefenbacher, G. Kasieczka, B. Nachman, T. Plehn,
D. Shih, R. Winterhalder, "Ephemeral Learning – Augmenting Triggers with Online-Trained Normalizing Flows",
arXiv:2202.09375, and S. Diefenbacher, "Topics in Generative Modeling of Particle Physics Data", PhD thesis,
U. Hamburg (2022), Ch. 9.

Low-dimensional data get extra N(0, 1) noise dimensions (a MAF is ill-defined in 1-d; thesis: the mass plus 3
noise dimensions for the bump hunt, 5 + 5 for the LHC Olympics features), dropped at sampling. The model owns its
own feature preprocessing (buffers, saved with it): log of the positive features (thesis: the bump-hunt mass is
trained as log x to remove the edge at 0) and a per-feature standardisation, both fitted on the first buffer of a
stream by :meth:`OnlineMAF.fit_features`; the shared training loop's :class:`~hepgen.training.kinds.ArrayKind`
already standardises, so there they stay the identity. :meth:`OnlineMAF.log_prob` gives per-event
log-likelihoods, so the online engine (:mod:`hepgen.training.online`) can weight events (online bootstrap).

Thesis sizes for the bump hunt: 5 MADE blocks of two 32-node layers on 4 dimensions. zuko's MAF at those sizes
has 7,400 parameters; the thesis's 7,560 are 7,400 plus 32 per block = one extra input to each block's first
layer, i.e. a 1-dimensional context (``context: 1`` here reproduces the count; it is fed zeros).

>>> import torch
>>> m = OnlineMAF((1,), 0, OnlineMAF.default_config)
>>> m.n_flow_features, m.n_parameters()
(4, 7400)
>>> OnlineMAF((1,), 0, {**OnlineMAF.default_config, "context": 1}).n_parameters()
7560
>>> m.sample(torch.zeros(3, 0), torch.Generator().manual_seed(0)).shape
torch.Size([3, 1])
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from hepgen.errors import InputError
from hepgen.models.layers import standard_normal
from hepgen.models.objectives import optimizer_step
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["OnlineMAF", "noise_dimensions"]


def noise_dimensions(n_features: int, setting: int | str = "auto") -> int:
    """Extra Gaussian dimensions for ``n_features`` data features: ``"auto"`` gives 3 for 1 feature (thesis bump
    hunt: 1 + 3), as many as the features for 2–8 (thesis LHC Olympics: 5 + 5), none above; or an integer.

    >>> [noise_dimensions(d) for d in (1, 5, 20)], noise_dimensions(2, 0)
    ([3, 5, 0], 0)
    """
    if setting == "auto":
        return 3 if n_features == 1 else (n_features if n_features <= 8 else 0)
    return max(0, int(setting))


@register_model("online-maf")
class OnlineMAF(GenerativeModel):
    """MAF of MADE blocks with noise dimensions and log/standardise preprocessing; defaults: thesis bump hunt."""

    data_kind = "arrays"
    tiny_config = {"transforms": 1, "hidden": [8]}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config = {
        "transforms": 5,          # MADE blocks (thesis: 5 for the bump hunt, 10 for LHCO)
        "hidden": [32, 32],       # per block (thesis: 2 x 32; LHCO 128)
        "noise_dims": "auto",     # extra N(0, 1) dimensions, see noise_dimensions
        "transform": "affine",    # affine MADE blocks (thesis) or spline (rational-quadratic, hepgen addition)
        "bins": 8,                # spline bins
        "context": 0,             # a zero context of this size (1 reproduces the thesis's 7,560 parameters)
        "lr": 1e-3,               # Adam (thesis: 1e-5 over 5M events x 100 passes; larger for shorter streams)
        "log_features": "auto",   # fit_features: log of the features positive in the first buffer (or a list)
        "clip": None,             # gradient-norm clipping (None: none, as the thesis)
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        import zuko

        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.n_features = int(math.prod(self.data_shape))
        self.n_noise = noise_dimensions(self.n_features, c.get("noise_dims", "auto"))
        self.n_flow_features = self.n_features + self.n_noise
        self.n_context = int(c.get("context", 0))
        kind = c.get("transform", "affine")
        if kind not in ("affine", "spline"):
            raise InputError(f"online-maf transform '{kind}': expected affine (the thesis's MAF) or spline")
        flow_class = zuko.flows.MAF if kind == "affine" else functools.partial(zuko.flows.NSF, bins=int(c["bins"]))
        self.flow = flow_class(self.n_flow_features, self.n_context, transforms=int(c["transforms"]),
                               hidden_features=tuple(int(h) for h in c["hidden"]))
        d = self.n_features
        self.register_buffer("log_mask", torch.zeros(d, dtype=torch.bool))
        self.register_buffer("shift", torch.zeros(d))
        self.register_buffer("scale", torch.ones(d))

    # -- preprocessing owned by the model ----------------------------------------------------------------------
    def fit_features(self, x: np.ndarray) -> None:
        """Fit the log mask and the standardisation on a first buffer of raw events (n, *data_shape).

        >>> m = OnlineMAF((2,), 0, {**OnlineMAF.default_config, "transforms": 1, "hidden": [4]})
        >>> m.fit_features(np.array([[1.0, -1.0], [np.e, 1.0], [np.e ** 2, 0.0]]))
        >>> m.log_mask.tolist(), [round(v, 3) for v in m.shift.tolist()]
        ([True, False], [1.0, 0.0])
        """
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        setting = self.config.get("log_features", "auto")
        if setting == "auto":
            mask = np.all(x > 0, axis=0)
        else:
            mask = np.zeros(self.n_features, bool)
            mask[list(setting or [])] = True
        y = np.where(mask, np.log(np.where(mask, x, 1.0)), x)
        std = y.std(axis=0)
        self.log_mask.copy_(torch.as_tensor(mask))
        self.shift.copy_(torch.as_tensor(y.mean(axis=0), dtype=self.shift.dtype))
        self.scale.copy_(torch.as_tensor(np.where(std > 0, std, 1.0), dtype=self.scale.dtype))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features (n, *data_shape) -> flow coordinates of the data features (n, n_features)."""
        x = x.reshape(x.shape[0], -1)
        # a later event at or below 0 in a logged feature (the mask is fitted on the first buffer) stays finite
        x = torch.where(self.log_mask, torch.log(torch.where(self.log_mask, x, torch.ones_like(x)).clamp_min(1e-12)), x)
        return (x - self.shift) / self.scale

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        """Flow coordinates of the data features -> raw features (n, *data_shape)."""
        x = y * self.scale + self.shift
        x = torch.where(self.log_mask, torch.exp(x), x)
        return x.reshape((-1,) + self.data_shape)

    def _flow(self, like: torch.Tensor):
        """The flow at the (zero) context, one row per row of ``like`` (written to trace with any batch size)."""
        return self.flow(torch.zeros_like(like[:, :1]).expand(-1, self.n_context) if self.n_context else None)

    def log_prob(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-event log-likelihood (n,) of raw events in flow coordinates (the noise dimensions drawn from
        ``generator`` and included: their exact N(0, 1) density is a constant the flow must learn)."""
        y = self.encode(x)
        if self.n_noise:
            y = torch.cat([y, standard_normal((len(y), self.n_noise), y.device, y.dtype, generator)], dim=1)
        return self._flow(y).log_prob(y)

    # -- GenerativeModel ---------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"flow": torch.optim.Adam(self.flow.parameters(), lr=float(self.config["lr"]))}

    def training_step(self, batch, optimizers, step, epoch):
        """Weighted negative log-likelihood per dimension (``batch["weight"]``, default 1)."""
        x = batch["x"]
        weight = batch.get("weight")
        nll = -self.log_prob(x)
        loss = (nll * weight).sum() / weight.sum().clamp_min(1.0) if weight is not None else nll.mean()
        clip = self.config.get("clip")
        return {"nll_per_dim": optimizer_step(loss / self.n_flow_features, optimizers["flow"],
                                              None if clip is None else float(clip), counter=self.generator_steps)}

    def _draw(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return standard_normal((n, self.n_flow_features), self.shift.device, self.shift.dtype, generator)

    def _invert(self, z: torch.Tensor) -> torch.Tensor:
        y = self._flow(z).transform.inv(z)
        return self.decode(y[:, :self.n_features])

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``len(cond)`` events in the model's input space (noise dimensions dropped)."""
        with torch.no_grad():
            return self._invert(self._draw(len(cond), generator))

    def export_graph(self):
        """Base noise N(0, 1) of all flow dimensions drawn outside (as :meth:`sample`); the graph is the MAF's
        autoregressive inverse (one MADE pass per dimension, unrolled) and the inverse preprocessing."""
        from hepgen.models.export import ExportGraph, GraphModule

        return ExportGraph(GraphModule(self, lambda m, cond, z: m._invert(z)),
                           lambda cond, generator: [self._draw(len(cond), generator)],
                           "noise_0: N(0, 1) base draw of the data and noise dimensions")
