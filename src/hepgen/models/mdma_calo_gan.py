"""Conditional MDMA-GAN for calorimeter showers as point clouds (Käch & Melzer-Pellmann, "Attention to Mean-Fields
for Particle Cloud Generation", arXiv:2305.15254; B. Käch, "Generative Modelling in High-Energy Physics", PhD
thesis, U. Hamburg / DESY (2024), Sec. 6.3, Table 6.1).

Hits (E, z, alpha, R) come from :class:`hepgen.training.kinds.PointKind`. Generator and critic
are mean-field attention bodies (:class:`hepgen.models.mdma.MDMABody`); the condition (log E_inc, log n_hits) gates the
attended mean field in every block (Eq. 6.5, GLU); further labels of the run (direction, impact point) join
that condition (:func:`point_condition`). The generator maps Gaussian noise, one 4-vector per
hit, to hits; the critic scores a cloud from its final mean field and the condition and also returns
that mean field for the mean-field matching loss (Eq. 5.13). Least-squares GAN loss, AdamW with
beta1 = 0 (the thesis found beta1 > 0 did not converge).

>>> import torch
>>> m = MDMACaloGAN((40, 5), 3, dict(MDMACaloGAN.default_config, l_dim=8, hidden=8, heads=2))
>>> cond = torch.tensor([[0.1, -0.2, 12.0], [1.0, 1.0, 40.0]])
>>> x = m.sample(cond, torch.Generator().manual_seed(0))
>>> x.shape, int(x[0, :, 4].sum()), int(x[1, :, 4].sum())
(torch.Size([2, 40, 5]), 12, 40)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hepgen.models.layers import mask_from_cardinality, pad_clouds, random_seed, standard_normal, trim
from hepgen.models.mdma import MDMABody
from hepgen.models.objectives import lsgan_critic_loss, lsgan_generator_loss, mean_field_loss, optimizer_step
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["MDMACaloGAN", "point_batches", "pad_output", "trim_batch", "point_condition"]


def point_condition(cond: torch.Tensor) -> torch.Tensor:
    """The network's condition from an adapter's (B, 3 + L) conditions: standardised (log E_inc, log n_hits) and the
    L further labels (e.g. theta_deg), without the raw n_hits column (which only sets the mask); (B, 2 + L).

    >>> point_condition(torch.tensor([[0.1, -0.2, 12.0, 0.5]])).tolist()
    [[0.10000000149011612, -0.20000000298023224, 0.5]]
    """
    return cond[:, :2] if cond.shape[1] <= 3 else torch.cat([cond[:, :2], cond[:, 3:]], 1)


def point_batches(cond: torch.Tensor, n_max: int, chunk_hits: int = 200_000):
    """Yield (slice, mask (b, n_b) bool) over ``cond`` rows so that each chunk holds about ``chunk_hits``
    padded hits (n_hits is ``cond[:, 2]``, clipped to [1, n_max])."""
    n = cond[:, 2].round().long().clamp(1, n_max)
    start = 0
    while start < len(n):
        stop = start + 1
        while stop < len(n) and (stop + 1 - start) * int(n[start:stop + 1].max()) <= chunk_hits:
            stop += 1
        nb = n[start:stop]
        yield slice(start, stop), mask_from_cardinality(nb, int(nb.max()))
        start = stop


def pad_output(parts: list[tuple[torch.Tensor, torch.Tensor]], n_max: int) -> torch.Tensor:
    """Concatenate (hits (b, n_b, 4), mask) chunks into the adapter's (B, n_max, 5) layout."""
    return torch.cat([pad_clouds(x, mask, n_max) for x, mask in parts])


