"""Flow matching over particle clouds, shared by the jet models whose only difference is their velocity field
(MDMA-Flow, EPiC-FM): the training step, size-bucketed sampling and the ONNX graph, written once.

Training: x0 ~ N(0, 1) per real particle, x1 a data cloud, t ~ U(0, 1) per cloud, x_t = t x1 + (1 − t) x0, loss
|v(x_t, t) − (x1 − x0)|² over the real particles (Lipman et al., "Flow Matching for Generative Modeling",
arXiv:2210.02747; :func:`hepgen.models.objectives.conditional_flow_matching_loss`); ``ot: true`` pairs noise and
data clouds by the exact minibatch OT plan (Tong et al., arXiv:2302.00482). Sampling integrates dx/dt = v from
t = 0 to 1 in ``steps`` midpoint steps (:func:`hepgen.models.solvers.integrate`) in buckets of similar size.

A subclass sets ``self.field``, a module ``field(x (B, n, 3), t (B,), mask (B, n), cond (B, n_cond))``, and the
config keys ``lr``, ``betas``, ``weight_decay``, ``ot``, ``steps``, ``bucket``.

>>> from hepgen.models.mdma_flow import MDMAFlow
>>> issubclass(MDMAFlow, CloudFlowMatching)
True
"""

from __future__ import annotations

import torch

from hepgen.models.cardinality import JetModelBase
from hepgen.models.jet_gan import bucketed, cardinality_of
from hepgen.models.layers import standard_normal, trim
from hepgen.models.objectives import conditional_flow_matching_loss, optimizer_step, ot_coupling
from hepgen.models.registry import GenerativeModel
from hepgen.models.solvers import integrate

__all__ = ["CloudFlowMatching"]


class CloudFlowMatching(JetModelBase, GenerativeModel):
    """Flow matching on padded particle clouds (B, n_max, 3 + mask) given the cardinality; see the module."""

    field: torch.nn.Module

    def configure_optimizers(self):
        c = self.config
        return {"flow": torch.optim.AdamW(self.field.parameters(), lr=c["lr"], betas=tuple(c["betas"]),
                                          weight_decay=c["weight_decay"])}

    def training_step(self, batch, optimizers, step, epoch):
        x, cond = batch["x"], batch["cond"]
        x, mask = trim(x, x[..., 3] > 0.5)
        loss = conditional_flow_matching_loss(lambda xt, t: self.field(xt, t, mask, cond), x[..., :3], mask,
                                              ot_coupling if self.config["ot"] else None)
        return {"loss_cfm": optimizer_step(loss, optimizers["flow"], counter=self.generator_steps)}

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n_max, steps = self.data_shape[0], int(self.config["steps"])
        n = cardinality_of(cond, n_max)

        def run(idx, mask):
            c = cond[idx]
            x0 = standard_normal((*mask.shape, 3), cond.device, cond.dtype, generator) * mask.unsqueeze(-1)
            return integrate(lambda x, t: self.field(x, t, mask, c), x0, steps, "midpoint")

        return bucketed(run, n, n_max, int(self.config["bucket"]))

    def export_graph(self):
        """Initial noise per particle slot drawn outside in the size buckets of :meth:`sample`; the graph holds the
        ``steps`` midpoint steps unrolled, every cloud padded to n_max slots (mask from n / n_max)."""
        from hepgen.models.export import cloud_export_graph, jet_buckets

        n_max, steps = self.data_shape[0], int(self.config["steps"])

        def draws(mask, generator):
            return [standard_normal((*mask.shape, 3), mask.device, torch.float32, generator) * mask.unsqueeze(-1)]

        def integrate_steps(m, mask, cond, x):
            return integrate(lambda y, t: m.field(y, t, mask, cond), x, steps, "midpoint")

        return cloud_export_graph(self, n_max, lambda cond: cardinality_of(cond, n_max),
                                  lambda cond: jet_buckets(cardinality_of(cond, n_max), int(self.config["bucket"])),
                                  draws, (True,), integrate_steps,
                                  f"noise_0: N(0, 1) initial particles (B, n_max, 3); {steps} midpoint steps unrolled")
