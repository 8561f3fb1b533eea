"""What the particle-cloud GANs share (MDMA-GAN, EPiC-GAN, TGAN): LSGAN updates with AdamW β1 = 0
(B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY (2024), Sec. 4.3.3
and 5.4.4: any β1 > 0 did not converge), the optional mean-field matching loss, batches trimmed to
their largest cloud, and size-bucketed sampling.

A subclass builds ``self.gen`` and ``self.critic`` and implements :meth:`JetGAN.generate` (noise ->
particles for a mask) and :meth:`JetGAN.score` (critic score and, for MDMA, its mean field).

>>> import torch
>>> out = bucketed(lambda idx, mask: torch.ones(*mask.shape, 3), torch.tensor([2, 1]), 3, bucket=1)
>>> out[..., 3].tolist()
[[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
"""

from __future__ import annotations

import torch

from hepgen.models.cardinality import JetModelBase
from hepgen.models.layers import mask_from_cardinality, pad_clouds, trim
from hepgen.models.objectives import lsgan_critic_loss, lsgan_generator_loss, mean_field_loss, optimizer_step
from hepgen.models.registry import GenerativeModel

__all__ = ["JetGAN", "bucketed", "cardinality_of"]


def cardinality_of(cond: torch.Tensor, n_max: int) -> torch.Tensor:
    """Particle multiplicities from the first condition column (n / n_max, see JetAdapter)."""
    return (cond[:, 0] * n_max).round().long().clamp(1, n_max)


def bucketed(fn, n: torch.Tensor, n_max: int, bucket: int = 128) -> torch.Tensor:
    """Run ``fn(idx, mask)`` -> (b, n_b, 3) on buckets of clouds of similar size (sorted by n, each padded
    only to its own largest cloud) and return (B, n_max, 4) with the mask in the last feature, on the
    device and with the dtype of the clouds ``fn`` returns."""
    order = torch.argsort(n)
    out = None
    for start in range(0, len(n), bucket):
        idx = order[start:start + bucket]
        width = int(n[idx].max())
        mask = mask_from_cardinality(n[idx], width)
        part = pad_clouds(fn(idx, mask), mask, n_max)
        if out is None:
            out = torch.zeros((len(n),) + part.shape[1:], dtype=part.dtype, device=part.device)
        out[idx] = part
    return out if out is not None else torch.zeros(0, n_max, 4, device=n.device)


class JetGAN(JetModelBase, GenerativeModel):
    """LSGAN on particle clouds; config keys ``lr``, ``betas``, ``weight_decay``, ``bucket`` and optionally
    ``mean_field_loss`` (weight of |mean x̄_real - mean x̄_fake|², Eq. 5.13)."""

    gen: torch.nn.Module
    critic: torch.nn.Module

    def generate(self, mask: torch.Tensor, cond: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Particles (B, n, 3) in preprocessed units for the real slots of ``mask`` (zero elsewhere)."""
        raise NotImplementedError

    def score(self, x: torch.Tensor, mask: torch.Tensor,
              cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Critic score (B,) and the critic's mean field (B, d) or None."""
        raise NotImplementedError

    def n_parameters(self) -> int:
        """Generator parameters (what the tables of Käch 2024 list)."""
        return sum(p.numel() for p in self.gen.parameters())

    def configure_optimizers(self):
        c = self.config
        return {name: torch.optim.AdamW(net.parameters(), lr=c["lr"], betas=tuple(c["betas"]),
                                        weight_decay=c["weight_decay"])
                for name, net in (("critic", self.critic), ("generator", self.gen))}

    def training_step(self, batch, optimizers, step, epoch):
        x, cond = batch["x"], batch["cond"]
        x, mask = trim(x, x[..., 3] > 0.5)
        fake = self.generate(mask, cond)
        d_real, mf_real = self.score(x[..., :3], mask, cond)
        loss_d = lsgan_critic_loss(d_real, self.score(fake.detach(), mask, cond)[0])
        losses = {"loss_critic": optimizer_step(loss_d, optimizers["critic"])}
        d_fake, mf_fake = self.score(fake, mask, cond)
        loss_g = lsgan_generator_loss(d_fake)
        weight = float(self.config.get("mean_field_loss", 0.0))
        if weight and mf_real is not None:
            loss_mf = mean_field_loss(mf_real, mf_fake)
            loss_g = loss_g + weight * loss_mf
            losses["loss_mean_field"] = loss_mf.detach()
        losses["loss_generator"] = optimizer_step(loss_g, optimizers["generator"], counter=self.generator_steps)
        return losses

    def export_graph(self):
        """Noise per particle slot drawn outside in the size buckets of :meth:`sample`; the graph pads every
        cloud to n_max slots with the mask from n / n_max (first condition). For generators that draw one
        N(0, 1) 3-vector per particle slot and call ``self.gen(z, mask, cond)`` (MDMA-GAN, TGAN); a generator
        with other draws (EPiC-GAN's global latent) overrides it."""
        from hepgen.models.export import cloud_export_graph, jet_buckets

        n_max, bucket = self.data_shape[0], int(self.config["bucket"])

        def draws(mask, generator):
            return [torch.randn(*mask.shape, 3, generator=generator) * mask.unsqueeze(-1)]

        return cloud_export_graph(self, n_max, lambda cond: cardinality_of(cond, n_max),
                                  lambda cond: jet_buckets(cardinality_of(cond, n_max), bucket), draws, (True,),
                                  lambda m, mask, cond, z: m.gen(z, mask, cond),
                                  "noise_0: N(0, 1) per particle slot (B, n_max, 3)")

    def sample(self, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n_max = self.data_shape[0]
        return bucketed(lambda idx, mask: self.generate(mask, cond[idx], generator), cardinality_of(cond, n_max),
                        n_max, int(self.config["bucket"]))