def trim_batch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hits (B, n, 4), mask) of an adapter batch (B, n_max, 5), cut to the largest cloud of the batch."""
    return trim(x[..., :4], x[..., 4] > 0.5)


@register_model("mdma-calo-gan")
class MDMACaloGAN(GenerativeModel):
    """Conditional mean-field-attention GAN on hit clouds (E_inc and n_hits gate the mean field)."""

    data_kind = "points"
    tiny_config = {'l_dim': 8, 'hidden': 8, 'heads': 2}  # seconds-long smoke-test sizes (contract test, GPU check)
    default_config: dict[str, Any] = {
        "l_dim": 16, "hidden": 32, "heads": 4, "num_blocks_gen": 2, "num_blocks_crit": 2,
        "lr": 1e-4, "weight_decay": 0.01, "mean_field_loss": 1.0, "n_critic": 1,
        "preprocessing": [{"name": "hits"}],
    }
    # "seed-size": the sizes of B. Käch, "Generative Modelling in High-Energy Physics", PhD thesis, U. Hamburg / DESY
    # (2024), Sec. 6.3 and Table 6.1 (139 k parameters; as in its Table 5.5 the GAN's count is the generator's), and
    # Käch & Melzer-Pellmann, "Attention to Mean-Fields for Particle Cloud Generation", arXiv:2305.15254
    # (docs/seed_size_presets.md). Sec. 6.3 uses the MDMA architectures of Table 5.4: l_dim 16, heads 16, 7 generator
    # and 2 critic blocks, hidden 48 (generator) and 64 (critic). No key: hepgen has one hidden width for both
    # networks; 64 gives the generator 148.6 k parameters on calochallenge-2 (Table 6.1: 139 k), 48 only 90 k.
    # hepgen defaults (the thesis is silent for the calorimeter): lr 1e-4 and weight decay 0.01 (as Table 5.4 for
    # JetNet150), mean-field loss weight 1, one critic update per generator update, batch 64, constant learning rate
    # (the thesis's warm-up + cosine schedule needs a known number of epochs, which a time budget does not give).
    config_presets = {
        "seed-size": {"params": {"l_dim": 16, "hidden": 64, "heads": 16, "num_blocks_gen": 7, "num_blocks_crit": 2,
                                 "lr": 1e-4, "weight_decay": 0.01}},
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        self.n_max = self.data_shape[0]
        n_c = max(2, self.n_cond - 1)   # (log E_inc, log n_hits) and the further labels
        self.gen = MDMABody(4, c["l_dim"], c["hidden"], c["heads"], c["num_blocks_gen"], n_c, n_max=self.n_max)
        self.gen_out = nn.Linear(c["l_dim"], 4)
        self.crit = MDMABody(4, c["l_dim"], c["hidden"], c["heads"], c["num_blocks_crit"], n_c, weightnorm=True,
                             n_max=self.n_max)
        self.crit_out = nn.Sequential(nn.Linear(c["l_dim"] + n_c, c["hidden"]), nn.LeakyReLU(0.2),
                                      nn.Linear(c["hidden"], 1))

    def generate(self, mask: torch.Tensor, cond2: torch.Tensor, generator=None) -> torch.Tensor:
        z = standard_normal((*mask.shape, 4), cond2.device, cond2.dtype, generator)
        h, _ = self.gen(z, mask, cond2)
        return self.gen_out(h) * mask.unsqueeze(-1)

    def critic(self, x, mask, cond2):
        _, mf = self.crit(x, mask, cond2)
        return self.crit_out(torch.cat([mf, cond2], 1)).squeeze(1), mf

    def configure_optimizers(self):
        c = self.config
        kw = {"lr": c["lr"], "betas": (0.0, 0.999), "weight_decay": c["weight_decay"]}
        return {"critic": torch.optim.AdamW(list(self.crit.parameters()) + list(self.crit_out.parameters()), **kw),
                "generator": torch.optim.AdamW(list(self.gen.parameters()) + list(self.gen_out.parameters()), **kw)}

    def training_step(self, batch, optimizers, step, epoch):
        real, mask = trim_batch(batch["x"])
        cond2 = point_condition(batch["cond"])
        fake = self.generate(mask, cond2)
        s_real, mf_real = self.critic(real, mask, cond2)
        s_fake, _ = self.critic(fake.detach(), mask, cond2)
        out = {"loss_critic": optimizer_step(lsgan_critic_loss(s_real, s_fake, scale=0.5), optimizers["critic"])}
        if step % max(1, int(self.config["n_critic"])) == 0:
            s_fake, mf_fake = self.critic(fake, mask, cond2)
            loss_g = lsgan_generator_loss(s_fake)
            if self.config["mean_field_loss"]:
                loss_g = loss_g + self.config["mean_field_loss"] * mean_field_loss(mf_real, mf_fake)
            out["loss_generator"] = optimizer_step(loss_g, optimizers["generator"], counter=self.generator_steps)
        return out

    @torch.no_grad()
    def sample(self, cond, generator=None):
        parts = []
        for sl, mask in point_batches(cond, self.n_max):
            parts.append((self.generate(mask, point_condition(cond[sl]), generator), mask))
        return pad_output(parts, self.n_max)

    def sample_labels(self, incident_energy, missing, adapter, generator=None):
        """Draw n_hits from the adapter's n_hits(E_inc) model when no reference gives them."""
        import numpy as np

        seed = random_seed(generator, 2**31 - 1) if generator is not None else None
        return {"n_hits": adapter.sample_n_hits(incident_energy, np.random.default_rng(seed))}

    def export_graph(self):
        """Hit noise drawn outside in the chunks of :meth:`sample`; the graph pads every shower to n_max hits with
        the mask from n_hits (third condition); re-voxelising the hits stays outside."""
        from hepgen.models.export import cloud_export_graph

        def draws(mask, generator):
            return [torch.randn(*mask.shape, 4, generator=generator)]

        def cardinality(cond):
            return cond[:, 2].round().long().clamp(1, self.n_max)

        return cloud_export_graph(self, self.n_max, cardinality, lambda cond: point_batches(cond, self.n_max), draws,
                                  (True,), lambda m, mask, cond, z: m.gen_out(m.gen(z, mask, point_condition(cond))[0]),
                                  "noise_0: N(0, 1) per hit slot (B, n_max, 4); hits -> voxels outside")
