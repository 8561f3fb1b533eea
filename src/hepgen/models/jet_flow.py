"""JetFlow: rational-quadratic-spline coupling normalizing flow on the flattened cloud (Käch et al., "JetFlow:
Generating Jets with Conditioned and Mass Constrained Normalising Flows", arXiv:2211.13630; B. Käch, "Generative
Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 5.4.1), built with zuko
(``zuko.flows.NSF`` with two masking passes = coupling).

The n_max × 3 features (Box-Cox on pt_rel and standard scaling by default, thesis Sec. 2.6) are flattened;
padded slots get Gaussian noise of variance 1e-8. The flow's context is the cardinality n / n_max (the
particles beyond n are zeroed at sampling) and, with ``labels: [mass]`` in the run config, the relative
jet mass: NF(c), the mass drawn at sampling from training jets of the same multiplicity. Table 5.1: 25
coupling layers, 3 × 128 hidden units, 6 bins on [-5, 5]. (NF(cc), the mass-constraint loss, is not here.)

>>> import torch
>>> m = JetFlow((4, 4), 1, {**JetFlow.default_config, "transforms": 2, "hidden": [8]})
>>> x = m.sample(torch.tensor([[0.5], [1.0]]), torch.Generator().manual_seed(0))
>>> x.shape, x[..., 3].sum(1).tolist()
(torch.Size([2, 4, 4]), [2.0, 4.0])
"""

from __future__ import annotations

import torch

from hepgen.models.cardinality import JetModelBase
from hepgen.models.jet_gan import cardinality_of
from hepgen.models.layers import mask_from_cardinality, random_seed
from hepgen.models.objectives import optimizer_step
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["JetFlow"]


@register_model("jet-flow")
class JetFlow(JetModelBase, GenerativeModel):
    """RQS coupling NF (NF, or NF(c) with ``labels: [mass]``); defaults from Käch 2024, Table 5.1."""

    tiny_config = {'transforms': 2, 'hidden': [16]}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config = {
        "transforms": 25, "hidden": [128, 128, 128], "bins": 6,
        "lr": 1e-4, "betas": [0.9, 0.999], "weight_decay": 0.01, "pad_noise": 1e-4,
        "preprocessing": [{"name": "boxcox"}, {"name": "standardize"}],
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        import zuko

        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.flow = zuko.flows.NSF(self.data_shape[0] * 3, n_cond, bins=c["bins"], transforms=c["transforms"],
                                   passes=2, randperm=True, hidden_features=tuple(c["hidden"]))

    def configure_optimizers(self):
        c = self.config
        return {"flow": torch.optim.AdamW(self.flow.parameters(), lr=c["lr"], betas=tuple(c["betas"]),
                                          weight_decay=c["weight_decay"])}

    def training_step(self, batch, optimizers, step, epoch):
        x, cond = batch["x"], batch["cond"]
        pad = (x[..., 3:4] < 0.5).to(x.dtype)
        flat = (x[..., :3] + pad * self.config["pad_noise"] * torch.randn_like(x[..., :3])).flatten(1)
        loss = -self.flow(cond).log_prob(flat).mean() / flat.shape[1]
        return {"nll_per_dim": optimizer_step(loss, optimizers["flow"], counter=self.generator_steps)}

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n_max = self.data_shape[0]
        mask = mask_from_cardinality(cardinality_of(cond, n_max), n_max).to(cond.dtype)
        devices = [cond.device] if cond.device.type == "cuda" else []
        with torch.random.fork_rng(devices):
            if generator is not None:
                torch.manual_seed(random_seed(generator))
            x = self.flow(cond).sample().view(len(cond), n_max, 3)
        return torch.cat([x * mask.unsqueeze(-1), mask.unsqueeze(-1)], dim=2)

    def export_graph(self):
        """Base noise (N(0, 1), n_max x 3 per jet) drawn outside as :meth:`sample` draws it (global torch generator
        seeded from ``generator``); the graph is the spline flow's inverse and the cardinality mask."""
        from hepgen.models.export import ExportGraph, GraphModule, cloud_mask

        n_max = self.data_shape[0]

        def draw(cond, generator):
            with torch.random.fork_rng():
                if generator is not None:
                    torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
                base = self.flow(cond).base
                return [base.rsample() if base.has_rsample else base.sample()]

        def network(m, cond, z):
            mask = cloud_mask(cardinality_of(cond, n_max), n_max).to(z.dtype)
            x = m.flow(cond).transform.inv(z).reshape(-1, n_max, 3)
            return torch.cat([x * mask.unsqueeze(-1), mask.unsqueeze(-1)], dim=2)

        return ExportGraph(GraphModule(self, network), draw, "noise_0: the flow's N(0, 1) base draw (B, n_max * 3)")
