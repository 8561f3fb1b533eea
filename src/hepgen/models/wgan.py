"""Conditional WGAN-GP with an energy constrainer network a(x).

Photon WGAN of Buhmann et al., "Getting High: High Fidelity Simulation of High Granularity Calorimeters with
High Speed", arXiv:2005.05334, pion WGAN with a ResNet critic (Buhmann et al., "Hadrons, better, faster,
stronger", arXiv:2112.09709), both as in S. Diefenbacher, "Topics in Generative Modeling of Particle Physics
Data", PhD thesis, U. Hamburg (2022), Sec. 6.2 and 7.2, and the Belle II WGAN with energy regressor
(J. Irakkathil Jabbar, "Fast Simulation of Electromagnetic Calorimeter Responses using Deep Learning", PhD
thesis, KIT (2022), Ch. 3); gradient
penalty of arXiv:1704.00028. The generator and critic sizes follow the geometry
(:mod:`hepgen.models.layers`); the constrainer is fully connected on log(1 + E_voxel / MeV) (hidden sizes
``constrainer_hidden``, the pion model's 5000, 1000, 100 with dropout 0.2, 0.1 in the preset) and is
pre-trained on real showers for ``constrainer_steps`` updates before the GAN starts. The pion critic
(``critic: resnet`` with ``critic_blocks``, e.g. [3, 4] basic blocks of ``critic_planes`` [64, 128] channels,
:class:`~hepgen.models.layers.ResNetTrunk`) and minibatch discrimination in the critic (``minibatch``,
:class:`~hepgen.models.layers.ShowerBatchStatistics`, as in the pion BIB-AE's critic) are options;
``--config pion`` sets them with the thesis's numbers (docs/pion_models.md); ``--config seed-size`` is the
photon WGAN at the paper's size (docs/seed_size_presets.md).

>>> import torch
>>> m = WGAN((1, 10, 10), n_cond=1, config={**WGAN.default_config, "width": 8, "noise_dim": 4})
>>> m.sample(torch.zeros(3, 1)).shape
torch.Size([3, 1, 10, 10])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hepgen.models.layers import (GridDecoder, GridEncoder, ResNetTrunk, ShowerBatchStatistics, circular_dim, mlp,
                                  standard_normal)
from hepgen.models.objectives import (constrainer_loss, optimizer_step, wasserstein_critic_loss,
                                      wasserstein_generator_loss)
from hepgen.models.registry import GenerativeModel, register_model

__all__ = ["WGAN"]


class Critic(nn.Module):
    """Convolutional (LayerNorm) or ResNet (InstanceNorm) critic on the image and the labels. ``blocks`` (with
    ``kind="resnet"`` and a 3D shape): the pion WGAN's ResNet of basic blocks (:class:`ResNetTrunk`); otherwise
    one residual convolution per resolution (:class:`~hepgen.models.layers.DownTrunk`). ``minibatch`` adds the
    minibatch-discrimination features of the image (:class:`ShowerBatchStatistics`)."""

    def __init__(self, data_shape, n_cond: int, width: int, kind: str, circ: int | None,
                 blocks: list[int] | None = None, planes: list[int] | None = None, minibatch: bool = False) -> None:
        super().__init__()
        resnet = kind == "resnet"
        self.trunk: nn.Module
        if resnet and blocks and len(data_shape) == 3:
            self.trunk = ResNetTrunk(data_shape, planes or [64, 128], blocks, circ)
        else:
            self.trunk = GridEncoder(data_shape, width, 1, circ, norm="instance" if resnet else "layer",
                                     residual=resnet)
        self.batch_stats = ShowerBatchStatistics(64) if minibatch else None
        n_batch = self.batch_stats.out_features if self.batch_stats is not None else 0
        self.head = mlp([self.trunk.out_features + n_batch + n_cond, 64, 64, 1])

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x.unsqueeze(1) if isinstance(self.trunk, ResNetTrunk) else x)
        feats = [h, cond] if self.batch_stats is None else [h, self.batch_stats(x), cond]
        return self.head(torch.cat(feats, dim=1)).squeeze(1)


@register_model("wgan")
class WGAN(GenerativeModel):
    """Conditional WGAN-GP + constrainer; ``params`` (defaults from the papers, photon script)."""

    # seconds-long smoke-test sizes (contract test, GPU check)
    tiny_config = {'width': 4, 'noise_dim': 4, 'constrainer_steps': 3, 'n_critic': 2}
    default_config = {
        "noise_dim": 100,
        "width": 32,             # channels at the finest generator/critic stage x 2**stages
        "light_output": False,   # skip the full-resolution block of the generator (faster sampling)
        "critic": "conv",        # conv | resnet
        "critic_blocks": [],     # resnet: basic blocks per stage (pion thesis [3, 4]); [] one residual conv per level
        "critic_planes": [64, 128],  # resnet with critic_blocks: channels per stage (pion thesis)
        "minibatch": False,      # minibatch discrimination in the critic (per-shower sums and spreads vs the batch)
        "n_critic": 5,
        "lambda_gp": 10.0,       # photon script 5, pion script 25
        "kappa": 0.01,           # constrainer weight: photon 0.01, pion 1.0; 0 switches it off
        "constrainer_steps": 200,
        "constrainer_hidden": [256, 64],   # pion thesis: 5000, 1000, 100
        "constrainer_dropout": [],         # pion thesis: 0.2, 0.1 after the first two hidden layers
        "lr_generator": 1e-4,
        "lr_critic": 1e-4,
        "lr_constrainer": 1e-4,
        "betas": [0.5, 0.9],
        "lr_decay": 1.0,         # per-epoch factor
        "preprocessing": [{"name": "divide_by_incident"}],
    }

    # Pion WGAN of arXiv:2112.09709 / Diefenbacher thesis Sec. 7.2 (docs/pion_models.md). Thesis: learning rates
    # (generator 1e-4, critic 1e-5, constrainer Adam 1e-4), 5 critic updates, 82 epochs, ResNet critic with
    # InstanceNorm, fully connected constrainer. Public script (FLC-QU-hep/neurIPS2021_hadron; the thesis is
    # silent): depth-34 stages [3, 4] of [64, 128] planes, constrainer 5000-1000-100 with dropout 0.2/0.1,
    # lambda_gp 25, kappa 1, Adam betas (0.5, 0.9), noise 100, batch 100. hepgen: constrainer pre-training steps.
    # "pion-small": the same with a smaller critic and constrainer for CPU budgets (hepgen's choice).
    config_presets = {
        "pion": {
            "params": {"critic": "resnet", "critic_blocks": [3, 4], "critic_planes": [64, 128], "noise_dim": 100,
                       "n_critic": 5, "lambda_gp": 25.0, "kappa": 1.0, "constrainer_steps": 1000,
                       "constrainer_hidden": [5000, 1000, 100], "constrainer_dropout": [0.2, 0.1],
                       "lr_generator": 1e-4, "lr_critic": 1e-5, "lr_constrainer": 1e-4, "betas": [0.5, 0.9],
                       "lr_decay": 1.0},
            "training": {"batch_size": 100, "max_epochs": 82},
        },
        "pion-small": {
            "params": {"critic": "resnet", "critic_blocks": [1, 1], "critic_planes": [16, 32], "noise_dim": 100,
                       "width": 16, "n_critic": 5, "lambda_gp": 25.0, "kappa": 1.0, "constrainer_steps": 500,
                       "constrainer_hidden": [512, 128, 16], "constrainer_dropout": [0.2, 0.1],
                       "lr_generator": 1e-4, "lr_critic": 1e-5, "lr_constrainer": 1e-4, "betas": [0.5, 0.9],
                       "lr_decay": 1.0},
            "training": {"batch_size": 100, "max_epochs": 82},
        },
    }
    # "seed-size": the photon WGAN of E. Buhmann, S. Diefenbacher, E. Eren, F. Gaede, G. Kasieczka, A. Korol,
    # K. Krüger, "Getting High: High Fidelity Simulation of High Granularity Calorimeters with High Speed",
    # arXiv:2005.05334, as in S. Diefenbacher's thesis (U. Hamburg 2022) Sec. 6.2, App. A (docs/seed_size_presets.md).
    # Thesis: 100-dim normal noise, 3D (transposed) convolutions with LayerNorm (hepgen's conv critic), Adam lr 1e-4
    # (generator and critic), 5 critic updates per generator update, 20 epochs, constrainer pre-trained for 30k
    # iterations. Public code of the paper (the thesis is silent): generator 3.7 M weights (width 448 gives 3.75 M
    # on calochallenge-2; the generator and the critic share the width, so the critic has 7.6 M instead of the
    # code's 250 k), batch 50, lambda_gp 5, kappa 0.01. No key: the lr x 0.1 every 50k updates (lr_decay is per
    # epoch: kept 1), the constrainer's SGD at lr 1e-5 (hepgen's constrainer uses Adam: its rate stays 1e-4) and its
    # convolutions (220 k weights in the code; hepgen's constrainer is fully connected: hidden sizes kept).
    # hepgen defaults (the thesis is silent): Adam betas (0.5, 0.9).
    config_presets["seed-size"] = {
        "params": {"noise_dim": 100, "width": 448, "critic": "conv", "n_critic": 5, "lambda_gp": 5.0, "kappa": 0.01,
                   "constrainer_steps": 30000, "lr_generator": 1e-4, "lr_critic": 1e-4, "lr_constrainer": 1e-4,
                   "lr_decay": 1.0},
        "training": {"batch_size": 50, "max_epochs": 20},
    }

    def __init__(self, data_shape, n_cond, config, geometry=None) -> None:
        super().__init__(data_shape, n_cond, config, geometry)
        c = self.config
        circ = circular_dim(geometry) if len(self.data_shape) == 3 else None
        self.generator = GridDecoder(c["noise_dim"] + n_cond, self.data_shape, c["width"], circ, c["light_output"])
        self.critic = Critic(self.data_shape, n_cond, c["width"], c["critic"], circ, list(c["critic_blocks"]),
                             list(c["critic_planes"]), c["minibatch"])
        n_vox = math.prod(self.data_shape)
        self.constrainer = (mlp([n_vox, *c["constrainer_hidden"], 1], norm=True, dropout=c["constrainer_dropout"])
                            if c["kappa"] > 0 else None)
        self.register_buffer("critic_steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("constrainer_done", torch.zeros((), dtype=torch.long))

    def _a(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.constrainer(torch.log1p(self.to_physical(x, cond).clamp_min(0)).flatten(1)).squeeze(1)

    def generate(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.generator(torch.cat([z, cond], dim=1)))

    def sample(self, cond, generator=None):
        z = standard_normal((cond.shape[0], self.config["noise_dim"]), cond.device, cond.dtype, generator)
        return self.generate(z, cond)

    def configure_optimizers(self):
        c = self.config
        opts = {
            "critic": torch.optim.Adam(self.critic.parameters(), lr=c["lr_critic"], betas=tuple(c["betas"])),
            "generator": torch.optim.Adam(self.generator.parameters(), lr=c["lr_generator"], betas=tuple(c["betas"])),
        }
        if self.constrainer is not None:
            opts["constrainer"] = torch.optim.Adam(self.constrainer.parameters(), lr=c["lr_constrainer"])
        return opts

    def lr_decay(self):
        return {"critic": self.config["lr_decay"], "generator": self.config["lr_decay"]}

    def training_step(self, batch, optimizers, step, epoch):
        c = self.config
        x, cond = batch["x"], batch["cond"]
        target = cond[:, 0]
        if self.constrainer is not None and int(self.constrainer_done) < c["constrainer_steps"]:
            loss = ((self._a(x, cond) - target) ** 2).mean()
            return {"constrainer_mse": optimizer_step(loss, optimizers["constrainer"], counter=self.constrainer_done)}
        z = standard_normal((x.shape[0], c["noise_dim"]), x.device, x.dtype)
        fake = self.generate(z, cond).detach()
        loss_c, w_dist, gp = wasserstein_critic_loss(self.critic, x, fake, cond, weight=c["lambda_gp"])
        optimizer_step(loss_c, optimizers["critic"], counter=self.critic_steps)
        out = {"wasserstein": w_dist.detach(), "gradient_penalty": gp.detach()}
        if int(self.critic_steps) % c["n_critic"] == 0:
            fake = self.generate(standard_normal((x.shape[0], c["noise_dim"]), x.device, x.dtype), cond)
            loss_g = wasserstein_generator_loss(self.critic(fake, cond))
            if self.constrainer is not None:
                with torch.no_grad():
                    a_real = self._a(x, cond)
                con = constrainer_loss(self._a(fake, cond), a_real, target, c["kappa"])
                loss_g = loss_g + con
                out["constrainer"] = con.detach()
            out["generator"] = optimizer_step(loss_g, optimizers["generator"], counter=self.generator_steps)
        return out

    def export_graph(self):
        """Noise N(0, 1) (N, noise_dim) drawn outside; the graph is :meth:`generate`."""
        from hepgen.models.export import ExportGraph, GraphModule

        def draw(cond, generator):
            return [torch.randn(cond.shape[0], self.config["noise_dim"], generator=generator, dtype=cond.dtype)]

        return ExportGraph(GraphModule(self, lambda m, cond, z: m.generate(z, cond)), draw,
                           "noise_0: N(0, 1) generator noise")
