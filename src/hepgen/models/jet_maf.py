"""Jet-MAF: a masked autoregressive flow (Papamakarios, Pavlakou & Murray, "Masked Autoregressive Flow for Density
Estimation", arXiv:1705.07057) with affine transforms on the flattened cloud, built with zuko (``zuko.flows.MAF``):
the simplest flow baseline of the jet models (B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis,
U. Hamburg / DESY (2024), Sec. 5.4.1, where autoregressive flows never beat the coupling flows of JetFlow).

Everything but the flow is :class:`~hepgen.models.jet_flow.JetFlow` (flattening, padded slots with noise of
variance 1e-8, the cardinality n / n_max and optionally the jet mass as context, the mass constraint of NF(cc)).
Sampling inverts the autoregression: one network pass per feature (n_max × 3), so it is slower than JetFlow's.

>>> import torch
>>> m = JetMAF((4, 4), 1, {**JetMAF.default_config, **JetMAF.tiny_config})
>>> x = m.sample(torch.tensor([[0.5], [1.0]]), torch.Generator().manual_seed(0))
>>> x.shape, x[..., 3].sum(1).tolist()
(torch.Size([2, 4, 4]), [2.0, 4.0])
"""

from __future__ import annotations

from hepgen.models.jet_flow import JetFlow
from hepgen.models.registry import register_model

__all__ = ["JetMAF"]


@register_model("jet-maf")
class JetMAF(JetFlow):
    """Affine MAF on the flattened cloud (zuko defaults: the feature order reversed between transforms)."""

    tiny_config = {"transforms": 2, "hidden": [16]}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config = {
        "transforms": 5, "hidden": [256, 256],
        "lr": 1e-3, "betas": [0.9, 0.999], "weight_decay": 0.01, "pad_noise": 1e-4,
        "mass_constraint": 0.0,
        "preprocessing": [{"name": "boxcox"}, {"name": "standardize"}],
    }

    def build_flow(self, features: int, context: int):
        import zuko

        c = self.config
        return zuko.flows.MAF(features, context, transforms=c["transforms"], hidden_features=tuple(c["hidden"]))
