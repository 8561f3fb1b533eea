"""TNF: a transformer post-processor on a frozen normalizing-flow prior (Käch, Krücker & Melzer-Pellmann, "Point Cloud
Generation using Transformer Encoders and Normalising Flows", arXiv:2211.13623; B. Käch, "Generative Modelling in
High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 5.4.4, Table 5.3).

Two stages in one run: for the first ``prior_epochs`` epochs the prior, a :class:`~hepgen.models.jet_flow.JetFlow`
(NF, the cardinality as context), is trained by maximum likelihood; afterwards it is frozen and the TGAN generator
of :mod:`hepgen.models.tgan` (transformer encoder blocks) maps a prior sample x_NF of the cloud to
x_NF + G(x_NF) (residual: the GAN stage starts from the flow's jets; hepgen's choice), trained against the TGAN
critic with LSGAN, AdamW β1 = 0 (Table 5.2). At sampling the prior draws the n_max × 3 features of each cloud (its
first n slots are the particles) and the post-processor corrects them, in buckets of similar size.

>>> import torch
>>> m = TNF((6, 4), 1, {**TNF.default_config, **TNF.tiny_config})
>>> x = m.sample(torch.tensor([[0.5], [1.0]]), torch.Generator().manual_seed(0))
>>> x.shape, x[..., 3].sum(1).tolist()
(torch.Size([2, 6, 4]), [3.0, 6.0])
"""

from __future__ import annotations

import torch

from hepgen.models.jet_flow import JetFlow
from hepgen.models.jet_gan import JetGAN, cardinality_of
from hepgen.models.layers import random_seed
from hepgen.models.registry import register_model
from hepgen.models.tgan import TGAN

__all__ = ["TNF"]


@register_model("tnf")
class TNF(TGAN):
    """TNF; post-processor sizes of Table 5.2 (TGAN's), prior sizes of Table 5.1 (JetFlow's)."""

    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {"l_dim": 8, "hidden": 16, "heads": 2, "num_blocks": 1, "num_blocks_gen": 1,
                   "prior_transforms": 2, "prior_hidden": [16]}
    default_config = {
        **TGAN.default_config,
        "prior_transforms": 25, "prior_hidden": [128, 128, 128], "prior_bins": 6, "prior_lr": 1e-4,
        "prior_epochs": 10,        # epochs that train the prior (NLL) before the post-processor (GAN)
    }
    # "cpu": a 30-minute budget on one CPU core fits 8 prior epochs (3.75 min each, JetNet30 top, 50k jets), so the
    # thesis's 10 never reach the GAN stage; 4 prior epochs leave half the budget to the post-processor
    config_presets = {"cpu": {"params": {"prior_epochs": 4}}}

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.prior = JetFlow(self.data_shape, n_cond, {**JetFlow.default_config, "transforms": c["prior_transforms"],
                                                       "hidden": list(c["prior_hidden"]), "bins": c["prior_bins"],
                                                       "lr": c["prior_lr"]})
        # G starts at zero, so x_NF + G(x_NF) = x_NF: before the GAN stage (and at its start) the model samples its
        # prior, not the prior plus an untrained network's output
        torch.nn.init.zeros_(self.gen.head.weight)
        torch.nn.init.zeros_(self.gen.head.bias)

    def n_parameters(self) -> int:
        """Prior and post-processor (what generation runs; Table 5.3 counts both: 7.1 M)."""
        return JetGAN.n_parameters(self) + sum(p.numel() for p in self.prior.parameters())

    def configure_optimizers(self):
        return {**super().configure_optimizers(), "prior": self.prior.configure_optimizers()["flow"]}

    def training_step(self, batch, optimizers, step, epoch):
        if epoch < int(self.config["prior_epochs"]):
            losses = self.prior.training_step(batch, {"flow": optimizers["prior"]}, step, epoch)
            self.generator_steps += 1                  # the prior's updates count as updates of this model
            return losses
        self.prior.requires_grad_(False)
        return super().training_step(batch, optimizers, step, epoch)

    def prior_sample(self, cond: torch.Tensor, width: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, width, 3): the first ``width`` particle slots of prior draws (no gradient); with a generator the
        draw is seeded from it as :meth:`JetFlow.sample` does."""
        with torch.no_grad():
            if generator is None:
                z = self.prior.flow(cond).sample()
            else:
                devices = [cond.device] if cond.device.type == "cuda" else []
                with torch.random.fork_rng(devices):
                    torch.manual_seed(random_seed(generator))
                    z = self.prior.flow(cond).sample()
        return z.view(len(cond), self.data_shape[0], 3)[:, :width]

    def post_process(self, x: torch.Tensor, mask: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x_NF + G(x_NF) on the real slots of ``mask``."""
        keep = mask.unsqueeze(-1).to(x.dtype)
        return (x * keep + self.gen(x * keep, mask, cond)) * keep

    def generate(self, mask, cond, generator=None):
        return self.post_process(self.prior_sample(cond, mask.shape[1], generator), mask, cond)

    def export_graph(self):
        """The prior's N(0, 1) base draw (B, n_max × 3) per cloud, drawn outside in the size buckets of
        :meth:`sample` as the prior draws it; the graph is the spline flow's inverse and the post-processor on
        every cloud padded to n_max slots (mask from n / n_max)."""
        from hepgen.models.export import cloud_export_graph, jet_buckets

        n_max, bucket, n_cond = self.data_shape[0], int(self.config["bucket"]), self.n_cond

        def draws(mask, generator):
            with torch.random.fork_rng():
                torch.manual_seed(random_seed(generator))
                base = self.prior.flow(torch.zeros(len(mask), n_cond)).base      # the base ignores the context
                return [base.rsample() if base.has_rsample else base.sample()]

        def particles(m, mask, cond, z):
            return m.post_process(m.prior.flow(cond).transform.inv(z).reshape(-1, n_max, 3), mask, cond)

        return cloud_export_graph(self, n_max, lambda cond: cardinality_of(cond, n_max),
                                  lambda cond: jet_buckets(cardinality_of(cond, n_max), bucket), draws, (False,),
                                  particles, "noise_0: the prior flow's N(0, 1) base draw (B, n_max * 3)")
